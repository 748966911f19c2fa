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


# --- the app's own choice: enable_thinking / reasoning_effort (the official plugin's parameters) ---

# Each form of the switch as the server that reads it takes it (dialects.dialect.THINKING_FORMS is
# what the plugin sends; these are the servers' documented fields): saved form -> (Off, On).
SERVER_SWITCH = {
    # vLLM / SGLang / llama.cpp: the chat template's kwargs (Qwen3 enable_thinking, DeepSeek-V3.1 thinking)
    "chat_template_kwargs": (
        {"chat_template_kwargs": {"enable_thinking": False, "thinking": False}},
        {"chat_template_kwargs": {"enable_thinking": True, "thinking": True}},
    ),
    # Xinference, DashScope-style Qwen deployments: a top-level boolean
    "enable_thinking": ({"enable_thinking": False}, {"enable_thinking": True}),
    # GLM (Zhipu) and DeepSeek's API: thinking.type
    "thinking_type": ({"thinking": {"type": "disabled"}}, {"thinking": {"type": "enabled"}}),
    # Ollama /v1 and OpenAI: reasoning_effort, `none` is Off; On is the model's own default
    "reasoning_effort": ({"reasoning_effort": "none"}, {}),
}
THINKING_KEYS = ("chat_template_kwargs", "enable_thinking", "thinking", "reasoning_effort")


def thinking_sent(server):
    body = server.last.json
    return {key: body[key] for key in THINKING_KEYS if key in body}


def ask_with(plugin, server, credentials, parameters, *, stream=True):
    return plugin.invoke(
        "invoke_llm",
        model="qwen3",
        credentials={"base_url": server.base_url, **credentials},
        prompt_messages=USER,
        model_parameters=parameters,
        stream=stream,
    ).raise_for_error()


@pytest.mark.parametrize("form", list(SERVER_SWITCH))
def test_an_apps_off_on_a_model_saved_on_is_sent_in_the_servers_form_and_wraps_nothing(plugin, fake_server, form):
    # The server honours Off and answers straight away. Saved On with the template's habit unknown
    # would read that start as reasoning; the app's Off must not.
    fake_server.always(sse_response([chat_chunk("4", role="assistant"), chat_chunk(finish_reason="stop")]))
    saved = {"thinking": "on", "_detected_thinking_form": form}
    assert ask_with(plugin, fake_server, saved, {"enable_thinking": False}).text == "4"
    assert thinking_sent(fake_server) == SERVER_SWITCH[form][0]


@pytest.mark.parametrize("form", list(SERVER_SWITCH))
def test_an_apps_on_on_an_auto_model_is_sent_and_shows_the_reasoning(plugin, fake_server, form):
    # Saved Auto on a model whose ping showed no reasoning: it would hide what the server sends.
    fake_server.always(
        sse_response(
            [
                chat_chunk(reasoning_content="2 and 2", role="assistant"),
                chat_chunk("4"),
                chat_chunk(finish_reason="stop"),
            ]
        )
    )
    saved = {"thinking": "auto", "_detected_thinking": "false", "_detected_thinking_form": form}
    assert ask_with(plugin, fake_server, saved, {}).text == "4"
    assert thinking_sent(fake_server) == {}
    assert ask_with(plugin, fake_server, saved, {"enable_thinking": True}).text == "<think>\n2 and 2\n</think>4"
    assert thinking_sent(fake_server) == SERVER_SWITCH[form][1]


def ollama_chunk(**delta):
    # Ollama /v1 streams reasoning as `reasoning` (not reasoning_content)
    return {
        "id": "chatcmpl-7",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-oss:20b",
        "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "delta": {"role": "assistant", **delta}, "finish_reason": None}],
    }


def test_an_apps_reasoning_effort_reaches_the_server_and_none_means_off(plugin, fake_server):
    fake_server.always(
        sse_response(
            [ollama_chunk(content="", reasoning="Add."), ollama_chunk(content="4"), chat_chunk(finish_reason="stop")]
        )
    )
    saved = {"thinking": "auto", "_detected_thinking_form": "reasoning_effort"}
    assert ask_with(plugin, fake_server, saved, {"reasoning_effort": "high"}).text == "<think>\nAdd.\n</think>4"
    assert thinking_sent(fake_server) == {"reasoning_effort": "high"}
    # `none` alone is the app's Off: sent, and reasoning the server still sends is not shown
    assert ask_with(plugin, fake_server, saved, {"reasoning_effort": "none"}).text == "4"
    assert thinking_sent(fake_server) == {"reasoning_effort": "none"}


