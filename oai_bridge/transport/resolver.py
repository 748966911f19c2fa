"""Name resolution for new connections that does not wait on gevent's thread pool.

gevent's default resolver runs every `getaddrinfo`, even for `127.0.0.1`, in a native thread, and
the answer reaches the waiting greenlet only when the hub gets round to the thread's wake-up. In
a loaded plugin process a new connection waited about 100 ms for that (measured here: 0.13 ms with
the hub idle, 99 ms with it busy, the same with a 10× shorter GIL switch interval), and a burst of
new streams queued behind each other for seconds.

`QuickResolver` answers IP literals in place (`AI_NUMERICHOST`: no lookup, nothing that blocks)
and remembers the answers for names for `NAME_TTL` seconds (aiohttp's default DNS cache); a
burst of connections to one server resolves it once (single flight: the connections that arrive
while the name is being looked up wait for that lookup). Everything else goes to gevent's
resolver, and so does a call of a shape it does not know (other arguments than `socket.getaddrinfo`'s)
or any failure of its own code (logged once); a failed lookup (`gaierror`) is the caller's answer.
"""

from __future__ import annotations

import _socket
import ipaddress
import logging
import threading
import time
from typing import Any

from oai_bridge.singleflight import SingleFlight

__all__ = ["NAME_TTL", "QuickResolver", "install"]

NAME_TTL = 10.0
_MAX_NAMES = 256
_lock = threading.Lock()
_PARAMS = ("host", "port", "family", "type", "proto", "flags")

logger = logging.getLogger(__name__)


class _InnerError(Exception):
    """The inner resolver's own failure (the lookup's answer), carried through the plugin's code."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


def _call_shape(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """`(host, port, family, type, proto, flags)` of a `getaddrinfo` call; None for another shape."""
    if not 2 <= len(args) + len(kwargs) <= len(_PARAMS) or len(args) > len(_PARAMS):
        return None
    named = dict(zip(_PARAMS, args, strict=False))
    for name, value in kwargs.items():
        name = "type" if name == "socktype" else name  # gevent's resolvers' name for it
        if name not in _PARAMS or name in named:
            return None
        named[name] = value
    if "host" not in named or "port" not in named:
        return None
    return tuple(named.get(name, 0) for name in _PARAMS)


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
        self._warned = False

    def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
        """`socket.getaddrinfo(host, port, family=0, type=0, proto=0, flags=0)`."""
        key = _call_shape(args, kwargs)
        if key is None:
            self._warn_once("a getaddrinfo call of another shape (%d arguments, keywords %s)", len(args), list(kwargs))
            return self.inner.getaddrinfo(*args, **kwargs)
        try:
            return self._getaddrinfo(key)
        except _InnerError as failed:
            raise failed.error from None  # the lookup's own answer, as gevent's resolver gives it
        except Exception as exc:  # noqa: BLE001 - a failure of this code: gevent's resolver answers
            self._warn_once("its own failure (%s)", type(exc).__name__)
            return self.inner.getaddrinfo(*args, **kwargs)

    def _warn_once(self, what: str, *args: Any) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("name resolution: " + what + "; gevent's resolver answers instead", *args)

    def _getaddrinfo(self, key: tuple[Any, ...]) -> Any:
        host, port, family, type_, proto, flags = key
        if _is_ip_literal(host):
            try:
                return _socket.getaddrinfo(host, port, family, type_, proto, flags | _socket.AI_NUMERICHOST)
            except Exception:  # noqa: BLE001 - gevent's resolver answers (or words the error) instead
                return self._inner(key)
        hit = self._names.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        return self._lookups.run(key, lambda: self._look_up(key))

    def _inner(self, key: tuple[Any, ...]) -> Any:
        try:
            return self.inner.getaddrinfo(*key)
        except Exception as exc:  # carried to the caller unchanged (see getaddrinfo)
            raise _InnerError(exc) from exc

    def _look_up(self, key: tuple[Any, ...]) -> Any:
        hit = self._names.get(key)  # a lookup that ended between the caller's look and this flight
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        answer = self._inner(key)
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
