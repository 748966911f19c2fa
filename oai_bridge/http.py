"""Pooled HTTP clients and the single retry policy.

One `httpx.Client` per TLS setting serves every endpoint (Dify creates a model instance per
request, so pools must live at module level to be reused). One `openai.OpenAI` per endpoint
settings sits on top of it with its own retries off: tenacity below is the only retry layer.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from oai_bridge import compat
from oai_bridge import lazy_openai as openai
from oai_bridge.discovery import normalize_base_url
from oai_bridge.errors import ModelNotFoundError
from oai_bridge.settings import Settings

__all__ = [
    "CONNECT_TIMEOUT",
    "get_client",
    "is_stall",
    "list_model_ids",
    "open_response",
    "post_json",
    "release",
    "retrying",
    "timeout_for",
]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
DISCOVERY_TIMEOUT = 10.0
DRAIN_TIMEOUT = 1.0
DRAIN_LIMIT = 100  # lines
MAX_RETRY_AFTER = 30.0
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Local servers need no key, but the OpenAI client insists on one (and some servers want the header).
PLACEHOLDER_API_KEY = "sk-no-key-required"
_MAX_CLIENTS = 256

_lock = threading.Lock()
_http_clients: dict[bool, httpx.Client] = {}
_openai_clients: OrderedDict[tuple[Any, ...], openai.OpenAI] = OrderedDict()


def timeout_for(settings: Settings) -> httpx.Timeout:
    """`timeout` bounds every wait for bytes (read, write, pool); connecting gets a short bound."""
    return httpx.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT, settings.timeout))


def _http_client(verify: bool) -> httpx.Client:
    client = _http_clients.get(verify)
    if client is None or client.is_closed:
        client = httpx.Client(
            verify=verify,
            # Many concurrent streams through one plugin process share this pool.
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=30),
            # trust_env keeps HTTP(S)_PROXY/NO_PROXY working the way the daemon's environment says.
            trust_env=True,
            follow_redirects=False,
        )
        _http_clients[verify] = client
    return client


def get_client(settings: Settings) -> openai.OpenAI:
    """The shared OpenAI client for this endpoint's settings (created once per process)."""
    key = (
        normalize_base_url(settings.base_url),
        settings.api_key,
        settings.extra_headers,
        settings.timeout,
        settings.verify_tls,
    )
    with _lock:
        client = _openai_clients.get(key)
        if client is not None:
            _openai_clients.move_to_end(key)
            return client
        client = openai.OpenAI(
            api_key=settings.api_key or PLACEHOLDER_API_KEY,
            base_url=key[0],
            timeout=timeout_for(settings),
            max_retries=0,
            default_headers=dict(settings.extra_headers) or None,
            http_client=_http_client(settings.verify_tls),
        )
        _openai_clients[key] = client
        if len(_openai_clients) > _MAX_CLIENTS:
            # Only drop the wrapper; the shared httpx pool stays open.
            _openai_clients.popitem(last=False)
        return client


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUSES
    # A server that stops sending is not retried: `timeout` is the bound the user set for a
    # stall, and retrying would multiply it (past the daemon's own execution limit).
    return isinstance(exc, openai.APIConnectionError) and not is_stall(exc)


def is_stall(exc: BaseException) -> bool:
    """True for a read/write/pool timeout anywhere in the cause chain (not a connect timeout)."""
    while exc is not None:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    raw = exc.response.headers.get("retry-after-ms")
    if raw:
        try:
            return float(raw) / 1000
        except ValueError:
            pass
    raw = exc.response.headers.get("retry-after")
    if raw:
        try:
            return float(raw)
        except ValueError:
            return None  # HTTP-date form: fall back to backoff
    return None


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    after = _retry_after(exc)
    if after is not None:
        return min(max(after, 0.0), MAX_RETRY_AFTER)
    # Exponential backoff with jitter: 0.5, 1, 2, … s, capped at 8 s.
    return min(0.5 * 2 ** (state.attempt_number - 1), 8.0) * (0.75 + random.random() / 2)


def retrying(settings: Settings) -> Retrying:
    """The retry policy: connection errors, 429 (honouring Retry-After, capped) and 502/503/504,
    at most `max_retries` times. Callers use it only before the first byte reaches Dify."""
    return Retrying(
        stop=stop_after_attempt(settings.max_retries + 1),
        retry=retry_if_exception(_is_retryable),
        wait=_wait,
        before_sleep=_log_retry,
        reraise=True,
    )


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    reason = f"HTTP {exc.status_code}" if isinstance(exc, openai.APIStatusError) else type(exc).__name__
    delay = state.next_action.sleep if state.next_action else 0.0
    logger.warning("request failed (%s), retry %d in %.1f s", reason, state.attempt_number, delay)


def _send(settings: Settings, path: str, body: dict[str, Any], options: dict[str, Any]) -> httpx.Response:
    """One logical request: retries per policy, and one more try without a field a strict
    server rejected by name (see compat)."""
    client = get_client(settings)
    endpoint = normalize_base_url(settings.base_url)
    body = compat.adapt(endpoint, body)

    def call() -> httpx.Response:
        return client.post(path, cast_to=httpx.Response, body=body, options=options)

    for _ in range(compat.MAX_FALLBACKS):
        try:
            return retrying(settings)(call)
        except openai.NotFoundError:
            _raise_if_model_unknown(settings)
            raise
        except openai.APIStatusError as exc:
            fixed = compat.fallback(endpoint, body, exc.status_code, exc.body)
            if fixed is None:
                raise
            body = fixed
    return retrying(settings)(call)


def list_model_ids(settings: Settings) -> list[str] | None:
    """Model ids the server lists at /models, or None when it lists none (or has no /models)."""
    client = get_client(settings)
    try:
        data = client.get("/models", cast_to=httpx.Response, options={"timeout": DISCOVERY_TIMEOUT}).json()
    except (openai.APIError, ValueError):
        return None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    ids = [item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]
    return ids or None


def _raise_if_model_unknown(settings: Settings) -> None:
    ids = list_model_ids(settings)
    if ids is not None and settings.endpoint_model not in ids:
        raise ModelNotFoundError(settings.endpoint_model, ids)


def release(response: httpx.Response, rest: Iterator[object]) -> None:
    """Finish a stream whose answer is complete: read what little is left after `[DONE]` (the
    chunked terminator) from `rest`, the iterator the stream was being read through, so the
    connection goes back to the pool instead of being torn down (for TLS endpoints that saves
    a handshake per call). A server that keeps the stream open after `[DONE]` gets a short
    bound, not the model's whole timeout."""
    try:
        timeouts = response.request.extensions.get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = DRAIN_TIMEOUT  # httpcore reads this at every receive
        for count, _ in enumerate(rest):
            if count > DRAIN_LIMIT:
                break
    except httpx.HTTPError:
        pass  # nothing the caller needs is lost; the connection is just not reused
    finally:
        response.close()


def open_response(settings: Settings, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST `body` and return the response with its body unread (for streaming), after retries.
    The caller must close it. Non-2xx statuses raise openai.APIStatusError subclasses."""
    return _send(settings, path, body, {"headers": {openai.RAW_RESPONSE_HEADER: "stream"}})


def post_json(settings: Settings, path: str, body: dict[str, Any], *, headers: dict[str, Any] | None = None) -> Any:
    """POST `body` and return the decoded JSON answer, after retries. `headers` are per-request
    headers on top of the client's (an `openai.Omit()` value removes one)."""
    return _send(settings, path, body, {"headers": headers} if headers else {}).json()
