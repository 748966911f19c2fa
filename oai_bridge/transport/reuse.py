"""Whether a request that got no answer went out on a pooled connection it reused: the stale
keep-alive case, sent again at once by `transport.retry` instead of counted as a retry.

A server may close an idle keep-alive connection (without `Connection: close`) just as the pool
hands it to the next request; that request then meets the closing socket and no answer ever
comes ("Server disconnected without sending a response.", or a reset). Browsers, urllib3 and
aiohttp send such a request again on a new connection. What tells it apart is httpx's public
`trace` request extension (httpcore's events, `errors.connection.ConnectionTrace`): a request
on a new connection traces `connection.connect_tcp`; one on a reused connection goes straight
to sending.
"""

from __future__ import annotations

import httpx

from oai_bridge.errors.connection import ConnectionTrace, trace_of, under

__all__ = ["mark", "stale_reuse"]

# Failures of a request that was sent (or was being sent): a stall is the user's `timeout`, not a
# stale socket, and is not one of these.
_NO_ANSWER = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def mark(request: httpx.Request) -> None:
    """An httpx `request` event hook: the request carries a fresh ConnectionTrace (a trace the
    caller set itself is left alone; its failures are then never sent again)."""
    request.extensions.setdefault("trace", ConnectionTrace())


def stale_reuse(exc: BaseException) -> bool:
    """True when `exc` (a ConnectionFailedError, with httpx's error under it) is a request sent on
    a reused pooled connection that broke before any response head came."""
    cause = next((e for e in under(exc) if isinstance(e, httpx.TransportError)), None)
    if not isinstance(cause, _NO_ANSWER):
        return False
    trace = trace_of(cause)
    return trace is not None and trace.sending and not trace.opened and not trace.answered
