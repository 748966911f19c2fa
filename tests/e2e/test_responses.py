"""Responses API mode (issue 22) through Dify's stdio runtime, against loopback servers that
replay the event streams as OpenAI documents them and as vLLM's and Ollama's source write them
(tests/support/responses_streams.py). Each case asserts what Dify sees: text with the `<think>`
block, tool calls by `call_id`, usage, the finish reason, or the error class with the server's
words, and what the plugin sent."""

from __future__ import annotations

import json

import pytest

from tests.support.fake_server import RESET, STALL, Delay, FakeServer, Response, json_response, stall
from tests.support.responses_streams import FLAVORS, stream_bytes, text_events, tool_events, whole_response

pytestmark = pytest.mark.timeout(120)

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "What is the capital of France?"}]
ANSWER_PIECES = ["The capital", " of France", " is Paris."]
ANSWER = "".join(ANSWER_PIECES)
HEADERS = {
    "openai": (
        ("Date", "Fri, 31 Oct 2025 08:40:00 GMT"),
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("openai-processing-ms", "184"),
        ("x-request-id", "req_3c4e5f6a7b8c9d0e"),
    ),
    "vllm": (
        ("date", "Fri, 31 Oct 2025 08:40:00 GMT"),
        ("server", "uvicorn"),
        ("content-type", "text/event-stream; charset=utf-8"),
    ),
    "ollama": (
        ("Cache-Control", "no-cache"),
        ("Connection", "keep-alive"),
        ("Content-Type", "text/event-stream"),
        ("Date", "Fri, 31 Oct 2025 08:40:00 GMT"),
    ),
}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def replay(flavor: str, events, *, then=None) -> Response:
    pieces = stream_bytes(flavor, events)
    if then is not None:
        pieces = [*pieces, *then]
    return Response(status=200, headers=HEADERS[flavor], pieces=pieces, chunked=True)


def creds(server: FakeServer, **extra: str) -> dict[str, str]:
    return {"base_url": server.base_url, "max_retries": "0", "timeout": "10", "api_type": "responses", **extra}


def chat(plugin, server, *, stream=True, messages=USER, tools=None, params=None, stop=None, **extra):
    return plugin.invoke(
        "invoke_llm",
        model="m",
        credentials=creds(server, **extra),
        prompt_messages=messages,
        model_parameters=params if params is not None else {"max_tokens": 256},
        tools=tools,
        stop=stop,
        stream=stream,
    )


def sent(server: FakeServer) -> list[dict]:
    """The request bodies, and proof that every request went to /responses."""
    assert [r.path for r in server.requests] == [RESPONSES] * len(server.requests)
    return [r.json for r in server.requests]


def usage_of(result) -> tuple[int, int]:
    usage = result.usage
    assert usage is not None
    return usage["prompt_tokens"], usage["completion_tokens"]


# -- streamed answers, as each server writes them ------------------------------------------
@pytest.mark.parametrize("flavor", FLAVORS)
def test_streamed_text_with_usage_from_response_completed(plugin, fake_server, flavor):
    fake_server.always(replay(flavor, text_events(flavor, ANSWER_PIECES, usage=(12, 7))))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == ANSWER
    assert result.finish_reason == "stop"
    assert usage_of(result) == (12, 7)  # the server's counts, not an estimate
    (body,) = sent(fake_server)
    assert body["stream"] is True and body["store"] is False
    assert body["input"] == [{"type": "message", "role": "user", "content": "What is the capital of France?"}]
    assert body["max_output_tokens"] == 256
    assert not {"stop", "max_tokens", "stream_options", "messages", "previous_response_id"} & body.keys()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_reasoning_is_the_think_block(plugin, fake_server, flavor):
    reasoning = ["The user asks", " for France's capital."]
    fake_server.always(replay(flavor, text_events(flavor, ANSWER_PIECES, reasoning=reasoning)))
    result = chat(plugin, fake_server, thinking="on").raise_for_error()
    assert result.text == f"<think>\nThe user asks for France's capital.\n</think>{ANSWER}"
    (body,) = sent(fake_server)
    assert body["reasoning"] == {"summary": "auto"}  # thinking wanted: summaries asked for


