"""normalize_stream over the bytes real servers send (SSE -> payloads -> Dify pieces).

Each fixture reproduces one server's stream shape (framing, reasoning fields, tool-call deltas)
with the public issue or source that documents it.
"""

from __future__ import annotations

import json

import pytest
from dify_plugin.errors.model import InvokeBadRequestError, InvokeError, InvokeServerUnavailableError

from oai_bridge.chat.events import StreamEnd, Usage, normalize_stream
from oai_bridge.errors.invoke import to_invoke_error
from oai_bridge.errors.kinds import ReportedError, StreamIncompleteError
from oai_bridge.transport.sse import iter_sse_data


def sse(*events: object, done: bool = True) -> list[str]:
    """Lines as httpx.iter_lines() yields them for `data: {...}\\n\\n` events."""
    lines: list[str] = []
    for event in events:
        lines += [f"data: {event if isinstance(event, str) else json.dumps(event)}", ""]
    if done:
        lines += ["data: [DONE]", ""]
    return lines


def delta(finish: str | None = None, **fields: object) -> dict:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}


def run(lines: list[str], **kwargs: object) -> tuple[list[str], StreamEnd]:
    out = list(normalize_stream(iter_sse_data(lines), **kwargs))
    end = out.pop()
    assert isinstance(end, StreamEnd)
    assert all(isinstance(piece, str) for piece in out)
    return out, end


def content(pieces: list[str], end: StreamEnd) -> str:
    return "".join(pieces) + end.text


def test_text_is_yielded_chunk_by_chunk_and_usage_comes_from_the_empty_choices_chunk():
    # vLLM / llama.cpp / Ollama with include_usage: a final chunk with "choices": []
    lines = sse(
        delta(role="assistant", content=""),
        delta(content="Hel"),
        delta(content="lo"),
        delta("stop"),
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}},
    )
    pieces, end = run(lines)
    assert pieces == ["Hel", "lo"]
    assert end.finish_reason == "stop"
    assert end.usage == Usage(7, 2)
    assert end.tool_calls == []


def test_vllm_reasoning_field_becomes_a_think_block():
    # vLLM >= 0.17 renamed reasoning_content -> reasoning (vllm#27752, dify-official-plugins#2740)
    lines = sse(delta(reasoning="Let me"), delta(reasoning=" think."), delta(content="Answer"), delta("stop"))
    pieces, end = run(lines)
    assert content(pieces, end) == "<think>\nLet me think.\n</think>Answer"
    assert pieces[0] == "<think>\nLet me"  # streamed as it arrives, not buffered


def test_deepseek_reasoning_content_field_becomes_a_think_block():
    lines = sse(
        delta(role="assistant", content=None, reasoning_content="Hmm"),
        delta(content="Hi", reasoning_content=None),
        delta("stop"),
    )
    assert content(*run(lines)) == "<think>\nHmm\n</think>Hi"


def test_reasoning_only_answer_closes_the_think_block_at_the_end():
    pieces, end = run(sse(delta(reasoning_content="only thoughts"), delta("length")))
    assert content(pieces, end) == "<think>\nonly thoughts\n</think>"
    assert end.finish_reason == "length"


def test_reasoning_is_dropped_when_thinking_is_hidden():
    lines = sse(delta(reasoning="secret"), delta(content="<think>inline</think>Answer"), delta("stop"))
    assert content(*run(lines, show_reasoning=False)) == "Answer"


@pytest.mark.parametrize("split", range(1, 30))
def test_inline_think_tags_split_anywhere_render_the_same(split):
    # vLLM without --reasoning-parser, llama.cpp --reasoning-format none, Groq reasoning_format raw
    text = "<think>\nplan it\n</think>\n\nThe answer"
    lines = sse(delta(content=text[:split]), delta(content=text[split:]), delta("stop"))
    assert content(*run(lines)) == "<think>\nplan it\n</think>The answer"


def test_missing_opening_tag_with_start_in_reasoning():
    # DeepSeek-R1 distills / QwQ: the template puts <think> into the prompt
    lines = sse(delta(content="thinking...</think>"), delta(content="\n\nDone"), delta("stop"))
    assert content(*run(lines, start_in_reasoning=True)) == "<think>\nthinking...</think>Done".replace(
        "...</think>", "...\n</think>"
    )


def test_ollama_tool_call_arrives_whole_in_one_chunk():
    # Ollama /v1: each call whole in one chunk with an id and an index, finish_reason rewritten
    call = {
        "id": "call_abc",
        "index": 0,
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    lines = sse(
        delta(role="assistant", content="", tool_calls=[call]),
        delta("tool_calls"),
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    )
    pieces, end = run(lines)
    assert pieces == []
    assert end.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in end.tool_calls] == [("call_abc", "get_weather", '{"city":"Paris"}')]


