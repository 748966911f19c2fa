"""Name resolution for new connections that does not wait on gevent's thread pool.

gevent's default resolver runs every `getaddrinfo`, even for `127.0.0.1`, in a native thread, and
the answer reaches the waiting greenlet only when the hub gets round to the thread's wake-up. In
a loaded plugin process a new connection waited about 100 ms for that (measured here: 0.13 ms with
the hub idle, 99 ms with it busy, the same with a 10× shorter GIL switch interval), and a burst of
new streams queued behind each other for seconds.

`QuickResolver` answers IP literals in place (`AI_NUMERICHOST`: no lookup, nothing that blocks)
and remembers the answers for names for `NAME_TTL` seconds (aiohttp's default DNS cache); a
burst of connections to one server resolves it once (single flight: the connections that arrive
while the name is being looked up wait for that lookup). Everything else, and any failure of its
own, goes to gevent's resolver.
"""

from __future__ import annotations

import _socket
import ipaddress
import threading
import time
from typing import Any

from oai_bridge.singleflight import SingleFlight

__all__ = ["NAME_TTL", "QuickResolver", "install"]

NAME_TTL = 10.0
_MAX_NAMES = 256
_lock = threading.Lock()


def _is_ip_literal(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 scope (`fe80::1%eth0`) is allowed
    except ValueError:
        return False
    return True


class QuickResolver:
    """A gevent resolver in front of another (`inner`): same methods, same answers."""

    def __init__(self, inner: Any, ttl: float = NAME_TTL, clock: Any = time.monotonic) -> None:
        self.inner = inner
        self._ttl = ttl
        self._clock = clock
        self._names: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._lookups: SingleFlight[tuple[Any, ...], Any] = SingleFlight()

    def getaddrinfo(  # socket's own parameter names
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if _is_ip_literal(host):
            try:
                return _socket.getaddrinfo(host, port, family, type, proto, flags | _socket.AI_NUMERICHOST)
            except Exception:  # noqa: BLE001 - gevent's resolver answers (or words the error) instead
                return self.inner.getaddrinfo(host, port, family, type, proto, flags)
        key = (host, port, family, type, proto, flags)
        hit = self._names.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        return self._lookups.run(key, lambda: self._look_up(key))

    def _look_up(self, key: tuple[Any, ...]) -> Any:
        hit = self._names.get(key)  # a lookup that ended between the caller's look and this flight
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        answer = self.inner.getaddrinfo(*key)
        if len(self._names) >= _MAX_NAMES:
            self._names.clear()
        self._names[key] = (self._clock() + self._ttl, answer)
        return answer

    def __getattr__(self, name: str) -> Any:  # gethostbyname, getnameinfo, close, …
        return getattr(self.inner, name)


def install() -> None:
    """Put a `QuickResolver` in front of this thread's gevent resolver (once). Raises
    `RuntimeError` without gevent's socket patch (the OS resolver is called directly then)."""
    from gevent import get_hub, monkey

    if not monkey.is_module_patched("socket"):
        raise RuntimeError("gevent has not patched socket: names are resolved by the OS directly")
    hub = get_hub()
    with _lock:
        if not isinstance(hub.resolver, QuickResolver):
            # A stand-in with the same methods (delegated), not a subclass: AbstractResolver's own
            # methods would shadow the delegation.
            hub.resolver = QuickResolver(hub.resolver)  # type: ignore[assignment]  # see above
