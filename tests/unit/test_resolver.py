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
