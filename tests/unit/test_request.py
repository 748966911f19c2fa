"""Request building: Dify prompt messages, tools and parameters -> OpenAI-style request bodies.

Quirks covered: strict servers (Mistral 422,
Groq 400) reject unknown fields, vLLM in Mistral-tokenizer mode rejects `messages[].name`
(vllm-project/vllm#12864), vLLM rejects `stream_options` without `stream`, and some servers fail
on any content array (mozilla-ai/llamafile#760).
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

with warnings.catch_warnings():
    # Importing the SDK trips pydantic deprecation warnings inside it (pytest runs with -W error).
    warnings.simplefilter("ignore")
    from dify_plugin.entities.model.message import (
        AssistantPromptMessage,
        AudioPromptMessageContent,
        DeveloperPromptMessage,
        ImagePromptMessageContent,
        PromptMessage,
        PromptMessageTool,
        SystemPromptMessage,
        TextPromptMessageContent,
        ToolPromptMessage,
        UserPromptMessage,
        VideoPromptMessageContent,
    )

    from oai_bridge.chat.body import (
        build_completion_body,
        build_messages,
        messages_to_prompt,
        response_format_field,
        tool_to_openai,
    )
from dify_plugin.errors.model import InvokeBadRequestError

from oai_bridge.config.settings import Settings, parse_settings
from oai_bridge.errors.invoke import to_invoke_error
from oai_bridge.llm.call import plan_call

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WAV_B64 = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAESsAACJWAAACABAAZGF0YQAAAAA="


def settings(**form: Any) -> Settings:
    return parse_settings("my-model", {"base_url": "http://localhost:8000/v1", **form})


def chat_body(
    s: Settings,
    messages: Sequence[PromptMessage],
    params: dict[str, Any],
    *,
    tools: Sequence[PromptMessageTool] | None = None,
    stop: Sequence[str] | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    """The /chat/completions body of a call, as the model class has it built (`llm.call`)."""
    plan = plan_call(s, messages, params, tools=tools, stop=stop, stream=stream)
    assert plan.path == "/chat/completions"
    return plan.body


def image(
    detail: ImagePromptMessageContent.DETAIL = ImagePromptMessageContent.DETAIL.HIGH,
) -> ImagePromptMessageContent:
    return ImagePromptMessageContent(format="png", mime_type="image/png", base64_data=PNG_B64, detail=detail)


def weather_tool(parameters: dict[str, Any] | None = None) -> PromptMessageTool:
    return PromptMessageTool(
        name="get_weather",
        description="Weather for a city.",
        parameters=parameters
        if parameters is not None
        else {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )


def tool_call(call_id: str, name: str, arguments: str) -> AssistantPromptMessage.ToolCall:
    return AssistantPromptMessage.ToolCall(
        id=call_id,
        type="function",
        function=AssistantPromptMessage.ToolCall.ToolCallFunction(name=name, arguments=arguments),
    )


def conversation() -> list[PromptMessage]:
    """Every role and part type Dify sends, with a `name` on each message."""
    return [
        SystemPromptMessage(content="Be brief.", name="sys"),
        UserPromptMessage(
            content=[TextPromptMessageContent(data="What is in "), TextPromptMessageContent(data="this?"), image()],
            name="alice",
        ),
        AssistantPromptMessage(
            content="<think>\nhmm\n</think>\n\nLet me check.",
            tool_calls=[tool_call("call_1", "get_weather", '{"city": "Paris"}'), tool_call("call_2", "noop", "")],
            name="bot",
        ),
        ToolPromptMessage(content="18 C", tool_call_id="call_1", name="get_weather"),
        ToolPromptMessage(content="done", tool_call_id="call_2", name="noop"),
        UserPromptMessage(content="Thanks", name="alice"),
    ]


def name_parents(value: Any, parent: Any = None) -> Iterator[Any]:
    """The key (or list index) holding each dict that has a `name` key, anywhere in `value`."""
    if isinstance(value, dict):
        if "name" in value:
            yield parent
        for key, inner in value.items():
            yield from name_parents(inner, key)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from name_parents(inner, index)


# --- messages ----------------------------------------------------------------------------------


def test_system_and_developer_roles_become_system() -> None:
    # Most OpenAI-compatible servers reject the `developer` role.
    out = build_messages([SystemPromptMessage(content="A"), DeveloperPromptMessage(content="B")])
    assert out == [{"role": "system", "content": "A"}, {"role": "system", "content": "B"}]


def test_user_string_content_is_sent_as_is() -> None:
    assert build_messages([UserPromptMessage(content="Hello")]) == [{"role": "user", "content": "Hello"}]


def test_text_only_parts_are_flattened_to_one_string() -> None:
    # llamafile and other small servers fail on any content array (mozilla-ai/llamafile#760).
    message = UserPromptMessage(content=[TextPromptMessageContent(data="a "), TextPromptMessageContent(data="b")])
    assert build_messages([message]) == [{"role": "user", "content": "a b"}]


@pytest.mark.parametrize("detail", list(ImagePromptMessageContent.DETAIL))
def test_image_part_becomes_image_url_data_uri_with_detail(detail: ImagePromptMessageContent.DETAIL) -> None:
    message = UserPromptMessage(content=[TextPromptMessageContent(data="Describe"), image(detail)])
    assert build_messages([message]) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": detail.value},
                },
            ],
        }
    ]


def test_image_given_by_url_is_sent_by_url() -> None:
    part = ImagePromptMessageContent(format="png", mime_type="image/png", url="https://example.com/cat.png")
    content = build_messages([UserPromptMessage(content=[part])])[0]["content"]
    assert content == [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}]


def test_image_is_dropped_when_vision_is_off() -> None:
    message = UserPromptMessage(content=[TextPromptMessageContent(data="Describe"), image()])
    # Without the image only text is left, so it is flattened like any text-only content.
    assert build_messages([message], vision=False) == [{"role": "user", "content": "Describe"}]


def test_chat_body_drops_images_only_when_vision_setting_is_off() -> None:
    messages = [UserPromptMessage(content=[TextPromptMessageContent(data="Describe"), image()])]
    assert chat_body(settings(vision="off"), messages, {})["messages"][0]["content"] == "Describe"
    for vision in ("on", "auto"):
        content = chat_body(settings(vision=vision), messages, {})["messages"][0]["content"]
        assert [part["type"] for part in content] == ["text", "image_url"]


def test_audio_part_becomes_input_audio() -> None:
    part = AudioPromptMessageContent(format="wav", mime_type="audio/wav", base64_data=WAV_B64)
    message = UserPromptMessage(content=[TextPromptMessageContent(data="Transcribe"), part])
    assert build_messages([message])[0]["content"] == [
        {"type": "text", "text": "Transcribe"},
        {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
    ]


MP4_B64 = "AAAAIGZ0eXBpc29tAAACAGlzb21pc28yYXZjMW1wNDE="


def video_message(**source: str) -> list[PromptMessage]:
    part = VideoPromptMessageContent(format="mp4", mime_type="video/mp4", **source)
    return [UserPromptMessage(content=[TextPromptMessageContent(data="What happens?"), part])]


def test_a_video_goes_to_a_generic_server_as_video_url() -> None:
    content = chat_body(settings(video="on"), video_message(base64_data=MP4_B64), {})["messages"][0]["content"]
    assert content[1] == {"type": "video_url", "video_url": {"url": f"data:video/mp4;base64,{MP4_B64}"}}


def test_a_video_goes_to_llama_server_as_input_video_with_the_raw_base64() -> None:
    detected = settings(video="on", _detected_server="llama.cpp")
    content = chat_body(detected, video_message(base64_data=MP4_B64), {})["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "What happens?"},
        {"type": "input_video", "input_video": {"data": MP4_B64}},
    ]
    by_url = chat_body(detected, video_message(url="https://example.com/clip.mp4"), {})
    assert by_url["messages"][0]["content"][1] == {
        "type": "input_video",
        "input_video": {"url": "https://example.com/clip.mp4"},
    }


def test_assistant_tool_calls_have_null_content_and_openai_shape() -> None:
    message = AssistantPromptMessage(
        content="", tool_calls=[tool_call("call_1", "get_weather", '{"city": "Paris"}'), tool_call("c2", "noop", "")]
    )
    assert build_messages([message]) == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                # Empty arguments are sent as an empty JSON object: servers json-parse them.
                {"id": "c2", "type": "function", "function": {"name": "noop", "arguments": "{}"}},
            ],
        }
    ]


def test_assistant_tool_calls_keep_text_beside_them() -> None:
    message = AssistantPromptMessage(content="Checking.", tool_calls=[tool_call("c1", "f", "{}")])
    assert build_messages([message])[0]["content"] == "Checking."


def test_assistant_think_block_is_stripped_from_history() -> None:
    out = build_messages([AssistantPromptMessage(content="<think>\nsecret plan\n</think>\n\nThe answer.")])
    assert out == [{"role": "assistant", "content": "The answer."}]


def test_assistant_message_that_was_only_reasoning_with_tool_calls_has_null_content() -> None:
    message = AssistantPromptMessage(content="<think>\nplan\n</think>\n", tool_calls=[tool_call("c1", "f", "{}")])
    assert build_messages([message])[0]["content"] is None


def test_tool_message_keeps_tool_call_id() -> None:
    assert build_messages([ToolPromptMessage(content="18 C", tool_call_id="call_1", name="get_weather")]) == [
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}
    ]


def test_no_name_field_anywhere() -> None:
    # vLLM in Mistral-tokenizer mode rejects messages[].name (vllm-project/vllm#12864); Groq too.
    body = chat_body(settings(), conversation(), {"temperature": 0.1}, tools=[weather_tool()])
    # The only `name`s are function names (tool calls and tool definitions).
    assert set(name_parents(body)) == {"function"}
    assert all("name" not in message for message in body["messages"])


def test_whole_conversation_maps_every_role() -> None:
    assert [m["role"] for m in build_messages(conversation())] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "user",
    ]


def test_building_never_mutates_the_input() -> None:
    messages = conversation()
    tools = [weather_tool(), weather_tool({})]
    params = {"temperature": 0.5, "response_format": "json_schema", "json_schema": {"type": "object"}}
    stop = ["\n\nUser:"]
    before = [m.model_dump() for m in messages]
    tools_before = [t.model_dump() for t in tools]
    params_before = copy.deepcopy(params)
    s = settings(extra_body='{"chat_template_kwargs": {"enable_thinking": false}}')
    extra_before = copy.deepcopy(dict(s.extra_body))

    chat_body(s, messages, params, tools=tools, stop=stop, stream=True)
    build_completion_body(s, messages, params, stop=stop, stream=False)

    assert [m.model_dump() for m in messages] == before
    assert [t.model_dump() for t in tools] == tools_before
    assert params == params_before
    assert stop == ["\n\nUser:"]
    assert dict(s.extra_body) == extra_before


# --- top-level fields --------------------------------------------------------------------------


def test_minimal_body_has_only_standard_fields() -> None:
    body = chat_body(settings(), [UserPromptMessage(content="Hi")], {}, stream=False)
    assert body == {"model": "my-model", "messages": [{"role": "user", "content": "Hi"}]}


def test_endpoint_model_name_is_sent_as_model() -> None:
    body = chat_body(settings(endpoint_model_name="served"), [UserPromptMessage(content="Hi")], {})
    assert body["model"] == "served"


def test_parameters_are_sent_only_when_set() -> None:
    params = {
        "temperature": 0.0,
        "top_p": 0.9,
        "top_k": 40,
        "presence_penalty": None,
        "frequency_penalty": 0.5,
        "max_tokens": 256,
        "seed": None,
    }
    body = chat_body(settings(), [UserPromptMessage(content="Hi")], params, stream=False)
    assert {k: v for k, v in body.items() if k not in ("model", "messages")} == {
        "temperature": 0.0,
        "top_p": 0.9,
        "top_k": 40,
        "frequency_penalty": 0.5,
        "max_tokens": 256,
    }


def test_no_user_field_is_sent() -> None:
    # `user` is not a field most local servers define; strict ones reject it.
    body = chat_body(settings(), [UserPromptMessage(content="Hi")], {"user": "u-1"}, stream=True)
    assert "user" not in body


def test_unknown_parameters_are_not_forwarded() -> None:
    body = chat_body(settings(), [UserPromptMessage(content="Hi")], {"min_p": 0.1, "logit_bias": {}})
    assert "min_p" not in body
    assert "logit_bias" not in body


def test_stop_sequences_are_forwarded_as_a_list() -> None:
    body = chat_body(settings(), [UserPromptMessage(content="Hi")], {}, stop=("END", "\n\n"))
    assert body["stop"] == ["END", "\n\n"]
    assert "stop" not in chat_body(settings(), [UserPromptMessage(content="Hi")], {}, stop=[])


def test_stream_adds_stream_options_include_usage() -> None:
    body = chat_body(settings(), [UserPromptMessage(content="Hi")], {}, stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_non_stream_sends_neither_stream_nor_stream_options() -> None:
    # vLLM rejects stream_options when stream is not true.
    chat = chat_body(settings(), [UserPromptMessage(content="Hi")], {}, stream=False)
    completion = build_completion_body(settings(), [UserPromptMessage(content="Hi")], {}, stream=False)
    for body in (chat, completion):
        assert "stream" not in body
        assert "stream_options" not in body


# --- response_format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params", [{}, {"response_format": "text"}, {"response_format": ""}, {"response_format": None}]
)
def test_text_response_format_sends_no_field(params: dict[str, Any]) -> None:
    assert response_format_field(params) is None
    assert "response_format" not in chat_body(settings(), [UserPromptMessage(content="Hi")], params)


def test_json_object_response_format() -> None:
    body = chat_body(settings(), [UserPromptMessage(content="Hi")], {"response_format": "json_object"})
    assert body["response_format"] == {"type": "json_object"}


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def test_json_schema_in_difys_name_and_schema_shape_is_sent_unchanged() -> None:
    raw = json.dumps({"name": "answer_format", "schema": SCHEMA, "strict": True})
    assert response_format_field({"response_format": "json_schema", "json_schema": raw}) == {
        "type": "json_schema",
        "json_schema": {"name": "answer_format", "schema": SCHEMA, "strict": True},
    }


def test_json_schema_without_name_gets_one() -> None:
    raw = json.dumps({"schema": SCHEMA})
    assert response_format_field({"response_format": "json_schema", "json_schema": raw}) == {
        "type": "json_schema",
        "json_schema": {"schema": SCHEMA, "name": "response"},
    }


@pytest.mark.parametrize("raw", [json.dumps(SCHEMA), SCHEMA])
def test_bare_json_schema_is_wrapped(raw: Any) -> None:
    body = chat_body(
        settings(), [UserPromptMessage(content="Hi")], {"response_format": "json_schema", "json_schema": raw}
    )
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "response", "schema": SCHEMA}}


@pytest.mark.parametrize(
    ("params", "wording"),
    [
        ({"response_format": "json_schema"}, "json_schema"),
        ({"response_format": "json_schema", "json_schema": ""}, "json_schema"),
        ({"response_format": "json_schema", "json_schema": "{not json"}, "not valid JSON"),
        ({"response_format": "json_schema", "json_schema": "[1, 2]"}, "JSON object"),
        ({"response_format": "yaml"}, "text, json_object or json_schema"),
    ],
)
def test_unusable_response_format_raises_value_error(params: dict[str, Any], wording: str) -> None:
    with pytest.raises(ValueError, match=wording):
        response_format_field(params)


@pytest.mark.parametrize("api_type", ["chat_completions", "responses"])
@pytest.mark.parametrize(
    "params",
    [
        {"response_format": "json_schema"},
        {"response_format": "json_schema", "json_schema": "{not json"},
        {"response_format": "json_schema", "json_schema": "[1, 2]"},
        {"response_format": "yaml"},
    ],
)
def test_an_unusable_response_format_reaches_dify_as_a_bad_request_in_plain_words(
    params: dict[str, Any], api_type: str
) -> None:
    """The app's own parameter is wrong: a bad request whose message has no Python class name."""
    with pytest.raises(Exception) as raised:
        plan_call(
            settings(api_type=api_type), [UserPromptMessage(content="Hi")], params, tools=None, stop=None, stream=True
        )
    error = to_invoke_error(raised.value)
    assert type(error) is InvokeBadRequestError
    assert "response_format" in str(error) or "json_schema" in str(error)
    assert "ValueError" not in str(error)


