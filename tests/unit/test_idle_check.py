"""httpcore's idle-connection check under gevent (`transport.idle_check`): the pool asks every idle
connection, at every request, whether the server closed it. gevent's cooperative `poll` yields to
the hub for each of those questions; the OS's zero-timeout `poll` answers the same without.

The pytest process is gevent-patched like the plugin (tests/conftest.py). Tests that install the
patch for real run in a fresh interpreter that imports `dify_plugin` first, as the plugin does.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator

import greenlet
import httpcore._backends.sync as sync
import pytest
from httpcore._utils import is_socket_readable as httpcore_check

from oai_bridge.transport import idle_check
from oai_bridge.transport.idle_check import socket_readable
from tests.support.patched import run_patched

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def switches(fn: Callable[[], object], times: int = 100) -> int:
    """Greenlet switches while `fn` runs `times` times."""
    seen: list[str] = []
    greenlet.settrace(lambda event, args: seen.append(event))
    try:
        for _ in range(times):
            fn()
    finally:
        greenlet.settrace(None)
    return len(seen)


def test_answers_like_httpcore_without_yielding_to_the_hub(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    states = {"idle": (socket_readable(a), httpcore_check(a))}
    b.send(b"x")
    states["data waiting"] = (socket_readable(a), httpcore_check(a))
    a.recv(1)
    b.close()
    states["peer closed"] = (socket_readable(a), httpcore_check(a))
    states["no socket"] = (socket_readable(None), httpcore_check(None))
    assert states == {
        "idle": (False, False),
        "data waiting": (True, True),
        "peer closed": (True, True),
        "no socket": (True, True),
    }
    assert switches(lambda: socket_readable(a)) == 0


@pytest.mark.canary
def test_httpcores_own_check_still_yields_to_the_hub(pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    assert switches(lambda: httpcore_check(a)) >= 100, "httpcore's own idle check no longer yields to gevent's hub"


def test_the_plugins_pool_calls_it_and_still_drops_connections_the_server_closed() -> None:
    """After `runtime.install_tuning`, httpcore's pool asks `socket_readable` (counted through the
    module, so a pool that stopped calling it shows as 0); a keep-alive connection the server
    closed while idle is not reused (the next request succeeds on a new one)."""
    lines = run_patched(
        """
        import time
        from tests.support.fake_server import FakeServer, Raw, Response
        from oai_bridge.adapter.base import settings_for
        from oai_bridge.runtime import install_tuning
        from oai_bridge.transport import idle_check
        from oai_bridge.transport.send import post_json

        tuning = install_tuning()
        asked = []
        real = idle_check.socket_readable
        idle_check.socket_readable = lambda sock: asked.append(sock) or real(sock)
        with FakeServer() as server:
            settings = settings_for("m", {"base_url": server.base_url, "max_retries": "0"})
            server.add(Response(200, [("content-type", "application/json")], b'{"n": 1}'))
            # Announced as keep-alive, then closed by the server while idle.
            head = b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: 8\\r\\n\\r\\n"
            server.add(Raw([head + b'{"n": 2}']))
            server.add(Response(200, [("content-type", "application/json")], b'{"n": 3}'))
            answers = []
            for _ in range(3):
                answers.append(post_json(settings, "/echo", {}))
                time.sleep(0.2)  # the server's close reaches the client
            connections = [r.connection_id for r in server.requests]
        print(tuning.missing)
        print(len(asked))
        print([a["n"] for a in answers], connections[0] == connections[1], connections[1] != connections[2])
        """
    )
    missing, asked, result = lines
    assert missing == "{}"
    assert int(asked) >= 2  # at least once per reuse of the pooled connection
    assert result == "[1, 2, 3] True True"


# -- falling back to httpcore's own check ---------------------------------------------------------
@pytest.fixture
def httpcore_with(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., bool]], None]:
    """Make `fn` httpcore's check (restored after the test)."""

    def put(fn: Callable[..., bool]) -> None:
        monkeypatch.setattr(sync, "is_socket_readable", fn)

    return put


def test_a_check_that_takes_other_arguments_is_left_alone(httpcore_with: Callable[..., None]) -> None:
    def is_socket_readable(sock: socket.socket, timeout: float) -> bool:
        return True

    httpcore_with(is_socket_readable)
    with pytest.raises(RuntimeError, match="other arguments"):
        idle_check.install()
    assert sync.is_socket_readable is is_socket_readable


def test_a_call_the_replacement_cannot_answer_goes_to_httpcores_check_which_takes_its_place_back(
    httpcore_with: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    """A future httpcore that passes its stream object (no `fileno`), or an extra argument."""
    seen: list[tuple[object, ...]] = []

    def is_socket_readable(stream: object, timeout: float = 0.0) -> bool:
        seen.append((stream, timeout))
        return False

    httpcore_with(is_socket_readable)
    idle_check.install()
    assert sync.is_socket_readable is not is_socket_readable
    stream = object()
    with caplog.at_level(logging.WARNING, logger="oai_bridge"):
        assert sync.is_socket_readable(stream) is False
    assert seen == [(stream, 0.0)]
    assert sync.is_socket_readable is is_socket_readable
    assert "httpcore's own check is used from now on" in caplog.text

    httpcore_with(is_socket_readable)
    idle_check.install()
    assert sync.is_socket_readable(None, 1.5) is False  # an argument ours does not take
    assert seen[-1] == (None, 1.5)
    assert sync.is_socket_readable is is_socket_readable


def test_any_other_failure_is_answered_by_httpcores_check(
    httpcore_with: Callable[..., None], monkeypatch: pytest.MonkeyPatch, pair: tuple[socket.socket, socket.socket]
) -> None:
    httpcore_with(httpcore_check)
    idle_check.install()

    def broken_poll() -> object:
        raise OSError("poll failed")

    monkeypatch.setattr(idle_check, "_poll", broken_poll)
    a, b = pair
    b.send(b"x")
    assert sync.is_socket_readable(a) is True
    assert sync.is_socket_readable is not httpcore_check  # a passing failure: still installed
