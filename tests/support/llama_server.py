"""A real llama.cpp ``llama-server`` with the tiny random GGUF, as an OpenAI-compatible peer.

``ensure_built()`` runs ``tests/peer/build_llama_server.sh`` (it builds into a cache OUTSIDE the
checkout the first time, ~7 min on 2 cores, then returns at once; ``OAIB_CACHE`` overrides the
cache root). A failed build raises: tests that need the peer fail, they are never skipped.

``LlamaServer.start()`` launches one process on a free loopback port and waits for
``GET /health`` = 200.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.peer_process import REPO_ROOT, PeerServer, run_build
from tests.support.peer_process import free_port as free_port  # re-exported

BUILD_SCRIPT = REPO_ROOT / "tests" / "peer" / "build_llama_server.sh"
MODEL_ALIAS = "tiny"
TEMPLATE = "Qwen-Qwen2.5-7B-Instruct.jinja"

# 2 slots of 2048 tokens. The unified KV cache with a per-slot limit keeps embeddings exact
# when one request mixes texts of different lengths (see the peer README: with plain
# "-c 4096 -np 2" this build returned wrong vectors for ~40% of such texts).
DEFAULT_ARGS: tuple[str, ...] = (
    "-c",
    "4096",
    "-np",
    "2",
    "-kvu",
    "--kv-unified-per-slot",
    "2048",
    "-t",
    "2",
)


class LlamaServerError(AssertionError):
    """The peer could not be built or started (a test failure, never a skip)."""


def ensure_built(python: str = sys.executable, timeout: float = 3600) -> Path:
    """Build (once per cache) and return the cache dir holding bin/, models/, templates/."""
    needed = ("bin/llama-server", "models/tiny.gguf", f"templates/{TEMPLATE}")
    return run_build(BUILD_SCRIPT, python, timeout, LlamaServerError, label="llama-server", needed=needed)


@dataclass
class LlamaServer(PeerServer):
    """A running llama-server. ``base_url`` is ``http://127.0.0.1:PORT/v1``."""

    name = "llama-server"
    log_prefix = "llama-server"
    ready_path = "/health"
    ready_word = "healthy"
    poll_interval = 0.05
    stop_timeout = 5.0
    error = LlamaServerError

    model: str = MODEL_ALIAS

    @classmethod
    def start(
        cls,
        *,
        log_dir: Path | str | None = None,
        extra_args: Sequence[str] = (),
        base_args: Sequence[str] = DEFAULT_ARGS,
        ready_timeout: float = 60.0,
        python: str = sys.executable,
    ) -> LlamaServer:
        """Build if needed, start on a free port, wait for ``/health`` = 200."""
        cache = ensure_built(python)

        def command(port: int) -> list[str]:
            return [
                str(cache / "bin" / "llama-server"),
                "-m",
                str(cache / "models" / "tiny.gguf"),
                "--alias",
                MODEL_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *base_args,
                "--jinja",
                "--chat-template-file",
                str(cache / "templates" / TEMPLATE),
                "--embeddings",
                "--pooling",
                "mean",
                "--no-webui",
                *extra_args,
            ]

        return cls._launch(cache, command, log_dir=log_dir, ready_timeout=ready_timeout)