def test_thinking_auto_sends_no_thinking_fields() -> None:
    # chat_template_kwargs / reasoning_effort are not OpenAI fields everywhere: only when set explicitly.
    body = chat_body(settings(thinking="auto"), [UserPromptMessage(content="Hi")], {}, stream=False)
    assert "chat_template_kwargs" not in body
    assert "reasoning_effort" not in body


def test_extra_body_overrides_the_thinking_switch() -> None:
    s = settings(thinking="off", extra_body='{"chat_template_kwargs": {"enable_thinking": true}}')
    body = chat_body(s, [UserPromptMessage(content="Hi")], {}, stream=False)
    assert body["chat_template_kwargs"] == {"enable_thinking": True}


# The app's own choice (enable_thinking / reasoning_effort, the official plugin's parameters)
# replaces the form's value, said in the form the server was found to honour.
PER_CALL_SWITCH = [
    # (saved thinking form, per-call parameters, the thinking fields sent)
    (
        "chat_template_kwargs",
        {"enable_thinking": False},
        {"chat_template_kwargs": {"enable_thinking": False, "thinking": False}},
    ),
    ("enable_thinking", {"enable_thinking": True}, {"enable_thinking": True}),
    ("thinking_type", {"enable_thinking": False}, {"thinking": {"type": "disabled"}}),
    ("reasoning_effort", {"enable_thinking": False}, {"reasoning_effort": "none"}),
    ("reasoning_effort", {"reasoning_effort": "high"}, {"reasoning_effort": "high"}),
    (
        "chat_template_kwargs",
        {"enable_thinking": True, "reasoning_effort": "low"},
        {
            "chat_template_kwargs": {"enable_thinking": True, "thinking": True, "reasoning_effort": "low"},
            "reasoning_effort": "low",
        },
    ),
    ("thinking_type", {"enable_thinking": False, "reasoning_effort": "high"}, {"thinking": {"type": "disabled"}}),
]
THINKING_KEYS = ("chat_template_kwargs", "enable_thinking", "thinking", "reasoning_effort")