@pytest.mark.parametrize(
    ("form", "params", "reasoning"),
    [
        ({"thinking": "off"}, {}, {"effort": "none"}),
        ({}, {"enable_thinking": False}, {"effort": "none"}),
        ({}, {"reasoning_effort": "high"}, {"effort": "high", "summary": "auto"}),
        ({"thinking": "on"}, {"reasoning_effort": "low"}, {"effort": "low", "summary": "auto"}),
        ({}, {"enable_thinking": True}, {"summary": "auto"}),
        ({}, {}, None),  # Auto on a model never seen reasoning: the server's default
    ],
)
def test_the_calls_thinking_choice_is_reasoning_effort(plugin, fake_server, form, params, reasoning):
    fake_server.always(replay("openai", text_events("openai", ANSWER_PIECES)))
    chat(plugin, fake_server, params={"max_tokens": 64, **params}, **form).raise_for_error()
    (body,) = sent(fake_server)
    assert body.get("reasoning") == reasoning
    assert not {"enable_thinking", "reasoning_effort", "chat_template_kwargs", "thinking"} & body.keys()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_several_tool_calls_by_call_id(plugin, fake_server, flavor):
    calls = [
        ("call_Kx2q9", "get_weather", '{"city": "Paris"}'),
        ("call_Zr4t1", "get_weather", '{"city": "Berlin"}'),
    ]
    fake_server.always(replay(flavor, tool_events(flavor, calls, usage=(40, 22))))
    result = chat(plugin, fake_server, tools=[WEATHER_TOOL]).raise_for_error()
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in result.tool_calls] == calls
    assert result.finish_reason == "tool_calls"
    assert usage_of(result) == (40, 22)
    (body,) = sent(fake_server)
    assert body["tools"] == [{"type": "function", **WEATHER_TOOL}]  # flat, not under `function`


@pytest.mark.parametrize("flavor", ["openai", "vllm"])  # Ollama never ends `incomplete`
def test_incomplete_for_max_output_tokens_is_length(plugin, fake_server, flavor):
    events = text_events(flavor, ANSWER_PIECES[:2], end="incomplete", usage=(12, 4))
    fake_server.always(replay(flavor, events))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == "The capital of France"
    assert result.finish_reason == "length"
    assert usage_of(result) == (12, 4)


def test_incomplete_for_the_content_filter(plugin, fake_server):
    events = text_events("openai", ANSWER_PIECES[:1], end="incomplete", incomplete_reason="content_filter")
    fake_server.always(replay("openai", events))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.finish_reason == "content_filter"


def test_response_failed_is_a_server_error_with_its_words(plugin, fake_server):
    fake_server.always(replay("openai", text_events("openai", ANSWER_PIECES[:1], end="failed")))
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeServerUnavailableError", result.error
    assert "The model produced invalid content" in result.error["message"]


def test_error_event_rate_limit(plugin, fake_server):
    error = {
        "type": "error",
        "sequence_number": 2,
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached for gpt-5 on tokens per min.",
        "param": None,
    }
    events = stream_bytes("openai", text_events("openai", [])[:2])
    pieces = [*events, f"event: error\ndata: {json.dumps(error, separators=(',', ':'))}\n\n".encode()]
    fake_server.always(Response(status=200, headers=HEADERS["openai"], pieces=pieces, chunked=True))
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeRateLimitError", result.error
    assert "Rate limit reached for gpt-5" in result.error["message"]


def test_a_stream_cut_before_its_end_event_is_retried_then_reported(plugin, fake_server):
    # no response.completed and no output: retried under the one policy, then named
    events = text_events("openai", [])[:2]
    fake_server.always(
        Response(status=200, headers=HEADERS["openai"], pieces=stream_bytes("openai", events), chunked=True)
    )
    result = chat(plugin, fake_server, max_retries="1")
    assert result.error_type == "InvokeServerUnavailableError", result.error
    assert "stream ended before the server finished" in result.error["message"]
    assert len(sent(fake_server)) == 2


def test_the_stream_ends_at_response_completed_even_if_the_server_keeps_it_open(plugin, fake_server):
    # a server that never closes after its end event: the answer is complete at response.completed
    fake_server.always(replay("vllm", text_events("vllm", ANSWER_PIECES), then=[STALL]))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == ANSWER and result.finish_reason == "stop"


