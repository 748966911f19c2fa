"""One streamed chat or completion call, from request to released connection.

    open_stream -> SSE lines -> events (text pieces, one StreamEnd) -> usage completed

The stream is opened again, under the one retry policy, only while it has produced no output
(a broken connection, a stream that ended early); once Dify has seen text, a failure is final.
The model class adapts what this yields to Dify's chunks and does nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import chain
from typing import Any

import httpx

from oai_bridge.chat.events import StreamEnd, Usage, normalize_stream
from oai_bridge.config.settings import Settings
from oai_bridge.errors.kinds import ConnectionDroppedError
from oai_bridge.tokens import estimate_text
from oai_bridge.transport.retry import is_stall, retrying
from oai_bridge.transport.send import open_stream, release
from oai_bridge.transport.sse import iter_lines, iter_sse_data

__all__ = ["read_events", "stream_events"]

Event = str | StreamEnd


@contextmanager
def _dropped_connections() -> Iterator[None]:
    """A connection that breaks while the body is read (not a stall: `timeout` bounds that)."""
    try:
        yield
    except httpx.TransportError as exc:
        if is_stall(exc):
            raise
        raise ConnectionDroppedError(str(exc) or type(exc).__name__) from exc


def read_events(settings: Settings, texts: Iterable[str]) -> tuple[Iterator[str], Iterator[Event]]:
    """The reading chain of a stream body: decoded text -> lines -> SSE event data -> events.
    Returns the line iterator too, so a finished stream's rest can be drained (`release`)."""
    lines = iter_lines(texts)
    events = normalize_stream(
        iter_sse_data(lines),
        completion_mode=settings.mode == "completion",
        show_reasoning=settings.capability("thinking"),
        # Thinking = On: a stream that starts without a tag is reasoning only when the model's
        # template opens `<think>` in the prompt (detected at save; unknown keeps that reading).
        start_in_reasoning=settings.thinking == "on" and settings.detected.value("think_in_prompt") != "false",
    )
    return lines, events


def _open_until_output(
    settings: Settings, path: str, body: dict[str, Any]
) -> tuple[httpx.Response, Iterator[str], Iterator[Event], list[Event]]:
    """Open the stream and read it up to its first output (a text piece or the end)."""
    response = open_stream(settings, path, body)
    try:
        lines, events = read_events(settings, response.iter_text())
        with _dropped_connections():
            first = next(events)
        return response, lines, events, [first]
    except BaseException:
        response.close()
        raise


def stream_events(
    settings: Settings, path: str, body: dict[str, Any], *, prompt_tokens: Callable[[], int]
) -> Iterator[Event]:
    """Text pieces as they arrive, then one StreamEnd whose usage is always complete: the
    server's counts, and an estimate only for a side it did not report (`prompt_tokens` is
    called only then)."""
    response, lines, events, head = retrying(settings)(_open_until_output, settings, path, body)
    produced: list[str] = []  # what reached Dify: the completion estimate when the server sends none
    try:
        with _dropped_connections():
            for event in chain(head, events):
                if type(event) is str:  # the hot path: one check per piece
                    produced.append(event)
                    yield event
                    continue
                assert isinstance(event, StreamEnd)
                usage = event.usage or Usage(None, None)
                text = "".join(produced) + event.text
                event.usage = usage.completed(prompt_tokens, lambda text=text: estimate_text(text))
                yield event
        release(response, lines)
    finally:
        response.close()