@pytest.mark.parametrize(("form", "params", "sent"), PER_CALL_SWITCH)
@pytest.mark.parametrize("saved", ["auto", "on"])
def test_the_apps_thinking_choice_replaces_the_forms_in_the_servers_form(
    form: str, params: dict[str, Any], sent: dict[str, Any], saved: str
) -> None:
    s = settings(thinking=saved, _detected_thinking_form=form)
    body = chat_body(s, [UserPromptMessage(content="Hi")], params, stream=False)
    assert {k: body[k] for k in THINKING_KEYS if k in body} == sent


def test_unset_per_call_values_send_what_the_form_says() -> None:
    s = settings(thinking="on", _detected_thinking_form="enable_thinking")
    body = chat_body(s, [UserPromptMessage(content="Hi")], {"enable_thinking": None}, stream=False)
    assert {k: body[k] for k in THINKING_KEYS if k in body} == {"enable_thinking": True}


def test_a_per_call_switch_on_an_undetected_server_speaks_every_form_once() -> None:
    body = chat_body(settings(), [UserPromptMessage(content="Hi")], {"enable_thinking": False}, stream=False)
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "thinking": False}
    assert (body["enable_thinking"], body["thinking"], body["reasoning_effort"]) == (
        False,
        {"type": "disabled"},
        "none",
    )
    # Nothing of the app's parameters is copied raw beside the mapping.
    assert json.dumps(body).count('"enable_thinking"') == 2