# -- stop strings: applied by the plugin ---------------------------------------------------
def test_stop_string_split_across_deltas_cuts_the_answer_and_ends_the_request(plugin, fake_server):
    pieces = ["Paris is the cap", "ital.\nUs", "er: and Berlin?", " more text"]
    events = text_events("openai", pieces)
    # after the stop string the server would go on for ever: only ending the request finishes the call
    cut = stream_bytes("openai", events)[:7]  # up to the delta that completes the stop string
    fake_server.always(Response(status=200, headers=HEADERS["openai"], pieces=[*cut, Delay(0.2), STALL], chunked=True))
    result = chat(plugin, fake_server, stop=["\nUser:"]).raise_for_error()
    assert result.text == "Paris is the capital."
    assert result.finish_reason == "stop"
    prompt, completion = usage_of(result)
    assert prompt > 0 and completion > 0  # estimated: the server's usage never came
    (body,) = sent(fake_server)
    assert "stop" not in body


def test_stop_string_in_a_blocking_answer(plugin, fake_server):
    fake_server.always(json_response(whole_response("vllm", "Paris.\nUser: and Berlin?")))
    result = chat(plugin, fake_server, stream=False, stop=["\nUser:"]).raise_for_error()
    assert result.text == "Paris."
    (body,) = sent(fake_server)
    assert "stop" not in body and "stream" not in body


# -- blocking answers --------------------------------------------------------------------------
def test_blocking_answer_with_reasoning_tool_calls_and_usage(plugin, fake_server):
    calls = [("call_a1", "get_weather", '{"city": "Paris"}')]
    fake_server.always(
        json_response(whole_response("ollama", "", reasoning="Weather needed.", calls=calls, usage=(30, 9)))
    )
    result = chat(plugin, fake_server, stream=False, tools=[WEATHER_TOOL]).raise_for_error()
    assert result.text == "<think>\nWeather needed.\n</think>"
    assert [(c["id"], c["function"]["arguments"]) for c in result.tool_calls] == [("call_a1", '{"city": "Paris"}')]
    assert usage_of(result) == (30, 9)


# -- the request body --------------------------------------------------------------------------
HISTORY = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris and Berlin?"},
    {
        "role": "assistant",
        "content": "<think>\nTwo calls.\n</think>Checking.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Berlin"}'}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18 C", "name": "get_weather"},
    {"role": "tool", "tool_call_id": "call_2", "content": "12 C", "name": "get_weather"},
]


def test_stateless_history_replays_function_calls_before_their_outputs(plugin, fake_server):
    fake_server.always(replay("openai", text_events("openai", ["Paris 18 C, Berlin 12 C."])))
    params = {"max_tokens": 100, "temperature": 0.2, "top_p": 0.9}
    chat(plugin, fake_server, messages=HISTORY, tools=[WEATHER_TOOL], params=params).raise_for_error()
    (body,) = sent(fake_server)
    assert body["instructions"] == "You are terse."
    assert body["input"] == [
        {"type": "message", "role": "user", "content": "Weather in Paris and Berlin?"},
        {"type": "message", "role": "assistant", "content": "Checking."},  # earlier reasoning is not sent back
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"city":"Berlin"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "18 C"},
        {"type": "function_call_output", "call_id": "call_2", "output": "12 C"},
    ]
    assert (body["max_output_tokens"], body["temperature"], body["top_p"]) == (100, 0.2, 0.9)
    assert body["store"] is False


def test_structured_output_extra_body_and_extra_headers(plugin, fake_server):
    fake_server.always(replay("vllm", text_events("vllm", ['{"ok": true}'])))
    schema = {"name": "probe", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}, "strict": True}
    params = {"response_format": "json_schema", "json_schema": json.dumps(schema)}
    result = chat(
        plugin, fake_server, params=params, extra_body='{"truncation": "auto"}', extra_headers='{"X-Tenant": "t-42"}'
    ).raise_for_error()
    assert result.text == '{"ok": true}'
    (body,) = sent(fake_server)
    assert body["text"] == {"format": {"type": "json_schema", **schema}}
    assert body["truncation"] == "auto"
    assert fake_server.last.headers.get("x-tenant") == "t-42"


def test_images_and_documents_are_input_parts(plugin, fake_server):
    fake_server.always(replay("openai", text_events("openai", ["A cat."])))
    content = [
        {"type": "text", "data": "What is this?"},
        {"type": "image", "format": "png", "mime_type": "image/png", "base64_data": "aGVsbG8=", "detail": "high"},
        {
            "type": "document",
            "format": "pdf",
            "mime_type": "application/pdf",
            "base64_data": "JVBERi0=",
            "filename": "a.pdf",
        },
    ]
    chat(plugin, fake_server, messages=[{"role": "user", "content": content}], vision="on").raise_for_error()
    (body,) = sent(fake_server)
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,aGVsbG8=", "detail": "high"},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
    ]


