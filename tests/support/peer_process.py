"""What the real peers (``llama_server.py``, ``lcp_server.py``) share: the build runner and a
server process on a free loopback port, polled until it answers.

``run_build()`` runs a ``tests/peer/build_*.sh`` script once per session; the script prints the
cache dir on its last stdout line. A failed build raises the peer's ``AssertionError`` subclass:
tests that need the peer fail, they are never skipped.

``PeerServer`` is the running process. A subclass names the peer (``name``, ``log_prefix``), its
readiness path and error class, and builds the command line in its own ``start()``, which calls
``_launch()``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

REPO_ROOT = Path(__file__).resolve().parents[2]

_build_lock = threading.Lock()
_built: dict[Path, Path] = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_build(
    script: Path,
    python: str,
    timeout: float,
    error: type[AssertionError],
    *,
    label: str,
    needed: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run ``bash script python`` once per session (later calls return the first result) and
    return the cache dir from its last stdout line, after checking that each of ``needed``
    (paths relative to it) exists. Failures raise ``error``. With ``progress``, each of the
    script's progress lines (stderr lines starting with ``[``) is passed to it as it comes."""
    with _build_lock:
        if script in _built:
            return _built[script]
        if progress is not None:
            returncode, stdout, stderr = _run_showing_progress(script, python, timeout, error, label, progress)
        else:
            returncode, stdout, stderr = _run_quietly(script, python, timeout, error, label)
        lines = stdout.strip().splitlines()
        if returncode != 0 or not lines:
            msg = (
                f"{script.name} failed (rc={returncode}); this peer is required, "
                f"fix the build rather than skipping:\n{stderr[-4000:]}"
            )
            raise error(msg)
        cache = Path(lines[-1])
        for needed_path in (cache / rel for rel in needed):
            if not needed_path.exists():
                msg = f"build reported {cache} but {needed_path} is missing\n{stderr[-2000:]}"
                raise error(msg)
        _built[script] = cache
        return cache


def _run_quietly(
    script: Path, python: str, timeout: float, error: type[AssertionError], label: str
) -> tuple[int, str, str]:
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                ["bash", str(script), python],
                cwd=str(REPO_ROOT),
                stdout=subprocess.PIPE,
                stderr=err,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            err.seek(0)
            tail = err.read()[-4000:].decode(errors="replace")
            msg = f"{label} build timed out after {timeout}s:\n{tail}"
            raise error(msg) from exc
        err.seek(0)
        return proc.returncode, proc.stdout.decode(errors="replace"), err.read().decode(errors="replace")


def _run_showing_progress(
    script: Path,
    python: str,
    timeout: float,
    error: type[AssertionError],
    label: str,
    progress: Callable[[str], None],
) -> tuple[int, str, str]:
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(["bash", str(script), python], cwd=str(REPO_ROOT), stdout=out, stderr=subprocess.PIPE)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        err_lines: list[str] = []
        try:
            assert proc.stderr is not None
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                err_lines.append(line)
                if line.startswith("["):
                    progress(line)
            returncode = proc.wait()
        finally:
            timer.cancel()
        stderr = "\n".join(err_lines)
        if timed_out.is_set():
            msg = f"{label} build timed out after {timeout}s:\n{stderr[-4000:]}"
            raise error(msg)
        out.seek(0)
        return returncode, out.read().decode(errors="replace"), stderr


@dataclass
class PeerServer:
    """A running peer. ``base_url`` is ``http://127.0.0.1:PORT/v1``."""

    name: ClassVar[str]  # in messages, e.g. "llama-server"
    log_prefix: ClassVar[str]  # log dir and file names
    ready_path: ClassVar[str]  # polled on the origin until it answers 200
    ready_word: ClassVar[str] = "ready"  # "... not {ready_word} within ..."
    poll_interval: ClassVar[float] = 0.1
    stop_timeout: ClassVar[float] = 5.0  # after SIGTERM, before SIGKILL
    error: ClassVar[type[AssertionError]] = AssertionError

    cache_dir: Path
    port: int
    log_path: Path
    proc: subprocess.Popen
    args: list[str] = field(default_factory=list)
    model: str = ""
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
    def _launch(
        cls,
        cache: Path,
        command: Callable[[int], list[str]],
        *,
        log_dir: Path | str | None,
        ready_timeout: float,
        env: dict[str, str] | None = None,
    ) -> Self:
        """Start ``command(port)`` on a free port and wait until ready; retry on another port
        when the chosen one was taken between probe and bind."""
        log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix=f"{cls.log_prefix}-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            log_path = log_dir / f"{cls.log_prefix}-{port}.log"
            args = command(port)
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
            except cls.error as exc:
                server.stop()
                last_error = str(exc)
                if "address already in use" in server.log_text.lower():
                    continue
                raise
            return server
        raise cls.error(last_error)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                msg = f"{self.name} exited with rc={self.proc.returncode}:\n{self.log_tail()}"
                raise self.error(msg)
            try:
                with urllib.request.urlopen(f"{self.origin}{self.ready_path}", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"  # e.g. 503 while loading
            except OSError as exc:
                last = repr(exc)
            time.sleep(self.poll_interval)
        msg = f"{self.name} not {self.ready_word} within {timeout}s (last: {last}):\n{self.log_tail()}"
        raise self.error(msg)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
