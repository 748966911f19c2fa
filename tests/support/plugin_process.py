"""Run the plugin exactly as Dify's daemon runs a local install, and talk to it over stdio.

The daemon launches ``python -m main`` with cwd = the plugin directory, its whole environment
plus ``INSTALL_METHOD=local``, writes one JSON request per line to stdin and reads JSON frames
from stdout. The SDK (dify_plugin 0.10.2) writes:

* first the manifest (``PluginConfiguration.model_dump_json()`` + ``"\\n\\n"``),
* then ``{"event": "heartbeat"|"session"|"error", "session_id": ..., "data": ...}`` + ``"\\n\\n"``,
* and ``{"event": "log", "data": {...}}`` + ``"\\n"`` (logging handler: single newline).

A session ends with ``{"type": "end"}``; an exception becomes ``{"type": "error", "data":
{"error_type", "message", "args"}}`` just before the end. A request whose payload cannot be
parsed into the SDK's request entity with a ``TypeError`` gets a top-level ``error`` event
carrying the session id instead (see ``SessionResult.protocol_errors``).

The SDK never exits on stdin EOF (it busy-loops, and only exits once its parent PID is 1), so
``PluginProcess.close()`` kills the whole process group; always use it as a context manager
or through the pytest fixtures.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def request_envelope(session_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """One request as Dify's daemon frames it (stdio line or remote-debug TCP line)."""
    return {
        "session_id": session_id,
        "conversation_id": None,
        "message_id": None,
        "app_id": None,
        "endpoint_id": None,
        "context": {},
        "event": "request",
        "data": dict(data),
    }


def plugin_root() -> Path:
    """The plugin directory to run: this checkout, or ``$OAIB_PLUGIN_ROOT`` if set."""
    return Path(os.environ.get("OAIB_PLUGIN_ROOT") or REPO_ROOT)


PROVIDER = "openai_compatible_bridge"
USER_ID = "test-user"

EMBEDDING_ACTIONS = frozenset(
    {
        "invoke_text_embedding",
        "get_text_embedding_num_tokens",
        "invoke_multimodal_embedding",
    }
)