def test_an_effort_rides_in_the_template_kwargs_where_the_server_reads_them(plugin, fake_server):
    # gpt-oss chat templates (vLLM, llama.cpp) read reasoning_effort from chat_template_kwargs
    fake_server.always(sse_response([chat_chunk("4", role="assistant"), chat_chunk(finish_reason="stop")]))
    saved = {"thinking": "on", "_detected_thinking_form": "chat_template_kwargs", "_detected_think_in_prompt": "false"}
    ask_with(plugin, fake_server, saved, {"reasoning_effort": "low"})
    assert thinking_sent(fake_server) == {
        "chat_template_kwargs": {"enable_thinking": True, "thinking": True, "reasoning_effort": "low"},
        "reasoning_effort": "low",
    }


def test_an_apps_off_hides_reasoning_in_a_blocking_answer_too(plugin, fake_server):
    fake_server.always(json_response(chat_completion("4", reasoning_content="2 and 2")))
    saved = {"thinking": "on", "_detected_thinking_form": "thinking_type"}
    assert ask_with(plugin, fake_server, saved, {"enable_thinking": False}, stream=False).text == "4"
    assert thinking_sent(fake_server) == {"thinking": {"type": "disabled"}}
    shown = ask_with(
        plugin, fake_server, {"thinking": "auto", "_detected_thinking": "false"}, {"enable_thinking": True}
    )
    assert shown.text == "<think>\n2 and 2\n</think>4"


def dropped_lines(plugin, server):
    return [
        str(entry.get("message"))
        for entry in plugin.logs
        if server.origin.split("//")[1] in str(entry.get("message")) and "reasoning_effort" in str(entry.get("message"))
    ]


def test_a_refused_choice_is_shed_and_said_once_per_value(plugin, fake_server):
    # Mistral-style 422 extra_forbidden for reasoning_effort: the call is answered without it,
    # and ONE log line names the setting that was left out, per value the apps chose.
    def refusal():
        detail = [
            {"type": "extra_forbidden", "loc": ["body", "reasoning_effort"], "msg": "Extra inputs are not permitted"}
        ]
        return json_response({"object": "error", "message": {"detail": detail}}, status=422)

    fake_server.add(refusal())
    fake_server.always(sse_response([chat_chunk("4", role="assistant"), chat_chunk(finish_reason="stop")]))
    saved = {"_detected_thinking_form": "reasoning_effort"}
    assert ask_with(plugin, fake_server, saved, {"reasoning_effort": "high"}).text == "4"
    assert "reasoning_effort" not in fake_server.last.json
    (line,) = dropped_lines(plugin, fake_server)
    assert "`reasoning_effort`" in line and '"high"' in line
    ask_with(plugin, fake_server, saved, {"reasoning_effort": "high"})  # learned: no refusal, no new line
    assert len(dropped_lines(plugin, fake_server)) == 1
    ask_with(plugin, fake_server, saved, {"reasoning_effort": "low"})  # another app's choice is said too
    lines = dropped_lines(plugin, fake_server)
    assert len(lines) == 2 and '"low"' in lines[1]
    assert len(fake_server.requests_to("/v1/chat/completions")) == 4  # one refusal, three answers


@pytest.mark.parametrize(("thinking", "offered"), [("auto", True), ("on", True), ("off", False)])
def test_dify_is_offered_the_per_app_choice_unless_the_model_never_thinks(plugin, thinking, offered):
    credentials = {"base_url": "http://127.0.0.1:9/v1", "thinking": thinking, "_detected_context_size": "8192"}
    schema = plugin.invoke("get_ai_model_schemas", model="qwen3", credentials=credentials).raise_for_error()
    rules = {rule["name"]: rule for rule in schema.result["model_schema"]["parameter_rules"]}
    assert ("enable_thinking" in rules, "reasoning_effort" in rules) == (offered, offered)
    if offered:
        assert (rules["enable_thinking"]["type"], rules["enable_thinking"]["default"]) == ("boolean", None)
        assert rules["enable_thinking"]["label"]["en_US"] == "Thinking mode"
        assert {"none", "minimal", "low", "medium", "high"} <= set(rules["reasoning_effort"]["options"])
        assert rules["reasoning_effort"]["default"] is None
