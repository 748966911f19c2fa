"""A cheap "has the server closed this idle connection?" check for httpcore under gevent.

Whenever a request enters or leaves httpcore's connection pool, the pool asks every idle
connection whether its socket is readable (a server that closed it). httpcore asks with a
zero-timeout `select.poll()`; in a gevent-patched process (every Dify plugin) that is gevent's
cooperative `poll`, which starts watchers and yields to the hub for each connection. With a warm
pool of ~100 idle connections, 120 streams that start together waited 1.1 s (median) for their
response headers instead of 0.04 s (`bench` section 9, measured with the raw client on this
machine), and the plugin fell far behind the tokens it was offered.

A zero-timeout poll never blocks, so the operating system's own `poll` is the right tool even
under gevent: `install()` (from `runtime.install_tuning`) makes httpcore's sync network streams
use it. Without gevent's patch, or with an httpcore that has moved the check or changed its
arguments, nothing is changed; if a call through it fails anyway, httpcore's own check answers and
is put back.
"""

from __future__ import annotations

import inspect
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


def _guarded(original: Callable[..., bool]) -> Callable[..., bool]:
    """`socket_readable` in httpcore's place. On any failure httpcore's own function answers that
    call; when the failure says httpcore now passes something else (other arguments, another
    type), it takes its place back for good."""

    def is_socket_readable(*args: Any, **kwargs: Any) -> bool:
        try:
            return socket_readable(*args, **kwargs)
        except (TypeError, AttributeError):
            _restore(original)
            return original(*args, **kwargs)
        except Exception:  # noqa: BLE001 - any other failure: the library's own answer
            return original(*args, **kwargs)

    is_socket_readable.original = original  # type: ignore[attr-defined]  # for _restore and the tests
    return is_socket_readable


def _restore(original: Callable[..., bool]) -> None:
    from httpcore._backends import sync

    if getattr(sync.is_socket_readable, "original", None) is original:
        sync.is_socket_readable = original
        logger.warning(
            "httpcore's idle-connection check no longer takes what the plugin's replacement expects; "
            "httpcore's own check is used from now on"
        )


def install() -> None:
    """Answer httpcore's idle checks with `socket_readable` (once). Raises `RuntimeError` saying
    why when it cannot (gevent has not patched `select`, or httpcore moved or changed the check);
    httpcore's own check then stays."""
    if _os_poll() is None:
        raise RuntimeError("gevent has not patched select: httpcore's check does not yield")
    from httpcore._backends import sync

    current = getattr(sync, "is_socket_readable", None)
    if getattr(current, "original", None) is not None:
        return  # installed already
    if not callable(current):
        raise RuntimeError("httpcore._backends.sync has no is_socket_readable")
    try:
        inspect.signature(current).bind(None)
    except (TypeError, ValueError) as exc:
        raise RuntimeError(f"httpcore's is_socket_readable takes other arguments now: {exc}") from exc
    sync.is_socket_readable = _guarded(current)
