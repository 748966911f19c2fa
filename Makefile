# Everyday commands. A fresh machine needs only Python 3.12 (pyenv picks it via .python-version).
PYTHON ?= python3.12
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo run run-check test lint llama-server litellm tts-peer package precheck precheck-usage keys verify doctor doctor-usage bench soak clean

# Prerequisites are made left to right, one at a time: a target's checks (run-check,
# doctor-usage) answer before $(STAMP) creates .venv or installs anything.
.NOTPARALLEL:

# The interpreter for checks that run before .venv exists (stdlib only).
CHECK_PY = $(if $(wildcard $(PY)),$(PY),$(PYTHON))

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

## demo: the plugin as Dify uses it, against the real llama-server with a tiny model (no Dify, no GPU)
demo: $(STAMP)
	$(PY) scripts/demo.py

## run: start the plugin in remote-debug mode against the Dify instance named in .env
run: run-check $(STAMP)
	$(PY) scripts/run_remote.py

# .env present, INSTALL_METHOD=remote, a real key (not .env.example's placeholder), host:port.
run-check:
	@command -v $(CHECK_PY) >/dev/null 2>&1 || { echo "Python 3.12 is required (Dify runs plugins on 3.12): install it or set PYTHON=/path/to/python3.12"; exit 1; }
	@$(CHECK_PY) scripts/run_remote.py --check

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

## tts-peer: install the Piper text-to-speech peer (local-tts-studio) into its own venv in the cache
tts-peer: $(STAMP)
	tests/peer/build_tts_peer.sh $(PY)

## package: build dist/openai_compatible_bridge-<version>.difypkg like `dify plugin package` (reproducible);
##          with SIGN_KEY=keys/signing.private.pem also the signed dist/…-<version>.signed.difypkg;
##          a Marketplace build: REPO=https://github.com/<owner>/<repo> CONTACT=<email> AUTHOR=<account>
##          (or marketplace.toml; MARKETPLACE=1 stops when they are missing)
PACKAGE_ARGS = $(if $(SIGN_KEY),--sign-key "$(SIGN_KEY)") $(if $(MARKETPLACE),--marketplace) \
	$(if $(REPO),--repo "$(REPO)") $(if $(CONTACT),--contact "$(CONTACT)") $(if $(AUTHOR),--author "$(AUTHOR)")
package: $(STAMP)
	$(PY) scripts/package.py $(strip $(PACKAGE_ARGS))

## precheck: check a package against the Dify Marketplace's rules, install test included: make precheck PKG=dist/….difypkg [STRICT=1: port 8080 like the Marketplace]
precheck: precheck-usage $(STAMP)
	$(PY) scripts/precheck.py "$(PKG)" $(if $(STRICT),--strict)

precheck-usage:
	@test -n "$(PKG)" || { echo "usage: make precheck PKG=dist/name-version.difypkg [STRICT=1]"; exit 2; }

## keys: make an RSA-4096 signing key pair keys/$(KEY_NAME).private.pem (mode 0600) and .public.pem; never overwrites
keys: $(STAMP)
	$(PY) scripts/signature.py generate --dir keys --name "$(KEY_NAME)"

## verify: check a signed package exactly as Dify's plugin daemon does: make verify PKG=dist/….signed.difypkg KEY=keys/….public.pem
verify: $(STAMP)
	@test -n "$(PKG)" -a -n "$(KEY)" || { echo "usage: make verify PKG=dist/name-version.signed.difypkg KEY=keys/name.public.pem"; exit 2; }
	$(PY) scripts/signature.py verify "$(PKG)" --key "$(KEY)"

## doctor: the checks saving a model runs, and what to enter in Dify: make doctor BASE_URL=http://host:11434/v1 MODEL=qwen3:8b [TYPE=llm|completion|text-embedding|rerank|speech2text|tts]
##         [FIELDS="tts_format=wav verify_tls=off"] (any form field); the key: OAI_BRIDGE_API_KEY=… in the environment, or API_KEY=…
doctor: export OAI_BRIDGE_API_KEY := $(or $(API_KEY),$(OAI_BRIDGE_API_KEY))
doctor: doctor-usage $(STAMP)
	@$(PY) -m oai_bridge.doctor --base-url "$(BASE_URL)" --model "$(MODEL)" --type "$(or $(TYPE),llm)" $(foreach f,$(FIELDS),--field "$(f)")

doctor-usage:
	@test -n "$(BASE_URL)" -a -n "$(MODEL)" || { echo "usage: make doctor BASE_URL=http://host:port/v1 MODEL=name [TYPE=llm|completion|text-embedding|rerank|speech2text|tts] [FIELDS=\"name=value …\"] (key: OAI_BRIDGE_API_KEY or API_KEY)"; exit 2; }

## bench: side-by-side performance benchmarks (bench/README.md); e.g. BENCH_ARGS="--quick" or "--commit HEAD --write-docs"
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

## soak: the chaos harness for 20,000 calls, 16 in flight, through one plugin process (loopback only; 6 to 12 min on 2 cores); SOAK_ARGS="--calls 2000" or "--write-docs"
soak: $(STAMP)
	$(PY) -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dist
