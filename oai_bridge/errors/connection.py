"""What a failed connection was, read from the exceptions httpx raises: the one place that looks
under them (the wording is `errors.invoke`'s, the retry decision `transport.retry`'s).

httpx raises its `ConnectError` with the message of the error under it, but the OS or TLS error
itself is not in its cause chain: httpcore's pool re-raises its own `ConnectError` with `from None`
(httpcore 1.0.9), so the `ssl.SSLError` or `socket.gaierror` is only its first argument and its
suppressed context. `failure_of` looks there, and falls back to the message text (OpenSSL's
reason codes, the resolver's words) when a version of httpcore keeps neither.

Whether a broken connection had started answering is told by the `ConnectionTrace` a request
carries (httpx's public `trace` request extension, set by `transport.reuse.mark`): a blocking
call's body is read inside the SDK, so its failure alone does not say whether the head came.
"""

from __future__ import annotations

import enum
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx

from oai_bridge.errors.kinds import causes

__all__ = ["ConnectionTrace", "Failure", "failure_of", "tls_detail", "trace_of", "under"]


class Failure(enum.Enum):
    """The causes a connection failure is named by."""

    UNTRUSTED_CERTIFICATE = "untrusted certificate"
    """The server's certificate did not verify (self-signed, an internal CA, expired, another name)."""
    NO_SUCH_NAME = "no such name"
    """DNS says the host name does not exist (NXDOMAIN): retrying cannot help."""
    DNS_TEMPORARY = "temporary DNS failure"
    """The resolver could not answer now (EAI_AGAIN): worth retrying."""
    TLS = "TLS failure"
    """The TLS handshake failed for another reason (e.g. the port does not speak TLS)."""
    CONNECT_TIMEOUT = "connect timeout"
    NO_RESPONSE = "closed without a response"
    """The connection closed or was reset before any response: a TLS port spoken to in plain HTTP
    ends like this, as does a crashed server."""
    DROPPED = "closed mid-answer"
    """The connection closed or was reset after the response's head (a blocking call's body is
    read before the SDK returns)."""


class ConnectionTrace:
    """A request's trace callback (httpcore's events): whether it opened its own connection, got
    as far as sending on one, and read the response's head."""

    __slots__ = ("answered", "opened", "sending")

    def __init__(self) -> None:
        self.opened = False
        self.sending = False
        self.answered = False

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        # Events are "<module>.<step>.<started|complete|failed>"; the pool speaks HTTP/1.1 only.
        if event == "http11.send_request_headers.started":
            self.sending = True
        elif event == "http11.receive_response_headers.complete":
            self.answered = True
        elif event in ("connection.connect_tcp.started", "connection.connect_unix_socket.started"):
            self.opened = True


def trace_of(exc: BaseException) -> ConnectionTrace | None:
    """The ConnectionTrace of the request whose httpx error is `exc` or under it, if it has one."""
    for cause in under(exc):
        if isinstance(cause, httpx.RequestError):
            try:
                trace = cause.request.extensions.get("trace")
            except RuntimeError:  # an error raised without its request: nothing to read
                return None
            return trace if isinstance(trace, ConnectionTrace) else None
    return None


_NO_SUCH_NAME = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code is not None
)
_DNS_TEMPORARY = frozenset(code for code in (getattr(socket, "EAI_AGAIN", None),) if code is not None)
# The same, as the C library words them, for when only the message survives.
_NO_SUCH_NAME_WORDS = ("name or service not known", "nodename nor servname provided", "no address associated")
_DNS_TEMPORARY_WORDS = ("temporary failure in name resolution",)


def under(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts (suppressed ones too) and the exceptions httpcore wraps as
    its first argument; each once."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += [arg for arg in current.args[:1] if isinstance(arg, BaseException)]


def _text(exc: BaseException) -> str:
    return " ".join(str(cause) for cause in causes(exc)).lower()


def tls_detail(exc: BaseException) -> str:
    """The TLS library's own words for the failure (e.g. "certificate verify failed: self-signed
    certificate"), else the outermost message."""
    found = next((e for e in under(exc) if isinstance(e, ssl.SSLError)), None)
    # Only an error raised by the ssl module has these attributes.
    if verify_message := getattr(found, "verify_message", None):
        return f"certificate verify failed: {verify_message}"
    if reason := getattr(found, "reason", None):
        return str(reason).replace("_", " ").lower()
    return str(found or exc)


def failure_of(exc: BaseException) -> Failure | None:
    """Which kind of connection failure `exc` is, or None when it is not one this names."""
    errors = list(under(exc))
    text = _text(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in errors) or "certificate_verify_failed" in text:
        return Failure.UNTRUSTED_CERTIFICATE
    codes = {e.errno for e in errors if isinstance(e, socket.gaierror)}
    if codes & _NO_SUCH_NAME or any(words in text for words in _NO_SUCH_NAME_WORDS):
        return Failure.NO_SUCH_NAME
    if codes & _DNS_TEMPORARY or any(words in text for words in _DNS_TEMPORARY_WORDS):
        return Failure.DNS_TEMPORARY
    if any(isinstance(e, ssl.SSLError) for e in errors) or "[ssl:" in text:
        return Failure.TLS
    if any(isinstance(e, httpx.ConnectTimeout) for e in errors):
        return Failure.CONNECT_TIMEOUT
    if any(isinstance(e, httpx.ReadError | httpx.RemoteProtocolError) for e in errors) and not any(
        isinstance(e, httpx.ConnectError) for e in errors
    ):
        trace = trace_of(exc)
        # Without a trace, h11's own words for "no byte of a response" are all there is to go by.
        answered = trace.answered if trace else "without sending a response" not in text
        return Failure.DROPPED if answered else Failure.NO_RESPONSE
    return None
