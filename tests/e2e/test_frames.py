"""Frames per token through Dify's stdio runtime (issue 15.1): events that arrive together reach
Dify as one chunk; events that arrive apart still go out one by one, as they come.

"Together" is one HTTP chunk carrying several events, or several HTTP chunks in one burst (one
socket read: `iter_text()` yields them one by one, but the stream's reader queues them all before
the model class takes the next piece, and the queued pieces leave joined)."""

from __future__ import annotations

import pytest

from tests.support.fake_server import Delay, Raw, Response, chat_chunk, sse_body

pytestmark = pytest.mark.timeout(120)

USER = [{"role": "user", "content": "hi"}]
WORDS = [" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", "."]
USAGE = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": len(WORDS), "total_tokens": 13}}


def chat(plugin, server):
    return plugin.invoke(
        "invoke_llm",
        model="m",
        credentials={"base_url": server.base_url, "api_key": "sk-frames", "timeout": "10"},
        prompt_messages=USER,
        model_parameters={"max_tokens": 32},
        stream=True,
    )


def text_frames(result) -> list[str]:
    """The text of each chunk that carries text, in order (the final chunk's own text included)."""
    return [c["delta"]["message"]["content"] for c in result.chunks if c["delta"]["message"].get("content")]


def test_events_that_arrive_together_travel_as_one_frame(plugin, fake_server):
    head = sse_body([chat_chunk(role="assistant", content=""), *(chat_chunk(w) for w in WORDS)], done=False)
    tail = sse_body([chat_chunk(finish_reason="stop"), USAGE])
    fake_server.always(Response(pieces=[head, Delay(0.05), tail]))
    result = chat(plugin, fake_server)
    assert result.error is None, result.error
    assert result.text == "".join(WORDS)
    assert text_frames(result) == ["".join(WORDS)]  # 10 events, one frame
    assert len(result.chunks) == 2  # the text and the final chunk (finish reason, usage)
    final = result.chunks[-1]["delta"]
    assert final["finish_reason"] == "stop"
    assert final["usage"]["completion_tokens"] == len(WORDS)


def http_chunk(data: bytes) -> bytes:
    return f"{len(data):X}\r\n".encode() + data + b"\r\n"


def test_events_sent_as_separate_http_chunks_in_one_burst_travel_in_fewer_frames(plugin, fake_server):
    """vLLM-style: one HTTP chunk per event. A burst of them (one socket write here) is read in one
    go; the first output goes out alone, at once, and the rest that queued meanwhile with it."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    role = http_chunk(sse_body([chat_chunk(role="assistant", content="")], done=False))
    burst = b"".join(http_chunk(sse_body([chat_chunk(w)], done=False)) for w in WORDS)
    tail = http_chunk(sse_body([chat_chunk(finish_reason="stop"), USAGE])) + b"0\r\n\r\n"
    fake_server.always(Raw([head + role, Delay(0.05), burst, Delay(0.05), tail]))
    result = chat(plugin, fake_server)
    assert result.error is None, result.error
    assert result.text == "".join(WORDS)
    frames = text_frames(result)
    assert "".join(frames) == "".join(WORDS)
    assert len(frames) <= 3 < len(WORDS), frames  # 10 events, 10 HTTP chunks, a frame or two
    assert result.chunks[-1]["delta"]["finish_reason"] == "stop"


def test_events_that_arrive_apart_keep_one_frame_each(plugin, fake_server):
    # 0.2 s apart: far longer than the plugin needs for an event even on a busy machine, so the
    # frames show how events arrived, not how loaded the machine was.
    gap = 0.2
    pieces: list = [sse_body([chat_chunk(role="assistant", content="")], done=False)]
    for word in WORDS:
        pieces += [Delay(gap), sse_body([chat_chunk(word)], done=False)]
    pieces += [Delay(gap), sse_body([chat_chunk(finish_reason="stop"), USAGE])]
    fake_server.always(Response(pieces=pieces))
    result = chat(plugin, fake_server)
    assert result.error is None, result.error
    assert text_frames(result) == WORDS  # one frame per event, none held back
    # ... and each went out as it came: the frames are spread over the pieces' delays
    times = result.stream_times[: len(WORDS)]
    assert times[-1] - times[0] >= gap * (len(WORDS) - 1) * 0.8
