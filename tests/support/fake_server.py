"""A loopback HTTP/1.1 server that replays scripted bytes and faults (no mock library).

Each incoming request takes the next matching *script* from a FIFO queue:

* ``Response(status, headers, body | pieces, chunked=..., ...)`` - a full response. ``pieces``
  may mix ``bytes``/``str`` with the sentinels ``Delay(seconds)``, ``STALL`` and ``RESET`` to
  send a body in timed pieces or break it off.
* ``Raw(pieces)`` - exact bytes on the wire (status line and headers included), same sentinels.
* ``reset()`` - read the request, then close with RST (SO_LINGER 0).
* ``stall()`` - read the request and never answer (until the client goes away or the server
  stops).
* ``headers_then_stall(...)``, ``partial_then_reset(...)``, ``close_after_request()``.
* a callable ``f(request) -> Response | Raw``: the answer depends on the request (a server that
  behaves the same for every client, e.g. refuses a field whenever it is sent).

Scripts can be bound to a path (and method) and repeated (``times=N``); ``times=None`` /
``always()`` makes a fallback used whenever no counted script matches.
Requests that match no script get ``418`` with a JSON error naming the request (418 so the
openai client does not retry it) and are listed in ``server.unmatched``.

Every request is recorded (``server.requests``): method, path, headers, raw body, parsed
JSON and the id of the TCP connection it came on (to assert keep-alive reuse).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CLOSE",
    "RESET",
    "STALL",
    "Delay",
    "FakeServer",
    "Raw",
    "RecordedRequest",
    "Response",
    "chat_chunk",
    "chat_completion",
    "close_after_request",
    "embeddings_body",
    "headers_then_stall",
    "json_response",
    "partial_then_reset",
    "reset",
    "sse_body",
    "sse_response",
    "stall",
]


# ---------------------------------------------------------------------------------------
# script vocabulary
# ---------------------------------------------------------------------------------------
class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


STALL = _Sentinel("STALL")
"""In ``pieces``: stop sending and keep the connection open until the client closes it or the
server stops."""
RESET = _Sentinel("RESET")
"""In ``pieces``: abort the connection with a TCP RST right here."""
CLOSE = _Sentinel("CLOSE")
"""In ``pieces``: close the connection cleanly (FIN) right here."""


@dataclass(frozen=True)
class Delay:
    """In ``pieces``: sleep this many seconds before the next piece."""

    seconds: float


Piece = bytes | str | Delay | _Sentinel

HeaderList = Sequence[tuple[str, str]] | Mapping[str, str]


@dataclass
class Response:
    """A scripted HTTP response.

    * ``body``: bytes, str (UTF-8) or a JSON-able object (``dict``/``list``; adds
      ``Content-Type: application/json`` unless a content-type header is given).
    * ``pieces``: instead of ``body``, the body in pieces (bytes/str) with optional
      ``Delay``, ``STALL``, ``RESET``, ``CLOSE`` sentinels in between.
    * ``chunked``: use ``Transfer-Encoding: chunked`` (each piece becomes one chunk; the
      terminating ``0\\r\\n\\r\\n`` is sent only if the pieces run to the end).
      Otherwise ``Content-Length`` is the total of the pieces unless ``headers`` already has
      one (so you can lie about it), or ``content_length=False`` (close-delimited body).
    * ``headers``: exact names, order and case are kept. ``Content-Length`` /
      ``Transfer-Encoding`` are added only when missing.
    * ``delay``: seconds to wait before the status line.
    * ``close``: close the connection after the response (adds ``Connection: close``).
    """

    status: int = 200
    headers: HeaderList = ()
    body: bytes | str | dict | list | None = b""
    pieces: Sequence[Piece] | None = None
    chunked: bool = False
    content_length: bool = True
    delay: float = 0.0
    reason: str | None = None
    close: bool = False
    http_version: str = "HTTP/1.1"


@dataclass
class Raw:
    """Exact bytes on the wire; the connection is closed afterwards unless ``keep_alive``."""

    pieces: Sequence[Piece]
    keep_alive: bool = False


Script = Response | Raw | Callable[["RecordedRequest"], Response | Raw]


def reset() -> Raw:
    """Read the request, then reset the connection (RST, no response at all)."""
    return Raw([RESET])


def stall() -> Raw:
    """Read the request and never answer."""
    return Raw([STALL])


def close_after_request() -> Raw:
    """Read the request, then close cleanly without a response (FIN, empty reply)."""
    return Raw([CLOSE])


def headers_then_stall(
    status: int = 200,
    headers: HeaderList = (("Content-Type", "text/event-stream"),),
    *,
    chunked: bool = True,
    first_pieces: Sequence[Piece] = (),
) -> Response:
    """Send the status line and headers (plus ``first_pieces``) and then stall."""
    return Response(status=status, headers=headers, pieces=[*first_pieces, STALL], chunked=chunked)


def partial_then_reset(
    status: int = 200,
    headers: HeaderList = (("Content-Type", "text/event-stream"),),
    pieces: Sequence[Piece] = (b"data: {}\n\n",),
    *,
    chunked: bool = True,
    content_length: int | None = None,
) -> Response:
    """Send the headers and ``pieces`` of the body, then reset the connection.

    With ``chunked=False`` pass ``content_length`` to announce more bytes than are sent."""
    hdrs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if not chunked and content_length is not None:
        hdrs.append(("Content-Length", str(content_length)))
    return Response(status=status, headers=hdrs, pieces=[*pieces, RESET], chunked=chunked)


def json_response(obj: Any, status: int = 200, headers: HeaderList = (), **kw: Any) -> Response:
    hdrs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if not any(k.lower() == "content-type" for k, _ in hdrs):
        hdrs.insert(0, ("Content-Type", "application/json"))
    return Response(status=status, headers=hdrs, body=json.dumps(obj).encode(), **kw)


def _sse_event(event: dict | str, crlf: bool) -> bytes:
    text = f"data: {json.dumps(event, separators=(',', ':'))}" if isinstance(event, dict) else event
    block = text + "\n\n"
    if crlf:
        block = block.replace("\r\n", "\n").replace("\n", "\r\n")
    return block.encode()


def sse_body(events: Iterable[dict | str], done: bool = True, crlf: bool = False) -> bytes:
    """SSE bytes: a dict becomes ``data: <compact json>``; a str is a raw event block written
    as is (``": ping"``, ``"event: error\\ndata: {...}"``, ``"data: [DONE]"``). Each event ends
    with a blank line; ``done`` appends ``data: [DONE]``; ``crlf`` uses CRLF line ends."""
    return b"".join(_sse_pieces(events, done, crlf))


def _sse_pieces(events: Iterable[dict | str], done: bool, crlf: bool) -> list[bytes]:
    out = [_sse_event(e, crlf) for e in events]
    if done:
        out.append(_sse_event("data: [DONE]", crlf))
    return out


def sse_response(
    events: Iterable[dict | str],
    *,
    done: bool = True,
    crlf: bool = False,
    chunked: bool = True,
    piece_delay: float = 0.0,
    status: int = 200,
    headers: HeaderList = (("Content-Type", "text/event-stream"),),
    then: Piece | None = None,
    **kw: Any,
) -> Response:
    """A streaming response with one piece (one chunk when chunked) per event, optionally
    ``piece_delay`` seconds apart; ``then`` (e.g. ``RESET`` or ``STALL``) is appended."""
    pieces: list[Piece] = []
    for i, piece in enumerate(_sse_pieces(events, done, crlf)):
        if i and piece_delay:
            pieces.append(Delay(piece_delay))
        pieces.append(piece)
    if then is not None:
        pieces.append(then)
    return Response(status=status, headers=headers, pieces=pieces, chunked=chunked, **kw)


# -- OpenAI-shaped payload builders ------------------------------------------------------
def chat_chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    finish_reason: str | None = None,
    tool_calls: list[dict] | None = None,
    reasoning_content: str | None = None,
    usage: dict | None = None,
    model: str = "fake-model",
    index: int = 0,
    chunk_id: str = "chatcmpl-fake",
    no_choices: bool = False,
) -> dict:
    """One ``chat.completion.chunk``; ``no_choices=True`` gives the ``choices: []`` usage chunk."""
    chunk: dict[str, Any] = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [],
    }
    if not no_choices:
        delta: dict[str, Any] = {}
        if role is not None:
            delta["role"] = role
        if content is not None:
            delta["content"] = content
        if reasoning_content is not None:
            delta["reasoning_content"] = reasoning_content
        if tool_calls is not None:
            delta["tool_calls"] = tool_calls
        chunk["choices"] = [{"index": index, "delta": delta, "finish_reason": finish_reason}]
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def chat_completion(
    content: str | None = "Hello!",
    *,
    finish_reason: str = "stop",
    tool_calls: list[dict] | None = None,
    usage: dict | None = None,
    model: str = "fake-model",
    **message_extra: Any,
) -> dict:
    """A blocking ``chat.completion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": content, **message_extra}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage or {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def embeddings_body(
    vectors: Sequence[Sequence[float]], *, model: str = "fake-embed", prompt_tokens: int | None = None
) -> dict:
    """An ``/embeddings`` list body."""
    tokens = prompt_tokens if prompt_tokens is not None else len(vectors)
    return {
        "object": "list",
        "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": list(v)} for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ---------------------------------------------------------------------------------------
