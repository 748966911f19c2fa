"""`singleflight.SingleFlight`: concurrent callers of one key share one call. The pytest process is
gevent-patched like the plugin (tests/conftest.py), so the callers here are greenlets, as the
SDK's request workers are."""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event

from oai_bridge.singleflight import SingleFlight

pytestmark = pytest.mark.timeout(60)


def test_waiters_get_the_leaders_answer_or_its_error_from_one_call() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    release = Event()
    calls: list[str] = []

    def work() -> str:
        calls.append("work")
        release.wait()
        if len(calls) == 1:
            raise LookupError("no such name")
        return "answer"

    failed = [gevent.spawn(flights.run, "k", work) for _ in range(4)]
    gevent.idle()
    release.set()
    gevent.joinall(failed, timeout=10)
    assert all(isinstance(g.exception, LookupError) for g in failed) and calls == ["work"]
    assert flights.run("k", work) == "answer"  # nothing remembered: the next caller asks again


def test_an_interrupted_leader_leaves_its_waiters_a_new_flight_not_its_interruption() -> None:
    """A leader killed (GreenletExit) or timed out (a `gevent.Timeout` of its own) has no answer:
    its waiters used to raise its GreenletExit, which ends a greenlet as if it had succeeded."""
    flights: SingleFlight[str, str] = SingleFlight()
    stuck, release = Event(), Event()
    calls: list[str] = []

    def work() -> str:
        calls.append("work")
        (stuck if len(calls) == 1 else release).wait()  # the first leader never answers
        return "answer"

    leader = gevent.spawn(flights.run, "k", work)
    gevent.idle()
    waiters = [gevent.spawn(flights.run, "k", work) for _ in range(3)]
    gevent.idle()
    leader.kill()
    gevent.idle()  # the waiters ask again: one leads, the others wait for it
    release.set()
    gevent.joinall(waiters, timeout=10)
    assert [(g.ready(), g.exception, g.value) for g in waiters] == [(True, None, "answer")] * 3
    assert calls == ["work", "work"]  # one new flight for all the waiters
