"""One streamed chat or completion call, from request to released connection.

    open_stream -> network reads -> lines -> SSE data -> events (one text piece per read, one
    StreamEnd) -> [reader per stream] -> what is ready, joined -> usage completed

The stream is opened again, under the one retry policy, only while it has produced no output
(a broken connection, a stream that ended early); once Dify has seen text, a failure is final.
After the first output a reader (`delivered`) pulls the rest of the body apart from delivery, so
everything that arrived while the consumer was busy goes out as ONE piece, with no timer.
The model class adapts what this yields to Dify's chunks and does nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from functools import partial
from itertools import chain
from queue import SimpleQueue
from threading import Thread
from typing import Any, Protocol

import httpx

from oai_bridge.chat.events import StreamEnd, StreamNormalizer, Usage
from oai_bridge.config.settings import Settings
from oai_bridge.config.thinking import ThinkingChoice
from oai_bridge.tokens import estimate_text
from oai_bridge.transport.ending import release
from oai_bridge.transport.retry import call
from oai_bridge.transport.send import open_stream, stream_text
from oai_bridge.transport.sse import LineSplitter, SSEParser

__all__ = ["EventReader", "chat_reader", "delivered", "read_events", "stream_events"]

Event = str | StreamEnd


class EventReader(Protocol):
    """What turns a stream's event data into Dify text (`chat.events.StreamNormalizer`; a
    Responses-API reader the same way). `ended` is the hook that ends a call at once: True as
    soon as the reader knows the answer is complete (a finish reason with its usage; a
    Responses-API `response.completed`), and reading stops there, as it does at `[DONE]`,
    instead of waiting for the server to close the body (`transport.ending.release` drains it)."""

    @property
    def ended(self) -> bool: ...

    def feed(self, payloads: Iterable[str], out: list[str]) -> None: ...

    def finish(self) -> StreamEnd: ...


def chat_reader(settings: Settings, thinking: ThinkingChoice) -> StreamNormalizer:
    """The event reader of a chat or completion stream, as the settings and the call's thinking
    choice (`config.thinking`, the one the body was built with) ask."""
    return StreamNormalizer(
        completion_mode=settings.mode == "completion",
        show_reasoning=thinking.show_reasoning,
        # Thinking = On (the form's or the app's): a stream that starts without a tag is reasoning
        # only when the model's template opens `<think>` in the prompt (detected at save; unknown,
        # only the form's On keeps that reading).
        start_in_reasoning=thinking.start_in_reasoning,
    )


def read_events(texts: Iterable[str], reader: EventReader) -> tuple[Iterator[str], Iterator[Event]]:
    """The reading chain of a stream body: decoded text -> lines -> SSE event data -> events.

    `texts` are network reads (`transport.send.stream_text`: one decoded read per item). Each read is
    pushed through the whole chain at once and the text of its events goes out as ONE piece, so
    events that arrived together cost Dify one chunk, and a read is handed on the moment it is
    parsed (nothing waits for the next one). The StreamEnd comes last, as soon as the answer is
    complete (`[DONE]`, or the reader's `ended`). Returns the rest of `texts` too, so a finished
    stream's remainder can be drained (`release`). `reader` reads the event data (`chat_reader`
    for a chat or completion stream)."""
    rest = iter(texts)
    return rest, _events(rest, reader)


def _events(texts: Iterator[str], normalizer: EventReader) -> Iterator[Event]:
    splitter = LineSplitter()
    parser = SSEParser()
    split, parse, normalize = splitter.feed, parser.feed, normalizer.feed
    for text in chain(texts, (None,)):  # None: the body ended (without `[DONE]`)
        payloads: list[str] = []
        out: list[str] = []
        try:
            try:
                if text is not None:
                    parse(split(text), payloads)
                else:
                    parse(splitter.finish(), payloads)
                    parser.finish(payloads)
            finally:  # events parsed before a failing one still count, in order
                normalize(payloads, out)
        except BaseException:
            if out:
                yield "".join(out)  # what came before the failure reaches Dify first, as it did
            raise
        if out:
            yield "".join(out)  # the hot path: one piece per read, whatever it carried
        if parser.done or normalizer.ended:  # the answer is complete: nothing more is read for it
            break
    yield normalizer.finish()


def _open_until_output(
    settings: Settings,
    path: str,
    body: dict[str, Any],
    reader: Callable[[], EventReader],
) -> tuple[httpx.Response, Iterator[str], Iterator[Event], list[Event]]:
    """Open the stream and read it up to its first output (a text piece or the end)."""
    response = open_stream(settings, path, body)
    try:
        rest, events = read_events(stream_text(response), reader())
        first = next(events)
        return response, rest, events, [first]
    except BaseException:
        response.close()
        raise


class _Raised:
    """In the reader's queue: what the reading chain raised, to be raised again by the consumer."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _read(events: Iterator[Event], put: Callable[[object], None], stopped: list[bool]) -> None:
    """The reader: every event as soon as it is parsed, up to the StreamEnd (and not one read
    further: what follows `[DONE]` is `release`'s), or what went wrong."""
    try:
        for event in events:
            if stopped:  # the consumer is gone (it closed the response, which ended this read)
                return
            put(event)
            if type(event) is not str:
                return
        raise RuntimeError("the reading chain ended without a StreamEnd")  # never: `_events` ends with one
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
        if not stopped:
            put(_Raised(exc))


