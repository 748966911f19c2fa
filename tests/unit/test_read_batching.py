"""One Dify piece per network read (issue 15.1): `chat.pipeline.read_events` pushes each decoded
read through the whole chain and hands on the joined text of its events at once, with no timer
and no waiting for the next read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dify_plugin.errors.model import InvokeError

from oai_bridge.chat.events import StreamEnd, StreamNormalizer, Usage, normalize_stream
from oai_bridge.chat.pipeline import chat_reader, read_events
from oai_bridge.config.settings import parse_settings
from oai_bridge.config.thinking import thinking_choice
from oai_bridge.errors.invoke import translated_errors
from oai_bridge.transport.sse import iter_lines, iter_sse_data

SETTINGS = parse_settings("m", {"base_url": "http://localhost:8000/v1"})


def chat_stream() -> StreamNormalizer:
    """The reader of a chat stream on a model saved with the form's defaults."""
    return chat_reader(SETTINGS, thinking_choice(SETTINGS))


def event(payload: dict | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


def delta(finish: str | None = None, **fields: object) -> str:
    return event(
        {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}
    )


USAGE = event({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5}})
DONE = "data: [DONE]\n\n"


def read(texts: list[str]) -> tuple[list[str], StreamEnd]:
    out = list(read_events(texts, chat_stream())[1])
    end = out.pop()
    assert isinstance(end, StreamEnd)
    assert all(type(piece) is str for piece in out)
    return out, end


def per_event(texts: list[str]) -> tuple[list[str], StreamEnd]:
    """The reference: one piece per server event (the generator chain)."""
    out = list(normalize_stream(iter_sse_data(iter_lines(texts))))
    end = out.pop()
    assert isinstance(end, StreamEnd)
    return out, end


def test_several_events_in_one_read_give_one_piece_with_the_same_text() -> None:
    body = [delta(role="assistant", content=""), delta(content="Hel"), delta(content="lo"), delta(content=" you")]
    tail = [delta("stop"), USAGE, DONE]
    pieces, end = read(["".join(body), "".join(tail)])
    reference, ref_end = per_event(["".join(body + tail)])
    assert pieces == ["Hello you"]
    assert reference == ["Hel", "lo", " you"]
    assert end == ref_end
    assert end.usage == Usage(7, 5)
    assert end.finish_reason == "stop"


def test_events_that_arrive_apart_stay_apart() -> None:
    pieces, _ = read([delta(content="a"), delta(content="b"), delta("stop") + DONE])
    assert pieces == ["a", "b"]


def test_an_event_split_across_reads_goes_out_with_the_read_that_completes_it() -> None:
    whole = delta(content="x") + delta(content="y")
    cut = len(delta(content="x")) + 10
    pieces, _ = read([whole[:cut], whole[cut:], delta("stop") + DONE])
    assert pieces == ["x", "y"]


def test_each_read_is_handed_on_before_the_next_is_read() -> None:
    """No buffering across reads: the source refuses to give the next read until the piece of the
    previous one has been consumed."""
    reads = [delta(content="one"), delta(content="two") + delta(content="three"), delta(content="four")]
    consumed: list[str] = []

    def source() -> Iterator[str]:
        for i, text in enumerate(reads):
            assert len(consumed) == i, "a read was requested before the previous piece went out"
            yield text
        assert len(consumed) == len(reads)
        yield delta("stop") + DONE

    _, events = read_events(source(), chat_stream())
    for piece in events:
        if isinstance(piece, StreamEnd):
            break
        consumed.append(piece)
    assert consumed == ["one", "twothree", "four"]


def test_reasoning_then_answer_inside_one_read_keeps_the_think_boundary() -> None:
    text = delta(reasoning_content="Let me") + delta(reasoning_content=" think.") + delta(content="Paris")
    pieces, end = read([text, delta(content="!", finish="stop"), DONE])
    pieces_ref, end_ref = per_event([text, delta(content="!", finish="stop"), DONE])
    assert pieces == ["<think>\nLet me think.\n</think>Paris", "!"]
    assert "".join(pieces) + end.text == "".join(pieces_ref) + end_ref.text


def test_inline_think_tags_split_inside_one_read() -> None:
    text = delta(content="<thi") + delta(content="nk>hm</th") + delta(content="ink>ok")
    pieces, end = read([text, delta("stop"), DONE])
    ref, ref_end = per_event([text, delta("stop"), DONE])
    assert "".join(pieces) + end.text == "".join(ref) + ref_end.text == "<think>\nhm\n</think>ok"
    assert len(pieces) == 1


