"""Every model action through Dify's stdio runtime (`python -m main`) against a real
llama.cpp llama-server with the tiny generated model (tests/peer/)."""

from __future__ import annotations

import json

import pytest

from tests.support.prompts import CHAT, NUDGE, USER, WEATHER_TOOL, structured_request, tool_call_request

pytestmark = [pytest.mark.llama, pytest.mark.timeout(600)]


@pytest.fixture
def creds(llama_server):
    # A trailing slash, as users often paste it.
    return {"base_url": llama_server.base_url + "/", "api_key": "sk-canary-llama-0123456789"}


def test_validate_model_credentials_llm_and_embedding(plugin, llama_server, creds):
    for model_type_action in ("llm", "text-embedding"):
        result = plugin.invoke(
            "validate_model_credentials", model="tiny", credentials=creds, model_type=model_type_action
        ).result
        assert result["result"] is True


def test_validate_model_credentials_fails_clearly_for_a_wrong_path(plugin, llama_server):
    creds = {"base_url": llama_server.origin + "/nope"}
    result = plugin.invoke("validate_model_credentials", model="tiny", credentials=creds)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "404" in result.error["message"] and "/v1" in result.error["message"]


def test_get_ai_model_schemas_llm(plugin, creds):
    schema = plugin.invoke("get_ai_model_schemas", model="tiny", credentials=dict(creds, max_tokens="256")).result[
        "model_schema"
    ]
    assert schema["model"] == "tiny"
    # context_size left empty: read from the server (llama.cpp `meta.n_ctx`, per slot: -c 4096 -np 2)
    assert schema["model_properties"] == {"mode": "chat", "context_size": 2048}
    # capabilities left on auto: probed (llama-server has tools and json_schema, no --mmproj)
    assert {"tool-call", "stream-tool-call"} <= set(schema["features"])
    assert "structured-output" in schema["features"] and "vision" not in schema["features"]
    rules = {rule["name"]: rule for rule in schema["parameter_rules"]}
    assert rules["max_tokens"]["max"] == 256
    assert rules["response_format"]["options"] == ["text", "json_object", "json_schema"]


def test_get_ai_model_schemas_embedding(plugin, creds):
    schema = plugin.invoke("get_ai_model_schemas", model="tiny", credentials=creds, model_type="text-embedding").result[
        "model_schema"
    ]
    assert schema["model_type"] == "text-embedding"
    assert schema["model_properties"]["max_chunks"] == 32


@pytest.mark.parametrize("stream", [True, False])
def test_invoke_llm_chat(plugin, creds, stream):
    result = plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=creds,
        prompt_messages=CHAT,
        model_parameters={"max_tokens": 12, "temperature": 0},
        stream=stream,
    ).raise_for_error()
    assert result.text.strip()
    usage = result.usage
    # llama-server reports real usage; the tiny model always spends the whole budget or stops
    assert usage["prompt_tokens"] > 5 and 0 < usage["completion_tokens"] <= 12
    if stream:
        # streamed: text pieces, then the final chunk. How many pieces depends on timing: tokens
        # that arrive together travel together (issue 15.1; tests/e2e/test_frames.py paces them)
        assert len(result.chunks) >= 2 and result.chunks[0]["delta"]["message"]["content"]
        assert result.finish_reason in ("length", "stop")


def test_streamed_and_blocking_answers_agree(plugin, creds):
    def answer(stream: bool) -> str:
        return (
            plugin.invoke(
                "invoke_llm",
                model="tiny",
                credentials=creds,
                prompt_messages=USER,
                model_parameters={"max_tokens": 16, "temperature": 0, "seed": 7},
                stream=stream,
            )
            .raise_for_error()
            .text
        )

    assert answer(True) == answer(False)


@pytest.mark.parametrize("stream", [True, False])
def test_invoke_llm_completion_mode(plugin, creds, stream):
    result = plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=dict(creds, mode="completion"),
        prompt_messages=[{"role": "user", "content": "The quick brown"}],
        model_parameters={"max_tokens": 8, "temperature": 0},
        stream=stream,
    ).raise_for_error()
    assert result.text
    assert result.usage["completion_tokens"] > 0