def test_an_effort_goes_to_known_hosts_as_reasoning_effort() -> None:
    openai = settings(base_url="https://api.openai.com/v1")
    assert (
        chat_body(openai, [UserPromptMessage(content="Hi")], {"reasoning_effort": "high"}, stream=False)[
            "reasoning_effort"
        ]
        == "high"
    )
    # OpenAI's own Off is `minimal`; an app that chose `none` gets `none`.
    off = chat_body(openai, [UserPromptMessage(content="Hi")], {"reasoning_effort": "none"}, stream=False)
    assert off["reasoning_effort"] == "none"
    deepseek = settings(base_url="https://api.deepseek.com/v1", thinking="on")
    body = chat_body(deepseek, [UserPromptMessage(content="Hi")], {"enable_thinking": False}, stream=False)
    assert body["thinking"] == {"type": "disabled"}
    assert "chat_template_kwargs" not in body and "enable_thinking" not in body


# --- extra_body and tools ----------------------------------------------------------------------


def test_extra_body_is_merged_last_and_overrides() -> None:
    s = settings(extra_body='{"temperature": 0.2, "top_k": 20, "chat_template_kwargs": {"enable_thinking": false}}')
    body = chat_body(s, [UserPromptMessage(content="Hi")], {"temperature": 0.7}, stream=False)
    assert body["temperature"] == 0.2
    assert body["top_k"] == 20
    assert body["chat_template_kwargs"] == {"enable_thinking": False}


