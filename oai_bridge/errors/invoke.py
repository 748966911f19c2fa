"""Every failure -> one of Dify's InvokeError classes, with a short message that says what to do.

    connection refused                        -> InvokeConnectionError ("cannot connect", Docker hint)
    untrusted certificate                     -> InvokeConnectionError (CA certificate or Verify TLS Off)
    no such host name / DNS not answering     -> InvokeConnectionError (the name, the DNS)
    https:// on a plain-HTTP port, or reverse -> InvokeConnectionError (the scheme to use)
    redirects that never end                  -> InvokeConnectionError (the base URL's scheme and path)
    other TLS failure                         -> InvokeConnectionError ("TLS failed", verify_tls)
    no progress within `timeout`              -> InvokeConnectionError ("timed out")
    connection dropped after the answer began -> InvokeServerUnavailableError ("dropped")
    connection closed before any response     -> InvokeServerUnavailableError ("closed before ... any response")
    401, 403, a key refused with another status
    (by its error type: LiteLLM's 400)        -> InvokeAuthorizationError
    429                                       -> InvokeRateLimitError
    408, 500, 502, 503, 504, HTML pages       -> InvokeServerUnavailableError
    400, 404, 413, 422 (and other 4xx)        -> InvokeBadRequestError
    error payloads inside a 200 stream        -> by their wording, then status: a server fault is
                                                 server-unavailable, a fixable request a bad request

Messages never carry the API key or header values: `redact` runs over everything shown.
Errors are raised `from None` because Dify ships the traceback (with chained messages) to the
caller, and a server's own error text may echo request headers.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from types import UnionType
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

from oai_bridge.config.settings import Settings, SettingsError
from oai_bridge.config.urls import display_url
from oai_bridge.errors.connection import Failure, failure_of, tls_detail
from oai_bridge.errors.kinds import (
    ConnectionDroppedError,
    ConnectionFailedError,
    EndpointMissingError,
    MalformedResponseError,
    ModelNotFoundError,
    RedirectLoopError,
    ReportedError,
    ServerStatusError,
    SSEError,
    StreamIncompleteError,
    TextTooLongError,
    TruncatedToolCallError,
    UnexpectedContentError,
    UnsendableInputError,
    UnusableAnswerError,
    UploadTooLargeError,
    WrongSchemeError,
    causes,
)
from oai_bridge.errors.shape import PYTHON_SHAPE_ERRORS
from oai_bridge.errors.wording import (
    CONTEXT_OVERFLOW,
    KEY_REFUSALS,
    MODEL_NOT_FOUND,
    RESPONSE_ERROR_CODES,
    SERVER_FAULT,
    VALIDATION_ERROR,
    body_text,
    error_type,
    is_deployment_not_found,
    looks_like_html,
    mentions,
)

__all__ = [
    "endpoint_errors",
    "error_for_status",
    "payload_error",
    "raise_for_payload_error",
    "raise_for_response_error",
    "redact",
    "to_invoke_error",
    "translated_errors",
]

logger = logging.getLogger(__name__)

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
_MAX_MESSAGE = 600
_LOOPBACK = ("localhost", "127.0.0.1", "0.0.0.0", "::1")


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


def _is_context_overflow(message: str, body: Any) -> bool:
    text = message + (" " + json.dumps(body) if isinstance(body, Mapping) else "")
    return mentions(text, CONTEXT_OVERFLOW)


def _html_page(url: str, expected: str = "an API answer") -> str:
    where = f" from {url}" if url else ""
    return (
        f"The server answered with an HTML page{where}, not {expected}. Check the base URL (most servers "
        "need /v1 at the end), or a proxy in front of the server that wants a sign-in."
    )


def error_for_status(status: int, body: Any, *, url: str = "") -> InvokeError:
    """Map an HTTP status plus the server's body to the Dify error class with a useful message."""
    text = body if isinstance(body, str) else ""
    if text and looks_like_html(text):
        return InvokeServerUnavailableError(f"HTTP {status}: {_html_page(url)}")
    message = _clip(body_text(body)) or f"HTTP {status} with no message"
    if status in (401, 403):
        return InvokeAuthorizationError(
            f"HTTP {status}: the server refused the credentials ({message}). Check the API key "
            "and any authentication header in extra_headers."
        )
    if refusal := KEY_REFUSALS.get(error_type(body)):
        return InvokeAuthorizationError(
            f"HTTP {status}: the server refused the API key ({message}): {refusal}. If the key is right, "
            "the proxy is misconfigured."
        )
    if status == 408:
        return InvokeServerUnavailableError(
            f"HTTP 408: the server or a proxy in front of it timed out waiting for the model ({message}). "
            "Raise the proxy's own timeout to at least the model's `timeout`."
        )
    if status == 429:
        return InvokeRateLimitError(f"HTTP 429: rate limited by the server ({message}). Try again later.")
    if status == 500 and VALIDATION_ERROR.search(message):
        return InvokeBadRequestError(f"HTTP 500: the server rejected the request ({message}).")
    overflow = _is_context_overflow(message, body)
    if status >= 500 and not overflow:
        return InvokeServerUnavailableError(f"HTTP {status}: the server failed ({message}).")
    if overflow:
        return InvokeBadRequestError(
            f"The prompt does not fit the model's context window ({message}). Shorten the conversation "
            "or knowledge context, lower max_tokens, or raise the server's context size."
        )
    if status == 404 and is_deployment_not_found(body):
        return InvokeBadRequestError(
            f"HTTP 404: {message} Check the deployment name in the base URL (…/openai/deployments/NAME) and "
            "that the deployment is ready."
        )
    if MODEL_NOT_FOUND.search(message):
        return InvokeBadRequestError(f"HTTP {status}: {message}. Check the model name (or `endpoint_model_name`).")
    if status == 404:
        where = f" at {url}" if url else ""
        api = (
            " If the server has no /responses, set the model's API type to Chat completions (or Auto)."
            if httpx.URL(url).path.rstrip("/").endswith("/responses")
            else ""
        )
        return InvokeBadRequestError(
            f"HTTP 404 Not Found{where} ({message}). Check the base URL: most servers expect it to end "
            f"with /v1 (e.g. http://host:11434/v1), without /chat/completions.{api}"
        )
    if status == 413:
        return InvokeBadRequestError(f"HTTP 413: the request is too large for the server ({message}).")
    return InvokeBadRequestError(f"HTTP {status}: the server rejected the request ({message}).")