# recorded requests
# ---------------------------------------------------------------------------------------
@dataclass
class RecordedRequest:
    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    http_version: str
    header_list: list[tuple[str, str]]
    body: bytes
    connection_id: int
    received_at: float
    script: Script | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-cased header names (last value wins); ``header_list`` keeps the raw ones."""

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when empty or not JSON)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _ClientGone(Exception):
    pass


@dataclass
class _Entry:
    script: Script
    path: str | None
    method: str | None
    times: int | None


# ---------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------
class FakeServer:
    """Thread-per-connection HTTP/1.1 server on 127.0.0.1:<ephemeral port>."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(128)
        self.host, self.port = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._entries: list[_Entry] = []
        self._clients: dict[int, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._next_conn = 0
        self.requests: list[RecordedRequest] = []
        self.unmatched: list[RecordedRequest] = []
        self.errors: list[str] = []
        """Server-side problems (unparsable requests, unexpected exceptions)."""
        self.connections_accepted = 0
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"fake-server-{self.port}", daemon=True)
        self._accept_thread.start()

    # -- addresses ----------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` - what a user types into the plugin's Base URL."""
        return f"{self.origin}/v1"

    def url(self, path: str) -> str:
        return self.origin + (path if path.startswith("/") else "/" + path)

    # -- scripting ----------------------------------------------------------------------
    def add(
        self,
        *scripts: Script,
        path: str | None = None,
        method: str | None = None,
        times: int | None = 1,
    ) -> FakeServer:
        """Queue scripts (FIFO), each for ``times`` requests. ``path`` matches the request path
        exactly (query ignored); a path ending in ``*`` matches by prefix. ``times=None``
        repeats forever, as a fallback behind every counted script."""
        with self._lock:
            for script in scripts:
                self._entries.append(_Entry(script, path, method and method.upper(), times))
        return self

    def script(self, scripts: Iterable[Script], *, path: str | None = None) -> FakeServer:
        """Queue a list of scripts, each used once, in order."""
        return self.add(*scripts, path=path)

    def always(self, script: Script, *, path: str | None = None, method: str | None = None) -> FakeServer:
        """Answer every matching request with ``script`` whenever no counted script matches."""
        return self.add(script, path=path, method=method, times=None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def pending_scripts(self) -> int:
        with self._lock:
            return sum(1 for e in self._entries if e.times is not None)

    @staticmethod
    def _matches(entry: _Entry, method: str, path: str) -> bool:
        if entry.method and entry.method != method:
            return False
        if entry.path is None:
            return True
        if entry.path.endswith("*"):
            return path.startswith(entry.path[:-1])
        return entry.path == path

    def _take(self, method: str, path: str) -> Script | None:
        """First matching counted script in FIFO order; repeat-forever scripts
        (``times=None``) are fallbacks used only when no counted script matches."""
        with self._lock:
            for i, entry in enumerate(self._entries):
                if entry.times is not None and self._matches(entry, method, path):
                    entry.times -= 1
                    if entry.times <= 0:
                        del self._entries[i]
                    return entry.script
            for entry in self._entries:
                if entry.times is None and self._matches(entry, method, path):
                    return entry.script
        return None

    # -- assertions helpers -------------------------------------------------------------
    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    msg = (
                        f"fake server got {len(self.requests)} requests, expected {count}: "
                        f"{[(r.method, r.target) for r in self.requests]}"
                    )
                    raise AssertionError(msg)
                self._cond.wait(min(remaining, 0.1))
            return list(self.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def last(self) -> RecordedRequest:
        with self._lock:
            return self.requests[-1]

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._clients)

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, close every client socket (stalled ones too) and join threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            clients = list(self._clients.values())
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._accept_thread.join(timeout=2)
        for thread in list(self._threads):
            thread.join(timeout=2)

    # -- internals ----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _addr = self._listener.accept()
            except OSError:
                break
            if self._stopping.is_set():
                with contextlib.suppress(OSError):
                    sock.close()
                break
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._next_conn += 1
                conn_id = self._next_conn
                self.connections_accepted += 1
                self._clients[conn_id] = sock
                thread = threading.Thread(
                    target=self._serve,
                    args=(sock, conn_id),
                    name=f"fake-server-{self.port}-conn{conn_id}",
                    daemon=True,
                )
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, conn_id: int) -> None:
        buf = bytearray()
        try:
            while not self._stopping.is_set():
                req = self._read_request(sock, buf, conn_id)
                if req is None:
                    break
                script = self._take(req.method, req.path)
                req.script = script
                with self._cond:
                    self.requests.append(req)
                    if script is None:
                        self.unmatched.append(req)
                    self._cond.notify_all()
                if script is None:
                    script = json_response(
                        {
                            "error": {
                                "message": f"fake_server: no script for {req.method} {req.target}",
                                "type": "fake_server_unscripted",
                                "code": 418,
                            }
                        },
                        status=418,
                    )
                if callable(script):
                    script = script(req)
                keep = self._play(sock, script, req)
                if not keep:
                    break
        except _ClientGone:
            pass
        except OSError:
            pass
        except Exception as exc:  # noqa: BLE001 - recorded for the test to see
            with self._lock:
                self.errors.append(f"conn{conn_id}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._clients.pop(conn_id, None)
            with contextlib.suppress(OSError):
                sock.close()

    def _recv(self, sock: socket.socket, buf: bytearray) -> None:
        data = sock.recv(65536)
        if not data:
            raise _ClientGone
        buf.extend(data)

    def _read_request(self, sock: socket.socket, buf: bytearray, conn_id: int) -> RecordedRequest | None:
        while b"\r\n\r\n" not in buf:
            try:
                self._recv(sock, buf)
            except _ClientGone:
                return None
            if len(buf) > 1 << 20:
                self.errors.append(f"conn{conn_id}: request head too large")
                return None
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        buf[:] = rest
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self.errors.append(f"conn{conn_id}: bad request line {lines[0]!r}")
            return None
        header_list: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            header_list.append((name.strip(), value.strip()))
        headers = {k.lower(): v for k, v in header_list}
        if headers.get("expect", "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked(sock, buf)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            while len(buf) < length:
                self._recv(sock, buf)
            body = bytes(buf[:length])
            del buf[:length]
        split = urlsplit(target)
        return RecordedRequest(
            method=method.upper(),
            target=target,
            path=split.path,
            query=parse_qs(split.query),
            http_version=version,
            header_list=header_list,
            headers=headers,
            body=body,
            connection_id=conn_id,
            received_at=time.monotonic(),
        )

    def _read_chunked(self, sock: socket.socket, buf: bytearray) -> bytes:
        body = bytearray()
        while True:
            while b"\r\n" not in buf:
                self._recv(sock, buf)
            size_line, _, rest = bytes(buf).partition(b"\r\n")
            buf[:] = rest
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # optional trailer lines, then an empty line
                    while b"\r\n" not in buf:
                        self._recv(sock, buf)
                    line, _, rest = bytes(buf).partition(b"\r\n")
                    buf[:] = rest
                    if not line:
                        return bytes(body)
            while len(buf) < size + 2:
                self._recv(sock, buf)
            body.extend(buf[:size])
            del buf[: size + 2]

    # -- playing scripts ----------------------------------------------------------------
    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _stall(self, sock: socket.socket) -> None:
        """Hold the connection until the client closes it or the server stops."""
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if ready:
                try:
                    data = sock.recv(65536, socket.MSG_PEEK)
                except OSError:
                    return
                if not data:
                    return
                # the client sent more (e.g. a pipelined request); ignore it while stalled
                with contextlib.suppress(OSError):
                    sock.recv(65536)

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.close()

    def _send_pieces(self, sock: socket.socket, pieces: Sequence[Piece], chunked: bool) -> str:
        """Returns "done", "reset", "stall" or "close"."""
        for piece in pieces:
            if self._stopping.is_set():
                return "close"
            if isinstance(piece, Delay):
                self._sleep(piece.seconds)
            elif piece is RESET:
                self._reset(sock)
                return "reset"
            elif piece is STALL:
                self._stall(sock)
                return "stall"
            elif piece is CLOSE:
                return "close"
            else:
                data = piece.encode() if isinstance(piece, str) else bytes(piece)  # type: ignore[arg-type]
                if chunked:
                    if not data:
                        continue  # an empty chunk would end the body
                    data = f"{len(data):X}\r\n".encode() + data + b"\r\n"
                sock.sendall(data)
        return "done"

    def _play(self, sock: socket.socket, script: Script, req: RecordedRequest) -> bool:
        """Send ``script``; returns whether the connection stays open for another request."""
        if isinstance(script, Raw):
            outcome = self._send_pieces(sock, script.pieces, chunked=False)
            return outcome == "done" and script.keep_alive

        if script.delay:
            self._sleep(script.delay)
        headers = list(script.headers.items()) if isinstance(script.headers, Mapping) else list(script.headers)
        names = {k.lower() for k, _ in headers}
        body = script.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            if "content-type" not in names:
                headers.insert(0, ("Content-Type", "application/json"))
                names.add("content-type")
        pieces: list[Piece] = (
            list(script.pieces)
            if script.pieces is not None
            else ([body.encode() if isinstance(body, str) else (body or b"")])
        )
        no_body = req.method == "HEAD" or script.status in (204, 304) or 100 <= script.status < 200
        if script.chunked and "transfer-encoding" not in names and not no_body:
            headers.append(("Transfer-Encoding", "chunked"))
        elif (
            not script.chunked
            and script.content_length
            and "content-length" not in names
            and "transfer-encoding" not in names
            and not no_body
        ):
            total = sum(
                len(p.encode() if isinstance(p, str) else p) for p in pieces if isinstance(p, (bytes, bytearray, str))
            )
            headers.append(("Content-Length", str(total)))
        close = script.close or (not script.chunked and not script.content_length and "content-length" not in names)
        client_close = req.headers.get("connection", "").lower() == "close" or req.http_version == "HTTP/1.0"
        if script.close and "connection" not in names:
            headers.append(("Connection", "close"))
        try:
            reason = script.reason if script.reason is not None else HTTPStatus(script.status).phrase
        except ValueError:
            reason = "Unknown"
        head = f"{script.http_version} {script.status} {reason}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        sock.sendall(head.encode("latin-1"))
        if no_body:
            return not (close or client_close)
        outcome = self._send_pieces(sock, pieces, chunked=script.chunked)
        if outcome != "done":
            return False
        if script.chunked:
            sock.sendall(b"0\r\n\r\n")
        return not (close or client_close)
