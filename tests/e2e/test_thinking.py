"""The thinking setting through Dify's stdio runtime: what reaches the server, and how
reasoning reaches Dify (`<think>\\n…\\n</think>` ahead of the answer, or not at all)."""

from __future__ import annotations

import pytest

from tests.support.fake_server import chat_chunk, chat_completion, json_response, sse_response

pytestmark = pytest.mark.timeout(120)
USER = [{"role": "user", "content": "2+2?"}]


def ask(plugin, server, *, thinking, stream=True):
    return plugin.invoke(
        "invoke_llm",
        model="r1",
        credentials={"base_url": server.base_url, "thinking": thinking},
        prompt_messages=USER,
        stream=stream,
    ).raise_for_error()


@pytest.mark.parametrize("stream", [True, False])
def test_thinking_on_with_the_opening_tag_in_the_prompt(plugin, fake_server, stream):
    # DeepSeek-R1 distills / QwQ on vLLM without --reasoning-parser: the chat template ends the
    # prompt with "<think>\n", so the output starts with reasoning and only closes the tag
    if stream:
        fake_server.always(
            sse_response(
                [
                    chat_chunk("Two plus", role="assistant"),
                    chat_chunk(" two.</th"),
                    chat_chunk("ink>\n\n4"),
                    chat_chunk(finish_reason="stop"),
                ]
            )
        )
    else:
        fake_server.always(json_response(chat_completion("Two plus two.</think>\n\n4")))
    assert ask(plugin, fake_server, thinking="on", stream=stream).text == "<think>\nTwo plus two.\n</think>4"
    assert fake_server.last.json["chat_template_kwargs"] == {"enable_thinking": True, "thinking": True}


def test_thinking_off_hides_reasoning_and_asks_the_server_not_to_think(plugin, fake_server):
    fake_server.always(
        sse_response([chat_chunk(reasoning_content="hmm"), chat_chunk("4"), chat_chunk(finish_reason="stop")])
    )
    assert ask(plugin, fake_server, thinking="off").text == "4"
    body = fake_server.last.json
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "thinking": False}
    assert body["reasoning_effort"] == "none"


def test_thinking_auto_sends_nothing_and_shows_reasoning(plugin, fake_server):
    fake_server.always(
        sse_response([chat_chunk(reasoning_content="hmm"), chat_chunk("4"), chat_chunk(finish_reason="stop")])
    )
    assert ask(plugin, fake_server, thinking="auto").text == "<think>\nhmm\n</think>4"
    assert "chat_template_kwargs" not in fake_server.last.json and "reasoning_effort" not in fake_server.last.json


def test_a_strict_server_that_rejects_the_thinking_fields_still_answers(plugin, fake_server):
    # Mistral-style 422 extra_forbidden for chat_template_kwargs, then for reasoning_effort
    def rejection(field):
        return json_response(
            {
                "object": "error",
                "message": {
                    "detail": [
                        {"type": "extra_forbidden", "loc": ["body", field], "msg": "Extra inputs are not permitted"}
                    ]
                },
            },
            status=422,
        )

    fake_server.add(rejection("chat_template_kwargs"), rejection("reasoning_effort"))
    fake_server.always(sse_response([chat_chunk("4"), chat_chunk(finish_reason="stop")]))
    assert ask(plugin, fake_server, thinking="off").text == "4"
    last = fake_server.last.json
    assert "chat_template_kwargs" not in last and "reasoning_effort" not in last


HISTORY_WITH_TOOL_TURN = [
    {"role": "user", "content": "weather in Paris?"},
    {
        "role": "assistant",
        "content": "<think>\nI should call the tool.\n</think>",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
    },
    {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
]


def test_deepseek_gets_reasoning_back_on_tool_call_turns(plugin_factory, fake_server):
    # DeepSeek thinking mode answers 400 unless assistant tool-call turns carry reasoning_content
    # (api-docs.deepseek.com/guides/thinking_mode). Reached through a proxy from the daemon's env.
    plugin = plugin_factory(env={"HTTP_PROXY": fake_server.origin, "NO_PROXY": ""})
    fake_server.always(sse_response([chat_chunk("It is sunny."), chat_chunk(finish_reason="stop")]))
    plugin.invoke(
        "invoke_llm",
        model="deepseek-reasoner",
        credentials={"base_url": "http://api.deepseek.com/v1"},
        prompt_messages=HISTORY_WITH_TOOL_TURN,
    ).raise_for_error()
    sent = fake_server.last.json["messages"][1]
    assert sent["reasoning_content"] == "I should call the tool." and sent["content"] is None


def test_other_servers_get_history_without_reasoning(plugin, fake_server):
    # Mistral rejects reasoning_content as extra_forbidden (charmbracelet/crush#1590)
    fake_server.always(sse_response([chat_chunk("ok"), chat_chunk(finish_reason="stop")]))
    plugin.invoke(
        "invoke_llm", model="m", credentials={"base_url": fake_server.base_url}, prompt_messages=HISTORY_WITH_TOOL_TURN
    ).raise_for_error()
    sent = fake_server.last.json["messages"][1]
    assert "reasoning_content" not in sent and sent["content"] is None


@pytest.mark.parametrize(("in_prompt", "shown"), [("false", "4"), ("true", "<think>\n4\n</think>")])
def test_thinking_on_reads_the_start_as_reasoning_only_when_the_template_opens_the_tag(
    plugin, fake_server, in_prompt, shown
):
    # A model that answers straight away (no tag, no reasoning field) must not have its answer shown
    # as reasoning; what the model does was detected when it was saved.
    fake_server.always(sse_response([chat_chunk("4", role="assistant"), chat_chunk(finish_reason="stop")]))
    credentials = {"base_url": fake_server.base_url, "thinking": "on", "_detected_think_in_prompt": in_prompt}
    answer = plugin.invoke("invoke_llm", model="r1", credentials=credentials, prompt_messages=USER, stream=True)
    assert answer.raise_for_error().text == shown


@pytest.mark.parametrize(("content", "saved"), [("Two plus two.</think>\n\n4", "true"), ("4", "false")])
def test_saving_detects_whether_the_template_opens_the_think_tag(plugin, fake_server, content, saved):
    fake_server.always(json_response({"object": "list", "data": [{"id": "r1"}]}), path="/v1/models")
    fake_server.always(json_response(chat_completion(content)), path="/v1/chat/completions")
    credentials = {"base_url": fake_server.base_url, "thinking": "on", "tool_calling": "off", "vision": "off"}
    result = plugin.invoke("validate_model_credentials", model="r1", credentials=credentials, model_type="llm")
    assert result.raise_for_error().result["credentials"]["_detected_think_in_prompt"] == saved