def delivered(events: Iterator[Event]) -> Generator[Event]:
    """`events`, read by a reader of their own (a thread; a greenlet under the SDK's gevent) and
    delivered as they are ready: the first wait blocks, then everything already queued goes out
    with it, consecutive text pieces joined into ONE. A consumer that keeps up gets every piece
    alone the moment it is parsed; one that falls behind (busy writing frames to Dify) gets what
    arrived meanwhile in one piece, so the frames per token fall exactly when the process is
    loaded, and no timer ever holds text back. The StreamEnd and an exception keep their place:
    text before them goes out first; an exception is raised as it was raised in the reader.

    Closing this generator stops the reader after the event it is reading; a reader blocked on
    the network ends when the caller closes the response (`stream_events` does)."""
    queue: SimpleQueue[object] = SimpleQueue()
    stopped: list[bool] = []
    Thread(target=_read, args=(events, queue.put, stopped), name="oai-bridge-reader", daemon=True).start()
    get, get_nowait, empty = queue.get, queue.get_nowait, queue.empty
    try:
        while True:
            item = get()
            if type(item) is str:
                if empty():  # the hot path when keeping up: one piece, alone, at once
                    yield item
                    continue
                parts = [item]
                while not empty():  # a single consumer: not empty means get_nowait succeeds
                    item = get_nowait()
                    if type(item) is not str:
                        break
                    parts.append(item)
                else:
                    yield "".join(parts)
                    continue
                yield "".join(parts)
            if type(item) is _Raised:
                raise item.exc
            yield item  # type: ignore[misc]  # the StreamEnd: the reader has ended
            return
    finally:
        stopped.append(True)


def stream_events(
    settings: Settings,
    path: str,
    body: dict[str, Any],
    *,
    prompt_tokens: Callable[[], int],
    reader: Callable[[], EventReader],
) -> Iterator[Event]:
    """Text pieces as they arrive, then one StreamEnd whose usage is always complete: the
    server's counts, and an estimate only for a side it did not report (`prompt_tokens` is
    called only then). `reader` makes each attempt's event reader (`chat_reader` with the
    thinking choice the body was built with, or a Responses-API reader)."""
    response, rest, events, head = call(settings, lambda: _open_until_output(settings, path, body, reader))
    produced: list[str] = []  # what reached Dify: the completion estimate when the server sends none
    # The first output went through the retry; the rest is read apart from delivery (a reader is
    # started only if the stream goes on after its first output).
    more = delivered(events)
    try:
        for event in chain(head, more):
            if type(event) is str:  # the hot path: one check per piece
                produced.append(event)
                yield event
                continue
            if not isinstance(event, StreamEnd):  # the readers yield text and one end, nothing else
                raise TypeError(f"the stream's reader yielded {type(event).__name__}")
            usage = event.usage or Usage(None, None)
            text = "".join(produced) + event.text
            event.usage = usage.completed(prompt_tokens, partial(estimate_text, text))
            yield event
            if not event.cut:  # an answer the plugin cut is still being generated: just close
                release(response, rest)  # the reader stopped at the StreamEnd: the rest is drained here
            break
    finally:
        more.close()  # stops the reader (if the consumer left early) ...
        response.close()  # ... and ends a network read it is blocked in
