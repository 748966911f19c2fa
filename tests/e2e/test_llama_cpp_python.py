"""Every model action through Dify's stdio runtime (`python -m main`) against a second real
OpenAI-compatible server: `python -m llama_cpp.server` from PyPI `llama-cpp-python[server]`,
with the tiny generated model (tests/peer/, `--chat_format chatml-function-calling`,
`--embedding true`).

This server's quirks are what the tests are about (the peer README, column "lcp-fc"):
* no usage chunk in streams, even with `stream_options.include_usage` (the plugin estimates);
* HTTP 500 (pydantic) for an assistant turn with `content: null`, for `response_format:
  json_schema` and for `tool_choice: "required"`;
* `encoding_format: base64` ignored (floats come back), vectors not L2-normalised, `dimensions`
  ignored;
* streamed tool calls repeat id, type and name, plus a legacy `function_call`, on every chunk;
* tools are used only when the request has a `tool_choice` (see `AUTO` below).

At temperature 0 the server is deterministic, so its own answer to the request the plugin
sends is the oracle for text and usage.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.request

import pytest

from tests.support.prompts import CHAT, USER, WEATHER_TOOL

pytestmark = [pytest.mark.llama, pytest.mark.timeout(600)]

CANARY = "sk-canary-lcp-0123456789"
# The plugin sends `tool_choice` only when the user sets it (quirks rule 11), and
# chatml-function-calling treats a request WITHOUT `tool_choice` as "no tools": it renders the
# prompt with `tools=[]` and never produces a call (llama_chat_format.py, "Case 1: No tool choice
# by user"), whatever the prompt, seed or temperature. So a user of this server must set it in
# "Extra request body fields". With "auto" the server first picks, at temperature 0 under a
# grammar, `functions.get_weather:` or `message:`; for USER this tiny model picks get_weather.
AUTO = {"tool_choice": "auto"}
NAMED = {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
# The 1x1 PNG that validation sends to probe vision (oai_bridge/probe.py; not imported, because
# importing the plugin's modules gevent-patches the test process).
PROBE_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
def creds(lcp_server):
    return {"base_url": lcp_server.base_url, "api_key": CANARY}


def direct(server, path: str, body: dict) -> dict:
    """The server's own answer (no proxy, no plugin): the oracle."""
    request = urllib.request.Request(
        server.base_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as response:
        return json.loads(response.read())


def access_log(server, since: int) -> list[tuple[str, int]]:
    """(path, status) of the requests the server logged after offset `since` of its log."""
    time.sleep(0.2)  # uvicorn writes the access line as the response starts
    lines = server.log_text[since:]
    return [(path, int(status)) for path, status in re.findall(r'"POST (/v1/\S+) HTTP/1\.1" (\d{3})', lines)]


def validate(plugin, creds, model_type="llm"):
    return plugin.invoke("validate_model_credentials", model="tiny", credentials=creds, model_type=model_type)


def detected(saved: dict) -> dict:
    return {key: value for key, value in saved.items() if key.startswith("_detected_")}


# -- validation: what is detected and saved ----------------------------------------------------
def test_validate_llm_saves_what_it_detected(plugin, creds):
    answer = validate(plugin, creds).result
    assert answer["result"] is True
    saved = answer["credentials"]
    assert saved["base_url"] == creds["base_url"] and saved["api_key"] == CANARY
    found = detected(saved)
    # The probe's `tools` request (no tool_choice) is answered 200, so tool calling is "on"
    # (true for this server, but only with a tool_choice: see AUTO).
    assert found["_detected_tool_calling"] == "true"
    # `response_format: json_schema` is a 500 *validation* error here ("1 validation error"):
    # a refusal, so structured output is saved as off.
    assert found["_detected_structured_output"] == "false"
    # The image probe is answered 200, but the image is read as prompt text: not vision.
    assert found["_detected_vision"] == "false"
    # /v1/models cards carry no context size, and there is no native API to ask: the server's
    # real context (n_ctx 2048) is not known, and no wrong value is saved.
    assert "_detected_context_size" not in found
    assert "_detected_thinking" not in found  # no reasoning in the ping's answer
    schema = plugin.invoke("get_ai_model_schemas", model="tiny", credentials=saved).result["model_schema"]
    assert {"tool-call", "stream-tool-call"} <= set(schema["features"])
    assert "structured-output" not in schema["features"]


def test_vision_is_not_detected_on_a_text_only_server(plugin, creds, lcp_server):
    # The tiny llama model has no vision projector. llama_cpp.server accepts an image part all
    # the same (HTTP 200) and renders the content list into the prompt as TEXT: the probe's
    # 1x1 PNG is tokenised as its base64 text. With `vision` in the schema, Dify sends users'
    # images to this model, and a 3 KB picture becomes ~4,400 prompt tokens of base64 text:
    # HTTP 400 context_length_exceeded on the 2048-token context.
    saved = validate(plugin, creds).result["credentials"]
    ping = {"type": "text", "text": "ping"}
    image = {"type": "image_url", "image_url": {"url": PROBE_PNG}}
    text_only = direct(lcp_server, "/chat/completions", {"messages": [{"role": "user", "content": "ping"}]})
    with_image = direct(lcp_server, "/chat/completions", {"messages": [{"role": "user", "content": [ping, image]}]})
    assert text_only["usage"]["prompt_tokens"] + 50 < with_image["usage"]["prompt_tokens"], (text_only, with_image)
    assert saved.get("_detected_vision") != "true", detected(saved)
    schema = plugin.invoke("get_ai_model_schemas", model="tiny", credentials=saved).result["model_schema"]
    assert "vision" not in schema["features"]


def test_validate_text_embedding_detects_the_vector_size(plugin, creds):
    answer = validate(plugin, creds, model_type="text-embedding").result
    assert answer["result"] is True
    # the vector size, and that this text model takes no images (it answers neither image form)
    assert detected(answer["credentials"]) == {"_detected_dimensions": "64", "_detected_multimodal_input": "off"}


def test_validate_completion_mode(plugin, creds):
    answer = validate(plugin, dict(creds, mode="completion")).result
    assert answer["result"] is True
    assert answer["credentials"]["mode"] == "completion"


# -- chat and completion: text and usage -------------------------------------------------------
def test_chat_blocking_reports_the_servers_real_usage(plugin, creds, lcp_server):
    params = {"max_tokens": 12, "temperature": 0}
    result = plugin.invoke(
        "invoke_llm", model="tiny", credentials=creds, prompt_messages=CHAT, model_parameters=params, stream=False
    ).raise_for_error()
    oracle = direct(lcp_server, "/chat/completions", {"model": "tiny", "messages": CHAT, **params})
    assert result.text == oracle["choices"][0]["message"]["content"] and result.text.strip()
    assert result.usage["prompt_tokens"] == oracle["usage"]["prompt_tokens"] > 5
    assert result.usage["completion_tokens"] == oracle["usage"]["completion_tokens"] == 12


def test_chat_streaming_without_a_usage_chunk_estimates_usage(plugin, creds, lcp_server):
    params = {"max_tokens": 12, "temperature": 0}
    result = plugin.invoke(
        "invoke_llm", model="tiny", credentials=creds, prompt_messages=CHAT, model_parameters=params, stream=True
    ).raise_for_error()
    oracle = direct(lcp_server, "/chat/completions", {"model": "tiny", "messages": CHAT, **params})
    assert result.text == oracle["choices"][0]["message"]["content"]
    # The first text goes out alone, ahead of the final chunk; how many pieces follow depends on
    # timing (tokens that arrive together travel together; tests/e2e/test_frames.py paces them)
    assert len(result.chunks) >= 2 and result.chunks[0]["delta"]["message"]["content"]
    assert result.finish_reason == "length"
    # The server ignored stream_options.include_usage: the plugin estimated, and never says 0.
    assert result.usage["prompt_tokens"] > 0 and result.usage["completion_tokens"] > 0
    assert result.usage["total_tokens"] == result.usage["prompt_tokens"] + result.usage["completion_tokens"]


@pytest.mark.parametrize("stream", [True, False])
def test_completion_mode(plugin, creds, lcp_server, stream):
    params = {"max_tokens": 8, "temperature": 0}
    prompt = [{"role": "user", "content": "The quick brown"}]
    result = plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=dict(creds, mode="completion"),
        prompt_messages=prompt,
        model_parameters=params,
        stream=stream,
    ).raise_for_error()
    oracle = direct(lcp_server, "/completions", {"model": "tiny", "prompt": "The quick brown", **params})
    assert result.text == oracle["choices"][0]["text"] and result.text
    assert result.usage["completion_tokens"] > 0 and result.usage["prompt_tokens"] > 0
    if not stream:  # real usage; the stream has none and is estimated
        assert result.usage["prompt_tokens"] == oracle["usage"]["prompt_tokens"]
        assert result.usage["completion_tokens"] == oracle["usage"]["completion_tokens"]


