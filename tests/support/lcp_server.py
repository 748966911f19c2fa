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

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.llama_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tests" / "peer" / "build_llama_cpp_python.sh"
MODEL_ALIAS = "tiny"
MODEL_FILE = "tiny-embed.gguf"  # written with --pooling mean: one vector per text, not per token
CHAT_FORMAT = "chatml-function-calling"

_build_lock = threading.Lock()
_built: Path | None = None


class LcpServerError(AssertionError):
    """The peer could not be built or started (a test failure, never a skip)."""


def ensure_built(python: str = sys.executable, timeout: float = 3600) -> Path:
    """Build (once per cache) and return the cache dir holding venv/ and models/."""
    global _built
    with _build_lock:
        if _built is not None:
            return _built
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.run(
                    ["bash", str(BUILD_SCRIPT), python],
                    cwd=str(REPO_ROOT),
                    stdout=subprocess.PIPE,
                    stderr=err,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                err.seek(0)
                tail = err.read()[-4000:].decode(errors="replace")
                msg = f"llama-cpp-python build timed out after {timeout}s:\n{tail}"
                raise LcpServerError(msg) from exc
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        lines = proc.stdout.decode(errors="replace").strip().splitlines()
        if proc.returncode != 0 or not lines:
            msg = (
                f"{BUILD_SCRIPT.name} failed (rc={proc.returncode}); this peer is required, "
                f"fix the build rather than skipping:\n{stderr[-4000:]}"
            )
            raise LcpServerError(msg)
        cache = Path(lines[-1])
        for needed in (cache / "ready", cache / "venv" / "bin" / "python", cache / "models" / MODEL_FILE):
            if not needed.exists():
                msg = f"build reported {cache} but {needed} is missing\n{stderr[-2000:]}"
                raise LcpServerError(msg)
        _built = cache
        return cache


@dataclass
class LcpServer:
    """A running llama_cpp.server. ``base_url`` is ``http://127.0.0.1:PORT/v1``."""

    cache_dir: Path
    port: int
    log_path: Path
    proc: subprocess.Popen
    args: list[str] = field(default_factory=list)
    model: str = MODEL_ALIAS
    host: str = "127.0.0.1"

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, limit: int = 4000) -> str:
        text = self.log_text
        return text if len(text) <= limit else "…" + text[-limit:]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

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
        log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="lcp-server-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        # The server's own venv, not the test run's: keep the test process's Python settings out.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PYTHONUNBUFFERED"] = "1"
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            log_path = log_dir / f"lcp-server-{port}.log"
            args = [
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
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            server = cls(cache_dir=cache, port=port, log_path=log_path, proc=proc, args=args)
            try:
                server._wait_ready(ready_timeout)
            except LcpServerError as exc:
                server.stop()
                last_error = str(exc)
                if "address already in use" in server.log_text.lower():
                    continue
                raise
            return server
        raise LcpServerError(last_error)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                msg = f"llama_cpp.server exited with rc={self.proc.returncode}:\n{self.log_tail()}"
                raise LcpServerError(msg)
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.1)
        msg = f"llama_cpp.server not ready within {timeout}s (last: {last}):\n{self.log_tail()}"
        raise LcpServerError(msg)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def __enter__(self) -> LcpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