def test_tool_call_deltas_and_usage_are_unaffected_by_batching() -> None:
    calls = [
        delta(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "get", "arguments": '{"ci'}}]),
        delta(tool_calls=[{"index": 1, "id": "c2", "function": {"name": "put", "arguments": "{}"}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": 'ty":"P"}'}}]),
        delta("tool_calls"),
        USAGE,
        DONE,
    ]
    together, end = read([delta(content="ok") + "".join(calls)])
    apart, end_apart = read([delta(content="ok"), *calls])
    assert together == apart == ["ok"]
    assert end == end_apart
    assert [(c.id, c.name, c.arguments) for c in end.tool_calls] == [("c1", "get", '{"city":"P"}'), ("c2", "put", "{}")]
    assert end.finish_reason == "tool_calls"
    assert end.usage == Usage(7, 5)


def test_done_in_the_middle_of_a_read_ends_the_stream_there() -> None:
    text = delta(content="a") + delta(content="b", finish="stop") + DONE + delta(content="AFTER") + "garbage\n\n"
    rest, events = read_events(iter([text, "never read"]), chat_stream())
    out = list(events)
    assert out[:-1] == ["ab"]
    assert isinstance(out[-1], StreamEnd)
    assert out[-1].finish_reason == "stop"
    assert list(rest) == ["never read"]  # left for `release` to drain


def test_text_before_an_error_in_the_same_read_still_goes_out_first() -> None:
    text = delta(content="partial") + 'event: error\ndata: {"error": {"message": "engine died"}}\n\n'
    _, events = read_events([text], chat_stream())
    assert next(events) == "partial"
    with pytest.raises(Exception, match="engine died"):
        next(events)


def test_text_before_a_malformed_payload_in_the_same_read_still_goes_out_first() -> None:
    _, events = read_events([delta(content="partial") + "data: [1]\n\n"], chat_stream())
    assert next(events) == "partial"
    with pytest.raises(InvokeError, match="a list where an object was expected in a stream chunk"), translated_errors():
        next(events)


def test_a_body_without_done_or_final_line_break_flushes_at_the_end() -> None:
    pieces, end = read([delta(content="a"), delta(content="b", finish="stop").rstrip("\n")])
    assert pieces == ["a", "b"]
    assert end.finish_reason == "stop"


@pytest.mark.parametrize(
    "ending",
    [
        delta("stop") + USAGE,  # usage-only chunk after the finish reason (OpenAI, vLLM, llama.cpp)
        event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 7}}),
    ],
    ids=["usage after finish", "usage with finish"],
)
def test_a_finish_reason_with_its_usage_ends_the_stream_without_done(ending: str) -> None:
    # Issue 20.1: a server that keeps the body open after the answer is not read any further.
    rest, events = read_events(iter([delta(content="a"), ending, "never read"]), chat_stream())
    out = list(events)
    assert out[:-1] == ["a"]
    assert out[-1].finish_reason == "stop" and out[-1].usage is not None
    assert list(rest) == ["never read"]  # left for `release` to drain within its bound


def test_a_finish_reason_alone_reads_on_for_the_usage() -> None:
    rest, events = read_events(iter([delta(content="a", finish="stop"), USAGE, DONE]), chat_stream())
    assert list(events)[-1].usage == Usage(7, 5)
    assert list(rest) == [DONE]  # the usage completed the answer


def test_another_event_reader_can_declare_the_end() -> None:
    """The `EventReader` hook: a Responses-API-style reader ends the stream at its own end event."""

    class ResponsesReader:
        def __init__(self) -> None:
            self.ended = False

        def feed(self, payloads: list[str], out: list[str]) -> None:
            for raw in payloads:
                data = json.loads(raw)
                if data["type"] == "response.output_text.delta":
                    out.append(data["delta"])
                elif data["type"] == "response.completed":
                    self.ended = True

        def finish(self) -> StreamEnd:
            return StreamEnd("stop")

    texts = iter(
        [
            event({"type": "response.output_text.delta", "delta": "Hi"}),
            event({"type": "response.completed"}),
            "never read",
        ]
    )
    rest, events = read_events(texts, ResponsesReader())
    assert list(events) == ["Hi", StreamEnd("stop")]
    assert list(rest) == ["never read"]