# -- tool calls ------------------------------------------------------------------------------
def _tool_call(plugin, creds, extra: dict, stream: bool, messages=USER):
    return plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=dict(creds, extra_body=json.dumps(extra)),
        prompt_messages=messages,
        model_parameters={"max_tokens": 200, "temperature": 0},
        tools=[WEATHER_TOOL],
        stream=stream,
    )


def _assert_one_weather_call(result) -> dict:
    calls = result.tool_calls
    assert len(calls) == 1, calls  # one call, emitted once
    call = calls[0]
    assert call["function"]["name"] == "get_weather"  # set once, not repeated per chunk
    assert call["id"] and call["type"] == "function"
    args = json.loads(call["function"]["arguments"])
    assert args["city"] in ("Paris", "Rome") and args["unit"] in ("c", "f")
    assert not result.text.strip()  # the legacy `function_call` does not leak as text
    return call


def test_tool_call_auto_blocking(plugin, creds):
    result = _tool_call(plugin, creds, AUTO, stream=False).raise_for_error()
    call = _assert_one_weather_call(result)
    assert call["id"].startswith("call__0_get_weather_")  # the server's id, kept


@pytest.mark.parametrize("stream", [True, False])
def test_tool_call_named_is_assembled_once(plugin, creds, lcp_server, stream):
    # Streaming: ~28 chunks, each repeating id, type, name and a legacy `function_call`.
    result = _tool_call(plugin, creds, NAMED, stream=stream).raise_for_error()
    _assert_one_weather_call(result)
    if stream:
        assert result.finish_reason == "tool_calls"
    oracle = direct(
        lcp_server,
        "/chat/completions",
        {
            "model": "tiny",
            "messages": USER,
            "tools": [{"type": "function", "function": WEATHER_TOOL}],
            "max_tokens": 200,
            "temperature": 0,
            **NAMED,
        },
    )
    expected = oracle["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert result.tool_calls[0]["function"]["arguments"] == expected


def test_tool_call_auto_streaming_fails_clearly(plugin, creds, lcp_server):
    # llama-cpp-python raises "Automatic streaming tool choice is not supported" once the model
    # picks a function while streaming; the 200 stream then closes empty, without `[DONE]`.
    since = len(lcp_server.log_text)
    started = time.monotonic()
    result = _tool_call(plugin, creds, AUTO, stream=True)
    assert time.monotonic() - started < 60  # no hang
    assert result.error_type == "InvokeServerUnavailableError", result.error
    assert "stream ended before the server finished" in result.error["message"]
    assert not result.tool_calls and not result.text
    assert ("/v1/chat/completions", 200) in access_log(lcp_server, since)


@pytest.mark.parametrize("stream", [True, False])
def test_tool_result_turn_falls_back_from_null_content(plugin_factory, creds, lcp_server, stream):
    # The assistant turn that made the call is sent as OpenAI shapes it (`content: null`); this
    # server answers 500 "Input should be a valid string", and the plugin retries with `""`
    # once, remembering it for the endpoint (oai_bridge/compat.py).
    history = [
        *USER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call__0_get_weather_cmpl-1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{ "city" : "Paris","unit" : "f"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"temp_f": 64}', "tool_call_id": "call__0_get_weather_cmpl-1"},
    ]
    plugin = plugin_factory()  # a fresh process: nothing learned about this endpoint yet

    def turn():
        return plugin.invoke(
            "invoke_llm",
            model="tiny",
            credentials=creds,
            prompt_messages=history,
            model_parameters={"max_tokens": 16, "temperature": 0},
            tools=[WEATHER_TOOL],
            stream=stream,
        ).raise_for_error()

    since = len(lcp_server.log_text)
    result = turn()
    assert result.text.strip() and not result.tool_calls
    assert result.usage["completion_tokens"] > 0
    # Observed: the server refused the first attempt, the retry succeeded, the plugin said why.
    assert access_log(lcp_server, since) == [("/v1/chat/completions", 500), ("/v1/chat/completions", 200)]
    assert any("null_content" in str(entry.get("message")) for entry in plugin.logs), plugin.logs
    # Remembered: the next turn goes through at the first attempt.
    since = len(lcp_server.log_text)
    assert turn().text == result.text
    assert access_log(lcp_server, since) == [("/v1/chat/completions", 200)]


# -- embeddings --------------------------------------------------------------------------------
def test_embeddings_floats_not_normalised_in_order(plugin_factory, creds, lcp_server):
    plugin = plugin_factory()  # a fresh process: it asks for base64 first
    texts = [f"text number {i}" for i in range(40)]  # two server batches (32 + 8), in parallel
    since = len(lcp_server.log_text)
    result = plugin.invoke("invoke_text_embedding", model="tiny", credentials=creds, texts=texts).result
    vectors = result["embeddings"]
    assert len(vectors) == 40 and {len(v) for v in vectors} == {64}
    assert access_log(lcp_server, since).count(("/v1/embeddings", 200)) == 2
    # base64 was ignored and floats came back: the plugin noticed and asks for floats from now on.
    assert any("float_encoding" in str(entry.get("message")) for entry in plugin.logs), plugin.logs
    # The server's own vectors, index by index: order kept, values untouched (not re-normalised).
    oracle = direct(lcp_server, "/embeddings", {"model": "tiny", "input": texts, "encoding_format": "float"})
    expected = [item["embedding"] for item in sorted(oracle["data"], key=lambda item: item["index"])]
    for got, want in zip(vectors, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    norms = [math.sqrt(sum(x * x for x in vector)) for vector in vectors]
    assert all(3.0 < norm < 12.0 for norm in norms), norms  # ~6, not 1
    assert len({tuple(v) for v in vectors}) == 40
    assert result["usage"]["tokens"] == oracle["usage"]["prompt_tokens"] > 0
    # Asked again (floats now): the same vectors.
    again = plugin.invoke("invoke_text_embedding", model="tiny", credentials=creds, texts=texts[-3:]).result
    for got, want in zip(again["embeddings"], vectors[-3:], strict=True):
        assert got == pytest.approx(want, abs=1e-5)


def test_embeddings_dimensions_is_ignored_by_the_server(plugin, creds):
    with_dims = dict(creds, dimensions="16")
    saved = validate(plugin, with_dims, model_type="text-embedding").result["credentials"]
    assert saved["_detected_dimensions"] == "64"  # what the server really returns
    vectors = plugin.invoke(
        "invoke_text_embedding", model="tiny", credentials=saved, texts=["one", "two"], input_type="query"
    ).result["embeddings"]
    assert [len(v) for v in vectors] == [64, 64]


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
def test_json_schema_is_a_clear_error(plugin, creds, stream):
    schema = {"name": "answer", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}
    started = time.monotonic()
    result = plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=creds,
        prompt_messages=USER,
        model_parameters={"max_tokens": 16, "response_format": "json_schema", "json_schema": json.dumps(schema)},
        stream=stream,
    )
    assert time.monotonic() - started < 30
    # HTTP 500 from this server, but a request validation error ("N validation errors: …"):
    # a bad request, with the server's own validation message.
    assert result.error_type == "InvokeBadRequestError", result.error
    message = result.error["message"]
    assert message.startswith("HTTP 500")
    assert "Input should be 'text' or 'json_object'" in message
    assert not result.chunks


@pytest.mark.parametrize("stream", [True, False])
def test_tool_choice_required_is_a_clear_error(plugin, creds, stream):
    # Blocking: 500 with an empty message (an AssertionError in the server). Streaming: 200
    # headers, then an empty stream without `[DONE]`.
    started = time.monotonic()
    result = _tool_call(plugin, creds, {"tool_choice": "required"}, stream=stream)
    assert time.monotonic() - started < 60
    assert result.error_type == "InvokeServerUnavailableError", result.error
    if stream:
        assert "stream ended before the server finished" in result.error["message"]
    else:
        assert result.error["message"] == "HTTP 500: the server failed (HTTP 500 with no message)."


# -- secrets ---------------------------------------------------------------------------------
def test_no_frame_carries_the_api_key(plugin_factory, creds):
    # A fresh process; validation echoes the credentials by protocol (Dify saves what validation
    # returns), so it is left out. Everything else must never show the key, errors included.
    plugin = plugin_factory()
    chat = dict(model="tiny", credentials=creds, prompt_messages=USER, model_parameters={"max_tokens": 4})
    plugin.invoke("invoke_llm", stream=True, **chat).raise_for_error()
    plugin.invoke("invoke_llm", stream=False, **chat).raise_for_error()
    _tool_call(plugin, creds, NAMED, stream=True).raise_for_error()
    plugin.invoke("invoke_text_embedding", model="tiny", credentials=creds, texts=["a", "b"]).raise_for_error()
    failed = plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=creds,
        prompt_messages=USER,
        model_parameters={"response_format": "json_schema", "json_schema": '{"type": "object"}'},
    )
    assert failed.error_type == "InvokeBadRequestError"  # the server's 500 validation error
    assert _tool_call(plugin, creds, AUTO, stream=True).error_type == "InvokeServerUnavailableError"
    missing = plugin.invoke(
        "invoke_llm", model="tiny", credentials=dict(creds, base_url=creds["base_url"] + "x"), prompt_messages=USER
    )
    assert missing.error_type == "InvokeBadRequestError"
    assert len(plugin.frames) > 5
    assert CANARY not in json.dumps(plugin.frames) + plugin.stderr_text
