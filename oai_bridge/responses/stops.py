"""Stop sequences applied by the plugin: the Responses API has no `stop` field, so the answer is
cut at the first stop string, also when it arrives split across deltas."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopCutter", "cut_at_stop"]


def _first_stop(text: str, stops: Sequence[str]) -> int:
    """Where the stop string that is complete first (as the text is generated) starts; -1 if none."""
    found = [(i + len(stop), i) for stop in stops if (i := text.find(stop)) != -1]
    return min(found)[1] if found else -1


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the stop string that is complete first, and whether one was found."""
    i = _first_stop(text, stops) if stops else -1
    return (text, False) if i == -1 else (text[:i], True)


class StopCutter:
    """Streamed text in, text safe to show out: only a tail that could still become a stop string
    is held back, and nothing after a stop string is ever let through."""

    __slots__ = ("_held", "_longest", "_stops", "hit")

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stop for stop in stops if stop)
        self._longest = max((len(stop) for stop in self._stops), default=0)
        self._held = ""
        self.hit = False

    def push(self, text: str) -> str:
        """What of `text` may be shown now; after a stop string, nothing more."""
        if self.hit:
            return ""
        data = self._held + text
        i = _first_stop(data, self._stops)
        if i != -1:
            self._held = ""
            self.hit = True
            return data[:i]
        keep = 0
        for size in range(min(len(data), self._longest - 1), 0, -1):
            tail = data[-size:]
            if any(stop.startswith(tail) for stop in self._stops):
                keep = size
                break
        self._held = data[len(data) - keep :] if keep else ""
        return data[: len(data) - keep]

    def finish(self) -> str:
        """The held tail, once the answer ended without completing a stop string."""
        held, self._held = self._held, ""
        return "" if self.hit else held
