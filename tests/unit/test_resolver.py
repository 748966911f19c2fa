"""`transport.resolver.QuickResolver`: new connections do not wait on gevent's thread pool for
`getaddrinfo`. The pytest process is gevent-patched like the plugin (tests/conftest.py)."""

from __future__ import annotations

import _socket
import socket
from collections.abc import Callable

import gevent
import greenlet
import pytest
from gevent.event import Event

from oai_bridge.transport import resolver
from oai_bridge.transport.resolver import QuickResolver

pytestmark = pytest.mark.timeout(60)


def gevents_resolver() -> object:
    hub_resolver = gevent.get_hub().resolver
    return hub_resolver.inner if isinstance(hub_resolver, QuickResolver) else hub_resolver


def switches(fn: Callable[[], object]) -> int:
    """Greenlet switches while `fn` runs: each one is a wait for the hub (a whole pass over its
    work in a busy plugin: ~100 ms for a thread-pool lookup, measured)."""
    seen: list[str] = []
    greenlet.settrace(lambda event, args: seen.append(event))
    try:
        fn()
    finally:
        greenlet.settrace(None)
    return len(seen)


class Counting:
    """An inner resolver that counts lookups; `release` (when given) holds each until it is set."""

    def __init__(self, release: Event | None = None, error: BaseException | None = None) -> None:
        self.asked: list[str] = []
        self.release = release
        self.error = error

    def getaddrinfo(self, host: str, port: int, *rest: int) -> list[str]:
        self.asked.append(host)
        if self.release is not None:
            self.release.wait()
        if self.error is not None:
            raise self.error
        return [f"{host}:{port}#{len(self.asked)}"]

    def gethostbyname(self, host: str) -> str:
        return "198.51.100.7"


def test_ip_literals_are_answered_in_place_like_the_os_does() -> None:
    quick = QuickResolver(Counting())
    for host in ("127.0.0.1", "::1", "fe80::1%lo"):
        assert quick.getaddrinfo(host, 8000, 0, socket.SOCK_STREAM) == _socket.getaddrinfo(
            host, 8000, 0, socket.SOCK_STREAM
        )
        assert switches(lambda h=host: quick.getaddrinfo(h, 8000, 0, socket.SOCK_STREAM)) == 0
    assert quick.inner.asked == []


@pytest.mark.canary
def test_gevents_own_resolver_still_waits_for_the_hub_on_an_ip_literal() -> None:
    own = gevents_resolver()
    assert switches(lambda: own.getaddrinfo("127.0.0.1", 8000, 0, socket.SOCK_STREAM)) > 0, (
        "gevent's resolver answers an IP literal without yielding now"
    )


def test_a_literal_the_os_refuses_in_place_goes_to_gevents_resolver() -> None:
    inner = Counting()
    quick = QuickResolver(inner)
    assert quick.getaddrinfo("127.0.0.1", "no-such-service", 0, socket.SOCK_STREAM) == ["127.0.0.1:no-such-service#1"]


