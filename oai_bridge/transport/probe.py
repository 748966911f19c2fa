"""After a connection failure that may be a scheme mix-up, a quick look at what the port speaks.

`https://` to a plain-HTTP port fails in the TLS handshake ("wrong version number") or waits for a
handshake answer that never comes (a connect timeout); `http://` to a TLS port ends with the
connection closed or reset before any response. One small GET in the other scheme tells which:
any HTTP answer at all, whatever its status, means the port speaks it. It runs once, after the
call has failed (no timeout of the call is shortened), bounded by `PROBE_TIMEOUT`, without the
user's key or headers, and without verifying a certificate (it only asks whether TLS is spoken).
It goes straight to the port, never through a proxy from the environment: a proxy answers any
plain-HTTP request itself (a 502 for a port it cannot reach), which would read as the port's own.
"""

from __future__ import annotations

import logging

import httpx

from oai_bridge.config.urls import display_url
from oai_bridge.errors.connection import Failure, failure_of
from oai_bridge.errors.kinds import WrongSchemeError

__all__ = ["PROBE_TIMEOUT", "wrong_scheme"]

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The failures each scheme's mix-up ends in, and the scheme to try instead.
_SUSPECT = {
    "https": (frozenset({Failure.TLS, Failure.CONNECT_TIMEOUT}), "http"),
    "http": (frozenset({Failure.NO_RESPONSE}), "https"),
}


def _answers(url: httpx.URL) -> bool:
    try:
        with httpx.Client(verify=False, trust_env=False, timeout=PROBE_TIMEOUT, follow_redirects=False) as client:
            client.get(url)
    except httpx.HTTPError:
        return False
    return True


def wrong_scheme(base_url: str, exc: BaseException) -> WrongSchemeError | None:
    """A `WrongSchemeError` when `exc` (a failed call to `base_url`) looks like a scheme mix-up and
    the port answers in the other scheme; None otherwise."""
    base_url = base_url.strip()
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        return None
    suspect = _SUSPECT.get(url.scheme)
    if suspect is None or failure_of(exc) not in suspect[0]:
        return None
    other = suspect[1]
    port = url.port or _DEFAULT_PORTS[url.scheme]
    if not _answers(httpx.URL(scheme=other, host=url.host, port=port, path="/")):
        return None
    logger.info("%s answers %s on port %d", display_url(base_url), other, port)
    return WrongSchemeError(base_url, other, str(exc))