def test_two_parallel_calls_interleaved_by_index():
    first = [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "a", "arguments": ""}},
        {"index": 1, "id": "call_2", "type": "function", "function": {"name": "b", "arguments": ""}},
    ]
    lines = sse(
        delta(tool_calls=first),
        delta(tool_calls=[{"index": 1, "function": {"arguments": '{"y":'}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '{"x":1}'}}]),
        delta(tool_calls=[{"index": 1, "function": {"arguments": "2}"}}]),
        # vLLM answers a named tool_choice with finish_reason "stop"
        delta("stop"),
    )
    _, end = run(lines)
    assert end.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in end.tool_calls] == [
        ("call_1", "a", '{"x":1}'),
        ("call_2", "b", '{"y":2}'),
    ]


def test_groq_usage_in_x_groq_and_empty_tool_calls_list_in_plain_deltas():
    # vercel/ai#1651 (x_groq.usage), Portkey-AI/gateway#1338 ("tool_calls": [])
    lines = sse(
        delta(content="ok", tool_calls=[]),
        {**delta("stop"), "x_groq": {"usage": {"prompt_tokens": 5, "completion_tokens": 1}}},
    )
    pieces, end = run(lines)
    assert pieces == ["ok"] and end.tool_calls == [] and end.usage == Usage(5, 1)


def test_completion_mode_reads_choice_text():
    lines = sse(
        {"choices": [{"index": 0, "text": "The", "finish_reason": None}]},
        {"choices": [{"index": 0, "text": " end", "finish_reason": "length"}]},
    )
    pieces, end = run(lines, completion_mode=True)
    assert pieces == ["The", " end"] and end.finish_reason == "length"


def test_stream_without_done_but_with_finish_reason_is_complete():
    pieces, end = run(sse(delta(content="x"), delta("stop"), done=False))
    assert pieces == ["x"] and end.finish_reason == "stop"


def test_stream_that_ends_without_finish_reason_raises():
    # Ollama /v1 after a runner error, Xinference: the stream just closes (quirks doc §1)
    with pytest.raises(StreamIncompleteError):
        run(sse(delta(content="partial"), done=False))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # vLLM / SGLang / LocalAI / current llama.cpp: {"error": {...}} then [DONE]
        ({"error": {"message": "boom", "type": "InternalServerError", "code": 500}}, InvokeServerUnavailableError),
        # TGI: {"error": {"message", "http_status_code": 422}}
        ({"error": {"message": "Input validation error", "http_status_code": 422}}, InvokeBadRequestError),
        # Xinference: {"error": "<string>"}, no [DONE]
        ({"error": "model crashed"}, InvokeServerUnavailableError),
        # goose#8031: {"object": "error", ...}
        ({"object": "error", "message": "bad things", "code": 400}, InvokeError),
    ],
)
def test_error_payload_inside_a_200_stream_raises_with_the_server_message(payload, expected):
    lines = sse(delta(content="partial"), payload)
    with pytest.raises(ReportedError) as info:
        run(lines)
    assert isinstance(to_invoke_error(info.value), expected)


def test_openrouter_finish_reason_error_raises():
    with pytest.raises(ReportedError) as info:
        run(sse(delta(content="x"), delta("error")))
    assert isinstance(to_invoke_error(info.value), InvokeServerUnavailableError)


def test_malformed_json_chunk_raises_value_error():
    with pytest.raises(ValueError):
        run(['data: {"choices": [', ""])


def test_start_in_reasoning_is_ignored_once_a_reasoning_field_was_seen():
    # thinking "on" with a server that separates reasoning (vLLM --reasoning-parser): the
    # content after the reasoning field is the answer, not more reasoning
    lines = sse(delta(reasoning="plan"), delta(content="Answer"), delta("stop"))
    assert content(*run(lines, start_in_reasoning=True)) == "<think>\nplan\n</think>Answer"


@pytest.mark.parametrize(
    "chunk",
    [
        {"choices": [1]},
        {"choices": {"0": {"delta": {"content": "x"}}}},
        {"choices": [{"delta": "text"}]},
        ["not", "an", "object"],
    ],
)
def test_malformed_chunks_are_the_servers_fault_not_a_bare_error(chunk):
    from oai_bridge.errors.invoke import translated_errors

    with pytest.raises(InvokeServerUnavailableError, match="unexpected shape"), translated_errors():
        run(sse(chunk, delta("stop")))
