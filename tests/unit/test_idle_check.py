"""httpcore's idle-connection check under gevent (`transport.idle_check`): the pool asks every idle
connection, at every request, whether the server closed it. gevent's cooperative `poll` yields to
the hub for each of those questions; the OS's zero-timeout `poll` answers the same in ~1 µs.

Run in a fresh interpreter that imports `dify_plugin` first, as the plugin does (gevent-patched).
"""

from __future__ import annotations

import pytest

from tests.support.patched import run_patched

pytestmark = pytest.mark.timeout(60)


def test_answers_like_httpcore_without_yielding_to_the_hub() -> None:
    lines = run_patched(
        """
        import socket, greenlet
        from httpcore._utils import is_socket_readable as httpcore_check
        from oai_bridge.transport.idle_check import socket_readable

        a, b = socket.socketpair()
        states = {}
        states["idle"] = (socket_readable(a), httpcore_check(a))
        b.send(b"x")
        states["data waiting"] = (socket_readable(a), httpcore_check(a))
        a.recv(1)
        b.close()
        states["peer closed"] = (socket_readable(a), httpcore_check(a))
        states["no socket"] = (socket_readable(None), httpcore_check(None))

        switches = []
        greenlet.settrace(lambda event, args: switches.append(event))
        for _ in range(100):
            httpcore_check(a)
        gevent_switches = len(switches)
        switches.clear()
        for _ in range(100):
            socket_readable(a)
        greenlet.settrace(None)
        print(states)
        print(gevent_switches, len(switches))
        """
    )
    states, counts = lines
    assert states == str(
        {
            "idle": (False, False),
            "data waiting": (True, True),
            "peer closed": (True, True),
            "no socket": (True, True),
        }
    )
    gevent_switches, ours = map(int, counts.split())
    assert gevent_switches >= 100, "httpcore's own check no longer yields: this module may be unnecessary"
    assert ours == 0


def test_the_plugins_pool_uses_it_and_still_drops_connections_the_server_closed() -> None:
    """After the first pooled client is made, httpcore's streams ask `socket_readable`; a keep-alive
    connection the server closed while idle is not reused (the next request succeeds on a new one)."""
    lines = run_patched(
        """
        import time
        import httpcore._backends.sync as sync
        from tests.support.fake_server import FakeServer, Raw, Response
        from oai_bridge.adapter.base import settings_for
        from oai_bridge.transport import idle_check
        from oai_bridge.transport.send import post_json

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
        print(sync.is_socket_readable is idle_check.socket_readable)
        print([a["n"] for a in answers], connections[0] == connections[1], connections[1] != connections[2])
        """
    )
    installed, result = lines
    assert installed == "True"
    assert result == "[1, 2, 3] True True"
