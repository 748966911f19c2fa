"""Requests to a model server through the `openai` SDK's public API, for every model type.

    post_json(settings, path, body)    one logical JSON call: retried, adapted to the server
    open_stream(settings, path, body)  one streamed call's response, body unread (the caller
                                       reads it and owns the retry loop; see chat.pipeline)
    get_json(settings, url)            a bounded GET for discovery (/models, native APIs)

Bodies are adapted to what the endpoint is known to refuse (`dialects.learned`), and a refusal
that names a field is answered by one more try without it. SDK exceptions are turned into the
plugin's own (`errors.kinds`) right here, so nothing above depends on the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from oai_bridge.config.settings import Settings
from oai_bridge.config.urls import normalize_base_url
from oai_bridge.dialects import learned
from oai_bridge.errors.kinds import (
    ConnectionDroppedError,
    ConnectionFailedError,
    MalformedResponseError,
    ModelNotFoundError,
    RedirectLoopError,
    ServerStatusError,
    UnexpectedContentError,
)
from oai_bridge.errors.wording import MODEL_NOT_FOUND, body_text, is_deployment_not_found, looks_like_html
from oai_bridge.transport.clients import openai_client, request_headers, timeout_for
from oai_bridge.transport.retry import call, is_stall

__all__ = [
    "DISCOVERY_TIMEOUT",
    "decode_json",
    "get_json",
    "list_models",
    "open_stream",
    "post_json",
    "sdk_errors",
]

DISCOVERY_TIMEOUT = 10.0


@contextmanager
def sdk_errors() -> Iterator[None]:
    """SDK exceptions -> the plugin's: a status error keeps status, body, URL and headers; a
    connection error is a ConnectionFailedError caused by the httpx error under it; a body that
    cannot be decoded (a broken gzip) is a MalformedResponseError, a redirect loop a
    RedirectLoopError (the SDK wraps both as a connection error)."""
    import openai

    transport_error: BaseException | None = None
    try:
        yield
    except openai.APIStatusError as exc:
        raise ServerStatusError(
            exc.status_code, exc.body, url=str(exc.request.url), headers=dict(exc.response.headers)
        ) from None
    except openai.APIConnectionError as exc:
        cause = exc.__cause__
        if isinstance(cause, httpx.DecodingError):
            raise MalformedResponseError(f"the body could not be decoded ({_words(cause)})") from None
        if isinstance(cause, httpx.TooManyRedirects):
            raise RedirectLoopError(_words(cause)) from None
        if not isinstance(cause, httpx.TransportError):
            raise
        transport_error = cause
    # The httpx error keeps its own causes (what they hold: errors.connection), with no link back
    # to the SDK's wrapper, whose cause it is.
    if transport_error is not None:
        transport_error.__suppress_context__ = True
        raise ConnectionFailedError(_words(transport_error)) from transport_error


def _words(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _body[T](pieces: Iterator[T]) -> Iterator[T]:
    try:
        yield from pieces
    except httpx.TransportError as exc:
        if is_stall(exc):  # no bytes within `timeout`: the user's bound, not a broken connection
            raise ConnectionFailedError(_words(exc)) from exc
        raise ConnectionDroppedError(_words(exc)) from exc
    except httpx.DecodingError as exc:
        raise MalformedResponseError(f"the body could not be decoded ({_words(exc)})") from exc


def stream_text(response: httpx.Response) -> Iterator[str]:
    """The body of a streamed response as decoded reads (`iter_text`), with httpx's failures as
    the plugin's: a connection that breaks mid-body is a ConnectionDroppedError, a stall a
    ConnectionFailedError."""
    return _body(response.iter_text())


def stream_bytes(response: httpx.Response) -> Iterator[bytes]:
    """`stream_text` for raw bytes (`iter_bytes`)."""
    return _body(response.iter_bytes())


def decode_json(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer; an HTML page (a web UI, a proxy's sign-in page) is named as such."""
    kind = response.headers.get("content-type", "")
    # Only the head is decoded to look: the body may be megabytes of vectors.
    if "html" in kind or looks_like_html(response.content[:200].decode("utf-8", "replace")):
        raise UnexpectedContentError("an HTML page", "a JSON answer", str(response.request.url))
    try:
        return json.loads(response.content)
    except UnicodeDecodeError:
        # Not UTF-8: read in the charset the server names, else as UTF-8 with what cannot be
        # decoded replaced, as streamed answers are (`stream_text`).
        return json.loads(response.text)


