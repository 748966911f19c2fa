"""A stand-in for the daemon's remote-debug TCP endpoint (INSTALL_METHOD=remote).

Protocol as implemented by dify_plugin 0.10.2 (core/server/tcp/request_reader.py, plugin.py)
and dify-plugin-daemon (internal/core/debugging_runtime):

* the plugin connects and sends ``{"type":"handshake","data":{"key":KEY}}`` + ``"\\n"``;
* immediately after (it does not wait for any answer) it sends ``manifest_declaration``,
  ``model_declaration`` (a list), one ``asset_chunk`` per 8192 raw bytes of each top-level
  file in ``_assets/`` (``{"filename", "data": base64, "end": last chunk}``) and ``end``, each
  followed by ``"\\n\\n"``;
* the daemon answers nothing on success (on failure it writes an error text line such as
  ``handshake failed, invalid key\\n`` and closes);
* afterwards the daemon writes requests, one JSON object + ``"\\n"`` each (same envelope as
  stdio), and the plugin answers with the stdio event frames (heartbeat/session) + ``"\\n\\n"``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.plugin_process import plugin_root, read_pipe, request_envelope

# Not part of a packaged plugin (see .difyignore). Above all ``.env``: pydantic-settings reads
# it from the cwd, and a developer's .env sets REMOTE_INSTALL_URL, which beats
# REMOTE_INSTALL_HOST/PORT given in the environment.
_NOT_PACKAGED = (
    ".env",
    ".env.*",
    ".venv",
    "venv",
    ".git",
    "tests",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".mypy_cache",
    "*.difypkg",
    "build",
    "dist",
)


def clean_plugin_copy(src: Path | str, dest: Path | str) -> Path:
    """Copy the plugin directory as a package would hold it (no .env, venv, tests, caches)."""
    dest = Path(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*_NOT_PACKAGED), symlinks=True)
    return dest


class FakeDaemon:
    """Listens on 127.0.0.1:<free port>, accepts one plugin connection, records frames."""

    def __init__(self, *, refuse: bytes | None = None) -> None:
        """``refuse``: answer the handshake with this text and close, as the daemon does for a
        wrong key (``b"handshake failed, invalid key\\n"``); every reconnect gets the same."""
        self.refuse = refuse
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self.host, self.port = self._listener.getsockname()[:2]
        self._cond = threading.Condition()
        self.conn: socket.socket | None = None
        self.connections = 0
        self.frames: list[dict] = []
        """Every JSON frame received, in order (registration frames, then events)."""
        self.noise: list[bytes] = []
        self.raw = bytearray()
        self.closed_by_peer = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-daemon", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        if self.refuse is not None:
            self._refuse(conn)
            return
        with self._cond:
            self.conn = conn
            self.connections += 1
            self._cond.notify_all()
        buf = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(1 << 20)
            except OSError:
                break
            if not data:
                break
            with self._cond:
                self.raw.extend(data)
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                try:
                    frame = json.loads(line)
                except ValueError:
                    with self._cond:
                        self.noise.append(line)
                    continue
                with self._cond:
                    self.frames.append(frame)
                    self._cond.notify_all()
        with self._cond:
            self.closed_by_peer = True
            self._cond.notify_all()

    def _refuse(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                conn.settimeout(5)
                data = conn.recv(1 << 16)  # the handshake line
                with self._cond:
                    self.raw.extend(data)
                    self.connections += 1
                    self._cond.notify_all()
                conn.sendall(self.refuse or b"")
            with contextlib.suppress(OSError):
                conn.close()
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return

    def wait_for(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = (
                        f"fake daemon: timed out after {timeout}s waiting for {what}; "
                        f"frames so far: {[f.get('type') or f.get('event') for f in self.frames]}"
                    )
                    raise AssertionError(msg)
                self._cond.wait(min(remaining, 0.1))

    def registration_frames(self) -> list[dict]:
        """Frames up to and including ``{"type": "end"}``."""
        with self._cond:
            out = []
            for frame in self.frames:
                out.append(frame)
                if frame.get("type") == "end" and "event" not in frame:
                    break
            return out

    def wait_registered(self, timeout: float = 30.0) -> list[dict]:
        self.wait_for(
            lambda: any(f.get("type") == "end" and "event" not in f for f in self.frames),
            timeout,
            "the registration `end` frame",
        )
        return self.registration_frames()

    def send(self, obj: Mapping[str, Any]) -> None:
        assert self.conn is not None, "no plugin connected"
        self.conn.sendall(json.dumps(obj).encode() + b"\n")

    def request(self, data: Mapping[str, Any], timeout: float = 30.0) -> list[dict]:
        """Send one request (``data`` is the request's ``data`` object); return the session
        messages (``{"type", "data"}``) up to and including ``end``."""
        sid = str(uuid.uuid4())
        self.send(request_envelope(sid, data))

        def messages() -> list[dict]:
            return [
                f.get("data") or {} for f in self.frames if f.get("event") == "session" and f.get("session_id") == sid
            ]

        self.wait_for(lambda: any(m.get("type") == "end" for m in messages()), timeout, f"session {sid} to end")
        with self._cond:
            return messages()

    def close(self) -> None:
        self._stop.set()
        for sock in (self.conn, self._listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> FakeDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemotePlugin:
    """``python -m main`` with INSTALL_METHOD=remote; stdout/stderr drained into buffers."""

    def __init__(
        self, env: Mapping[str, str | None], *, root: Path | str | None = None, python: str = sys.executable
    ) -> None:
        root = root if root is not None else plugin_root()
        full_env = dict(os.environ)
        for key, value in env.items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        self.proc = subprocess.Popen(
            [python, "-m", "main"],
            cwd=str(root),
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._out = bytearray()
        self._closed = False
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _drain(self, stream: Any) -> None:
        for data in read_pipe(stream.fileno(), lambda: self._closed):
            with self._lock:
                self._out.extend(data)

    @property
    def output(self) -> str:
        """stdout and stderr interleaved (for failure messages)."""
        with self._lock:
            return self._out.decode("utf-8", "replace")

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=2)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                pipe.close()

    def __enter__(self) -> RemotePlugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