def _payload_status(data: Mapping[str, Any]) -> int:
    for source in (data.get("error"), data):  # vLLM/TGI nest the status; SGLang and old vLLM put it on top
        if not isinstance(source, Mapping):
            continue
        for key in ("code", "http_status_code", "status", "status_code"):
            value = source.get(key)
            if isinstance(value, int) and 400 <= value < 600:
                return value
    return 0


def payload_error(data: Mapping[str, Any]) -> ReportedError | None:
    """The error a payload reports in any shape servers use inside a 200 answer, or None.

    The error's wording and type decide before its status: vLLM reports a dead engine or
    exhausted GPU memory with `code: 400`, which is the server's fault, not the request's."""
    error = data.get("error")
    if error is None and data.get("object") != "error":
        return None
    message = _clip(body_text(data)) or "no message"
    kind = error.get("type") if isinstance(error, Mapping) else data.get("type")
    code = (error if isinstance(error, Mapping) else data).get("code")
    fault = RESPONSE_ERROR_CODES.get(code) if isinstance(code, str) else None
    status = _payload_status(data)
    mapped: InvokeError
    if mentions(f"{message} {kind or ''}", SERVER_FAULT):
        mapped = InvokeServerUnavailableError(f"The server failed while generating: {message}")
    elif fault == "rate":
        mapped = InvokeRateLimitError(f"Rate limited by the server ({message}). Try again later.")
    elif fault == "server":
        mapped = InvokeServerUnavailableError(f"The server failed while generating: {message}")
    elif fault == "request":
        mapped = error_for_status(400, data)
    elif status or _is_context_overflow(message, data):
        mapped = error_for_status(status or 400, data)
    else:  # no status in the payload: the server failed while generating
        mapped = InvokeServerUnavailableError(f"The server reported an error during generation: {message}")
    return ReportedError(mapped, status=status, fault=fault)