def _once(
    settings: Settings, path: str, body: dict[str, Any], *, stream: bool, bound: float | None, probe: bool = False
) -> httpx.Response:
    """One request (plus a retry without a field the server refused by name), no retry policy."""
    client = openai_client(settings)
    endpoint = normalize_base_url(settings.base_url)
    body = learned.adapt(endpoint, body)
    headers = request_headers(settings)
    for _ in range(learned.MAX_FALLBACKS + 1):
        try:
            with sdk_errors():
                options: Any = {"timeout": timeout_for(settings, bound), "headers": headers}
                # The body is already the wire JSON: `post` sends it as is (the typed resource
                # methods would walk every message to transform it); with `stream=True` the
                # response comes back with its body unread.
                return client.post(path, cast_to=httpx.Response, body=body, options=options, stream=stream)
        except ServerStatusError as exc:
            fixed = learned.fallback(endpoint, body, exc.status, exc.body)
            if fixed is None:
                _explain_unknown_model(settings, exc, probe=probe)
                raise
            body = fixed
    raise AssertionError("unreachable: the loop returns or raises")


def _explain_unknown_model(settings: Settings, exc: ServerStatusError, *, probe: bool = False) -> None:
    """A 404, or a refusal that names the model, is explained with what the server lists. The list
    is never a gate: servers that list only an alias (llama.cpp, TGI) answer any name. While a
    `probe` looks for a path, a 404 that does not name the model is a missing path: raised as is."""
    said_unknown = bool(MODEL_NOT_FOUND.search(body_text(exc.body)))
    if exc.status != 404 and not (400 <= exc.status < 500 and said_unknown):
        return
    if probe and not said_unknown:
        return
    if is_deployment_not_found(exc.body):
        return  # Azure's own words say what is missing (the deployment in the base URL)
    ids = list_models(settings)
    if said_unknown or (ids is not None and settings.endpoint_model not in ids):
        raise ModelNotFoundError(settings.endpoint_model, ids or [], body_text(exc.body)[:200], url=exc.url) from None


def post_json(
    settings: Settings, path: str, body: dict[str, Any], *, bound: float | None = None, probe: bool = False
) -> Any:
    """POST `body` and return the decoded JSON answer, after retries. `bound` caps the wait below
    the model's timeout (detection); `probe`: the request tries whether `path` exists (a 404 is
    then raised as the status error, not explained as an unknown model)."""
    return decode_json(call(settings, lambda: _once(settings, path, body, stream=False, bound=bound, probe=probe)))


def open_stream(settings: Settings, path: str, body: dict[str, Any], *, bound: float | None = None) -> httpx.Response:
    """POST `body` and return the response with its body unread. The caller closes it (or passes
    it to `transport.ending.release`) and owns the retry loop. An HTML page is refused before it is read."""
    response = _once(settings, path, body, stream=True, bound=bound)
    kind = response.headers.get("content-type", "")
    if "html" in kind:
        response.close()
        raise UnexpectedContentError("an HTML page", "an event stream", str(response.request.url))
    return response


def get_json(settings: Settings, url: str, *, base_url: str | None = None) -> tuple[int, Any]:
    """(status, JSON body or None) of a GET, bounded by DISCOVERY_TIMEOUT; (0, None) when the
    server cannot be reached. `url` is a path under the base URL or an absolute URL."""
    client = openai_client(settings, base_url)
    try:
        with sdk_errors():
            options: Any = {"timeout": timeout_for(settings, DISCOVERY_TIMEOUT), "headers": request_headers(settings)}
            response = client.get(url, cast_to=httpx.Response, options=options)
    except ServerStatusError as exc:
        return exc.status, None
    except (ConnectionFailedError, httpx.HTTPError):
        return 0, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def model_cards(data: Any) -> list[dict[str, Any]]:
    """The entries of a /models answer that have an id (none when its `data` is not a list: the
    list is optional, never a reason to fail)."""
    items = data.get("data") if isinstance(data, dict) else None
    return (
        [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]
        if isinstance(items, list)
        else []
    )


def list_models(settings: Settings, base_url: str | None = None) -> list[str] | None:
    """Model ids the server lists at /models, or None when it lists none (or has no /models)."""
    status, data = get_json(settings, "/models", base_url=base_url)
    ids = [card["id"] for card in model_cards(data)] if status == 200 else []
    return ids or None