@pytest.mark.parametrize(
    ("part", "kind"),
    [
        ({"type": "video", "format": "mp4", "mime_type": "video/mp4", "url": "http://x/v.mp4"}, "video"),
        ({"type": "audio", "format": "wav", "mime_type": "audio/wav", "base64_data": "UklGRg=="}, "audio"),
    ],
)
def test_video_and_audio_are_refused_clearly(plugin, fake_server, part, kind):
    messages = [{"role": "user", "content": [{"type": "text", "data": "Describe"}, part]}]
    result = chat(plugin, fake_server, messages=messages)
    assert result.error_type == "InvokeBadRequestError", result.error
    assert f"no input part for {kind}" in result.error["message"]
    assert fake_server.requests == []


def test_a_refused_reasoning_summary_is_shed_and_remembered(plugin, fake_server):
    refusal = {
        "error": {
            "message": "Unsupported parameter: 'reasoning.summary' is not supported with this model.",
            "type": "invalid_request_error",
            "param": "reasoning.summary",
            "code": "unsupported_parameter",
        }
    }
    fake_server.add(json_response(refusal, status=400), path=RESPONSES)
    fake_server.always(replay("openai", text_events("openai", ANSWER_PIECES)))
    assert chat(plugin, fake_server, thinking="on").raise_for_error().text == ANSWER
    assert chat(plugin, fake_server, thinking="on").raise_for_error().text == ANSWER
    first, retried, later = sent(fake_server)
    assert first["reasoning"] == {"summary": "auto"}
    assert "reasoning" not in retried and "reasoning" not in later  # learned: no second refusal
    assert "reasoning.summary" in plugin.stderr_text + json.dumps(list(plugin.iter_frames("log")))


# -- the schema ------------------------------------------------------------------------------
def test_schema_offers_no_parameter_or_input_the_api_lacks(plugin, fake_server):
    credentials = creds(fake_server, video="on", audio="on", vision="on")
    found = plugin.invoke("get_ai_model_schemas", model="m", credentials=credentials).result["model_schema"]
    names = {rule["name"] for rule in found["parameter_rules"]}
    assert {"temperature", "top_p", "max_tokens", "response_format"} <= names
    assert not {"top_k", "presence_penalty", "frequency_penalty", "seed"} & names
    assert "video" not in found["features"] and "audio" not in found["features"]
    assert "vision" in found["features"]
    chat_mode = {**credentials, "api_type": "chat_completions"}
    found = plugin.invoke("get_ai_model_schemas", model="m", credentials=chat_mode).result["model_schema"]
    assert {"top_k", "seed"} <= {rule["name"] for rule in found["parameter_rules"]}
    assert "video" in found["features"]


# -- the API type at save --------------------------------------------------------------------
def validate(plugin, credentials):
    return plugin.invoke("validate_model_credentials", model="m", credentials=credentials, model_type="llm")


def _models(server: FakeServer) -> None:
    server.always(json_response({"object": "list", "data": [{"id": "m", "object": "model"}]}), path="/v1/models")


@pytest.mark.parametrize("status", [404, 405])
def test_auto_switches_to_responses_when_only_responses_answers(plugin, fake_server, status):
    _models(fake_server)
    fake_server.always(json_response({"detail": "Not Found"}, status=status), path=CHAT)
    fake_server.always(json_response(whole_response("openai", "pong")), path=RESPONSES)
    saved = validate(plugin, {"base_url": fake_server.base_url}).raise_for_error().result["credentials"]
    assert saved["_detected_api_type"] == "responses"
    pings = fake_server.requests_to(RESPONSES)
    assert pings and all(r.json["store"] is False and r.json["max_output_tokens"] == 16 for r in pings)
    # a call with what was saved goes where the check went, in the same shape
    fake_server.clear()
    fake_server.always(replay("openai", text_events("openai", ANSWER_PIECES)), path=RESPONSES)
    before = len(fake_server.requests_to(CHAT))
    result = plugin.invoke("invoke_llm", model="m", credentials=saved, prompt_messages=USER).raise_for_error()
    assert result.text == ANSWER
    assert len(fake_server.requests_to(CHAT)) == before


