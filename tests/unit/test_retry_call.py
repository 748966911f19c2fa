"""`transport.retry.call`: the one retry policy, with the first attempt outside tenacity. It must
behave exactly as the policy does when tenacity runs every attempt."""

from __future__ import annotations

import time

import pytest

from oai_bridge.config.settings import Settings, parse_settings
from oai_bridge.errors.kinds import HTTPStatusError
from oai_bridge.transport.retry import call


def _settings(**form: str) -> Settings:
    return parse_settings("m", {"base_url": "http://127.0.0.1:9/v1", **form})


class Script:
    """Raises the scripted failures in order, then answers."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls: list[float] = []

    def __call__(self) -> str:
        self.calls.append(time.monotonic())
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


def busy(after: str = "0") -> HTTPStatusError:
    return HTTPStatusError(503, {"error": "busy"}, headers={"Retry-After": after})


def test_a_first_success_is_one_call() -> None:
    fn = Script()
    assert call(_settings(), fn) == "answer"
    assert len(fn.calls) == 1


def test_retryable_failures_are_retried_up_to_max_retries_then_raised() -> None:
    fn = Script(busy(), busy())
    assert call(_settings(max_retries="2"), fn) == "answer"
    assert len(fn.calls) == 3

    fn = Script(busy(), busy(), busy())
    with pytest.raises(HTTPStatusError) as raised:
        call(_settings(max_retries="2"), fn)
    assert raised.value.status == 503 and len(fn.calls) == 3


def test_the_first_failures_retry_after_is_honoured() -> None:
    fn = Script(busy("0.3"))
    assert call(_settings(max_retries="1"), fn) == "answer"
    assert fn.calls[1] - fn.calls[0] >= 0.29


def test_not_retried_when_the_failure_is_final_or_retries_are_off() -> None:
    for settings, failure in (
        (_settings(max_retries="3"), HTTPStatusError(400, {"error": "bad"})),
        (_settings(max_retries="0"), busy()),
    ):
        fn = Script(failure)
        with pytest.raises(HTTPStatusError):
            call(settings, fn)
        assert len(fn.calls) == 1
    fn = Script(busy())
    with pytest.raises(HTTPStatusError):
        call(_settings(max_retries="3"), fn, retryable=lambda exc: False)
    assert len(fn.calls) == 1


def test_a_wait_past_the_timeout_budget_gives_up_with_the_servers_error() -> None:
    """The budget counts from the first attempt: a Retry-After beyond `timeout` is not slept."""
    fn = Script(busy("20"))
    started = time.monotonic()
    with pytest.raises(HTTPStatusError) as raised:
        call(_settings(max_retries="3", timeout="5"), fn)
    assert raised.value.status == 503
    assert len(fn.calls) == 1 and time.monotonic() - started < 1