def raise_for_payload_error(data: Mapping[str, Any]) -> None:
    """Raise `ReportedError` if a payload is an error (see `payload_error`)."""
    reported = payload_error(data)
    if reported is not None:
        raise reported


def raise_for_response_error(response: Mapping[str, Any]) -> None:
    """Raise for a Responses API answer whose status is `failed`, with the server's words
    (`error.code` and `error.message`)."""
    error = response.get("error")
    if not isinstance(error, Mapping) or not (error.get("message") or error.get("code")):
        error = {"message": "the server marked the response failed without saying why"}
    raise_for_payload_error({"error": error})


def _cause_of(exc: BaseException, kinds: type[BaseException] | UnionType) -> BaseException | None:
    return next((cause for cause in causes(exc) if isinstance(cause, kinds)), None)


def _innermost_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    for cause in causes(exc):
        if str(cause):
            text = str(cause)
    return _clip(text)


def _host(url: str) -> str:
    """The host of `url`, quoted, for a message."""
    try:
        host = httpx.URL(url.strip()).host
    except httpx.InvalidURL:
        host = ""
    return repr(host) if host else "of the Base URL"


def _connection_error(exc: BaseException, url: str) -> InvokeError:
    """One message per cause (`errors.connection` tells them apart): an untrusted certificate, a
    name that does not exist or a DNS that does not answer, another TLS failure, a timeout, a
    connection dropped mid-answer or closed before any response, no connection."""
    shown = display_url(url) if url else "the server"
    failure = failure_of(exc)
    if failure is Failure.UNTRUSTED_CERTIFICATE:
        return InvokeConnectionError(
            f"The TLS certificate of {shown} is not trusted ({_clip(tls_detail(exc))}). For a self-signed "
            "certificate or an internal CA, paste that CA certificate (PEM) into the model's `ca_certificate` "
            "field, or set `verify_tls` to off (only on a network you trust)."
        )
    if failure is Failure.NO_SUCH_NAME:
        return InvokeConnectionError(
            f"The host name {_host(url)} does not exist ({_innermost_text(exc)}). Check its spelling in the "
            "base URL. A name only the Docker host knows (its /etc/hosts) is unknown inside Dify's containers: "
            "use the server's IP address or a name your DNS serves."
        )
    if failure is Failure.DNS_TEMPORARY:
        return InvokeConnectionError(
            f"Could not look up the host name {_host(url)}: the DNS server did not answer "
            f"({_innermost_text(exc)}). Check the network and DNS settings of the machine or container running "
            "the plugin."
        )
    if failure is Failure.TLS:
        return InvokeConnectionError(
            f"TLS failed talking to {shown} ({_clip(tls_detail(exc))}). Check that this port serves HTTPS "
            "(use http:// if the server has no TLS) and that its TLS setup is a current one."
        )
    if failure is Failure.CONNECT_TIMEOUT:
        return InvokeConnectionError(
            f"Timed out connecting to {shown}: check the address and port, and that a firewall lets the "
            "plugin through (connecting waits at most 10 s, or `timeout` if that is shorter)."
        )
    if _cause_of(exc, httpx.TimeoutException | TimeoutError):
        return InvokeConnectionError(
            f"Timed out waiting for {shown}: no progress within the configured timeout. Raise `timeout` "
            "for slow models, or check that the server is not stuck."
        )
    detail = _innermost_text(exc)
    if isinstance(exc, ConnectionDroppedError) or failure is Failure.DROPPED:
        return InvokeServerUnavailableError(
            f"The connection to {shown} broke while the server was answering ({detail}). The server may "
            "have crashed or restarted, or a proxy in between cut the connection: check the server's log."
        )
    if failure is Failure.NO_RESPONSE:
        return InvokeServerUnavailableError(
            f"The connection to {shown} closed before the server sent any response ({detail}). The server "
            "may have crashed or restarted, or a proxy in between cut the connection: check the server's log."
        )
    hint = ""
    if url and httpx.URL(url).host in _LOOPBACK:
        hint = (
            " From Dify running in Docker, `localhost` is the plugin's own container: use "
            "http://host.docker.internal:PORT (with extra_hosts host-gateway on Linux) or the server's address."
        )
    return InvokeConnectionError(f"Cannot connect to {shown} ({detail}). Check that the server is running.{hint}")


