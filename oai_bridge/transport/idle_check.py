"""A cheap "has the server closed this idle connection?" check for httpcore under gevent.

Whenever a request enters or leaves httpcore's connection pool, the pool asks every idle
connection whether its socket is readable (a server that closed it). httpcore asks with a
zero-timeout `select.poll()`; in a gevent-patched process (every Dify plugin) that is gevent's
cooperative `poll`, which starts watchers and yields to the hub for each connection. With a warm
pool of ~100 idle connections, 120 streams that start together waited 1.1 s (median) for their
response headers instead of 0.04 s (`bench` section 9, measured with the raw client on this
machine), and the plugin fell far behind the tokens it was offered.

A zero-timeout poll never blocks, so the operating system's own `poll` is the right tool even
under gevent: `install()` makes httpcore's sync network streams use it. Without gevent's patch,
or with an httpcore that has moved the check, nothing is changed.
"""

from __future__ import annotations

import logging
import select
import socket
from collections.abc import Callable
from typing import Any

__all__ = ["install", "socket_readable"]

logger = logging.getLogger(__name__)


def _os_poll() -> Callable[[], Any] | None:
    """The OS's `select.poll` when gevent has replaced it, else None."""
    try:
        from gevent import monkey
    except ImportError:
        return None
    if not monkey.is_module_patched("select"):
        return None
    return monkey.get_original("select", "poll")


# Captured before or after gevent's patch, this is the OS's own poll.
_poll: Callable[[], Any] = _os_poll() or select.poll


def socket_readable(sock: socket.socket | None) -> bool:
    """httpcore's `is_socket_readable` contract (a missing socket counts as readable: its next
    read returns the end), answered by one non-blocking OS `poll`."""
    fd = None if sock is None else sock.fileno()
    if fd is None or fd < 0:
        return True
    poller = _poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def install() -> bool:
    """Use `socket_readable` for httpcore's idle checks when gevent has patched `select`.
    True when installed."""
    if _os_poll() is None:
        return False
    try:
        from httpcore._backends import sync
    except ImportError:
        return False
    if not callable(getattr(sync, "is_socket_readable", None)):
        logger.debug("httpcore has no sync.is_socket_readable; its idle checks stay as they are")
        return False
    sync.is_socket_readable = socket_readable
    return True
