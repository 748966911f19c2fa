# Everyday commands. A fresh machine needs only Python 3.12 (pyenv picks it via .python-version).
PYTHON ?= python3.12
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv run test lint llama-server litellm package keys verify doctor bench clean

# Signing key pair written by `make keys` (keys/ is git-ignored and left out of the package).
KEY_NAME ?= signing

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.12 is required (Dify runs plugins on 3.12): install it or set PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Re-install only when the requirement files change.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

## run: start the plugin in remote-debug mode against the Dify instance named in .env
run: $(STAMP)
	@if [ ! -f .env ]; then \
	  echo ".env is missing. Copy .env.example to .env and fill in, from your Dify's Plugins page"; \
	  echo "(the bug icon, 'Debugging'):  REMOTE_INSTALL_URL=<dify host>:5003  REMOTE_INSTALL_KEY=<debug key>"; \
	  exit 1; fi
	$(PY) -m main

## test: lint, then every test (unit, stdio end-to-end, the real llama-server peer, remote debug)
test: $(STAMP) lint
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## llama-server: build the real peer server into the cache (tests do this on demand)
llama-server: $(STAMP)
	tests/peer/build_llama_server.sh $(PY)

## litellm: install the LiteLLM proxy peer into its own venv in the cache (tests do this on demand)
litellm: $(STAMP)
	tests/peer/build_litellm.sh $(PY)

## package: build dist/openai_compatible_bridge-<version>.difypkg like `dify plugin package` (reproducible);
##          with SIGN_KEY=keys/signing.private.pem also the signed dist/…-<version>.signed.difypkg
package: $(STAMP)
	$(PY) scripts/package.py $(if $(SIGN_KEY),--sign-key "$(SIGN_KEY)")

## keys: make an RSA-4096 signing key pair keys/$(KEY_NAME).private.pem (mode 0600) and .public.pem; never overwrites
keys: $(STAMP)
	$(PY) scripts/signature.py generate --dir keys --name "$(KEY_NAME)"

## verify: check a signed package exactly as Dify's plugin daemon does: make verify PKG=dist/….signed.difypkg KEY=keys/….public.pem
verify: $(STAMP)
	@test -n "$(PKG)" -a -n "$(KEY)" || { echo "usage: make verify PKG=dist/name-version.signed.difypkg KEY=keys/name.public.pem"; exit 2; }
	$(PY) scripts/signature.py verify "$(PKG)" --key "$(KEY)"

## doctor: the checks saving a model runs, and what to enter in Dify: make doctor BASE_URL=http://host:11434/v1 MODEL=qwen3:8b [TYPE=llm|completion|embedding|rerank|speech2text|tts] [API_KEY=…]
doctor: $(STAMP)
	@test -n "$(BASE_URL)" -a -n "$(MODEL)" || { echo "usage: make doctor BASE_URL=http://host:port/v1 MODEL=name [TYPE=llm|completion|embedding|rerank|speech2text|tts] [API_KEY=key]"; exit 2; }
	@$(PY) -m oai_bridge.doctor --base-url "$(BASE_URL)" --model "$(MODEL)" --type "$(or $(TYPE),llm)" $(if $(API_KEY),--api-key "$(API_KEY)")

## bench: side-by-side performance benchmarks (bench/README.md); e.g. BENCH_ARGS="--quick" or "--commit HEAD --write-docs"
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dist
