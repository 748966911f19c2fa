"""The plugin through Dify's stdio runtime (`python -m main`) against a real LiteLLM proxy
(tests/peer/build_litellm.sh, config tests/peer/litellm_config.yaml) routing public model names
to the real llama-server peer: saving models, answers, tools, structured output, embeddings,
and the errors a router adds (its upstream down, a name it does not route, a key it refuses).

What LiteLLM 1.106.12 answers in each error case is pinned first, on the wire, so a version bump
that changes it fails there rather than as a puzzling plugin message."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.litellm_proxy import CHAT_MODEL, DOWN_MODEL, EMBED_MODEL
from tests.support.prompts import CHAT, USER, structured_request, tool_call_request

pytestmark = [pytest.mark.llama, pytest.mark.timeout(600)]

# NUDGE (tests/support/prompts.py) opens the tiny model's `<tool_call>` block; LiteLLM passes
# logit_bias through.
WRONG_KEY = "sk-wrong-key-0123456789"
UNROUTED = "not-routed"


@pytest.fixture
def creds(litellm_proxy):
    return {"base_url": litellm_proxy.base_url, "api_key": litellm_proxy.master_key}


def _post(proxy, path: str, body: dict, key: str) -> httpx.Response:
    return httpx.post(
        proxy.base_url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60, trust_env=False
    )


# -- what the proxy itself answers -------------------------------------------------------------
def test_proxy_answers_a_wrong_key_with_400_no_connected_db(litellm_proxy):
    for path, body in (
        ("/chat/completions", {"model": CHAT_MODEL, "messages": USER}),
        ("/embeddings", {"model": EMBED_MODEL, "input": ["x"]}),
    ):
        response = _post(litellm_proxy, path, body, WRONG_KEY)
        assert response.status_code == 400
        assert response.json() == {
            "error": {"message": "No connected db.", "type": "no_db_connection", "param": None, "code": "400"}
        }
    models = httpx.get(
        litellm_proxy.base_url + "/models", headers={"Authorization": f"Bearer {WRONG_KEY}"}, trust_env=False
    )
    assert models.status_code == 400 and models.json()["error"]["type"] == "no_db_connection"


def test_proxy_answers_an_unrouted_model_with_400_invalid_model_name(litellm_proxy):
    response = _post(
        litellm_proxy, "/chat/completions", {"model": UNROUTED, "messages": USER}, litellm_proxy.master_key
    )
    assert response.status_code == 400
    message = (
        f"/chat/completions: Invalid model name passed in model={UNROUTED}. "
        "Call `/v1/models` to view available models for your key."
    )
    assert response.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "400",
            "provider_specific_fields": {"error": message},
        }
    }


def test_proxy_answers_a_down_upstream_with_500_connection_error(litellm_proxy):
    response = _post(
        litellm_proxy, "/chat/completions", {"model": DOWN_MODEL, "messages": USER}, litellm_proxy.master_key
    )
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "litellm.InternalServerError: InternalServerError: OpenAIException - Connection error."
            f"\n\nLiteLLM: model group '{DOWN_MODEL}' failed with the error above. No fallback was attempted.",
            "type": "internal_server_error",
            "param": None,
            "code": "500",
        }
    }


# -- saving models -----------------------------------------------------------------------------
def test_validate_llm_and_embedding_models(plugin, creds):
    llm = plugin.invoke("validate_model_credentials", model=CHAT_MODEL, credentials=creds).result
    assert llm["result"] is True
    saved = llm["credentials"]
    # capabilities probed through the proxy: llama-server's tools and json_schema get through
    assert saved.get("_detected_tool_calling") == "true", saved
    assert saved.get("_detected_structured_output") == "true", saved
    # LiteLLM's /v1/models reports no context size (so docs/scaling.md says to set context_size)
    assert "_detected_context_size" not in saved, saved
    embedding = plugin.invoke(
        "validate_model_credentials", model=EMBED_MODEL, credentials=creds, model_type="text-embedding"
    ).result
    assert embedding["result"] is True


# -- answers -----------------------------------------------------------------------------------
def test_streamed_answer(plugin, creds):
    result = plugin.invoke(
        "invoke_llm",
        model=CHAT_MODEL,
        credentials=creds,
        prompt_messages=CHAT,
        model_parameters={"max_tokens": 12, "temperature": 0},
        stream=True,
    ).raise_for_error()
    assert result.text.strip()
    # The first text goes out alone, ahead of the final chunk; how many pieces follow depends on
    # timing (tokens that arrive together travel together; tests/e2e/test_frames.py paces them)
    assert len(result.chunks) >= 2 and result.chunks[0]["delta"]["message"]["content"]
    assert result.finish_reason in ("length", "stop")
    usage = result.usage
    assert usage["prompt_tokens"] > 5 and 0 < usage["completion_tokens"] <= 12


def test_answer_through_the_proxy_is_the_upstream_answer(plugin, creds, llama_server):
    def answer(credentials: dict, model: str) -> str:
        return (
            plugin.invoke(
                "invoke_llm",
                model=model,
                credentials=credentials,
                prompt_messages=USER,
                model_parameters={"max_tokens": 16, "temperature": 0, "seed": 7},
            )
            .raise_for_error()
            .text
        )

    assert answer(creds, CHAT_MODEL) == answer({"base_url": llama_server.base_url}, llama_server.model)


@pytest.mark.parametrize("stream", [True, False])
def test_tool_call(plugin, creds, stream):
    result = plugin.invoke("invoke_llm", **tool_call_request(CHAT_MODEL, creds, stream=stream)).raise_for_error()
    calls = result.tool_calls
    assert len(calls) == 1
    assert calls[0]["function"]["name"] == "get_weather"
    args = json.loads(calls[0]["function"]["arguments"])
    assert args["city"] in ("Paris", "Rome") and args["unit"] in ("c", "f")
    assert calls[0]["id"]
    if stream:
        assert result.finish_reason == "tool_calls"


# -- the Responses API through the proxy (LiteLLM's /v1/responses, bridged to the upstream) ---------
@pytest.mark.parametrize("stream", [True, False])
def test_responses_mode_answer_is_the_upstream_answer(plugin, creds, litellm_proxy, stream):
    responses = dict(creds, api_type="responses")
    asked = litellm_proxy.log_text.count('"POST /v1/responses HTTP/1.1" 200')
    saved = plugin.invoke("validate_model_credentials", model=CHAT_MODEL, credentials=responses).result
    assert saved["result"] is True

    def answer(credentials: dict) -> object:
        return plugin.invoke(
            "invoke_llm",
            model=CHAT_MODEL,
            credentials=credentials,
            prompt_messages=CHAT,
            # LiteLLM raises a Responses max_output_tokens below 16 to 16 (OpenAI's minimum)
            model_parameters={"max_tokens": 16, "temperature": 0},
            stream=stream,
        ).raise_for_error()

    result = answer(responses)
    # saved and called through the proxy's /v1/responses (the access log says so)
    assert litellm_proxy.log_text.count('"POST /v1/responses HTTP/1.1" 200') >= asked + 2
    assert result.text == answer(creds).text  # the same tokens as chat completions, greedy
    usage = result.usage
    assert usage["prompt_tokens"] > 5 and 0 < usage["completion_tokens"] <= 16
    if stream:
        assert result.finish_reason in ("length", "stop")


def test_structured_output(plugin, creds):
    result = plugin.invoke("invoke_llm", **structured_request(CHAT_MODEL, creds)).raise_for_error()
    assert isinstance(json.loads(result.text)["ok"], bool)


def test_embeddings_are_the_upstream_vectors(plugin, creds, llama_server):
    texts = [f"text number {i}" for i in range(40)]  # more than one batch of the plugin (32)
    result = plugin.invoke("invoke_text_embedding", model=EMBED_MODEL, credentials=creds, texts=texts).result
    vectors = result["embeddings"]
    assert len(vectors) == 40 and {len(v) for v in vectors} == {64}
    assert result["usage"]["tokens"] > 0
    direct = plugin.invoke(
        "invoke_text_embedding",
        model=llama_server.model,
        credentials={"base_url": llama_server.base_url},
        texts=[texts[0], texts[39]],
    ).result["embeddings"]
    assert vectors[0] == pytest.approx(direct[0], abs=1e-5)
    assert vectors[39] == pytest.approx(direct[1], abs=1e-5)


# -- errors the router adds --------------------------------------------------------------------
def test_wrong_key_says_the_key_was_refused(plugin, creds):
    wrong = dict(creds, api_key=WRONG_KEY)
    for model, model_type in ((CHAT_MODEL, "llm"), (EMBED_MODEL, "text-embedding")):
        saved = plugin.invoke("validate_model_credentials", model=model, credentials=wrong, model_type=model_type)
        assert saved.error_type == "CredentialsValidateFailedError", saved.error
        message = saved.error["message"]
        assert "refused the API key" in message and "master_key" in message, message
        assert "rejected the request" not in message
        assert WRONG_KEY not in message
    answer = plugin.invoke("invoke_llm", model=CHAT_MODEL, credentials=wrong, prompt_messages=USER)
    assert answer.error_type == "InvokeAuthorizationError", answer.error
    assert "refused the API key" in answer.error["message"]
    embedded = plugin.invoke("invoke_text_embedding", model=EMBED_MODEL, credentials=wrong, texts=["x"])
    assert embedded.error_type == "InvokeAuthorizationError", embedded.error


def test_no_key_says_that_no_key_was_sent(plugin, creds):
    # Without a key the plugin sends no Authorization header; LiteLLM 1.106 then answers a bare
    # plain-text 500 "Internal Server Error", which alone would not tell the user what is wrong.
    saved = plugin.invoke("validate_model_credentials", model=CHAT_MODEL, credentials=dict(creds, api_key=""))
    assert saved.error_type == "CredentialsValidateFailedError", saved.error
    assert "No API key was sent" in saved.error["message"]


def test_unrouted_model_names_the_model(plugin, creds):
    saved = plugin.invoke("validate_model_credentials", model=UNROUTED, credentials=creds)
    assert saved.error_type == "CredentialsValidateFailedError", saved.error
    assert f"Invalid model name passed in model={UNROUTED}" in saved.error["message"]
    answer = plugin.invoke("invoke_llm", model=UNROUTED, credentials=creds, prompt_messages=USER)
    assert answer.error_type == "InvokeBadRequestError", answer.error
    assert f"model={UNROUTED}" in answer.error["message"]


@pytest.mark.parametrize("stream", [True, False])
def test_down_upstream_is_server_unavailable_and_says_connection_error(plugin, creds, stream):
    answer = plugin.invoke(
        "invoke_llm", model=DOWN_MODEL, credentials=creds, prompt_messages=USER, stream=stream, timeout=120
    )
    assert answer.error_type == "InvokeServerUnavailableError", answer.error
    message = answer.error["message"]
    assert "HTTP 500" in message and "Connection error" in message and DOWN_MODEL in message
    # A 500 is not retried by the plugin (only 429/502/503/504 are): one quick answer.
    assert answer.elapsed is not None and answer.elapsed < 30


def test_saving_a_model_whose_upstream_is_down_fails_with_the_reason(plugin, creds):
    saved = plugin.invoke("validate_model_credentials", model=DOWN_MODEL, credentials=creds, timeout=120)
    assert saved.error_type == "CredentialsValidateFailedError", saved.error
    assert "Connection error" in saved.error["message"]


def test_no_frame_carries_the_master_key(plugin_factory, creds):
    plugin = plugin_factory()
    plugin.invoke(
        "invoke_llm", model=CHAT_MODEL, credentials=creds, prompt_messages=USER, model_parameters={"max_tokens": 4}
    ).raise_for_error()
    plugin.invoke("invoke_llm", model=DOWN_MODEL, credentials=creds, prompt_messages=USER)
    plugin.invoke("invoke_llm", model=UNROUTED, credentials=creds, prompt_messages=USER)
    assert creds["api_key"] not in json.dumps(plugin.frames) + plugin.stderr_text
