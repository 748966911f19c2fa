"""Every failure -> one of Dify's InvokeError classes, with a short message that says what to do.

    refused, DNS, reset, timeout, TLS         -> InvokeConnectionError
    401, 403, keys refused with another status
    (by error type: LiteLLM's 400)            -> InvokeAuthorizationError
    429                                       -> InvokeRateLimitError
    500, 502, 503, 504, HTML proxy pages      -> InvokeServerUnavailableError
    400, 404, 413, 422 (and other 4xx)        -> InvokeBadRequestError
    error payloads inside a 200 stream        -> by their status/code when given, else server-unavailable

Messages never carry the API key or header values: `redact` runs over everything shown.
Errors are raised `from None` because Dify ships the traceback (with chained messages) to the
caller, and a server's own error text may echo request headers.
"""

from __future__ import annotations

import json
import re
import ssl
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from dify_plugin.errors.model import (
    InvokeAuthorizationError,
    InvokeBadRequestError,
    InvokeConnectionError,
    InvokeError,
    InvokeRateLimitError,
    InvokeServerUnavailableError,
)

from oai_bridge.settings import SettingsError
from oai_bridge.sse import SSEError

__all__ = [
    "MalformedResponseError",
    "ModelNotFoundError",
    "StreamIncompleteError",
    "TextTooLongError",
    "TruncatedToolCallError",
    "error_for_status",
    "raise_for_payload_error",
    "redact",
    "to_invoke_error",
    "translated_errors",
]

# Substrings (lower-cased) by which servers say the prompt did not fit; see the quirks doc §7.
_CONTEXT_OVERFLOW_MARKERS = (
    "maximum context length",  # vLLM, OpenAI
    "longer than the model's context length",  # SGLang "The input (N tokens) is longer than …"
    "exceed_context_size_error",  # llama.cpp
    "exceeds the available context size",  # llama.cpp message text
    "context_length_exceeded",  # OpenAI code, OpenRouter
    "must be <=",  # TGI 422 "`inputs` tokens + `max_new_tokens` must be <= N"
    "trying to keep the first",  # LM Studio
    "context window",
    "too many tokens",
    "prompt is too long",
)
_MODEL_NOT_FOUND = re.compile(
    r"model\s+[`\"']?[^`\"'\s]+[`\"']?\s+(?:does not exist|not found)|no such model|unknown model", re.I
)
_VALIDATION_ERROR = re.compile(r"\b\d+ validation errors?\b", re.I)  # pydantic: "7 validation errors: …"
# Servers that refuse a key with another status than 401/403, recognised by the `type` of their
# error body: that type -> what it means, for the message.
_KEY_REFUSALS = {
    # LiteLLM proxy without a database: every key except its master_key -> 400 "No connected db."
    "no_db_connection": (
        "this looks like a LiteLLM proxy without a database, which accepts only its master_key. "
        "Enter that key, or a virtual key once the proxy has a database (its DATABASE_URL)"
    ),
}
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
_MAX_MESSAGE = 600


class StreamIncompleteError(Exception):
    """The stream ended before the server said it was finished: the answer would be truncated."""


class MalformedResponseError(ValueError):
    """The server answered 2xx, but not in a shape an OpenAI-style client can read."""


class ModelNotFoundError(Exception):
    """The server does not serve the requested model; `available` is what its /models lists."""

    def __init__(self, model: str, available: list[str]) -> None:
        super().__init__(model)
        self.model = model
        self.available = available


class TextTooLongError(ValueError):
    """One text alone is more than the server accepts for embedding."""