def test_extra_body_overrides_the_completion_body_too() -> None:
    s = settings(extra_body='{"max_tokens": 99, "min_p": 0.05}')
    body = build_completion_body(s, [UserPromptMessage(content="Hi")], {"max_tokens": 10}, stream=False)
    assert body["max_tokens"] == 99
    assert body["min_p"] == 0.05


@pytest.mark.parametrize("tool_calling", ["auto", "on"])
def test_tools_are_sent_unless_tool_calling_is_off(tool_calling: str) -> None:
    body = chat_body(settings(tool_calling=tool_calling), [UserPromptMessage(content="Hi")], {}, tools=[weather_tool()])
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city.",
                "parameters": weather_tool().parameters,
            },
        }
    ]


def test_tools_are_omitted_when_tool_calling_is_off() -> None:
    body = chat_body(settings(tool_calling="off"), [UserPromptMessage(content="Hi")], {}, tools=[weather_tool()])
    assert "tools" not in body


def test_no_tools_field_for_an_empty_tool_list() -> None:
    assert "tools" not in chat_body(settings(), [UserPromptMessage(content="Hi")], {}, tools=[])


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    assert tool_to_openai(weather_tool({}))["function"]["parameters"] == {"type": "object", "properties": {}}


# --- completion mode ---------------------------------------------------------------------------