def _wrong_scheme(exc: WrongSchemeError) -> InvokeError:
    url = httpx.URL(display_url(exc.url))
    port = url.port or (443 if url.scheme == "https" else 80)
    fixed = str(url.copy_with(scheme=exc.speaks, port=port))
    if exc.speaks == "http":
        return InvokeConnectionError(
            f"{url} does not speak HTTPS on this port: it answers plain HTTP. Use http:// in the base URL "
            f"({fixed}), or the server's HTTPS port."
        )
    return InvokeConnectionError(
        f"{url} speaks HTTPS (TLS) on this port, not plain HTTP. Use https:// in the base URL ({fixed})."
    )


def _model_not_found(exc: ModelNotFoundError) -> InvokeError:
    """A 404 cannot tell a missing path from a missing model: the message covers both, with the
    server's own words (an Azure "deployment … does not exist" reads as itself)."""
    where = f" at {display_url(exc.url)}" if exc.url else ""
    detail = f" ({exc.detail})" if exc.detail else ""
    lead = f"The server has no such path or model: model {exc.model!r}{where}{detail}."
    if not exc.available:
        return InvokeBadRequestError(
            f"{lead} Check the model name (or `endpoint_model_name`) and the base URL (most servers expect it "
            "to end with /v1)."
        )
    shown = ", ".join(exc.available[:20]) + (
        f" (and {len(exc.available) - 20} more)" if len(exc.available) > 20 else ""
    )
    return InvokeBadRequestError(
        f"{lead} It lists: {shown}. Use one of these as the model name (or as `endpoint_model_name`), or "
        "check the base URL."
    )


def _sse_error(exc: SSEError) -> InvokeError:
    try:
        payload = json.loads(exc.data)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, Mapping):
        payload = {"error": exc.data}
    elif "error" not in payload and payload.get("object") != "error":
        # llama.cpp's legacy `error:` line: the event data IS the error object (L#16109)
        payload = {"error": payload}
    reported = payload_error(payload)
    if reported is not None and isinstance(reported.error, InvokeError):
        return reported.error
    return InvokeServerUnavailableError(f"The server sent an error event: {_clip(exc.data)}")


_NO_KEY_HINT = (
    " No API key was sent: if the server (or a proxy in front of it, such as LiteLLM) needs one, enter it in "
    "the API key field."
)


def _keyless_refusal(exc: ServerStatusError, mapped: InvokeError) -> bool:
    """A refusal that may only mean "a key is needed": an auth error, or a bare 500 (LiteLLM answers
    a request without Authorization with a plain-text "Internal Server Error")."""
    if isinstance(mapped, InvokeAuthorizationError):
        return True
    return exc.status == 500 and body_text(exc.body).strip().lower() in ("", "internal server error")


