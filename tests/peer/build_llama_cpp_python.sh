#!/usr/bin/env bash
# Install llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`, PyPI
# `llama-cpp-python[server]`) into a venv OUTSIDE the checkout, plus a tiny generated GGUF with
# mean pooling (so /v1/embeddings returns one vector per input), once. Later runs find the
# cache and return in well under a second.
#
#   usage: tests/peer/build_llama_cpp_python.sh [PYTHON]   (PYTHON: 3.10+ with venv; gguf for the model)
#   prints the cache directory on its last line: $DIR/venv/bin/python, $DIR/models/tiny-embed.gguf
#
# Needs gcc/g++, cmake and PyPI access. pip compiles llama.cpp from the sdist (PyPI has no
# binary wheel): about 5-6 min on 2 cores the first time.
set -euo pipefail
VER=0.3.36                       # llama-cpp-python; vendors llama.cpp commit 0c1e570
PY=${1:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${OAIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openai-compatible-bridge}
DIR=$CACHE_ROOT/llama-cpp-python-$VER
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9                          # two test runs at once build once
if [ ! -f "$DIR/ready" ]; then
  # A venv cannot be moved after creation, so it is built in place and only the "ready" marker
  # (written last, atomically) says it is usable; anything left by a broken run is discarded.
  rm -rf "$DIR/venv" "$DIR/ready.tmp"
  echo "[llama-cpp-python] building llama-cpp-python[server]==$VER (first run only)" >&2
  "$PY" -m venv "$DIR/venv"
  # Only this package from source: its build tools (scikit-build-core, cmake, ninja) and the
  # server's dependencies come as wheels. GGML_NATIVE=OFF keeps the build portable, as for
  # llama-server (pip may cache the built wheel and reuse it on another CPU).
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
  CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF} \
    "$DIR/venv/bin/python" -m pip install --disable-pip-version-check \
    --no-binary llama-cpp-python "llama-cpp-python[server]==$VER" > "$DIR/pip-install.log" 2>&1 \
    || { tail -40 "$DIR/pip-install.log" >&2; exit 1; }
  "$DIR/venv/bin/python" -c "import llama_cpp, llama_cpp.server.app; assert llama_cpp.__version__ == '$VER', llama_cpp.__version__" >&2
  echo "$VER" > "$DIR/ready.tmp"
  mv "$DIR/ready.tmp" "$DIR/ready"  # appears atomically: a half-built cache is never used
fi
if [ ! -f "$DIR/models/tiny-embed.gguf" ]; then
  mkdir -p "$DIR/models"
  "$PY" "$HERE/make_tiny_gguf.py" "$DIR/models/tiny-embed.gguf.tmp" --pooling mean --name tiny-random-llama-embed >&2
  mv "$DIR/models/tiny-embed.gguf.tmp" "$DIR/models/tiny-embed.gguf"
fi
echo "$DIR"
