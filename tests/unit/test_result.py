"""parse_completion: a whole (non-streamed) chat or completion answer -> Dify content, tool calls
and usage. Reasoning, from any server's field or inline tags, is rendered as Dify's convention,
exactly `<think>\\n{reasoning}\\n</think>{text}` (quirks doc §2)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    # Importing the SDK trips pydantic deprecation warnings inside it (pytest runs with -W error).
    warnings.simplefilter("ignore")
    from dify_plugin.errors.model import InvokeBadRequestError, InvokeError, InvokeServerUnavailableError

    from oai_bridge.chat.answer import parse_completion
    from oai_bridge.errors.invoke import to_invoke_error
    from oai_bridge.errors.kinds import ReportedError, TruncatedToolCallError
from oai_bridge.chat.events import Usage


def chat(message: dict[str, Any], *, finish: str | None = "stop", usage: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
    }
    if usage is not None:
        data["usage"] = usage
    return data


def rendered(reasoning: str, text: str) -> str:
    return f"<think>\n{reasoning}\n</think>{text}"


# --- plain text --------------------------------------------------------------------------------


def test_plain_answer() -> None:
    result = parse_completion(chat({"content": "Paris."}))
    assert result.content == "Paris."
    assert result.finish_reason == "stop"
    assert result.tool_calls == []
    assert result.usage is None


def test_null_content_is_empty_text() -> None:
    assert parse_completion(chat({"content": None})).content == ""


def test_missing_finish_reason_defaults_to_stop() -> None:
    assert parse_completion(chat({"content": "x"}, finish=None)).finish_reason == "stop"


def test_length_finish_reason_is_kept() -> None:
    assert parse_completion(chat({"content": "x"}, finish="length")).finish_reason == "length"


def test_content_given_as_part_list_is_joined() -> None:
    content = [{"type": "text", "text": "Par"}, {"type": "text", "text": "is."}]
    assert parse_completion(chat({"content": content})).content == "Paris."


# --- reasoning ---------------------------------------------------------------------------------


def test_reasoning_content_field_deepseek_sglang() -> None:
    result = parse_completion(chat({"reasoning_content": "The capital is Paris.", "content": "Paris."}))
    assert result.content == rendered("The capital is Paris.", "Paris.")
    assert result.content == "<think>\nThe capital is Paris.\n</think>Paris."


def test_reasoning_field_vllm_and_ollama() -> None:
    # vLLM >= 0.17 and Ollama name it `reasoning`.
    result = parse_completion(chat({"reasoning": "The capital is Paris.", "content": "Paris."}))
    assert result.content == rendered("The capital is Paris.", "Paris.")


def test_reasoning_content_wins_over_reasoning_when_both_are_sent() -> None:
    result = parse_completion(chat({"reasoning_content": "A", "reasoning": "A", "content": "B"}))
    assert result.content == rendered("A", "B")


def test_inline_think_tags() -> None:
    # vLLM without --reasoning-parser, llama.cpp --reasoning-format none.
    result = parse_completion(chat({"content": "<think>\nThe capital is Paris.\n</think>\n\nParis."}))
    # The newline the model put before `</think>` is not doubled.
    assert result.content == rendered("The capital is Paris.", "Paris.")


def test_missing_opening_tag_is_still_reasoning() -> None:
    # DeepSeek-R1 distills and QwQ put `<think>` in the prompt: the answer starts inside it.
    result = parse_completion(chat({"content": "The capital is Paris.</think>\n\nParis."}))
    assert result.content == rendered("The capital is Paris.", "Paris.")


def test_reasoning_only_answer_still_closes_the_block() -> None:
    result = parse_completion(chat({"reasoning_content": "Thinking...", "content": ""}, finish="length"))
    assert result.content == rendered("Thinking...", "")


def test_empty_reasoning_field_adds_no_block() -> None:
    assert parse_completion(chat({"reasoning_content": "", "reasoning": None, "content": "Paris."})).content == "Paris."


def test_think_tag_later_in_the_text_is_literal() -> None:
    content = "Wrap reasoning in a <think> tag."
    assert parse_completion(chat({"content": content})).content == content


@pytest.mark.parametrize(
    "message",
    [
        {"reasoning_content": "secret plan", "content": "Paris."},
        {"reasoning": "secret plan", "content": "Paris."},
        {"content": "<think>\nsecret plan\n</think>\n\nParis."},
        {"content": "secret plan</think>\n\nParis."},
    ],
    ids=["reasoning_content", "reasoning", "inline", "missing-open-tag"],
)
def test_hidden_thinking_shows_only_the_answer(message: dict[str, Any]) -> None:
    result = parse_completion(chat(message), show_reasoning=False)
    assert result.content == "Paris."
    assert "secret plan" not in result.content
    assert "think>" not in result.content


# --- tool calls --------------------------------------------------------------------------------


def test_tool_calls_are_returned_and_finish_reason_forced_to_tool_calls() -> None:
    # Several servers answer finish_reason "stop" beside tool calls (quirks doc rule 6).
    message = {
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ],
    }
    result = parse_completion(chat(message, finish="stop"))
    assert result.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_a", "get_weather", '{"city": "Paris"}'),
        ("call_b", "get_time", "{}"),
    ]
    assert result.content == ""


def test_tool_call_arguments_given_as_object_are_serialised() -> None:
    # Older TGI (huggingface/text-generation-inference#2461) sent arguments as an object.
    message = {"tool_calls": [{"id": "", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]}
    (call,) = parse_completion(chat(message, finish="tool_calls")).tool_calls
    assert json.loads(call.arguments) == {"x": 1}
    assert call.id  # an empty id is replaced


def test_empty_tool_call_list_keeps_the_finish_reason() -> None:
    # Groq sends `"tool_calls": []` on plain answers.
    result = parse_completion(chat({"content": "Hi", "tool_calls": []}))
    assert result.finish_reason == "stop"
    assert result.tool_calls == []


def test_tool_call_cut_off_by_max_tokens_is_refused() -> None:
    message = {"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"city": "Pa'}}]}
    with pytest.raises(TruncatedToolCallError, match="`f`"):
        parse_completion(chat(message, finish="length"))


def test_complete_tool_call_with_length_finish_is_accepted() -> None:
    message = {"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}
    assert parse_completion(chat(message, finish="length")).finish_reason == "tool_calls"


def test_tool_calls_beside_reasoning() -> None:
    message = {
        "reasoning_content": "Need weather.",
        "content": "",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
    }
    result = parse_completion(chat(message, finish="tool_calls"))
    assert result.content == rendered("Need weather.", "")
    assert [c.name for c in result.tool_calls] == ["get_weather"]


# --- usage -------------------------------------------------------------------------------------


def test_usage_is_read_when_present() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert parse_completion(chat({"content": "x"}, usage=usage)).usage == Usage(prompt_tokens=12, completion_tokens=3)


def test_groq_usage_under_x_groq() -> None:
    data = chat({"content": "x"})
    data["x_groq"] = {"id": "req_1", "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
    assert parse_completion(data).usage == Usage(5, 2)


@pytest.mark.parametrize("usage", [None, {}, {"prompt_tokens": "5", "completion_tokens": "1"}])
def test_usage_absent_or_unreadable_is_none(usage: Any) -> None:
    data = chat({"content": "x"})
    if usage is not None:
        data["usage"] = usage
    assert parse_completion(data).usage is None


@pytest.mark.parametrize(
    ("usage", "kept"),
    [
        ({"prompt_tokens": 5}, Usage(5, None)),
        ({"completion_tokens": 7}, Usage(None, 7)),
        ({"prompt_tokens": "5", "completion_tokens": 1}, Usage(None, 1)),
    ],
)
def test_partial_usage_keeps_the_side_the_server_reported(usage: Any, kept: Usage) -> None:
    data = chat({"content": "x"})
    data["usage"] = usage
    assert parse_completion(data).usage == kept


# --- completion mode ---------------------------------------------------------------------------


def test_completion_mode_reads_text() -> None:
    data = {
        "object": "text_completion",
        "choices": [{"index": 0, "text": " upon a time", "finish_reason": "length"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6},
    }
    result = parse_completion(data, completion_mode=True)
    assert result.content == " upon a time"
    assert result.finish_reason == "length"
    assert result.usage == Usage(2, 4)


def test_completion_mode_with_inline_think_tags() -> None:
    data = {"choices": [{"index": 0, "text": "<think>hmm</think>Answer", "finish_reason": "stop"}]}
    assert parse_completion(data, completion_mode=True).content == rendered("hmm", "Answer")


def test_chat_mode_does_not_read_text() -> None:
    data = {"choices": [{"index": 0, "text": "legacy", "message": {"content": "chat"}, "finish_reason": "stop"}]}
    assert parse_completion(data).content == "chat"


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"error": {"message": "bad tool schema", "type": "BadRequestError", "code": 400}}, InvokeBadRequestError),
        ({"error": "model crashed"}, InvokeServerUnavailableError),
        ({"object": "error", "message": "model crashed", "type": "InternalServerError"}, InvokeServerUnavailableError),
    ],
)
def test_error_body_raises_an_invoke_error(data: dict[str, Any], cls: type[InvokeError]) -> None:
    with pytest.raises(ReportedError) as info:
        parse_completion(data)
    assert type(to_invoke_error(info.value)) is cls


def test_explicit_null_error_is_not_an_error() -> None:
    data = chat({"content": "fine"})
    data["error"] = None
    assert parse_completion(data).content == "fine"


@pytest.mark.parametrize(
    ("choices", "message"), [(None, "no choices"), ([], "no choices"), ("nope", "text where a list was expected")]
)
def test_no_choices_is_a_value_error(choices: Any, message: str) -> None:
    data: dict[str, Any] = {"id": "x", "object": "chat.completion"}
    if choices is not None:
        data["choices"] = choices
    with pytest.raises(ValueError, match=message):
        parse_completion(data)


@pytest.mark.parametrize("data", [None, [], "text", 42])
def test_non_object_response_is_a_value_error(data: Any) -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_completion(data)
