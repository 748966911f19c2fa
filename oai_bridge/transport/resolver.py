"""Name resolution for new connections that does not wait on gevent's thread pool.

gevent's default resolver runs every `getaddrinfo`, even for `127.0.0.1`, in a native thread, and
the answer reaches the waiting greenlet only when the hub gets round to the thread's wake-up. In
a loaded plugin process a new connection waited about 100 ms for that (measured here: 0.13 ms with
the hub idle, 99 ms with it busy, the same with a 10× shorter GIL switch interval), and a burst of
new streams queued behind each other for seconds.

`QuickResolver` answers IP literals in place (`AI_NUMERICHOST`: no lookup, nothing that blocks)
and remembers the answers for names for `NAME_TTL` seconds (aiohttp's default DNS cache), so a
burst of connections to one server resolves it once. Everything else goes to gevent's resolver.
"""

from __future__ import annotations

import _socket
import ipaddress
import threading
import time
from typing import Any

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

    def getaddrinfo(  # socket's own parameter names
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if _is_ip_literal(host):
            return _socket.getaddrinfo(host, port, family, type, proto, flags | _socket.AI_NUMERICHOST)
        key = (host, port, family, type, proto, flags)
        now = self._clock()
        hit = self._names.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        answer = self.inner.getaddrinfo(host, port, family, type, proto, flags)
        if len(self._names) >= _MAX_NAMES:
            self._names.clear()
        self._names[key] = (now + self._ttl, answer)
        return answer

    def __getattr__(self, name: str) -> Any:  # gethostbyname, getnameinfo, close, …
        return getattr(self.inner, name)


def install() -> bool:
    """Put a `QuickResolver` in front of this thread's gevent resolver (once). False without
    gevent's socket patch, where the OS resolver is called directly anyway."""
    try:
        from gevent import get_hub, monkey
    except ImportError:
        return False
    if not monkey.is_module_patched("socket"):
        return False
    hub = get_hub()
    with _lock:
        if not isinstance(hub.resolver, QuickResolver):
            hub.resolver = QuickResolver(hub.resolver)
    return True
