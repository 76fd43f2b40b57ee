#!/usr/bin/env bash
# Install the bundle for one user (or system-wide): menu entry, icons, `timbre-app` and `timbre`.
#
#   bash install-linux.sh [--prefix DIR]      default prefix ~/.local (use /usr/local as root)
#   bash install-linux.sh --uninstall [--prefix DIR]
#
# Run it from the bundle folder (build.sh copies it to dist/Timbre/) or from the repository
# (packaging/install-linux.sh, which installs dist/Timbre). It copies the bundle to
# PREFIX/lib/timbre, links PREFIX/bin/timbre-app to it, writes PREFIX/bin/timbre (the command line:
# `Timbre cli ...`), the icons into PREFIX/share/icons/hicolor and the menu entry into
# PREFIX/share/applications. User data (voices, settings, models) is never touched: it lives in
# ~/.local/share/Timbre and ~/.config/Timbre.
set -euo pipefail

PREFIX="${HOME}/.local"
UNINSTALL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install-linux.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "$0")" && pwd)"
if [ -x "$here/Timbre" ]; then
  BUNDLE="$here"
else
  BUNDLE="$(cd "$here/.." && pwd)/dist/Timbre"
fi

LIB="$PREFIX/lib/timbre"
BIN="$PREFIX/bin"
ICONS="$PREFIX/share/icons/hicolor"
APPS="$PREFIX/share/applications"
SIZES=(16 32 48 64 128 256 512)

refresh_caches() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$ICONS" || true
}

if [ "$UNINSTALL" = 1 ]; then
  rm -rf "$LIB"
  rm -f "$BIN/timbre-app" "$BIN/timbre" "$APPS/timbre.desktop" "$ICONS/scalable/apps/timbre.svg"
  for s in "${SIZES[@]}"; do rm -f "$ICONS/${s}x${s}/apps/timbre.png"; done
  refresh_caches
  echo "install-linux.sh: removed Timbre from $PREFIX (your voices and settings are kept)"
  exit 0
fi

if [ ! -x "$BUNDLE/Timbre" ]; then
  echo "install-linux.sh: no bundle at $BUNDLE; build it first: bash packaging/build.sh" >&2
  exit 1
fi
RES="$BUNDLE/_internal/resources"

# Copy to a temporary name first, then swap, so a failed copy never leaves half an install.
mkdir -p "$PREFIX/lib" "$BIN" "$APPS" "$ICONS/scalable/apps"
rm -rf "$LIB.new"
cp -a "$BUNDLE" "$LIB.new"
rm -rf "$LIB"
mv "$LIB.new" "$LIB"

ln -sfn "$LIB/Timbre" "$BIN/timbre-app"
cat > "$BIN/timbre" <<EOF
#!/bin/sh
# The Timbre command line (synth, voices, download) from the bundle in $LIB.
exec "$LIB/Timbre" cli "\$@"
EOF
chmod 755 "$BIN/timbre"

install -m 644 "$RES/icons/timbre.svg" "$ICONS/scalable/apps/timbre.svg"
for s in "${SIZES[@]}"; do
  mkdir -p "$ICONS/${s}x${s}/apps"
  install -m 644 "$RES/icons/timbre-$s.png" "$ICONS/${s}x${s}/apps/timbre.png"
done
# The menu entry runs the installed executable by its full path: ~/.local/bin is not always on
# the PATH of the desktop session. Field codes (%F ...) after the command are kept as they are.
sed -E "s|^Exec=[^ ]+|Exec=\"$LIB/Timbre\"|" "$RES/timbre.desktop" > "$APPS/timbre.desktop"
chmod 644 "$APPS/timbre.desktop"
refresh_caches
echo "install-linux.sh: installed Timbre in $LIB; menu entry $APPS/timbre.desktop; commands $BIN/timbre-app, $BIN/timbre"
