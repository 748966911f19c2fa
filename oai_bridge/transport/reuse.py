"""Whether a request that got no answer went out on a pooled connection it reused: the stale
keep-alive case, resent at once by `transport.retry` instead of counted as a retry.

A server may close an idle keep-alive connection (without `Connection: close`) just as the pool
hands it to the next request; that request then meets the closing socket and no answer ever
comes ("Server disconnected without sending a response.", or a reset). Browsers, urllib3 and
aiohttp resend such a request on a new connection. What tells it apart is httpx's public
`trace` request extension (httpcore's events): a request on a new connection traces
`connection.connect_tcp`; one on a reused connection goes straight to sending.
"""

from __future__ import annotations

from typing import Any

import httpx

from oai_bridge.errors.connection import under

__all__ = ["ConnectionTrace", "mark", "stale_reuse"]

_OPENED = "connection.connect_tcp.started"
_OPENED_UNIX = "connection.connect_unix_socket.started"
_SENDING = ".send_request_headers.started"  # "http11." (the pool speaks HTTP/1.1 only)
# Failures of a request that was sent (or was being sent) and got no response head: a stall is
# the user's `timeout`, not a stale socket, and is not one of these.
_NO_ANSWER = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class ConnectionTrace:
    """The trace callback one request carries: whether it opened its connection, and whether it
    got as far as sending on one."""

    __slots__ = ("opened", "sending")

    def __init__(self) -> None:
        self.opened = False
        self.sending = False

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(_SENDING):
            self.sending = True
        elif event in (_OPENED, _OPENED_UNIX):
            self.opened = True


def mark(request: httpx.Request) -> None:
    """An httpx `request` event hook: the request carries a fresh `ConnectionTrace` (a trace the
    caller set itself is left alone, and its failures are then never resent)."""
    request.extensions.setdefault("trace", ConnectionTrace())


def stale_reuse(exc: BaseException) -> bool:
    """True when `exc` (a ConnectionFailedError, or anything with httpx's error under it) is a
    request sent on a reused pooled connection that broke before a response head came."""
    for cause in under(exc):
        if not isinstance(cause, httpx.TransportError):
            continue
        if not isinstance(cause, _NO_ANSWER):
            return False
        try:
            request = cause.request
        except RuntimeError:  # httpx sets it on every error it raises from a send; guarded anyway
            return False
        trace = request.extensions.get("trace")
        return isinstance(trace, ConnectionTrace) and trace.sending and not trace.opened
    return False