def to_invoke_error(
    exc: BaseException, *, url: str = "", secrets: Iterable[str] = (), keyless: bool = False
) -> InvokeError:
    """Translate any exception raised while talking to the endpoint into an InvokeError. `keyless`:
    the request carried no API key (a refusal then says so)."""
    secrets = tuple(secrets)
    if isinstance(exc, InvokeError):
        mapped = exc
    elif isinstance(exc, ServerStatusError):
        mapped = error_for_status(exc.status, _redacted(exc.body, secrets), url=exc.url or url)
        if keyless and _keyless_refusal(exc, mapped):
            mapped = type(mapped)(str(mapped) + _NO_KEY_HINT)
    elif isinstance(
        exc, ConnectionFailedError | ConnectionDroppedError | httpx.TransportError | ssl.SSLError | TimeoutError
    ):
        mapped = _connection_error(exc, url)
    elif isinstance(exc, WrongSchemeError):
        mapped = _wrong_scheme(exc)
    elif isinstance(exc, RedirectLoopError):
        shown = display_url(url) if url else "The server"
        mapped = InvokeConnectionError(
            f"{shown} answers with redirects that never end ({exc}). Check the base URL's scheme (http:// or "
            "https://) and path against what the server, or the proxy in front of it, expects."
        )
    elif isinstance(exc, UnexpectedContentError):
        mapped = InvokeServerUnavailableError(_html_page(exc.url or url, exc.expected))
    elif isinstance(exc, StreamIncompleteError):
        mapped = InvokeServerUnavailableError(
            f"The stream ended before the server finished the answer ({exc}); the output would be truncated."
        )
    elif isinstance(exc, MalformedResponseError):
        mapped = InvokeServerUnavailableError(f"The server's answer has an unexpected shape: {_clip(str(exc))}")
    elif isinstance(exc, ModelNotFoundError):
        mapped = _model_not_found(exc)
    elif isinstance(exc, TruncatedToolCallError):
        mapped = InvokeBadRequestError(
            f"The model ran out of tokens in the middle of a tool call ({exc}); raise max_tokens."
        )
    elif isinstance(exc, ReportedError):
        mapped = exc.error if isinstance(exc.error, InvokeError) else to_invoke_error(exc.error)
    elif isinstance(exc, SSEError):
        mapped = _sse_error(exc)
    elif isinstance(exc, json.JSONDecodeError):
        mapped = InvokeServerUnavailableError(
            f"The server sent a response that is not valid JSON ({exc.msg} at {exc.pos}): {_clip(exc.doc[:200])}"
        )
    elif isinstance(exc, TextTooLongError):
        mapped = InvokeBadRequestError(f"The input is too long for the server: {exc}.")
    elif isinstance(exc, UnsendableInputError | EndpointMissingError):
        mapped = InvokeBadRequestError(str(exc))
    elif isinstance(exc, UploadTooLargeError):
        refused = to_invoke_error(exc.status, url=url, secrets=secrets, keyless=keyless)
        mapped = InvokeBadRequestError(f"{refused} {exc}")
    elif isinstance(exc, UnusableAnswerError):
        mapped = InvokeServerUnavailableError(str(exc))
    elif isinstance(exc, SettingsError):
        mapped = InvokeBadRequestError(f"Model settings: {exc}")
    elif isinstance(exc, PYTHON_SHAPE_ERRORS):
        # The last resort behind the parsers' typed reads (`errors.shape`): Python's wording of a
        # value of an unexpected type never reaches the user; the detail goes to the log, with the
        # traceback, since the same exception types also mean a defect of the plugin's own.
        _log_unexpected("an answer could not be read", exc, secrets)
        mapped = InvokeServerUnavailableError(
            "The server's answer has an unexpected shape: it holds a value of a type, or nested deeper, "
            "than the plugin can read."
        )
    else:
        # Nothing above names it: a failure the plugin has no words for. The user is told that
        # much (never Python's class name); the log keeps the class and the traceback.
        _log_unexpected("the call failed unexpectedly", exc, secrets)
        mapped = InvokeError(
            f"The call failed in a way the plugin does not recognise: {_clip(str(exc)) or 'no detail'}"
        )
    clean = redact(str(mapped), secrets)
    if clean != str(mapped) or mapped is exc:
        mapped = type(mapped)(clean)
    return mapped


def _log_unexpected(what: str, exc: BaseException, secrets: Iterable[str]) -> None:
    """One WARNING with the exception's class, message and traceback, secrets removed."""
    where = redact("".join(traceback.format_exception(exc)), secrets)
    logger.warning("%s: %s: %s\n%s", what, type(exc).__name__, redact(str(exc), secrets), where)


@contextmanager
def translated_errors(*, url: str = "", secrets: Iterable[str] = (), keyless: bool = False) -> Iterator[None]:
    """Re-raise anything from the block as an InvokeError (used around calls AND inside generators,
    because Dify's SDK does not map errors raised while a returned generator is iterated)."""
    try:
        yield
    except GeneratorExit:
        raise
    except Exception as exc:  # noqa: BLE001 - this is the one boundary that maps everything
        raise to_invoke_error(exc, url=url, secrets=secrets, keyless=keyless) from None


def endpoint_errors(settings: Settings) -> AbstractContextManager[None]:
    """`translated_errors` for calls to the endpoint of `settings`."""
    return translated_errors(url=settings.base_url, secrets=settings.secrets, keyless=not settings.api_key)
