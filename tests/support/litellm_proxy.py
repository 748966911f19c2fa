"""A real LiteLLM proxy (PyPI ``litellm[proxy]``, ``litellm --config FILE --port N``) in front of
the llama-server peer, as a third OpenAI-compatible peer: a router with keys of its own.

``ensure_built()`` runs ``tests/peer/build_litellm.sh`` (a venv of its own OUTSIDE the checkout,
about 2 min the first time, then at once; ``OAIB_CACHE`` overrides the cache root). A failed
install raises: tests that need the peer fail, they are never skipped.

``LiteLLMProxy.start(upstream=...)`` launches ``litellm`` with ``tests/peer/litellm_config.yaml``
(the config docs/scaling.md shows) on a free loopback port and waits until
``GET /health/liveliness`` answers 200. It runs offline: the model cost map is the bundled
copy (``LITELLM_LOCAL_MODEL_COST_MAP``), no proxy variables reach it (the upstream is on
loopback), and it binds 127.0.0.1 only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.peer_process import REPO_ROOT, PeerServer, free_port, run_build

BUILD_SCRIPT = REPO_ROOT / "tests" / "peer" / "build_litellm.sh"
CONFIG = REPO_ROOT / "tests" / "peer" / "litellm_config.yaml"
CHAT_MODEL = "proxy-chat"  # the public names of tests/peer/litellm_config.yaml
EMBED_MODEL = "proxy-embed"
DOWN_MODEL = "proxy-down"  # routed to a closed port
MASTER_KEY = "sk-test-master"
UPSTREAM_KEY = "sk-upstream-unused"  # llama-server checks no key; LiteLLM sends this one
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class LiteLLMError(AssertionError):
    """The peer could not be installed or started (a test failure, never a skip)."""


def ensure_built(python: str = sys.executable, timeout: float = 1800) -> Path:
    """Install (once per cache) and return the cache dir holding venv/bin/litellm."""
    return run_build(BUILD_SCRIPT, python, timeout, LiteLLMError, label="litellm", needed=("ready", "venv/bin/litellm"))


def proxy_env(upstream: str, down: str, master_key: str = MASTER_KEY) -> dict[str, str]:
    """The environment ``litellm`` runs with: the config's ``os.environ/`` values, offline switches."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and k.upper() not in _PROXY_VARS
    }
    env.update(
        UPSTREAM_API_BASE=upstream,
        UPSTREAM_API_KEY=UPSTREAM_KEY,
        DOWN_API_BASE=down,
        LITELLM_MASTER_KEY=master_key,
        # offline: the bundled model cost map, never the one on GitHub; no Hugging Face downloads
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    return env


@dataclass
class LiteLLMProxy(PeerServer):
    """A running LiteLLM proxy. ``base_url`` is ``http://127.0.0.1:PORT/v1``; ``master_key`` is
    the only key it accepts (it has no database of virtual keys)."""

    name = "litellm"
    log_prefix = "litellm"
    ready_path = "/health/liveliness"
    poll_interval = 0.25
    stop_timeout = 10.0
    error = LiteLLMError

    model: str = CHAT_MODEL
    master_key: str = MASTER_KEY
    down_url: str = ""

    @classmethod
    def start(
        cls,
        *,
        upstream: str,
        log_dir: Path | str | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 120.0,
        python: str = sys.executable,
    ) -> LiteLLMProxy:
        """Install if needed, start in front of ``upstream`` (an OpenAI-compatible ``/v1`` URL),
        wait for ``/health/liveliness`` = 200. ``proxy-down`` goes to a port nothing listens on."""
        cache = ensure_built(python)
        down = f"http://127.0.0.1:{free_port()}/v1"  # probed free, never bound: refused

        def command(port: int) -> list[str]:
            return [
                str(cache / "venv" / "bin" / "litellm"),
                "--config",
                str(CONFIG),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *extra_args,
            ]

        server = cls._launch(
            cache, command, log_dir=log_dir, ready_timeout=ready_timeout, env=proxy_env(upstream, down)
        )
        server.down_url = down
        return server
