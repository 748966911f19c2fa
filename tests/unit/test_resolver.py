"""`transport.resolver.QuickResolver`: new connections do not wait on gevent's thread pool for
`getaddrinfo`. Run in a fresh interpreter that imports `dify_plugin` first, as the plugin does."""

from __future__ import annotations

import pytest

from tests.support.patched import run_patched

pytestmark = pytest.mark.timeout(60)


def test_ip_literals_answer_at_once_while_the_hub_is_busy_and_names_are_remembered() -> None:
    lines = run_patched(
        """
        import _socket, socket, time, gevent
        from oai_bridge.transport import resolver

        def busy():  # a loaded plugin: the hub always has work
            while True:
                started = time.perf_counter()
                while time.perf_counter() - started < 0.002:
                    pass
                gevent.sleep(0)

        def slowest(host):
            times = []
            for _ in range(5):
                started = time.perf_counter()
                socket.getaddrinfo(host, 8000, 0, socket.SOCK_STREAM)
                times.append(time.perf_counter() - started)
            return max(times)

        spinner = gevent.spawn(busy)
        gevent.sleep(0.05)
        before = slowest("127.0.0.1")
        print(resolver.install(), resolver.install())
        hub = gevent.get_hub()
        asked = []
        inner = hub.resolver.inner
        class Counting:
            def getaddrinfo(self, *args):
                asked.append(args[0])
                return inner.getaddrinfo(*args)
        hub.resolver.inner = Counting()
        after = slowest("127.0.0.1"), slowest("::1")
        same = socket.getaddrinfo("127.0.0.1", 8000, 0, socket.SOCK_STREAM) == _socket.getaddrinfo(
            "127.0.0.1", 8000, 0, socket.SOCK_STREAM
        )
        names = [socket.getaddrinfo("localhost", 8000, 0, socket.SOCK_STREAM) for _ in range(3)]
        spinner.kill()
        print(f"{before:.4f} {max(after):.4f}")
        print(same, asked, all(n == names[0] for n in names))
        """
    )
    installed, times, answers = lines
    assert installed == "True True"
    before, after = map(float, times.split())
    # Measured here: ~0.1 s before, ~0.00002 s after.
    assert before > 0.04, "gevent's thread resolver no longer waits on a busy hub: this module may be unnecessary"
    assert after < 0.01
    assert answers == "True ['localhost'] True"  # literals never reach gevent's resolver; a name once


def test_a_name_is_asked_again_after_its_time_to_live() -> None:
    from oai_bridge.transport.resolver import QuickResolver

    now = [0.0]

    class Inner:
        asked = 0

        def getaddrinfo(self, host: str, port: int, *rest: int) -> list[str]:
            self.asked += 1
            return [f"{host}:{port}#{self.asked}"]

        def gethostbyname(self, host: str) -> str:
            return "198.51.100.7"

    inner = Inner()
    quick = QuickResolver(inner, ttl=10, clock=lambda: now[0])
    assert quick.getaddrinfo("vllm", 8000) == ["vllm:8000#1"]
    now[0] = 9.9
    assert quick.getaddrinfo("vllm", 8000) == ["vllm:8000#1"]
    assert quick.getaddrinfo("vllm", 8001) == ["vllm:8001#2"]  # another port is another question
    now[0] = 10.1
    assert quick.getaddrinfo("vllm", 8000) == ["vllm:8000#3"]
    assert quick.gethostbyname("vllm") == "198.51.100.7"  # the rest is the inner resolver's
