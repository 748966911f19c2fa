"""A real ``python -m llama_cpp.server`` (PyPI ``llama-cpp-python[server]``) with the tiny random
GGUF, as a second OpenAI-compatible peer with quirks of its own (see the peer README): no usage
chunk in streams, ``encoding_format`` ignored (always floats), vectors not normalised, HTTP 500
for validation errors (``content: null`` on an assistant turn, ``response_format: json_schema``,
``tool_choice: "required"``), and streamed tool calls that repeat id, type and name on every chunk.

``ensure_built()`` runs ``tests/peer/build_llama_cpp_python.sh`` (a venv OUTSIDE the checkout,
~5-6 min on 2 cores the first time, then at once; ``OAIB_CACHE`` overrides the cache root). A
failed build raises: tests that need the peer fail, they are never skipped.

``LcpServer.start()`` launches one process on a free loopback port and waits until
``GET /v1/models`` answers 200.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.peer_process import REPO_ROOT, PeerServer, run_build
from tests.support.peer_process import free_port as free_port  # re-exported

BUILD_SCRIPT = REPO_ROOT / "tests" / "peer" / "build_llama_cpp_python.sh"
MODEL_ALIAS = "tiny"
MODEL_FILE = "tiny-embed.gguf"  # written with --pooling mean: one vector per text, not per token
CHAT_FORMAT = "chatml-function-calling"


class LcpServerError(AssertionError):
    """The peer could not be built or started (a test failure, never a skip)."""


def ensure_built(python: str = sys.executable, timeout: float = 3600) -> Path:
    """Build (once per cache) and return the cache dir holding venv/ and models/."""
    needed = ("ready", "venv/bin/python", f"models/{MODEL_FILE}")
    return run_build(BUILD_SCRIPT, python, timeout, LcpServerError, label="llama-cpp-python", needed=needed)


@dataclass
class LcpServer(PeerServer):
    """A running llama_cpp.server. ``base_url`` is ``http://127.0.0.1:PORT/v1``."""

    name = "llama_cpp.server"
    log_prefix = "lcp-server"
    ready_path = "/v1/models"
    poll_interval = 0.1
    stop_timeout = 10.0
    error = LcpServerError

    model: str = MODEL_ALIAS

    @classmethod
    def start(
        cls,
        *,
        log_dir: Path | str | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
        python: str = sys.executable,
    ) -> LcpServer:
        """Build if needed, start on a free port, wait for ``GET /v1/models`` = 200."""
        cache = ensure_built(python)
        # The server's own venv, not the test run's: keep the test process's Python settings out.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PYTHONUNBUFFERED"] = "1"

        def command(port: int) -> list[str]:
            return [
                str(cache / "venv" / "bin" / "python"),
                "-m",
                "llama_cpp.server",
                "--model",
                str(cache / "models" / MODEL_FILE),
                "--model_alias",
                MODEL_ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chat_format",
                CHAT_FORMAT,
                "--embedding",
                "true",
                "--verbose",
                "false",
                *extra_args,
            ]

        return cls._launch(cache, command, log_dir=log_dir, ready_timeout=ready_timeout, env=env)
