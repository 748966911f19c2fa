"""Letting go of a streamed answer's connection once the answer is complete.

The reader of a stream decides that its answer is over (`[DONE]`, a finish reason with its usage,
a Responses-API end event: see `chat.pipeline.EventReader`) and stops reading the answer. What the
body still holds (the chunked terminator, a trailing `[DONE]`) is read by `release` for at most
DRAIN_SECONDS by the wall clock, so the connection goes back to the pool; a server or proxy that
keeps the body open longer gets its connection closed instead, never the model's whole timeout.

The bound cannot be a read timeout: httpcore reads the request's `timeout` once, when the body
starts, so changing it afterwards does nothing. Instead a wall-clock deadline interrupts a read
that is still blocked when it expires: under gevent (every plugin process) a `gevent.Timeout`
in the reading greenlet; without gevent's patch, a timer that shuts the socket down, which ends
the blocked read with an error.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from oai_bridge.errors.kinds import ConnectionDroppedError, ConnectionFailedError

__all__ = ["DRAIN_LIMIT", "DRAIN_SECONDS", "release"]

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 1.0
DRAIN_LIMIT = 100  # reads: a server that streams on after the end is not worth the connection


class _Expired(Exception):
    """The drain's deadline passed while a read was blocked."""


def _gevent_timeout() -> Any:
    """gevent's `Timeout` class when gevent has patched `socket` (reads then wait in the hub,
    where a Timeout can interrupt them), else None. Asked per drain: the patch may come after
    this module is imported, never without gevent having been imported first."""
    if "gevent" not in sys.modules:
        return None
    from gevent import Timeout, monkey

    return Timeout if monkey.is_module_patched("socket") else None


def _shut_down(response: httpx.Response) -> None:
    """End a read blocked on `response`'s connection: shut its socket down, through a duplicate
    of its descriptor (the stream's own socket object, TLS state included, is left alone)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket):
        logger.debug("no socket to shut down; the drain ends with the server")
        return
    try:
        with socket.fromfd(sock.fileno(), sock.family, sock.type) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the read has ended anyway


@contextmanager
def _deadline(response: httpx.Response, seconds: float) -> Iterator[None]:
    """Raise `_Expired` (or end the blocked read with an error) once `seconds` have passed."""
    gevent_timeout = _gevent_timeout()
    if gevent_timeout is not None:
        timeout = gevent_timeout(seconds, _Expired)
        timeout.start()
        try:
            yield
        finally:
            timeout.close()
        return
    lock = threading.Lock()
    done: list[bool] = []

    def expire() -> None:
        with lock:
            if not done:
                _shut_down(response)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            done.append(True)
        timer.cancel()


def release(response: httpx.Response, rest: Iterator[object], *, seconds: float = DRAIN_SECONDS) -> None:
    """Finish a stream whose answer is complete: read what is left from `rest` (the iterator the
    body was being read through) for at most `seconds`, then close the response. A body that
    ended in time leaves its connection in the pool; otherwise the connection is closed."""
    try:
        with _deadline(response, seconds):
            for count, _ in enumerate(rest):
                if count >= DRAIN_LIMIT:
                    break
    except _Expired:
        logger.debug("the server kept the body open %.1f s after the answer; its connection is closed", seconds)
    except (ConnectionFailedError, ConnectionDroppedError, httpx.HTTPError, OSError, ValueError):
        pass  # nothing the caller needs is lost; the connection is just not reused
    finally:
        response.close()
