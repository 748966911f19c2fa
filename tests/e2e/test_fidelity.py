"""What real servers, proxies and gateways do that a client must get right (issue 16), through
Dify's stdio runtime against loopback servers that send the exact bytes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.support.fake_server import (
    Response,
    chat_chunk,
    chat_completion,
    json_response,
    partial_then_reset,
    sse_response,
)

pytestmark = pytest.mark.timeout(120)

USER = [{"role": "user", "content": "hi"}]
CANARY = "sk-canary-fidelity-4e5f6a7b8c9d"
STOP = [chat_chunk("ok", role="assistant"), chat_chunk(finish_reason="stop")]
SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in - Access</title></head>"
    "<body><form action='/login'><input name='user'></form></body></html>"
)


def creds(server, **extra):
    return {"base_url": server.base_url, "api_key": CANARY, "timeout": "5", **extra}


def chat(plugin, server, *, stream=True, **extra):
    return plugin.invoke(
        "invoke_llm",
        model="m",
        credentials=creds(server, **extra),
        prompt_messages=USER,
        model_parameters={"max_tokens": 8},
        stream=stream,
    )


def validate(plugin, server, model="m", model_type="llm", **extra):
    return plugin.invoke(
        "validate_model_credentials", model=model, credentials=creds(server, **extra), model_type=model_type
    )


# --- 1. the model list is not a gate -------------------------------------------------------------


def test_a_model_the_server_does_not_list_but_answers_is_saved(plugin, fake_server):
    # llama.cpp's llama-server lists only its alias but answers any model name.
    fake_server.always(json_response({"object": "list", "data": [{"id": "alias-only"}]}), path="/v1/models")
    fake_server.always(json_response(chat_completion("pong")), path="/v1/chat/completions")
    saved = validate(plugin, fake_server, model="my-model").raise_for_error().result["credentials"]
    assert saved["base_url"] == fake_server.base_url


def test_a_refused_model_name_is_explained_with_the_listing(plugin, fake_server):
    # LiteLLM: 400 "Invalid model name passed in model=m"
    fake_server.always(json_response({"object": "list", "data": [{"id": "proxy-chat"}]}), path="/v1/models")
    fake_server.always(
        json_response(
            {"error": {"message": "Invalid model name passed in model=m.", "type": "invalid_request_error"}},
            status=400,
        ),
        path="/v1/chat/completions",
    )
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeBadRequestError"
    assert "no such path or model: model 'm'" in result.error["message"]
    assert "proxy-chat" in result.error["message"]


# --- 2. redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
def test_a_proxy_redirect_is_followed_with_the_body(plugin, fake_server, status):
    fake_server.add(
        Response(status=status, headers={"Location": "/v2/chat/completions"}, body=b""),
        path="/v1/chat/completions",
    )
    fake_server.always(sse_response(STOP), path="/v2/chat/completions")
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == "ok"
    (followed,) = fake_server.requests_to("/v2/chat/completions")
    assert followed.method == "POST" and followed.json["messages"][0]["content"] == "hi"
    assert followed.headers.get("authorization") == f"Bearer {CANARY}"  # same origin: kept


def test_a_redirect_to_another_origin_drops_the_key(plugin, fake_server, fake_server_factory):
    other = fake_server_factory()
    other.always(sse_response(STOP))
    fake_server.add(Response(status=307, headers={"Location": other.base_url + "/chat/completions"}, body=b""))
    assert chat(plugin, fake_server).raise_for_error().text == "ok"
    (followed,) = other.requests
    assert "authorization" not in {name.lower() for name in followed.headers}


# --- 3. a 2xx answer that is not what was asked --------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_an_html_page_with_200_is_named_as_such(plugin, fake_server, stream):
    fake_server.always(Response(status=200, headers={"Content-Type": "text/html"}, body=SIGN_IN_PAGE))
    result = chat(plugin, fake_server, stream=stream)
    assert result.error_type == "InvokeServerUnavailableError"
    message = result.error["message"]
    assert "HTML page" in message and "sign-in" in message
    assert "stream ended" not in message


def test_an_html_page_where_embeddings_were_expected(plugin, fake_server):
    fake_server.always(Response(status=200, headers={"Content-Type": "text/html; charset=utf-8"}, body=SIGN_IN_PAGE))
    result = plugin.invoke(
        "invoke_text_embedding", model="e", credentials=creds(fake_server), texts=["a"], input_type="document"
    )
    assert result.error_type == "InvokeServerUnavailableError"
    assert "HTML page" in result.error["message"]


# --- 4. refusals ---------------------------------------------------------------------------------


def test_a_blocking_refusal_is_the_answer(plugin, fake_server):
    fake_server.always(json_response(chat_completion(None, refusal="I can't help with that.")))
    result = chat(plugin, fake_server, stream=False).raise_for_error()
    assert result.text == "I can't help with that."


def test_a_streamed_refusal_is_the_answer(plugin, fake_server):
    pieces = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": None, "refusal": ""}}]}]
    pieces += [{"choices": [{"index": 0, "delta": {"refusal": part}}]} for part in ("I can't ", "help.")]
    pieces += [chat_chunk(finish_reason="stop")]
    assert chat(plugin, fake_server.always(sse_response(pieces))).raise_for_error().text == "I can't help."


# --- 5. partial usage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reported", "kept"),
    [({"completion_tokens": 7}, "completion_tokens"), ({"prompt_tokens": 123}, "prompt_tokens")],
)
def test_partial_usage_keeps_what_the_server_reported(plugin, fake_server, reported, kept):
    fake_server.always(sse_response([*STOP, chat_chunk(no_choices=True, usage=reported)]))
    usage = chat(plugin, fake_server).raise_for_error().usage
    assert usage[kept] == reported[kept]
    other = "prompt_tokens" if kept == "completion_tokens" else "completion_tokens"
    assert usage[other] > 0  # estimated, not zero


# --- 10. bounds ----------------------------------------------------------------------------------


def test_retry_after_as_an_http_date_is_honoured(plugin, fake_server):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    fake_server.add(json_response({"error": {"message": "busy"}}, status=429, headers={"Retry-After": when}))
    fake_server.always(sse_response(STOP))
    started = time.monotonic()
    assert chat(plugin, fake_server).raise_for_error().text == "ok"
    assert time.monotonic() - started >= 1.0  # waited for the date (second precision), not 0.5 s


def test_a_retry_after_longer_than_the_timeout_is_not_waited_for(plugin, fake_server):
    fake_server.always(json_response({"error": {"message": "busy"}}, status=429, headers={"Retry-After": "20"}))
    started = time.monotonic()
    result = chat(plugin, fake_server)  # timeout 5
    assert result.error_type == "InvokeRateLimitError"
    assert time.monotonic() - started < 4
    assert len(fake_server.requests_to("/v1/chat/completions")) == 1


# --- 11. in-stream error classes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        {"message": "EngineDeadError: the engine core died unexpectedly", "type": "BadRequestError", "code": 400},
        {"message": "CUDA out of memory. Tried to allocate 2.00 GiB", "type": "BadRequestError", "code": 400},
    ],
)
def test_a_vllm_engine_failure_in_the_stream_is_the_servers_fault(plugin, fake_server, error):
    fake_server.always(sse_response([chat_chunk("x", role="assistant"), {"error": error}]))
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeServerUnavailableError"


def test_a_fixable_request_error_in_the_stream_stays_a_bad_request(plugin, fake_server):
    error = {"message": "This model's maximum context length is 4096 tokens.", "type": "BadRequestError", "code": 400}
    fake_server.always(sse_response([{"error": error}]))
    assert chat(plugin, fake_server).error_type == "InvokeBadRequestError"


# --- issue 11.8: four connection failures, four messages -----------------------------------------


def test_a_stream_broken_off_mid_answer_is_not_called_a_connection_refusal(plugin, fake_server):
    fake_server.always(partial_then_reset(pieces=[b"data: " + json.dumps(chat_chunk("par")).encode() + b"\n\n"]))
    result = chat(plugin, fake_server)
    message = result.error["message"]
    assert result.text == "par"
    assert result.error_type == "InvokeServerUnavailableError"
    assert "broke while the server was answering" in message
    assert "Cannot connect" not in message and "host.docker.internal" not in message


# --- 7. reasoning models at save -----------------------------------------------------------------


def test_a_ping_spent_on_reasoning_is_a_success_and_no_capability_is_saved_off(plugin, fake_server):
    thinking_only = chat_completion(None, finish_reason="length", reasoning_content="The user says ping, so")
    fake_server.always(json_response({"object": "list", "data": [{"id": "m"}]}), path="/v1/models")
    fake_server.always(json_response(thinking_only), path="/v1/chat/completions")
    saved = validate(plugin, fake_server, vision="off").raise_for_error().result["credentials"]
    assert saved["_detected_tool_calling"] == "true"
    assert saved["_detected_structured_output"] == "true"
    assert saved["_detected_thinking"] == "true"
    budgets = {request.json["max_tokens"] for request in fake_server.requests_to("/v1/chat/completions")}
    assert budgets and min(budgets) >= 16


# --- 6. save-time requests are built like real calls ---------------------------------------------


def test_save_time_requests_carry_extra_body_headers_and_the_thinking_switch(plugin, fake_server):
    fake_server.always(json_response({"object": "list", "data": [{"id": "m"}]}), path="/v1/models")
    fake_server.always(json_response(chat_completion("pong")), path="/v1/chat/completions")
    validate(
        plugin,
        fake_server,
        extra_body='{"route": "gpu-pool"}',
        extra_headers='{"X-Gateway": "team-a"}',
        thinking="off",
    ).raise_for_error()
    sent = fake_server.requests_to("/v1/chat/completions")
    assert len(sent) >= 4  # the ping and the capability checks
    for request in sent:
        assert request.json["route"] == "gpu-pool"
        assert request.headers["x-gateway"] == "team-a"
        assert request.json["chat_template_kwargs"] == {"enable_thinking": False, "thinking": False}


# --- 8. the thinking switch: which form a server honours is found at save ------------------------


def test_the_thinking_form_a_server_honours_is_detected_and_then_used_alone(plugin, fake_server):
    # A GLM-style gateway: it thinks unless `thinking: {"type": "disabled"}`, and ignores the rest.
    def answer(request):
        body = request.json or {}
        if body.get("thinking") == {"type": "disabled"}:
            return json_response(chat_completion("pong"))
        return json_response(chat_completion("pong", reasoning_content="The user pings."))

    fake_server.always(json_response({"object": "list", "data": [{"id": "m"}]}), path="/v1/models")
    fake_server.always(answer, path="/v1/chat/completions")
    saved = validate(plugin, fake_server, tool_calling="off", structured_output="off", vision="off", audio="off")
    credentials = saved.raise_for_error().result["credentials"]
    assert credentials["_detected_thinking_form"] == "thinking_type"
    plugin.invoke(
        "invoke_llm",
        model="m",
        credentials=dict(credentials, thinking="off"),
        prompt_messages=USER,
        model_parameters={"max_tokens": 8},
        stream=False,
    ).raise_for_error()
    sent = fake_server.requests_to("/v1/chat/completions")[-1].json
    assert sent["thinking"] == {"type": "disabled"}
    assert not {"chat_template_kwargs", "enable_thinking", "reasoning_effort"} & set(sent)