def test_stop_sequences_reach_the_server(plugin, creds):
    base = dict(
        model="tiny", credentials=creds, prompt_messages=USER, model_parameters={"max_tokens": 24, "temperature": 0}
    )
    full = plugin.invoke("invoke_llm", **base).raise_for_error().text
    cut = full[3:6]
    stopped = plugin.invoke("invoke_llm", stop=[cut], **base).raise_for_error()
    assert cut not in stopped.text
    assert full.startswith(stopped.text)


@pytest.mark.parametrize("stream", [True, False])
def test_tool_call_is_assembled_and_valid(plugin, creds, stream):
    result = plugin.invoke("invoke_llm", **tool_call_request("tiny", creds, stream=stream)).raise_for_error()
    calls = result.tool_calls
    assert len(calls) == 1
    assert calls[0]["function"]["name"] == "get_weather"
    args = json.loads(calls[0]["function"]["arguments"])
    assert args["city"] in ("Paris", "Rome") and args["unit"] in ("c", "f")
    assert calls[0]["id"]
    if stream:
        assert result.finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [True, False])
def test_tool_call_cut_off_by_max_tokens_is_an_error_not_a_broken_call(plugin, creds, stream):
    result = plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=dict(creds, extra_body=json.dumps(NUDGE)),
        prompt_messages=USER,
        model_parameters={"max_tokens": 60, "temperature": 0},  # cut inside the arguments
        tools=[WEATHER_TOOL],
        stop=["</tool_call>"],
        stream=stream,
    )
    assert result.error_type == "InvokeBadRequestError"
    assert "max_tokens" in result.error["message"]
    assert not result.tool_calls


def test_json_schema_response_format(plugin, creds):
    result = plugin.invoke("invoke_llm", **structured_request("tiny", creds)).raise_for_error()
    assert isinstance(json.loads(result.text)["ok"], bool)


def test_get_llm_num_tokens_is_offline_and_counts_everything(plugin):
    # base_url points nowhere: counting must not touch the network or download a tokenizer
    creds = {"base_url": "http://127.0.0.1:9/v1"}
    short = plugin.invoke("get_llm_num_tokens", model="m", credentials=creds, prompt_messages=USER).result
    longer = plugin.invoke(
        "get_llm_num_tokens", model="m", credentials=creds, prompt_messages=CHAT, tools=[WEATHER_TOOL]
    ).result
    assert 0 < short["num_tokens"] < longer["num_tokens"]


@pytest.mark.parametrize("input_type", ["document", "query"])
def test_invoke_text_embedding(plugin, creds, input_type):
    texts = [f"text number {i}" for i in range(40)]  # more than one server batch (32)
    result = plugin.invoke(
        "invoke_text_embedding", model="tiny", credentials=creds, texts=texts, input_type=input_type
    ).result
    vectors = result["embeddings"]
    assert len(vectors) == 40 and {len(v) for v in vectors} == {64}
    # llama-server L2-normalises; the same text embeds the same whatever its batch
    same = plugin.invoke("invoke_text_embedding", model="tiny", credentials=creds, texts=["text number 39"]).result[
        "embeddings"
    ][0]
    assert same == pytest.approx(vectors[39], abs=1e-5)
    assert result["usage"]["tokens"] > 0


def test_get_text_embedding_num_tokens(plugin):
    result = plugin.invoke(
        "get_text_embedding_num_tokens",
        model="m",
        credentials={"base_url": "http://127.0.0.1:9/v1"},
        texts=["one", "two words here", ""],
    ).result
    counts = result["num_tokens"]
    assert len(counts) == 3 and counts[0] > 0 and counts[1] > counts[0] and counts[2] == 0


def test_no_frame_carries_the_api_key(plugin_factory, creds):
    # A fresh process: validate_model_credentials echoes the credentials by protocol (Dify saves
    # what validation returns), so it is left out; everything else must never show the key.
    plugin = plugin_factory()
    plugin.invoke(
        "invoke_llm", model="tiny", credentials=creds, prompt_messages=USER, model_parameters={"max_tokens": 4}
    ).raise_for_error()
    failed = plugin.invoke(
        "invoke_llm", model="tiny", credentials=dict(creds, base_url=creds["base_url"] + "x"), prompt_messages=USER
    )
    assert failed.error_type == "InvokeBadRequestError"
    plugin.invoke("validate_model_credentials", model="tiny", credentials=dict(creds, base_url="http://127.0.0.1:9"))
    assert len(plugin.frames) > 5
    assert creds["api_key"] not in json.dumps(plugin.frames) + plugin.stderr_text
