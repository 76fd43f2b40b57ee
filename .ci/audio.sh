#!/usr/bin/env bash
# Start a JACK "dummy" audio server and route ALSA's default device to it, so that PortAudio
# (sounddevice) has a real, real-time-paced input and output device on a machine with no sound card.
#
# It installs nothing. It needs the Debian packages: libportaudio2 jackd2 libasound2-plugins.
# ALSA's `null` plugin is NOT usable instead: its streams run far faster than real time.
#
# Usage:  bash .ci/audio.sh  or  source .ci/audio.sh  (the server keeps running in the background)
# Idempotent: if a JACK server already answers, it only (re)writes ~/.asoundrc.
set -euo pipefail

ASOUNDRC="${HOME}/.asoundrc"
RATE="${TIMBRE_JACK_RATE:-48000}"
PERIOD="${TIMBRE_JACK_PERIOD:-1024}"
LOG="${TIMBRE_JACK_LOG:-/tmp/timbre-jackd.log}"

for tool in jackd jack_lsp; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "audio.sh: '$tool' not found; install the apt packages: libportaudio2 jackd2 libasound2-plugins" >&2
        exit 1
    fi
done

# ALSA default -> JACK (through the jack PCM plugin from libasound2-plugins).
if [ ! -f "$ASOUNDRC" ] || ! grep -q "jackpcm" "$ASOUNDRC"; then
    cat > "$ASOUNDRC" <<'RC'
pcm.!default { type plug slave.pcm "jackpcm" }
pcm.jackpcm {
    type jack
    playback_ports { 0 system:playback_1 1 system:playback_2 }
    capture_ports  { 0 system:capture_1  1 system:capture_2 }
}
RC
    echo "audio.sh: wrote $ASOUNDRC"
fi

if jack_lsp >/dev/null 2>&1; then
    echo "audio.sh: a JACK server is already running"
else
    # No realtime scheduling (-r): CI containers do not allow it.
    nohup jackd -r -d dummy -r "$RATE" -p "$PERIOD" >"$LOG" 2>&1 &
    echo $! > /tmp/timbre-jackd.pid
    for _ in $(seq 1 50); do
        if jack_lsp >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
    if ! jack_lsp >/dev/null 2>&1; then
        echo "audio.sh: jackd did not start; its log ($LOG):" >&2
        cat "$LOG" >&2 || true
        exit 1
    fi
    echo "audio.sh: JACK dummy server running at ${RATE} Hz (pid $(cat /tmp/timbre-jackd.pid))"
fi
