"""The reader per stream (issue 15.1): `chat.pipeline.delivered` reads events apart from delivery,
so what arrived while the consumer was busy goes out as ONE piece, and a consumer that keeps up
gets every piece alone, at once. Real threads here (greenlets in the plugin).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from oai_bridge.chat.events import StreamEnd
from oai_bridge.chat.pipeline import delivered

pytestmark = pytest.mark.timeout(30)

READER = "oai-bridge-reader"
END = StreamEnd("stop")


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == READER]


def wait_readers_gone(timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while readers():
        assert time.monotonic() < deadline, "the reader did not end"
        time.sleep(0.005)


@pytest.fixture(autouse=True)
def _no_reader_left() -> Iterator[None]:
    wait_readers_gone()
    yield
    wait_readers_gone()


def test_what_queued_while_the_consumer_was_busy_goes_out_as_one_piece() -> None:
    """A source faster than its consumer: everything it produced meanwhile is one piece."""
    first_taken = threading.Event()

    def source() -> Iterator[str | StreamEnd]:
        yield "a"
        first_taken.wait(5)
        yield from ("b", "c", "d")
        yield END

    out = delivered(source())
    assert next(out) == "a"  # the first piece goes out alone, at once
    first_taken.set()
    wait_readers_gone()  # the consumer is "busy" until the reader has queued everything
    assert next(out) == "bcd"
    assert next(out) is END
    with pytest.raises(StopIteration):
        next(out)


def test_a_consumer_that_keeps_up_gets_one_piece_per_item_at_once() -> None:
    """A slow source: each item is delivered before the next one exists (nothing waits for it)."""
    items = ["one", "two", "three", "four"]
    taken: list[str] = []
    turn = threading.Condition()

    def source() -> Iterator[str | StreamEnd]:
        for i, item in enumerate(items):
            with turn:  # the next item exists only once the previous one was delivered
                assert turn.wait_for(lambda i=i: len(taken) == i, 5)
            yield item
        yield END

    for piece in delivered(source()):
        if isinstance(piece, StreamEnd):
            break
        with turn:
            taken.append(piece)
            turn.notify_all()
    assert taken == items


def test_text_before_an_exception_goes_out_first_and_the_same_exception_is_raised() -> None:
    class Boom(ValueError):
        pass

    def source() -> Iterator[str]:
        yield "a"
        yield "b"
        raise Boom("engine died")

    out = delivered(source())
    wait_readers_gone()  # everything queued: the text, then the failure
    assert next(out) == "ab"
    with pytest.raises(Boom, match="engine died"):
        next(out)


def test_an_exception_after_a_single_piece_still_follows_it() -> None:
    def source() -> Iterator[str]:
        yield "only"
        raise ConnectionError("dropped")

    out = delivered(source())
    wait_readers_gone()
    assert next(out) == "only"
    with pytest.raises(ConnectionError):
        next(out)


def test_the_end_keeps_its_place_and_the_reader_reads_no_further() -> None:
    after: list[str] = []

    def source() -> Iterator[str | StreamEnd]:
        yield "x"
        yield "y"
        yield END
        after.append("read past the end")  # `release` drains the rest, not the reader
        yield "z"

    out = delivered(source())
    wait_readers_gone()
    assert list(out) == ["xy", END]
    assert after == []


def test_closing_the_consumer_ends_the_reader_once_its_read_returns() -> None:
    """The consumer leaves while the reader waits on the network; closing the response (here:
    `closed`) ends that read, and the reader then stops instead of reading on."""
    closed = threading.Event()
    asked: list[int] = []

    def source() -> Iterator[str]:
        yield "first"
        asked.append(1)
        closed.wait(5)  # a network read the response's close breaks off
        yield "late"
        asked.append(2)
        yield "never"

    out = delivered(source())
    assert next(out) == "first"
    out.close()
    closed.set()
    wait_readers_gone()
    assert asked == [1]  # "late" was read, not queued; nothing after it was asked for


def test_an_exception_in_the_consumer_stops_the_reader_too() -> None:
    gate = threading.Event()

    def source() -> Iterator[str]:
        yield "a"
        gate.wait(5)
        yield "b"

    def consume() -> None:
        for _ in delivered(source()):
            raise KeyError("dify went away")

    with pytest.raises(KeyError):
        consume()
    gate.set()
    wait_readers_gone()


def test_under_gevent_closing_a_stream_ends_its_reader_blocked_on_the_network() -> None:
    """As in the plugin (gevent-patched, the reader is a greenlet): a stream left early while the
    server stalls mid-body; closing it closes the response, which wakes the reader at once."""
    script = textwrap.dedent(
        """
        from gevent import monkey; monkey.patch_all()
        import gc, threading, time
        import gevent
        from oai_bridge.chat.pipeline import chat_reader, stream_events
        from oai_bridge.config.settings import parse_settings
        from oai_bridge.config.thinking import thinking_choice
        from tests.support.fake_server import FakeServer, STALL, Response, chat_chunk, sse_body

        server = FakeServer()
        first = sse_body([chat_chunk(role="assistant", content=""), chat_chunk("hi")], done=False)
        second = sse_body([chat_chunk(" there")], done=False)
        server.always(Response(pieces=[first, second, STALL], chunked=True))
        settings = parse_settings("m", {"base_url": server.base_url, "timeout": "30"})
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        for _ in range(20):
            reader = lambda: chat_reader(settings, thinking_choice(settings))  # noqa: E731
            stream = stream_events(settings, "/chat/completions", body, prompt_tokens=lambda: 1, reader=reader)
            got = next(stream) + next(stream)
            assert got == "hi there", got
            stream.close()
        t0 = time.monotonic()
        while any(t.name == "oai-bridge-reader" for t in threading.enumerate()):
            assert time.monotonic() - t0 < 2, "readers left"
            gevent.sleep(0.01)
        server.stop()
        print("OK", round(time.monotonic() - t0, 3))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=25)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("OK"), done.stdout
