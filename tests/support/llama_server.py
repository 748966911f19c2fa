"""A real llama.cpp ``llama-server`` with the tiny random GGUF, as an OpenAI-compatible peer.

``ensure_built()`` runs ``tests/peer/build_llama_server.sh`` (it builds into a cache OUTSIDE the
checkout the first time, ~7 min on 2 cores, then returns at once; ``OAIB_CACHE`` overrides the
cache root). A failed build raises: tests that need the peer fail, they are never skipped.

``LlamaServer.start()`` launches one process on a free loopback port and waits for
``GET /health`` = 200. ``RerankServer.start()`` does the same with the tiny generated BERT
cross-encoder (``tests/peer/make_tiny_reranker.py``) and ``--reranking``: it serves
``/v1/rerank`` (Jina shape) and ``/rerank`` (TEI shape when the body has ``texts``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.peer_process import REPO_ROOT, PeerServer, run_build
from tests.support.peer_process import free_port as free_port  # re-exported

BUILD_SCRIPT = REPO_ROOT / "tests" / "peer" / "build_llama_server.sh"
MODEL_ALIAS = "tiny"
RERANK_ALIAS = "tiny-reranker"
RERANK_MODEL_FILE = "tiny-reranker.gguf"
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


def ensure_built(
    python: str = sys.executable, timeout: float = 3600, progress: Callable[[str], None] | None = None
) -> Path:
    """Build (once per cache) and return the cache dir holding bin/, models/, templates/.
    ``progress`` gets the build's progress lines as they come (``make demo`` shows them)."""
    needed = ("bin/llama-server", "models/tiny.gguf", f"models/{RERANK_MODEL_FILE}", f"templates/{TEMPLATE}")
    return run_build(
        BUILD_SCRIPT, python, timeout, LlamaServerError, label="llama-server", needed=needed, progress=progress
    )


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


# The reranker's position table has 512 rows (its n_ctx_train): 2 slots of 512 tokens. A
# (query, document) pair is scored in one non-causal pass, so it must also fit one ubatch
# (512 by default); a longer pair is refused with HTTP 500 "input is too large to process".
RERANK_ARGS: tuple[str, ...] = ("-c", "1024", "-np", "2", "-t", "2")


@dataclass
class RerankServer(PeerServer):
    """A running ``llama-server --reranking``. ``origin`` is ``http://127.0.0.1:PORT``;
    ``base_url`` (``origin`` + ``/v1``) has ``/rerank``; ``model`` is the alias."""

    name = "llama-server (rerank)"
    log_prefix = "llama-rerank"
    ready_path = "/health"
    ready_word = "healthy"
    poll_interval = 0.05
    stop_timeout = 5.0
    error = LlamaServerError

    model: str = RERANK_ALIAS

    @classmethod
    def start(
        cls,
        *,
        log_dir: Path | str | None = None,
        extra_args: Sequence[str] = (),
        base_args: Sequence[str] = RERANK_ARGS,
        ready_timeout: float = 60.0,
        python: str = sys.executable,
    ) -> RerankServer:
        """Build if needed, start on a free port, wait for ``/health`` = 200."""
        cache = ensure_built(python)

        def command(port: int) -> list[str]:
            return [
                str(cache / "bin" / "llama-server"),
                "-m",
                str(cache / "models" / RERANK_MODEL_FILE),
                "--alias",
                RERANK_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *base_args,
                "--reranking",
                "--no-webui",
                *extra_args,
            ]

        return cls._launch(cache, command, log_dir=log_dir, ready_timeout=ready_timeout)
