"""Single flight: concurrent callers asking the same question share one answer.

The first caller of a key runs the work; callers of that key that arrive while it runs wait for
it and get its result (or its exception). A leader that is interrupted instead (GreenletExit, a
`gevent.Timeout` of its own, KeyboardInterrupt: anything not an `Exception`) has no answer to
share: a waiter then asks again, and one of them leads a new flight. Nothing is remembered
afterwards: callers keep their own cache. Works for threads and, in the plugin's gevent-patched
process, for greenlets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["SingleFlight"]


class _Flight:
    __slots__ = ("answered", "done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answered = False  # work() returned or raised an Exception
        self.value: Any = None
        self.error: Exception | None = None


class SingleFlight[K: Hashable, V]:
    """`run(key, work)`: `work()` once for all concurrent callers of `key`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[K, _Flight] = {}

    def run(self, key: K, work: Callable[[], V]) -> V:
        while True:
            with self._lock:
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
            if leader:
                break
            flight.done.wait()
            if flight.answered:
                if flight.error is not None:
                    raise flight.error
                return flight.value  # the leader's work() result
        try:
            value = flight.value = work()
        except Exception as exc:
            flight.error = exc
            flight.answered = True
            raise
        else:
            flight.answered = True
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return value
