#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine and run it.
#   bash tests/run.sh [pytest args...]
# - system packages (Debian/Ubuntu, when run as root or with sudo): PortAudio, a JACK dummy server
#   for real audio streams without a sound card, Xvfb for screenshots, espeak-ng/sox for real speech
# - a virtual environment at .venv with the pinned CPU torch and the project (editable)
# - a JACK dummy server that the default ALSA device routes to (only if none is running)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libportaudio2 jackd2 libasound2-plugins xvfb xauth x11-utils libxcb-icccm4 libxcb-keysyms1 desktop-file-utils
              libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3 espeak-ng sox
              gcc python3-dev)  # gcc, python3-dev: the checks extra's webrtcvad is built from source
missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "Installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q "torch==2.13.0" -e ".[app,export,checks,server,cluster,test]"

# Real PortAudio streams need a device: start a JACK dummy server unless one runs already,
# and stop it again afterwards if this script started it.
started_jack=""
if ! jack_lsp >/dev/null 2>&1; then started_jack=1; fi
bash .ci/audio.sh
if [ -n "$started_jack" ] && [ -f /tmp/timbre-jackd.pid ]; then
  trap 'kill "$(cat /tmp/timbre-jackd.pid)" 2>/dev/null || true' EXIT
fi

.venv/bin/python -m pytest "$@"
