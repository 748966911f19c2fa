"""`transport.retry.call`: the one retry policy, with the first attempt outside tenacity. It must
behave exactly as the policy does when tenacity runs every attempt. The pauses between attempts
are recorded, not slept (`retry.sleep`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from oai_bridge.config.settings import Settings, parse_settings
from oai_bridge.errors.connection import ConnectionTrace
from oai_bridge.errors.kinds import ConnectionFailedError, ServerStatusError
from oai_bridge.transport import retry
from oai_bridge.transport.retry import call


@pytest.fixture(autouse=True)
def pauses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The seconds each pause between attempts would have slept."""
    slept: list[float] = []
    monkeypatch.setattr(retry, "sleep", slept.append)
    yield slept


def _settings(**form: str) -> Settings:
    return parse_settings("m", {"base_url": "http://127.0.0.1:9/v1", **form})


class Script:
    """Raises the scripted failures in order, then answers."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


def busy(after: str = "0") -> ServerStatusError:
    return ServerStatusError(503, {"error": "busy"}, headers={"Retry-After": after})


def test_a_first_success_is_one_call() -> None:
    fn = Script()
    assert call(_settings(), fn) == "answer"
    assert fn.calls == 1


def test_retryable_failures_are_retried_up_to_max_retries_then_raised(pauses: list[float]) -> None:
    fn = Script(ServerStatusError(503, {"error": "busy"}), busy())
    assert call(_settings(max_retries="2"), fn) == "answer"
    assert fn.calls == 3
    # Without Retry-After: exponential backoff from 0.5 s with ±25% jitter; with it, its value.
    assert len(pauses) == 2 and 0.375 <= pauses[0] <= 0.625 and pauses[1] == 0

    fn = Script(busy(), busy(), busy())
    with pytest.raises(ServerStatusError) as raised:
        call(_settings(max_retries="2"), fn)
    assert raised.value.status == 503 and fn.calls == 3


def test_the_first_failures_retry_after_is_honoured(pauses: list[float]) -> None:
    fn = Script(busy("0.3"))
    assert call(_settings(max_retries="1"), fn) == "answer"
    assert pauses == [0.3]


def test_not_retried_when_the_failure_is_final_or_retries_are_off() -> None:
    for settings, failure in (
        (_settings(max_retries="3"), ServerStatusError(400, {"error": "bad"})),
        (_settings(max_retries="0"), busy()),
    ):
        fn = Script(failure)
        with pytest.raises(ServerStatusError):
            call(settings, fn)
        assert fn.calls == 1
    fn = Script(busy())
    with pytest.raises(ServerStatusError):
        call(_settings(max_retries="3"), fn, retryable=lambda exc: False)
    assert fn.calls == 1


def test_a_wait_past_the_timeout_budget_gives_up_with_the_servers_error(pauses: list[float]) -> None:
    """The budget counts from the first attempt: a Retry-After beyond `timeout` is not slept."""
    fn = Script(busy("20"))
    with pytest.raises(ServerStatusError) as raised:
        call(_settings(max_retries="3", timeout="5"), fn)
    assert raised.value.status == 503
    assert fn.calls == 1 and pauses == []


def _no_answer(*, reused: bool, answered: bool = False) -> ConnectionFailedError:
    """What `transport.send` raises when a sent request broke, on a connection the request reused
    or opened, before or after the response's head (as httpcore's trace told it)."""
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    trace = ConnectionTrace()
    if not reused:
        trace("connection.connect_tcp.started", {})
    trace("http11.send_request_headers.started", {"request": None})
    if answered:
        trace("http11.receive_response_headers.complete", {})
    request.extensions["trace"] = trace
    cause = httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
    error = ConnectionFailedError(str(cause))
    error.__cause__ = cause
    return error


def test_a_stale_reused_connection_is_resent_at_once_and_not_counted(pauses: list[float]) -> None:
    fn = Script(_no_answer(reused=True), _no_answer(reused=True))
    assert call(_settings(max_retries="0"), fn) == "answer"
    assert fn.calls == 3 and pauses == []
    # The resends do not use up the policy's retries: one retry is still there for a real failure.
    fn = Script(_no_answer(reused=True), _no_answer(reused=False))
    assert call(_settings(max_retries="1"), fn) == "answer"
    assert fn.calls == 3 and len(pauses) == 1


def test_resends_are_bounded_per_call_and_only_for_a_reused_connection() -> None:
    fn = Script(*(_no_answer(reused=True) for _ in range(retry.MAX_RESENDS + 1)))
    with pytest.raises(ConnectionFailedError):
        call(_settings(max_retries="0"), fn)
    assert fn.calls == retry.MAX_RESENDS + 1

    for failure in (_no_answer(reused=False), _no_answer(reused=True, answered=True)):
        fn = Script(failure)
        with pytest.raises(ConnectionFailedError):
            call(_settings(max_retries="0"), fn)
        assert fn.calls == 1
