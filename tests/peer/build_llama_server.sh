#!/usr/bin/env bash
# Build llama.cpp's llama-server (from the llama.cpp tree vendored in the PyPI sdist of
# llama-cpp-python) plus two tiny generated GGUFs (a llama chat model and a BERT reranker),
# into a cache OUTSIDE the checkout, once.
# Later runs find the cache and return in well under a second.
#
#   usage: tests/peer/build_llama_server.sh [PYTHON]     (PYTHON needs pip; gguf for the model)
#   prints the cache directory on its last line: $DIR/bin/llama-server, $DIR/models/tiny.gguf,
#   $DIR/models/tiny-reranker.gguf (for llama-server --reranking)
#
# Needs gcc/g++, cmake, make and PyPI access. About 7 min on 2 cores the first time.
set -euo pipefail
VER=0.3.36                       # llama-cpp-python sdist; vendors llama.cpp commit 0c1e570
PY=${1:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${OAIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openai-compatible-bridge}
DIR=$CACHE_ROOT/llama-server-$VER
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9                          # two test runs at once build once
if [ ! -x "$DIR/bin/llama-server" ]; then
  work=$(mktemp -d "$DIR/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "[llama-server] building llama.cpp from llama-cpp-python==$VER (first run only, about 7 min on 2 cores)" >&2
  echo "[llama-server] downloading the llama-cpp-python $VER source from PyPI" >&2
  # Only this package as a source distribution: its build tools may come as wheels (building
  # those from source too is slow and fragile on a machine with an empty pip cache).
  "$PY" -m pip download -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VER" -d "$work/dl" >&2
  tar -xzf "$work/dl/llama_cpp_python-$VER.tar.gz" -C "$work"
  src=$work/llama_cpp_python-$VER/vendor/llama.cpp
  echo "[llama-server] configuring (cmake; log: $DIR/cmake-configure.log)" >&2
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF > "$DIR/cmake-configure.log" 2>&1
  echo "[llama-server] compiling llama-server (the long step; log: $DIR/cmake-build.log)" >&2
  cmake --build "$work/build" --target llama-server -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    > "$DIR/cmake-build.log" 2>&1 || { tail -40 "$DIR/cmake-build.log" >&2; exit 1; }
  echo "[llama-server] compiled" >&2
  mkdir -p "$DIR/templates" "$DIR/bin.tmp"
  cp "$src/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja" "$DIR/templates/"
  cp "$work/build/bin/llama-server" "$DIR/bin.tmp/"
  mv "$DIR/bin.tmp" "$DIR/bin"   # appears atomically: a half-built cache is never used
fi
if [ ! -f "$DIR/models/tiny.gguf" ]; then
  mkdir -p "$DIR/models"
  echo "[llama-server] generating the tiny chat model (random weights)" >&2
  "$PY" "$HERE/make_tiny_gguf.py" "$DIR/models/tiny.gguf.tmp" >&2
  mv "$DIR/models/tiny.gguf.tmp" "$DIR/models/tiny.gguf"
fi
if [ ! -f "$DIR/models/tiny-reranker.gguf" ]; then
  mkdir -p "$DIR/models"
  echo "[llama-server] generating the tiny reranker (random weights)" >&2
  "$PY" "$HERE/make_tiny_reranker.py" "$DIR/models/tiny-reranker.gguf.tmp" >&2
  mv "$DIR/models/tiny-reranker.gguf.tmp" "$DIR/models/tiny-reranker.gguf"
fi
echo "$DIR"