_LIVE: weakref.WeakSet[PluginProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:  # belt and braces if a test run is interrupted
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.close()


class PluginStartError(AssertionError):
    """The plugin did not start (no manifest frame)."""


class PluginSessionError(AssertionError):
    """A session did not end in time, the plugin died, or the session carried an error."""


def read_pipe(fd: int, should_stop: Any = None, poll: float = 0.2) -> Iterator[bytes]:
    """Yield what arrives on ``fd`` until EOF (or until ``should_stop()`` is true).

    The test process is gevent-patched (tests/conftest.py imports dify_plugin first, which runs
    ``monkey.patch_all``, as the plugin does), so threads are greenlets: a plain blocking
    ``os.read`` would freeze every other "thread", fake servers included. ``select`` is patched
    and cooperative, so wait with it and only read what is ready."""
    while True:
        if should_stop is not None and should_stop():
            return
        try:
            ready, _, _ = select.select([fd], [], [], poll)
        except (OSError, ValueError):
            return
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return
        if not data:
            return
        yield data


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


@dataclass
class SessionResult:
    """Everything the plugin sent for one request (one ``session_id``)."""

    session_id: str
    action: str
    request: dict
    stream: list[dict] = field(default_factory=list)
    """The ``data`` of every ``stream`` session message, in order."""
    error: dict | None = None
    """The ``data`` of the ``error`` session message: ``error_type``, ``message``, ``args``."""
    ended: bool = False
    messages: list[dict] = field(default_factory=list)
    """Raw session messages (``{"type": ..., "data": ...}``) in arrival order."""
    protocol_errors: list[dict] = field(default_factory=list)
    """Top-level ``{"event": "error"}`` frames carrying this session id (request rejected)."""
    sent_at: float = 0.0
    """``time.monotonic()`` when the request line was written."""
    first_frame_at: float | None = None
    """Seconds from send to the first session message of any type."""
    stream_times: list[float] = field(default_factory=list)
    """Seconds from send to each ``stream`` message (same order as ``stream``)."""
    error_at: float | None = None
    """Seconds from send to the ``error`` message."""
    elapsed: float | None = None
    """Seconds from send to the ``end`` message (None while not ended)."""

    # -- conveniences for LLM results ---------------------------------------------------
    @property
    def error_type(self) -> str | None:
        return self.error.get("error_type") if self.error else None

    @property
    def chunks(self) -> list[dict]:
        """LLM result chunks (stream items that carry a ``delta``)."""
        return [s for s in self.stream if isinstance(s, dict) and "delta" in s]

    @property
    def text(self) -> str:
        """Concatenated assistant text of an ``invoke_llm`` stream (string contents only)."""
        out: list[str] = []
        for chunk in self.chunks:
            content = (chunk.get("delta") or {}).get("message", {}).get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.extend(p.get("data", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return "".join(out)

    @property
    def tool_calls(self) -> list[dict]:
        """Every tool call object found in the deltas, in order (not merged)."""
        calls: list[dict] = []
        for chunk in self.chunks:
            calls.extend((chunk.get("delta") or {}).get("message", {}).get("tool_calls") or [])
        return calls

    @property
    def usage(self) -> dict | None:
        """The last ``delta.usage`` seen, if any."""
        found = None
        for chunk in self.chunks:
            usage = (chunk.get("delta") or {}).get("usage")
            if usage:
                found = usage
        return found

    @property
    def finish_reason(self) -> str | None:
        found = None
        for chunk in self.chunks:
            reason = (chunk.get("delta") or {}).get("finish_reason")
            if reason:
                found = reason
        return found

    @property
    def result(self) -> dict:
        """The single stream item of a non-streaming action (validate, schemas, num tokens,
        embeddings). Fails if there is not exactly one."""
        self.raise_for_error()
        if len(self.stream) != 1:
            msg = f"{self.action}: expected exactly one stream message, got {len(self.stream)}: {self.stream!r}"
            raise PluginSessionError(msg)
        return self.stream[0]

    def raise_for_error(self) -> SessionResult:
        """Fail when the session carried an error (or a protocol error) or did not end."""
        if self.protocol_errors:
            msg = f"{self.action}: request rejected by the SDK router: {self.protocol_errors!r}"
            raise PluginSessionError(msg)
        if self.error is not None:
            tb = (self.error.get("args") or {}).get("traceback", "")
            msg = f"{self.action}: plugin answered {self.error.get('error_type')}: {self.error.get('message')}\n{tb}"
            raise PluginSessionError(msg)
        if not self.ended:
            msg = f"{self.action}: session {self.session_id} has not ended"
            raise PluginSessionError(msg)
        return self


class PendingSession:
    """A request in flight; ``wait()`` returns its ``SessionResult``."""

    def __init__(self, owner: PluginProcess, result: SessionResult) -> None:
        self._owner = owner
        self.result = result
        self._done = threading.Event()

    @property
    def session_id(self) -> str:
        return self.result.session_id

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float = 60) -> SessionResult:
        deadline = time.monotonic() + timeout
        while not self._done.wait(0.05):
            if self._owner.gone:
                # give the reader thread a moment to flush frames already written
                if self._done.wait(0.5):
                    break
                msg = (
                    f"plugin process exited (rc={self._owner.returncode}) while waiting for "
                    f"{self.result.action} session {self.session_id}\n"
                    f"{self._owner.describe(self.result)}"
                )
                raise PluginSessionError(msg)
            if time.monotonic() > deadline:
                msg = (
                    f"{self.result.action} session {self.session_id} did not end within {timeout}s\n"
                    f"{self._owner.describe(self.result)}"
                )
                raise PluginSessionError(msg)
        return self.result


class PluginProcess:
    """One ``python -m main`` process with ``INSTALL_METHOD=local``, driven over stdio."""

    def __init__(
        self,
        *,
        root: Path | str | None = None,
        env: Mapping[str, str | None] | None = None,
        python: str = sys.executable,
        start_timeout: float = 60.0,
    ) -> None:
        self.root = Path(root) if root is not None else plugin_root()
        full_env = dict(os.environ)
        full_env["INSTALL_METHOD"] = "local"
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        self.env = full_env

        self.manifest: dict = {}
        self.frames: list[dict] = []
        """Every JSON frame from stdout in order (manifest, heartbeats, logs, sessions)."""
        self.logs: list[dict] = []
        """The ``data`` of every ``log`` event (level, message, timestamp)."""
        self.heartbeats: list[float] = []
        """``time.monotonic()`` of each heartbeat."""
        self.top_level_errors: list[dict] = []
        """Every top-level ``{"event": "error"}`` frame."""
        self.noise: list[str] = []
        """stdout lines that are not JSON (a stray ``print`` corrupts Dify's channel)."""
        self.unrouted: list[dict] = []
        """Session frames whose session id this driver did not send."""

        self._stdout_raw = bytearray()
        self._stderr_raw = bytearray()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._write_lock = threading.Lock()
        self._sessions: dict[str, PendingSession] = {}
        self._closed = False
        self.exited = False

        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [python, "-m", "main"],
            cwd=str(self.root),
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        _LIVE.add(self)
        self._threads = [
            threading.Thread(target=self._read_stdout, name="plugin-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="plugin-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

        try:
            self._wait_manifest(start_timeout)
        except BaseException:
            self.close()
            raise

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> PluginProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def gone(self) -> bool:
        """The process has exited (or closed its stdout). Children that inherited the pipes
        can keep stdout open after the plugin died, so the exit status is checked too."""
        return self.exited or self.proc.poll() is not None

    @property
    def alive(self) -> bool:
        return not self._closed and self.proc.poll() is None

    def close(self) -> None:
        """Kill the plugin's process group (it never exits by itself) and reap it."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        for thread in self._threads:  # they stop at EOF, or within a poll once _closed is set
            thread.join(timeout=2)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                pipe.close()
        _LIVE.discard(self)

    # -- output -------------------------------------------------------------------------
    @property
    def stderr_text(self) -> str:
        with self._lock:
            return self._stderr_raw.decode("utf-8", "replace")

    @property
    def stdout_text(self) -> str:
        """Everything the plugin wrote to stdout, verbatim (for secret-grep tests)."""
        with self._lock:
            return self._stdout_raw.decode("utf-8", "replace")

    def describe(self, result: SessionResult | None = None) -> str:
        """Debug text for failure messages: session state, noise and the stderr tail."""
        parts = []
        if result is not None:
            parts.append(
                f"request: {json.dumps(result.request)[:2000]}\n"
                f"session messages so far ({len(result.messages)}): "
                f"{json.dumps(result.messages)[-3000:]}"
            )
        parts.append(f"plugin alive: {self.proc.poll() is None} rc={self.proc.poll()}")
        if self.noise:
            parts.append(f"non-JSON stdout lines: {self.noise[-10:]!r}")
        if self.top_level_errors:
            parts.append(f"top-level error events: {self.top_level_errors[-5:]!r}")
        logs = [f"{lg.get('level')}: {lg.get('message')}" for lg in self.logs[-20:]]
        if logs:
            parts.append("log events (last 20):\n" + "\n".join(logs))
        parts.append("stderr tail:\n" + _tail(self.stderr_text))
        return "\n".join(parts)

    def _read_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        for data in read_pipe(stream.fileno(), lambda: self._closed):
            with self._lock:
                self._stderr_raw.extend(data)

    def _read_stdout(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        pending = b""
        try:
            for data in read_pipe(stream.fileno(), lambda: self._closed):
                with self._lock:
                    self._stdout_raw.extend(data)
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._handle_line(line)
            if pending.strip():
                self._handle_line(pending)
        finally:
            with self._cond:
                self.exited = True
                self._cond.notify_all()

    def _handle_line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        decoder = json.JSONDecoder()
        pos = 0
        # tolerate several frames glued on one line as well as whitespace between them
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            try:
                obj, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                with self._cond:
                    self.noise.append(text[pos:])
                    self._cond.notify_all()
                return
            pos = end
            self._handle_frame(obj)

    def _handle_frame(self, frame: Any) -> None:
        now = time.monotonic()
        with self._cond:
            if not isinstance(frame, dict):
                self.noise.append(json.dumps(frame))
                self._cond.notify_all()
                return
            self.frames.append(frame)
            if not self.manifest and len(self.frames) == 1 and "event" not in frame:
                self.manifest = frame
                self._cond.notify_all()
                return
            event = frame.get("event")
            if event == "heartbeat":
                self.heartbeats.append(now)
            elif event == "log":
                self.logs.append(frame.get("data") or {})
            elif event == "error":
                self.top_level_errors.append(frame)
                pending = self._sessions.get(frame.get("session_id") or "")
                if pending is not None:
                    pending.result.protocol_errors.append(frame.get("data") or {})
            elif event == "session":
                self._route_session(frame, now)
            self._cond.notify_all()

    def _route_session(self, frame: dict, now: float) -> None:
        pending = self._sessions.get(frame.get("session_id") or "")
        if pending is None:
            self.unrouted.append(frame)
            return
        res = pending.result
        message = frame.get("data") or {}
        res.messages.append(message)
        offset = now - res.sent_at
        if res.first_frame_at is None:
            res.first_frame_at = offset
        kind = message.get("type")
        if kind == "stream":
            res.stream.append(message.get("data"))
            res.stream_times.append(offset)
        elif kind == "error":
            res.error = message.get("data")
            res.error_at = offset
        elif kind == "end":
            res.ended = True
            res.elapsed = offset
            pending._done.set()

    def _wait_manifest(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.manifest:
                if self.exited or self.proc.poll() is not None:
                    break
                if self.frames or self.noise:  # first output was not a manifest
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.2))
        if not self.manifest:
            time.sleep(0.2)  # let stderr drain
            msg = (
                f"plugin did not send its manifest within {timeout}s "
                f"(cwd={self.root}, rc={self.proc.poll()}, first frames={self.frames[:3]!r})\n"
                f"{self.describe()}"
            )
            raise PluginStartError(msg)

    def wait_heartbeat(self, timeout: float = 30.0, *, after: float | None = None) -> float:
        """Wait for a heartbeat (one received at/after ``after``, a ``time.monotonic()``
        value, if given). Returns its arrival time in seconds since the process started."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ts in self.heartbeats:
                    if after is None or ts >= after:
                        return ts - self.started_at
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.gone:
                    break
                self._cond.wait(min(remaining, 0.2))
        msg = f"no heartbeat within {timeout}s\n{self.describe()}"
        raise PluginSessionError(msg)

    def wait_for(self, predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
        """Wait until ``predicate()`` is true (evaluated under the frame lock)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = f"timed out after {timeout}s waiting for {what}\n{self.describe()}"
                    raise PluginSessionError(msg)
                self._cond.wait(min(remaining, 0.2))

    # -- requests -----------------------------------------------------------------------
    def send_raw(self, line: str | bytes) -> None:
        """Write raw bytes to the plugin's stdin (a newline is NOT added)."""
        data = line.encode() if isinstance(line, str) else line
        stdin = self.proc.stdin
        assert stdin is not None
        with self._write_lock:
            stdin.write(data)
            stdin.flush()

    def start_request(self, action: str, data: Mapping[str, Any], *, session_id: str | None = None) -> PendingSession:
        """Send one request without waiting; ``.wait(timeout)`` on the result."""
        if not self.alive:
            msg = f"plugin process is not running (rc={self.returncode})\n{self.describe()}"
            raise PluginSessionError(msg)
        sid = session_id or str(uuid.uuid4())
        payload = dict(data)
        payload["action"] = action
        envelope = request_envelope(sid, payload)
        result = SessionResult(session_id=sid, action=action, request=envelope)
        pending = PendingSession(self, result)
        line = json.dumps(envelope, ensure_ascii=False).encode() + b"\n"
        with self._cond:
            if sid in self._sessions:
                msg = f"duplicate session id {sid}"
                raise ValueError(msg)
            self._sessions[sid] = pending
        result.sent_at = time.monotonic()
        self.send_raw(line)
        return pending

    def request(self, action: str, data: Mapping[str, Any], *, timeout: float = 60) -> SessionResult:
        """Send ``data`` (plus ``action``) as a request and wait for the session's end."""
        return self.start_request(action, data).wait(timeout)

    @staticmethod
    def model_request(action: str, **data: Any) -> dict:
        """Fill what Dify always sends for a model action (type, user_id, provider,
        model_type, and the fields the SDK entity requires even when null)."""
        payload: dict[str, Any] = {
            "type": "model",
            "user_id": USER_ID,
            "provider": PROVIDER,
            "model_type": "text-embedding" if action in EMBEDDING_ACTIONS else "llm",
        }
        if action == "invoke_llm":
            payload.update(model_parameters={}, tools=None, stop=None, stream=True)
        elif action == "get_llm_num_tokens":
            payload.update(tools=None)
        elif action == "invoke_text_embedding":
            payload.update(input_type="document")
        payload.update(data)
        return payload

    def start_invoke(self, action: str, **data: Any) -> PendingSession:
        return self.start_request(action, self.model_request(action, **data))

    def invoke(self, action: str, *, timeout: float = 60, **data: Any) -> SessionResult:
        """Model action with Dify's defaults, e.g.
        ``plugin.invoke("invoke_llm", model="tiny", credentials={...},
        prompt_messages=[{"role": "user", "content": "hi"}])``."""
        return self.start_invoke(action, **data).wait(timeout)

    def iter_frames(self, event: str) -> Iterator[dict]:
        with self._lock:
            frames = list(self.frames)
        return (f for f in frames if f.get("event") == event)
