"""A real llama.cpp ``llama-server`` with the tiny random GGUF, as an OpenAI-compatible peer.

``ensure_built()`` runs ``tests/peer/build_llama_server.sh`` (it builds into a cache OUTSIDE the
checkout the first time, ~7 min on 2 cores, then returns at once; ``OAIB_CACHE`` overrides the
cache root). A failed build raises: tests that need the peer fail, they are never skipped.

``LlamaServer.start()`` launches one process on a free loopback port and waits for
``GET /health`` = 200.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
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

REPO_ROOT = Path(__file__).resolve().parents[2]
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

_build_lock = threading.Lock()
_built: Path | None = None


class LlamaServerError(AssertionError):
    """The peer could not be built or started (a test failure, never a skip)."""


def ensure_built(python: str = sys.executable, timeout: float = 3600) -> Path:
    """Build (once per cache) and return the cache dir holding bin/, models/, templates/."""
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
                msg = f"llama-server build timed out after {timeout}s:\n{err.read()[-4000:].decode(errors='replace')}"
                raise LlamaServerError(msg) from exc
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        lines = proc.stdout.decode(errors="replace").strip().splitlines()
        if proc.returncode != 0 or not lines:
            msg = (
                f"{BUILD_SCRIPT.name} failed (rc={proc.returncode}); this peer is required, "
                f"fix the build rather than skipping:\n{stderr[-4000:]}"
            )
            raise LlamaServerError(msg)
        cache = Path(lines[-1])
        for needed in (cache / "bin" / "llama-server", cache / "models" / "tiny.gguf", cache / "templates" / TEMPLATE):
            if not needed.exists():
                msg = f"build reported {cache} but {needed} is missing\n{stderr[-2000:]}"
                raise LlamaServerError(msg)
        _built = cache
        return cache


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LlamaServer:
    """A running llama-server. ``base_url`` is ``http://127.0.0.1:PORT/v1``."""

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
        base_args: Sequence[str] = DEFAULT_ARGS,
        ready_timeout: float = 60.0,
        python: str = sys.executable,
    ) -> LlamaServer:
        """Build if needed, start on a free port, wait for ``/health`` = 200."""
        cache = ensure_built(python)
        log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="llama-server-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            log_path = log_dir / f"llama-server-{port}.log"
            args = [
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
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            server = cls(cache_dir=cache, port=port, log_path=log_path, proc=proc, args=args)
            try:
                server._wait_ready(ready_timeout)
            except LlamaServerError as exc:
                server.stop()
                last_error = str(exc)
                if "address already in use" in server.log_text.lower():
                    continue
                raise
            return server
        raise LlamaServerError(last_error)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                msg = f"llama-server exited with rc={self.proc.returncode}:\n{self.log_tail()}"
                raise LlamaServerError(msg)
            try:
                with urllib.request.urlopen(f"{self.origin}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"  # 503 while loading
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.05)
        msg = f"llama-server not healthy within {timeout}s (last: {last}):\n{self.log_tail()}"
        raise LlamaServerError(msg)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
