"""Pooled clients: one `httpx.Client` per TLS setting (verify or not, and a model's own CA) serves
every endpoint, and one `openai.OpenAI` per endpoint's settings sits on top of it with the SDK's
own retries off (the plugin's one retry policy is `transport.retry`). Dify creates a model
instance per request, so pools live here, at module level, to be reused.

`openai` is imported on first use: it is most of the plugin's start-up time, and Dify waits for
the plugin's first heartbeat; `warm_up()` loads it just after start, before users' first requests.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import httpx

from oai_bridge.config.settings import Settings
from oai_bridge.config.urls import display_url, normalize_base_url
from oai_bridge.transport.reuse import mark

if TYPE_CHECKING:
    import openai

__all__ = ["CONNECT_TIMEOUT", "openai_client", "request_headers", "timeout_for", "warm_up"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
# The SDK insists on a key; without one the plugin sends no Authorization header at all (some
# servers refuse an empty `Bearer `), and this value only keeps OPENAI_API_KEY from the daemon's
# environment from being picked up and sent to a user's server.
_NO_KEY = "no-key"
_MAX_CLIENTS = 256

_lock = threading.Lock()
_http_clients: dict[tuple[bool, str], httpx.Client] = {}
_openai_clients: OrderedDict[tuple[Any, ...], openai.OpenAI] = OrderedDict()


def warm_up() -> None:
    """Import the SDK ahead of the first request (called from main.py after start)."""
    import openai  # noqa: F401


def timeout_for(settings: Settings, bound: float | None = None) -> httpx.Timeout:
    """`timeout` (or a shorter `bound`) limits every wait for bytes; connecting gets a short bound."""
    seconds = min(settings.timeout, bound) if bound else settings.timeout
    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))


def _log_redirect(response: httpx.Response) -> None:
    """Redirects are followed (a proxy's path rewrite or trailing slash, as the openai client does;
    307/308 keep the method and body, and httpx drops Authorization when the origin changes). A
    change of scheme is never silent."""
    if not response.is_redirect:
        return
    target = response.next_request.url if response.next_request else None
    if target is not None and target.scheme != response.request.url.scheme:
        logger.warning(
            "%s redirects to %s (%s -> %s); following it. Use the final URL as the base URL.",
            display_url(str(response.request.url)),
            display_url(str(target)),
            response.request.url.scheme,
            target.scheme,
        )


def _tls(verify: bool, ca_certificate: str) -> bool | ssl.SSLContext:
    """What httpx verifies against: its default trust (certifi, or `SSL_CERT_FILE`/`SSL_CERT_DIR`
    from the environment), plus the model's own CA certificate when the form has one."""
    if not verify or not ca_certificate:
        return verify
    context = httpx.create_ssl_context(verify=True, trust_env=True)
    context.load_verify_locations(cadata=ca_certificate)
    return context


def _http_client(verify: bool, ca_certificate: str = "") -> httpx.Client:
    client = _http_clients.get((verify, ca_certificate))
    if client is None or client.is_closed:
        # Under gevent, what keeps this pool cheap when the process is busy (idle checks, name
        # resolution) is installed once by `runtime.start`, not here.
        client = httpx.Client(
            verify=_tls(verify, ca_certificate),
            # Many concurrent streams through one plugin process share this pool.
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=30),
            # trust_env keeps HTTP(S)_PROXY/NO_PROXY working the way the daemon's environment says.
            trust_env=True,
            follow_redirects=True,
            max_redirects=5,
            # `mark`: each request traces whether it reused a connection (`transport.reuse`).
            event_hooks={"request": [mark], "response": [_log_redirect]},
        )
        _http_clients[(verify, ca_certificate)] = client
    return client


def request_headers(settings: Settings) -> dict[str, Any]:
    """Per-request headers: without a key (and no Authorization of the user's own in
    extra_headers), the SDK is told to send no Authorization header at all."""
    import openai

    if settings.api_key or any(name.lower() == "authorization" for name, _ in settings.extra_headers):
        return {}
    return {"Authorization": openai.omit}


def openai_client(settings: Settings, base_url: str | None = None) -> openai.OpenAI:
    """The shared OpenAI client for this endpoint's settings (created once per process). The base
    URL's query string goes with every request it sends (`default_query`)."""
    import openai

    root = normalize_base_url(base_url or settings.base_url)
    tls = (settings.verify_tls, settings.ca_certificate)
    key = (root, settings.base_query, settings.api_key, settings.extra_headers, settings.timeout, tls)
    with _lock:
        client = _openai_clients.get(key)
        if client is not None:
            _openai_clients.move_to_end(key)
            return client
        headers: dict[str, Any] = dict(settings.extra_headers)
        client = openai.OpenAI(
            api_key=settings.api_key or _NO_KEY,
            base_url=root,
            timeout=timeout_for(settings),
            max_retries=0,
            default_headers=headers or None,
            default_query=dict(settings.base_query) or None,
            http_client=_http_client(settings.verify_tls, settings.ca_certificate),
        )
        _openai_clients[key] = client
        if len(_openai_clients) > _MAX_CLIENTS:
            # Only drop the wrapper; the shared httpx pool stays open.
            _openai_clients.popitem(last=False)
        return client
