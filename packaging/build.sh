#!/usr/bin/env bash
# Build the one-folder bundle dist/Timbre/ with PyInstaller (and, with --self-test, run it).
#
#   bash packaging/build.sh              build dist/Timbre/ (the executable is dist/Timbre/Timbre)
#   bash packaging/build.sh --self-test  build, then run the bundled `Timbre --self-test`
#                                        headless (QT_QPA_PLATFORM=offscreen; starts the JACK dummy
#                                        audio server through .ci/audio.sh when no device is there)
#   bash packaging/build.sh --self-test-only   run the self-test of an existing dist/Timbre/
#
# It builds from its own virtual environment, .venv-bundle, holding only what the studio installs
# (".[app]" + PyInstaller): the test venv's extras (take-check models, the server, test tools) would
# bloat the bundle, and one of them (the obsolete "typing" backport) stops PyInstaller altogether.
# TIMBRE_PYTHON=... builds with another interpreter instead. Work files go to build/pyinstaller/; the
# previous dist/Timbre/ is replaced.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=1
SELF_TEST=0
for arg in "$@"; do
  case "$arg" in
    --self-test) SELF_TEST=1 ;;
    --self-test-only) BUILD=0; SELF_TEST=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

PY=${TIMBRE_PYTHON:-.venv-bundle/bin/python}

if [ "$BUILD" = 1 ]; then
  if [ -z "${TIMBRE_PYTHON:-}" ]; then
    [ -x "$PY" ] || "${PYTHON:-python3}" -m venv .venv-bundle
    "$PY" -m pip install -q --upgrade pip >/dev/null
    "$PY" -m pip install -q "torch==2.13.0" -e ".[app,package]"
  elif ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: installing PyInstaller into $PY's environment"
    "$PY" -m pip install -q "pyinstaller>=6"
  fi
  started=$(date +%s)
  # --noconfirm: replace dist/Timbre without asking; --clean: no stale cache between versions.
  "$PY" -m PyInstaller --noconfirm --clean --log-level "${TIMBRE_PYI_LOG_LEVEL:-WARN}" \
      --workpath build/pyinstaller --distpath dist packaging/timbre.spec
  if [ "$(uname -s)" = Linux ]; then
    # Ships with the folder: menu entry, icons and commands for whoever unpacks it.
    install -m 755 packaging/install-linux.sh dist/Timbre/install-linux.sh
  fi
  echo "build.sh: built dist/Timbre in $(( $(date +%s) - started )) s"
  # Contents rules (no model weights, no tests, no unused Qt modules) and the size budget.
  "$PY" packaging/check_bundle.py dist/Timbre
fi

if [ "$SELF_TEST" = 1 ]; then
  EXE=dist/Timbre/Timbre
  [ -x "$EXE" ] || { echo "build.sh: $EXE is missing; build first" >&2; exit 1; }
  if [ "$(uname -s)" = Linux ] && [ -f .ci/audio.sh ] && command -v jackd >/dev/null 2>&1; then
    bash .ci/audio.sh
  fi
  started=$(date +%s)
  # Run from a neutral folder so the bundle cannot pick up the source tree's modules by accident.
  here=$PWD
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  cd "$scratch"
  QT_QPA_PLATFORM=offscreen "$here/$EXE" --self-test
  # The command line in the same bundle: `voices list`, and `download` against a closed local
  # port, which imports huggingface_hub (lazily imported, so the self-test never loads it) and
  # must fail with one line, not a traceback about a module missing from the bundle.
  "$here/$EXE" cli voices list --voices-dir "$scratch/voices"
  if "$here/$EXE" cli download --endpoint http://127.0.0.1:9 --dest "$scratch/model" --quiet \
       2>"$scratch/err"; then
    echo "build.sh: 'cli download' from a closed port should have failed" >&2; exit 1
  fi
  if [ "$(wc -l <"$scratch/err")" -ne 1 ] || ! grep -q "Check the connection" "$scratch/err"; then
    echo "build.sh: 'cli download' did not fail with the one-line network error:" >&2
    cat "$scratch/err" >&2; exit 1
  fi
  cd "$here"
  echo "build.sh: bundled self-test passed in $(( $(date +%s) - started )) s"
fi
