#!/usr/bin/env bash
# Install LiteLLM's proxy (`litellm --config FILE --port N`, PyPI `litellm[proxy]`) into a venv
# of its own OUTSIDE the checkout, once. The plugin's venv never gets LiteLLM's dependencies.
# Later runs find the cache and return in well under a second.
#
#   usage: tests/peer/build_litellm.sh [PYTHON]     (PYTHON: 3.10-3.15 with venv)
#   prints the cache directory on its last line: $DIR/venv/bin/litellm
#
# Needs PyPI access only (every package comes as a wheel, versions pinned by
# litellm-constraints.txt): about 2 min the first time on 2 cores; the venv takes ~720 MB.
set -euo pipefail
VER=1.106.12                     # litellm; pinned: the proxy's error bodies are asserted in tests
PY=${1:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${OAIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openai-compatible-bridge}
DIR=$CACHE_ROOT/litellm-$VER
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9                          # two test runs at once install once
if [ ! -f "$DIR/ready" ]; then
  # A venv cannot be moved after creation, so it is built in place and only the "ready" marker
  # (written last, atomically) says it is usable; anything left by a broken run is discarded.
  rm -rf "$DIR/venv" "$DIR/ready.tmp"
  echo "[litellm] installing litellm[proxy]==$VER into its own venv (first run only)" >&2
  start=$(date +%s)
  "$PY" -m venv "$DIR/venv"
  # Dependencies pinned by litellm-constraints.txt (pip freeze of a working install).
  "$DIR/venv/bin/python" -m pip install --disable-pip-version-check --only-binary :all: \
    -c "$HERE/litellm-constraints.txt" "litellm[proxy]==$VER" > "$DIR/pip-install.log" 2>&1 \
    || { tail -40 "$DIR/pip-install.log" >&2; exit 1; }
  # Offline import check: no model-cost-map download, no telemetry.
  LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
    "$DIR/venv/bin/python" -c "import importlib.metadata as m, litellm.proxy.proxy_server; v = m.version('litellm'); assert v == '$VER', v" >&2
  test -x "$DIR/venv/bin/litellm"
  echo "[litellm] installed in $(( $(date +%s) - start )) s" >&2
  echo "$VER" > "$DIR/ready.tmp"
  mv "$DIR/ready.tmp" "$DIR/ready"  # appears atomically: a half-built cache is never used
fi
echo "$DIR"
