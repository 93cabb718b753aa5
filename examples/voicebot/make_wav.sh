#!/usr/bin/env bash
# Makes the fake microphone for the browser end-to-end test: espeak-ng saying a phrase,
# padded with silence, as a 16-bit PCM WAV at 48 kHz mono, which Chromium plays with
# --use-fake-device-for-media-stream --use-file-for-fake-audio-capture=FILE.
# Chromium loops the file, so the silence after the phrase is the pause between repeats.
#   make_wav.sh OUT.wav ["what time is it"] [silence before, s (1)] [after, s (3)]
set -euo pipefail
out=${1:?usage: make_wav.sh OUT.wav [phrase] [lead seconds] [tail seconds]}
phrase=${2:-what time is it}
lead=${3:-1}
tail=${4:-3}
tmp=$(mktemp --suffix=.wav)
trap 'rm -f "$tmp"' EXIT
# The phrase goes in on stdin: a phrase starting with "-" is not an option.
printf '%s' "$phrase" | espeak-ng -v en-us -w "$tmp"
sox "$tmp" -r 48000 -c 1 -b 16 -e signed-integer "$out" pad "$lead" "$tail"
