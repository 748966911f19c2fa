"""Every way a call to a model server can fail, as the plugin's own exception types.

The transport raises these instead of the `openai` SDK's and httpx's classes, so nothing above it
depends on which client sent the request (tests/unit/test_errors.py holds it), and the model types raise them for
what they refuse themselves (never Dify's classes: tests/unit/test_errors.py holds it);
`errors.invoke` turns each into the Dify error class and message the user sees.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "ConnectionDroppedError",
    "ConnectionFailedError",
    "EndpointMissingError",
    "MalformedResponseError",
    "ModelNotFoundError",
    "RedirectLoopError",
    "SSEError",
    "ServerStatusError",
    "StreamIncompleteError",
    "TextTooLongError",
    "TruncatedToolCallError",
    "UnexpectedContentError",
    "UnreadableAnswerError",
    "UnsendableInputError",
    "UnusableAnswerError",
    "UploadTooLargeError",
    "WrongSchemeError",
    "causes",
    "json_kind",
]


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from or during, innermost last; each once (chains can loop
    when an exception is re-raised while handling its own wrapper)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        # As Python's own tracebacks do: the explicit cause, else the context unless suppressed.
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


class ServerStatusError(Exception):
    """The server answered with a non-2xx status. `body` is its decoded JSON, else its text."""

    def __init__(self, status: int, body: Any, *, url: str = "", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.url = url
        self.headers: Mapping[str, str] = headers or {}


class ConnectionFailedError(Exception):
    """No answer came: the server could not be reached, the connection failed, or a wait for
    bytes timed out. The transport raises it for httpx's errors, which stay its cause
    (`errors.connection` reads what is under it)."""


class ConnectionDroppedError(Exception):
    """The connection broke after the server had started answering (a crash, a proxy cut it)."""


class StreamIncompleteError(Exception):
    """The stream ended before the server said it was finished: the answer would be truncated."""


class MalformedResponseError(ValueError):
    """The server answered 2xx, but not in a shape an OpenAI-style client can read."""


def json_kind(value: object) -> str:
    """What a JSON value is, in words a user reads ("a list", "text", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a value of an unknown kind"


class UnreadableAnswerError(MalformedResponseError):
    """One field of a 2xx answer holds what the plugin cannot read, named by its path in the
    answer: "a list where text was expected in choices[0].delta.content"."""

    def __init__(self, found: object, expected: str, where: str) -> None:
        super().__init__(f"{json_kind(found)} where {expected} was expected in {where}")
        self.where = where


class UnexpectedContentError(ValueError):
    """A 2xx answer of another kind than asked for: an HTML page (a web UI, a proxy's sign-in
    page) where JSON, an event stream or audio was expected."""

    def __init__(self, got: str, expected: str, url: str = "") -> None:
        super().__init__(f"{got} instead of {expected}")
        self.got = got
        self.expected = expected
        self.url = url


class ModelNotFoundError(Exception):
    """The server refused the model name, or has no such path (a 404 cannot tell them apart);
    `available` is what its /models lists (may be empty), `url` what was requested."""

    def __init__(self, model: str, available: list[str], detail: str = "", *, url: str = "") -> None:
        super().__init__(model)
        self.model = model
        self.available = available
        self.detail = detail
        self.url = url


class RedirectLoopError(Exception):
    """The server redirected more times than the client follows: a loop (http:// and https://
    sending to each other, a proxy rewriting the path); the message is httpx's."""


class WrongSchemeError(Exception):
    """A connection failed because the port speaks the other protocol: `speaks` is "http" (plain
    HTTP behind an https:// URL) or "https" (TLS behind an http:// URL), as a probe after the
    failure found."""

    def __init__(self, url: str, speaks: str, detail: str = "") -> None:
        super().__init__(f"{url} speaks {speaks}")
        self.url = url
        self.speaks = speaks
        self.detail = detail


class UnsendableInputError(ValueError):
    """What Dify asked for cannot go to this server as it is (an empty text or query, a file that
    is not audio, an unknown voice, an image for a text-only model); the message says what to
    change."""


class UploadTooLargeError(Exception):
    """The server refused an upload as too large (`status`: its answer); `advice` says what the
    upload was and what to send instead."""

    def __init__(self, status: ServerStatusError, advice: str) -> None:
        super().__init__(advice)
        self.status = status


class EndpointMissingError(Exception):
    """No endpoint of the model type answers under the base URL (no rerank path scores); the
    message names what was tried and what to serve."""


class UnusableAnswerError(Exception):
    """A 2xx answer the model type cannot use, in words for the user: speech without audio, a
    response the server ended incomplete for a reason that has no finish reason."""


class TextTooLongError(ValueError):
    """One input alone is more than the server accepts (an embedding text, a rerank document)."""


class TruncatedToolCallError(Exception):
    """The model hit max_tokens inside a tool call, so its arguments are not valid JSON."""


class SSEError(Exception):
    """The server sent an `event: error` event (or a legacy llama.cpp `error:` line)."""

    def __init__(self, data: str) -> None:
        super().__init__(data)
        self.data = data
        """The raw data of that event (usually a JSON text)."""