def test_completion_prompt_for_a_single_user_message_is_its_text() -> None:
    message = UserPromptMessage(
        content=[TextPromptMessageContent(data="Once upon"), TextPromptMessageContent(data=" a")]
    )
    assert messages_to_prompt([message]) == "Once upon a"
    body = build_completion_body(settings(mode="completion"), [message], {"max_tokens": 5}, stream=True)
    assert body == {
        "model": "my-model",
        "max_tokens": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
        "prompt": "Once upon a",
    }


def test_completion_prompt_for_several_messages_is_a_transcript_ending_with_assistant() -> None:
    messages: Sequence[PromptMessage] = [
        SystemPromptMessage(content="Be brief."),
        UserPromptMessage(content="Hi"),
        AssistantPromptMessage(content="<think>\nplan\n</think>\n\nHello!"),
        UserPromptMessage(content="Bye"),
    ]
    prompt = messages_to_prompt(messages)
    assert prompt == "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: Bye\n\nAssistant:"
    assert prompt.endswith("Assistant:")
    assert "plan" not in prompt


def test_completion_body_has_no_messages_or_tools() -> None:
    body = build_completion_body(settings(), [UserPromptMessage(content="Hi")], {}, stop=["\n"], stream=False)
    assert body == {"model": "my-model", "stop": ["\n"], "prompt": "Hi"}


def test_openai_gets_max_completion_tokens_from_its_dialect() -> None:
    params = {"max_tokens": 64}
    openai_body = chat_body(parse_settings("o4-mini", {"base_url": "https://api.openai.com/v1"}), [], params)
    other_body = chat_body(parse_settings("m", {"base_url": "http://localhost:8000/v1"}), [], params)
    assert openai_body["max_completion_tokens"] == 64 and "max_tokens" not in openai_body
    assert other_body["max_tokens"] == 64 and "max_completion_tokens" not in other_body


def test_messages_of_the_base_class_are_sent_or_refused_by_explicit_checks() -> None:
    """A message whose class does not match its role (not what Dify's SDK parses, but what a caller
    could pass): an assistant turn is sent as its text, a tool result without its call id is a bad
    request in the plugin's words (was an AssertionError, or an AttributeError under python -O)."""
    from dify_plugin.entities.model.message import PromptMessageRole
    from dify_plugin.errors.model import InvokeBadRequestError

    from oai_bridge.errors.invoke import to_invoke_error
    from oai_bridge.errors.kinds import UnsendableInputError

    turn = PromptMessage(role=PromptMessageRole.ASSISTANT, content="earlier answer")
    assert build_messages([turn]) == [{"role": "assistant", "content": "earlier answer"}]
    result = PromptMessage(role=PromptMessageRole.TOOL, content="18 degrees")
    with pytest.raises(UnsendableInputError) as refused:
        build_messages([result])
    mapped = to_invoke_error(refused.value)
    assert isinstance(mapped, InvokeBadRequestError) and "tool call it answers" in str(mapped)