@pytest.mark.parametrize(
    "refusal",
    [
        json_response({"error": {"message": "messages: field required", "code": 400}}, status=400),
        json_response({"error": {"message": "engine overloaded", "code": 500}}, status=500),
    ],
    ids=["400", "500"],
)
def test_auto_never_switches_on_a_400_or_a_5xx(plugin, fake_server, refusal):
    _models(fake_server)
    fake_server.always(refusal, path=CHAT)
    fake_server.always(json_response(whole_response("openai", "pong")), path=RESPONSES)
    result = validate(plugin, {"base_url": fake_server.base_url, "max_retries": "0"})
    assert result.error_type == "CredentialsValidateFailedError", result.error
    assert fake_server.requests_to(RESPONSES) == []


def test_auto_never_switches_on_a_timeout(plugin, fake_server):
    _models(fake_server)
    fake_server.always(stall(), path=CHAT)
    fake_server.always(json_response(whole_response("openai", "pong")), path=RESPONSES)
    result = validate(plugin, {"base_url": fake_server.base_url, "max_retries": "0", "timeout": "2"})
    assert result.error_type == "CredentialsValidateFailedError", result.error
    assert "Timed out waiting for" in result.error["message"]
    assert fake_server.requests_to(RESPONSES) == []


def test_auto_keeps_chat_completions_when_it_answers(plugin, fake_server):
    _models(fake_server)
    answer = {
        "id": "c",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    fake_server.always(json_response(answer), path=CHAT)
    saved = validate(plugin, {"base_url": fake_server.base_url}).raise_for_error().result["credentials"]
    assert saved["_detected_api_type"] == "chat_completions"
    assert fake_server.requests_to(RESPONSES) == []


def test_a_pasted_responses_url_is_the_responses_api(plugin, fake_server):
    _models(fake_server)
    fake_server.always(json_response(whole_response("vllm", "pong")), path=RESPONSES)
    saved = validate(plugin, {"base_url": fake_server.base_url + "/responses"}).raise_for_error().result["credentials"]
    assert saved["_detected_api_type"] == "responses"
    assert fake_server.requests_to(CHAT) == []
    assert fake_server.requests_to(RESPONSES)


def test_a_model_saved_without_the_finding_uses_chat_completions(plugin, fake_server):
    answer = {
        "id": "c",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
    }
    fake_server.always(json_response(answer), path=CHAT)
    credentials = {"base_url": fake_server.base_url, "max_retries": "0"}  # saved by an older version
    result = plugin.invoke("invoke_llm", model="m", credentials=credentials, prompt_messages=USER, stream=False)
    assert result.raise_for_error().text == "pong"
    assert [r.path for r in fake_server.requests] == [CHAT]


# -- OpenAI's hosted web search -----------------------------------------------------------------
WEB_SEARCH_PARAMS = {
    "max_tokens": 64,
    "web_search": True,
    "web_search_allowed_domains": "https://openai.com/blog, docs.dify.ai:443, openai.com",
    "web_search_blocked_domains": "reddit.com",
    "web_search_context_size": "high",
    "web_search_user_country": "us",
}


def test_web_search_is_the_hosted_tool_after_the_functions(plugin, fake_server):
    fake_server.always(replay("openai", text_events("openai", ["Paris news."])))
    chat(plugin, fake_server, tools=[WEATHER_TOOL], params=WEB_SEARCH_PARAMS).raise_for_error()
    chat(plugin, fake_server, params={"max_tokens": 64, "web_search": False}).raise_for_error()
    with_search, without = sent(fake_server)
    assert with_search["tools"] == [
        {"type": "function", **WEATHER_TOOL},
        {
            "type": "web_search",
            "filters": {"allowed_domains": ["openai.com", "docs.dify.ai"], "blocked_domains": ["reddit.com"]},
            "search_context_size": "high",
            "user_location": {"type": "approximate", "country": "US"},
        },
    ]
    assert "tools" not in without


def test_web_search_refused_by_the_server_is_shed_with_a_log_line(plugin, fake_server):
    refusal = {
        "error": {
            "message": "Tool type 'web_search' is not supported.",
            "type": "invalid_request_error",
            "param": "tools",
            "code": None,
        }
    }
    fake_server.add(json_response(refusal, status=400), path=RESPONSES)
    fake_server.always(replay("vllm", text_events("vllm", ANSWER_PIECES)))
    assert chat(plugin, fake_server, params=WEB_SEARCH_PARAMS).raise_for_error().text == ANSWER
    assert chat(plugin, fake_server, params=WEB_SEARCH_PARAMS).raise_for_error().text == ANSWER
    refused, retried, later = sent(fake_server)
    assert refused["tools"][0]["type"] == "web_search"
    assert "tools" not in retried and "tools" not in later
    logs = json.dumps(list(plugin.iter_frames("log")))
    assert "adapting requests for this server (web_search)" in logs


def test_a_bad_web_search_country_is_a_clear_bad_request(plugin, fake_server):
    result = chat(plugin, fake_server, params={"web_search": True, "web_search_user_country": "USA"})
    assert result.error_type == "InvokeBadRequestError", result.error
    assert "`web_search_user_country` must be a two-letter country code" in result.error["message"]
    assert fake_server.requests == []


def test_web_search_is_offered_only_on_the_responses_api(plugin, fake_server):
    def names(api_type: str) -> set[str]:
        credentials = creds(fake_server, api_type=api_type)
        schema = plugin.invoke("get_ai_model_schemas", model="m", credentials=credentials).result["model_schema"]
        return {rule["name"] for rule in schema["parameter_rules"]}

    search = {
        "web_search",
        "web_search_allowed_domains",
        "web_search_blocked_domains",
        "web_search_context_size",
        "web_search_user_country",
    }
    assert search <= names("responses")
    assert not search & names("chat_completions")


def test_reasoning_seen_at_save_makes_auto_ask_for_summaries(plugin, fake_server):
    _models(fake_server)
    fake_server.always(json_response(whole_response("openai", "pong", reasoning="**Pinging**")), path=RESPONSES)
    saved = validate(plugin, creds(fake_server)).raise_for_error().result["credentials"]
    assert saved["_detected_thinking"] == "true"
    fake_server.clear()
    fake_server.always(replay("openai", text_events("openai", ANSWER_PIECES, reasoning=["**Answering**"])))
    result = plugin.invoke("invoke_llm", model="m", credentials=saved, prompt_messages=USER).raise_for_error()
    assert result.text == f"<think>\n**Answering**\n</think>{ANSWER}"
    assert fake_server.last.json["reasoning"] == {"summary": "auto"}


def test_a_server_without_responses_says_which_setting_to_change(plugin, fake_server):
    fake_server.always(json_response({"detail": "Not Found"}, status=404), path=RESPONSES)
    fake_server.always(json_response({"object": "list", "data": [{"id": "m"}]}), path="/v1/models")
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeBadRequestError", result.error
    assert "HTTP 404 Not Found at" in result.error["message"]
    assert "set the model's API type to Chat completions" in result.error["message"]


def test_retried_before_the_first_output_never_after(plugin, fake_server):
    # a 503 before anything was shown: retried under the one policy; a break after text: final
    fake_server.add(json_response({"error": {"message": "overloaded"}}, status=503), path=RESPONSES)
    fake_server.add(replay("openai", text_events("openai", ANSWER_PIECES)), path=RESPONSES)
    assert chat(plugin, fake_server, max_retries="2").raise_for_error().text == ANSWER
    assert len(sent(fake_server)) == 2
    fake_server.clear()
    head = stream_bytes("openai", text_events("openai", ANSWER_PIECES))[:5]  # up to the first delta
    fake_server.always(Response(status=200, headers=HEADERS["openai"], pieces=[*head, Delay(0.1), RESET], chunked=True))
    result = chat(plugin, fake_server, max_retries="2")
    assert result.error_type == "InvokeServerUnavailableError", result.error
    assert "broke while the server was answering" in result.error["message"]
    assert result.text == "The capital"  # what Dify had already shown
    assert len(sent(fake_server)) == 3  # the two above and this one: never sent again


def test_a_stop_string_ends_the_request_and_a_complete_answer_keeps_the_connection(plugin, fake_server):
    # the server would send its whole answer at once; only the plugin's stop string tells them apart:
    # a cut answer's request is ended (its connection closed), a complete one's connection reused
    fake_server.always(replay("vllm", text_events("vllm", ["Paris.", "\nUser:", " more"])))
    chat(plugin, fake_server, stop=["\nUser:"]).raise_for_error()
    chat(plugin, fake_server).raise_for_error()
    chat(plugin, fake_server).raise_for_error()
    cut, complete, after = (request.connection_id for request in fake_server.requests)
    assert complete != cut  # the cut request's connection was not handed back
    assert after == complete  # a complete answer's was
