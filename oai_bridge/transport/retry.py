"""The one retry policy, for every model type and every request.

Retried: connection failures (not a stall: `timeout` is the user's bound for that, and retrying
would multiply it past the daemon's execution limit; not an untrusted certificate or a host name
that does not exist, which fail the same way every time), 429 (honouring Retry-After in seconds,
milliseconds or its HTTP-date form) and 502/503/504; at most `max_retries` times, and never
sleeping past the call's `timeout` budget. Streams are retried only before Dify has seen any
output (the caller decides that with `retryable`). A connection failure that outlives the policy
gets one quick probe (`transport.probe`): an https:// URL on a plain-HTTP port, or the reverse,
is named as such.

Apart from the policy: a request that broke before any answer on a pooled connection it reused (a
keep-alive connection the server was closing, `transport.reuse`) is sent again at once on a new
one, up to `MAX_RESENDS` times per call, with no pause and not counted against `max_retries`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState, Retrying

from oai_bridge.config.settings import Settings
from oai_bridge.errors.connection import Failure, failure_of
from oai_bridge.errors.kinds import (
    ConnectionDroppedError,
    ConnectionFailedError,
    ReportedError,
    ServerStatusError,
    StreamIncompleteError,
    causes,
)
from oai_bridge.transport.probe import wrong_scheme
from oai_bridge.transport.reuse import stale_reuse

__all__ = ["MAX_RESENDS", "MAX_RETRY_AFTER", "call", "is_stall", "retry_after", "sleep"]

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER = 30.0
MAX_RESENDS = 2
"""Stale reused connections resent per call: more in a row means the server is not just closing
idle connections, and the policy (or the error) takes over."""
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_PERMANENT = frozenset({Failure.UNTRUSTED_CERTIFICATE, Failure.NO_SUCH_NAME})

sleep: Callable[[float], None] = time.sleep
"""The pause between attempts (looked up at each pause: tests record the waits instead)."""


def is_stall(exc: BaseException) -> bool:
    """True for a read/write/pool timeout anywhere in the cause chain (not a connect timeout)."""
    return any(
        isinstance(cause, httpx.TimeoutException) and not isinstance(cause, httpx.ConnectTimeout)
        for cause in causes(exc)
    )


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ServerStatusError):
        return exc.status in _RETRY_STATUSES
    if isinstance(exc, ReportedError):  # the same statuses, or a rate limit or fault named by its code
        return exc.status in _RETRY_STATUSES or exc.fault in ("rate", "server")
    if isinstance(exc, ConnectionFailedError | ConnectionDroppedError | StreamIncompleteError):
        return not is_stall(exc) and failure_of(exc) not in _PERMANENT
    return False


def retry_after(exc: BaseException | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds the server asked to wait (`retry-after-ms`, `retry-after` seconds or HTTP-date)."""
    if not isinstance(exc, ServerStatusError):
        return None
    headers = {name.lower(): value for name, value in exc.headers.items()}
    raw = headers.get("retry-after-ms")
    if raw:
        try:
            return float(raw) / 1000
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)  # RFC 9110 HTTP-date: "Wed, 21 Oct 2026 07:28:00 GMT"
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now()).total_seconds())


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    after = retry_after(exc)
    if after is not None:
        return min(after, MAX_RETRY_AFTER)
    # Exponential backoff with jitter: 0.5, 1, 2, … s, capped at 8 s.
    return min(0.5 * 2 ** (state.attempt_number - 1), 8.0) * (0.75 + random.random() / 2)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    reason = f"HTTP {exc.status}" if isinstance(exc, ServerStatusError) else type(exc).__name__
    delay = state.next_action.sleep if state.next_action else 0.0
    logger.warning("request failed (%s), retry %d in %.1f s", reason, state.attempt_number, delay)


def _always(exc: BaseException) -> bool:
    return True


def _retrying(
    settings: Settings, retryable: Callable[[BaseException], bool] = _always, *, started: float | None = None
) -> Retrying:
    """A fresh retry loop for one logical call. `retryable` narrows it further (a stream that has
    already produced output must not be retried); `started` is when the call began (monotonic),
    for the `timeout` budget, if before now."""
    deadline = (time.monotonic() if started is None else started) + settings.timeout

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number > settings.max_retries:
            return True
        # A wait longer than the time left would only end in a timeout: give up now, with the
        # server's own error, instead.
        return time.monotonic() + (state.upcoming_sleep or 0.0) > deadline

    return Retrying(
        stop=stop,
        retry=lambda state: bool(
            state.outcome
            and state.outcome.failed
            and (exc := state.outcome.exception()) is not None
            and _is_retryable(exc)
            and retryable(exc)
        ),
        wait=_wait,
        before_sleep=_log_retry,
        sleep=lambda seconds: sleep(seconds),
        reraise=True,
    )


def call[T](settings: Settings, fn: Callable[[], T], retryable: Callable[[BaseException], bool] = _always) -> T:
    """`fn()` under the retry policy, as `_retrying(settings, retryable)(fn)` would run it; a
    connection failure it gives up on is probed for a scheme mix-up."""
    try:
        return _call(settings, fn, retryable)
    except ConnectionFailedError as exc:
        mixed = wrong_scheme(settings.base_url, exc)
        if mixed is None:
            raise
        raise mixed from exc


def _resending[T](fn: Callable[[], T]) -> Callable[[], T]:
    """`fn`, sent again at once when it met a stale reused connection, at most MAX_RESENDS times
    over all of one call's attempts. Safe: the server answered nothing, so nothing was produced."""
    resends = [MAX_RESENDS]

    def attempt() -> T:
        while True:
            try:
                return fn()
            except ConnectionFailedError as exc:
                if resends[0] < 1 or not stale_reuse(exc):
                    raise
                resends[0] -= 1
                logger.info("a reused connection was closed before any answer; sending again on a new one")

    return attempt


def _call[T](settings: Settings, fn: Callable[[], T], retryable: Callable[[BaseException], bool]) -> T:
    """The policy's machinery (tenacity's per-call state) is only built once an attempt has failed
    in a retryable way: a call that succeeds at once, nearly every one, costs nothing extra."""
    started = time.monotonic()
    fn = _resending(fn)
    try:
        return fn()
    except Exception as exc:  # judged here: re-raised unless the policy retries it
        if settings.max_retries < 1 or not (_is_retryable(exc) and retryable(exc)):
            raise
        failed: list[BaseException] = [exc]

    def attempt() -> T:
        if failed:  # the policy's first attempt is the one that has just failed
            raise failed.pop()
        return fn()

    return _retrying(settings, retryable, started=started)(attempt)
