"""Frames per token through Dify's stdio runtime (issue 15.1): events that arrive in one read of the
body reach Dify as one chunk; events that arrive apart still go out one by one, as they come.

A "read" is one item of `httpx.Response.iter_text()`: with chunked transfer encoding that is one
HTTP chunk (h11 hands each chunk on separately, even when several came in one socket read), so
"together" here means several events in one HTTP chunk."""

from __future__ import annotations

import pytest

from tests.support.fake_server import Delay, Response, chat_chunk, sse_body

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


def test_events_that_arrive_apart_keep_one_frame_each(plugin, fake_server):
    pieces: list = [sse_body([chat_chunk(role="assistant", content="")], done=False)]
    for word in WORDS:
        pieces += [Delay(0.03), sse_body([chat_chunk(word)], done=False)]
    pieces += [Delay(0.03), sse_body([chat_chunk(finish_reason="stop"), USAGE])]
    fake_server.always(Response(pieces=pieces))
    result = chat(plugin, fake_server)
    assert result.error is None, result.error
    assert text_frames(result) == WORDS  # one frame per event, none held back
    # ... and each went out as it came: the frames are spread over the pieces' delays
    times = result.stream_times[: len(WORDS)]
    assert times[-1] - times[0] >= 0.03 * (len(WORDS) - 1) * 0.8