def test_install_puts_one_quick_resolver_in_front_of_gevents(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = gevent.get_hub()
    monkeypatch.setattr(hub, "resolver", gevents_resolver())
    resolver.install()
    resolver.install()
    assert isinstance(hub.resolver, QuickResolver)
    assert not isinstance(hub.resolver.inner, QuickResolver)
    assert socket.getaddrinfo("127.0.0.1", 80, 0, socket.SOCK_STREAM) == _socket.getaddrinfo(
        "127.0.0.1", 80, 0, socket.SOCK_STREAM
    )


def test_a_name_is_asked_once_and_again_after_its_time_to_live() -> None:
    now = [0.0]
    inner = Counting()
    quick = QuickResolver(inner, ttl=10, clock=lambda: now[0])
    assert quick.getaddrinfo("vllm", 8000) == ["vllm:8000#1"]
    now[0] = 9.9
    assert quick.getaddrinfo("vllm", 8000) == ["vllm:8000#1"]
    assert quick.getaddrinfo("vllm", 8001) == ["vllm:8001#2"]  # another port is another question
    now[0] = 10.1
    assert quick.getaddrinfo("vllm", 8000) == ["vllm:8000#3"]
    assert quick.gethostbyname("vllm") == "198.51.100.7"  # the rest is the inner resolver's


def test_a_burst_of_first_connections_to_a_name_makes_one_lookup() -> None:
    release = Event()
    inner = Counting(release)
    quick = QuickResolver(inner)
    burst = [gevent.spawn(quick.getaddrinfo, "vllm", 8000) for _ in range(20)]
    gevent.idle()  # every connection has asked and waits
    release.set()
    gevent.joinall(burst, raise_error=True)
    assert inner.asked == ["vllm"]
    assert {tuple(g.value) for g in burst} == {("vllm:8000#1",)}


def test_a_failed_lookup_reaches_every_waiter_and_is_not_remembered() -> None:
    release = Event()
    inner = Counting(release, error=socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    quick = QuickResolver(inner)
    burst = [gevent.spawn(quick.getaddrinfo, "nowhere", 8000) for _ in range(5)]
    gevent.idle()
    release.set()
    gevent.joinall(burst)
    assert all(isinstance(g.exception, socket.gaierror) for g in burst)
    assert inner.asked == ["nowhere"]
    inner.error = None
    assert quick.getaddrinfo("nowhere", 8000) == ["nowhere:8000#2"]


class Recording(Counting):
    """A `Counting` resolver that also takes the calls of another shape, and records each call."""

    def __init__(self, error: BaseException | None = None) -> None:
        super().__init__(error=error)
        self.calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def getaddrinfo(self, *args: object, **kwargs: object) -> list[str]:  # type: ignore[override]
        self.calls.append((args, kwargs))
        return super().getaddrinfo(str(args[0]), 0)


def test_a_call_of_another_shape_goes_to_gevents_resolver_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = Recording()
    quick = QuickResolver(inner)
    with caplog.at_level("WARNING", logger=resolver.__name__):
        assert quick.getaddrinfo("vllm", 8000, 0, 0, 0, 0, "extra") == ["vllm:0#1"]
        assert quick.getaddrinfo("vllm", 8000, timeout=3) == ["vllm:0#2"]
        assert quick.getaddrinfo("vllm") == ["vllm:0#3"]
    assert inner.calls == [
        (("vllm", 8000, 0, 0, 0, 0, "extra"), {}),
        (("vllm", 8000), {"timeout": 3}),
        (("vllm",), {}),
    ]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    # The known shape, keywords included, is still answered (and remembered) here.
    assert quick.getaddrinfo(host="db", port=5432, type=socket.SOCK_STREAM) == ["db:0#4"]
    assert quick.getaddrinfo("db", 5432, 0, socket.SOCK_STREAM) == ["db:0#4"]
    assert quick.getaddrinfo("db", port=5432, socktype=socket.SOCK_STREAM) == ["db:0#4"]
    assert inner.calls[-1] == (("db", 5432, 0, socket.SOCK_STREAM, 0, 0), {})


def test_a_failure_of_its_own_goes_to_gevents_resolver_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    def broken_clock() -> float:
        raise RuntimeError("clock broke")

    inner = Recording()
    quick = QuickResolver(inner, clock=broken_clock)
    with caplog.at_level("WARNING", logger=resolver.__name__):
        assert quick.getaddrinfo("vllm", [8000]) == ["vllm:0#1"]  # an unhashable port: no cache key
        assert inner.calls == [(("vllm", [8000]), {})]
        # The lookup succeeds, remembering its answer fails: gevent's resolver is asked as called.
        assert quick.getaddrinfo("db", 5432) == ["db:0#3"]
    assert inner.calls[1:] == [(("db", 5432, 0, 0, 0, 0), {}), (("db", 5432), {})]
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_a_failed_lookup_is_the_answer_not_a_failure_of_its_own(caplog: pytest.LogCaptureFixture) -> None:
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    inner = Recording(error=error)
    quick = QuickResolver(inner)
    with caplog.at_level("WARNING", logger=resolver.__name__), pytest.raises(socket.gaierror) as raised:
        quick.getaddrinfo("nowhere", 8000)
    assert raised.value is error
    assert len(inner.calls) == 1  # not asked a second time
    assert caplog.records == []