class TruncatedToolCallError(Exception):
    """The model hit max_tokens inside a tool call, so its arguments are not valid JSON."""


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secrets (and anything that looks like a bearer token) from text shown to users."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _BEARER.sub(r"\1***", text)


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` (a body: str, dict, list) with secrets removed everywhere, before anything is clipped."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {key: _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, secrets) for item in value]
    return value


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _detail_text(item: Any) -> str:
    """One FastAPI/Mistral validation item, naming the field: `body.stream_options: Extra inputs…`."""
    if not isinstance(item, Mapping):
        return str(item)
    text = str(item.get("msg") or item.get("message") or item)
    loc = item.get("loc")
    return f"{'.'.join(map(str, loc))}: {text}" if isinstance(loc, list) and loc else text


def _message_from_body(body: Any) -> str:
    """The human part of any error body shape servers send (quirks doc §7)."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return _message_from_body(error) or json.dumps(error, ensure_ascii=False)
        if isinstance(error, str) and error:
            return error
        for key in ("message", "detail", "msg", "error_message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, Mapping) and (inner := _message_from_body(value)):
                return inner  # Mistral nests {"detail": [...]} inside "message"
            if isinstance(value, list | Mapping) and value:
                # Mistral/FastAPI validation errors: a list of {loc, msg}
                items = value if isinstance(value, list) else [value]
                return "; ".join(_detail_text(item) for item in items)
        return ""
    if isinstance(body, str):
        return body
    return ""


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body")) or "<title>" in head


def _is_context_overflow(message: str, body: Any) -> bool:
    lowered = message.lower()
    if isinstance(body, Mapping):
        lowered += " " + json.dumps(body).lower()
    return any(marker in lowered for marker in _CONTEXT_OVERFLOW_MARKERS)


def _key_refusal(body: Any) -> str:
    """What a key refusal sent with an unusual status means (`_KEY_REFUSALS`), or ""."""
    error = body.get("error") if isinstance(body, Mapping) else None
    for source in (error, body):  # the openai client hands over the inner `error` object
        kind = source.get("type") if isinstance(source, Mapping) else None
        if isinstance(kind, str) and kind.lower() in _KEY_REFUSALS:
            return _KEY_REFUSALS[kind.lower()]
    return ""


def error_for_status(status: int, body: Any, *, url: str = "") -> InvokeError:
    """Map an HTTP status plus the server's body to the Dify error class with a useful message."""
    text = body if isinstance(body, str) else ""
    if text and _looks_like_html(text):
        where = f" from {url}" if url else ""
        return InvokeServerUnavailableError(
            f"HTTP {status}: got an HTML page{where} instead of an API answer. The base URL points at a "
            "web page or a proxy rather than the model server; check it (most servers need /v1 at the end)."
        )
    message = _clip(_message_from_body(body)) or f"HTTP {status} with no message"
    if status in (401, 403):
        return InvokeAuthorizationError(
            f"HTTP {status}: the server refused the credentials ({message}). Check the API key "
            "and any authentication header in extra_headers."
        )
    if refusal := _key_refusal(body):
        return InvokeAuthorizationError(
            f"HTTP {status}: the server refused the API key ({message}): {refusal}. If the key is right, "
            "the proxy is misconfigured."
        )
    if status == 429:
        return InvokeRateLimitError(f"HTTP 429: rate limited by the server ({message}). Try again later.")
    if status == 500 and _VALIDATION_ERROR.search(message):
        # llama-cpp-python (FastAPI) answers request validation failures with 500, not 422
        return InvokeBadRequestError(f"HTTP 500: the server rejected the request ({message}).")
    if status >= 500 and not _is_context_overflow(message, body):
        return InvokeServerUnavailableError(f"HTTP {status}: the server failed ({message}).")
    if _is_context_overflow(message, body):
        return InvokeBadRequestError(
            f"The prompt does not fit the model's context window ({message}). Shorten the conversation "
            "or knowledge context, lower max_tokens, or raise the server's context size."
        )
    if status == 404:
        if _MODEL_NOT_FOUND.search(message):
            return InvokeBadRequestError(f"HTTP 404: {message}. Check the model name (or `endpoint_model_name`).")
        where = f" at {url}" if url else ""
        return InvokeBadRequestError(
            f"HTTP 404 Not Found{where} ({message}). Check the base URL: most servers expect it to end "
            "with /v1 (e.g. http://host:11434/v1), without /chat/completions."
        )
    if status == 413:
        return InvokeBadRequestError(f"HTTP 413: the request is too large for the server ({message}).")
    return InvokeBadRequestError(f"HTTP {status}: the server rejected the request ({message}).")


def raise_for_payload_error(data: Mapping[str, Any]) -> None:
    """Raise if a stream payload is an error in any shape servers use inside a 200 stream."""
    error = data.get("error")
    if error is None and data.get("object") != "error":
        return
    status = 0
    for source in (error, data):  # vLLM/TGI nest the status; SGLang and old vLLM put it on top
        if not isinstance(source, Mapping):
            continue
        for key in ("code", "http_status_code", "status", "status_code"):
            value = source.get(key)
            if isinstance(value, int) and 400 <= value < 600:
                status = value
                break
        if status:
            break
    if not status and _is_context_overflow(_message_from_body(data), data):
        status = 400
    if status:
        raise error_for_status(status, data)
    # No status in the payload: the server failed while generating.
    raise InvokeServerUnavailableError(
        f"The server reported an error during generation: {_clip(_message_from_body(data)) or 'no message'}"
    )


def _connection_error(exc: BaseException, url: str) -> InvokeError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return InvokeConnectionError(
                f"TLS failed talking to {url} ({cause}). For a self-signed certificate set "
                "`verify_tls` to off, or use http:// if the server has no TLS."
            )
        if isinstance(cause, httpx.TimeoutException | TimeoutError) or _is_openai(cause, "APITimeoutError"):
            return InvokeConnectionError(
                f"Timed out waiting for {url}: no progress within the configured timeout. Raise `timeout` "
                "for slow models, or check that the server is not stuck."
            )
        cause = cause.__cause__ or cause.__context__
    detail = _innermost_text(exc)
    hint = ""
    host = httpx.URL(url).host if url else ""
    if host in ("localhost", "127.0.0.1", "0.0.0.0", "::1"):
        hint = (
            " From Dify running in Docker, `localhost` is the plugin's own container: use "
            "http://host.docker.internal:PORT (with extra_hosts host-gateway on Linux) or the server's address."
        )
    return InvokeConnectionError(f"Cannot connect to {url} ({detail}).{hint}")


def _innermost_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if str(cause):
            text = str(cause)
        cause = cause.__cause__ or cause.__context__
    return _clip(text)


def _is_openai(exc: BaseException, class_name: str) -> bool:
    """isinstance against an openai exception class without importing openai: if it was never
    imported (see lazy_openai), nothing can be an instance of its classes."""
    module = sys.modules.get("openai")
    return module is not None and isinstance(exc, getattr(module, class_name))


def to_invoke_error(exc: BaseException, *, url: str = "", secrets: Iterable[str] = ()) -> InvokeError:
    """Translate any exception raised while talking to the endpoint into an InvokeError."""
    secrets = tuple(secrets)
    if isinstance(exc, InvokeError):
        mapped = exc
    elif _is_openai(exc, "APIStatusError"):
        mapped = error_for_status(
            exc.status_code,  # type: ignore[attr-defined]
            _redacted(exc.body, secrets),  # type: ignore[attr-defined]
            url=str(exc.request.url) if exc.request else url,  # type: ignore[attr-defined]
        )
    elif isinstance(exc, httpx.TransportError | ssl.SSLError | TimeoutError) or _is_openai(exc, "APIConnectionError"):
        mapped = _connection_error(exc, url)
    elif isinstance(exc, StreamIncompleteError):
        mapped = InvokeServerUnavailableError(
            f"The stream ended before the server finished the answer ({exc}); the output would be truncated."
        )
    elif isinstance(exc, MalformedResponseError):
        mapped = InvokeServerUnavailableError(f"The server's answer has an unexpected shape: {_clip(str(exc))}")
    elif isinstance(exc, ModelNotFoundError):
        shown = ", ".join(exc.available[:20]) + (
            f" (and {len(exc.available) - 20} more)" if len(exc.available) > 20 else ""
        )
        mapped = InvokeBadRequestError(
            f"The server has no model named {exc.model!r}. It serves: {shown}. Use one of these as the model "
            "name (or as `endpoint_model_name`)."
        )
    elif isinstance(exc, TruncatedToolCallError):
        mapped = InvokeBadRequestError(
            f"The model ran out of tokens in the middle of a tool call ({exc}); raise max_tokens."
        )
    elif isinstance(exc, SSEError):
        try:
            payload = json.loads(exc.data)
        except (ValueError, RecursionError):
            payload = None
        if not isinstance(payload, Mapping):
            payload = {"error": exc.data}
        elif "error" not in payload and payload.get("object") != "error":
            # llama.cpp's legacy `error:` line: the event data IS the error object (L#16109)
            payload = {"error": payload}
        try:
            raise_for_payload_error(payload)
        except InvokeError as inner:
            mapped = inner
        else:
            mapped = InvokeServerUnavailableError(f"The server sent an error event: {_clip(exc.data)}")
    elif isinstance(exc, json.JSONDecodeError):
        mapped = InvokeServerUnavailableError(
            f"The server sent a response that is not valid JSON ({exc.msg} at {exc.pos}): {_clip(exc.doc[:200])}"
        )
    elif isinstance(exc, TextTooLongError):
        mapped = InvokeBadRequestError(f"Embedding failed: {exc}.")
    elif isinstance(exc, SettingsError):
        mapped = InvokeBadRequestError(f"Model settings: {exc}")
    else:
        mapped = InvokeError(f"{type(exc).__name__}: {_clip(str(exc))}")
    clean = redact(str(mapped), secrets)
    if clean != str(mapped) or mapped is exc:
        mapped = type(mapped)(clean)
    return mapped


@contextmanager
def translated_errors(*, url: str = "", secrets: Iterable[str] = ()) -> Iterator[None]:
    """Re-raise anything from the block as an InvokeError (used around calls AND inside generators,
    because Dify's SDK does not map errors raised while a returned generator is iterated)."""
    try:
        yield
    except GeneratorExit:
        raise
    except Exception as exc:  # noqa: BLE001 - this is the one boundary that maps everything
        raise to_invoke_error(exc, url=url, secrets=secrets) from None
