"""Fault injection through Dify's stdio runtime: every failure ends within its bound, with the
right InvokeError class and a message that says what to do; retries only where safe."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.fake_server import (
    RESET,
    Delay,
    Response,
    chat_chunk,
    chat_completion,
    close_after_request,
    headers_then_stall,
    json_response,
    partial_then_reset,
    reset,
    sse_response,
    stall,
)

pytestmark = pytest.mark.timeout(120)

USER = [{"role": "user", "content": "hi"}]
CANARY = "sk-canary-resilience-9f8e7d6c5b4a"
OK_STREAM = [
    chat_chunk("Hel", role="assistant"),
    chat_chunk("lo"),
    chat_chunk(finish_reason="stop"),
    chat_chunk(no_choices=True, usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
]


def creds(server, **extra):
    return {"base_url": server.base_url, "api_key": CANARY, "timeout": "3", **extra}


def chat(plugin, server, *, stream=True, timeout=60, **extra):
    return plugin.invoke(
        "invoke_llm",
        model="m",
        credentials=creds(server, **extra),
        prompt_messages=USER,
        model_parameters={"max_tokens": 8},
        stream=stream,
        timeout=timeout,
    )


def test_connection_refused_is_a_connection_error_with_the_docker_hint(plugin):
    result = plugin.invoke(
        "invoke_llm", model="m", credentials={"base_url": "http://127.0.0.1:9/v1"}, prompt_messages=USER
    )
    assert result.error_type == "InvokeConnectionError"
    assert "host.docker.internal" in result.error["message"]
    assert result.elapsed < 10


def test_stalled_first_byte_times_out_within_the_configured_timeout(plugin, fake_server):
    fake_server.always(stall())
    started = time.monotonic()
    result = chat(plugin, fake_server)  # default retries: a stall is not retried
    assert result.error_type == "InvokeConnectionError"
    assert "Timed out" in result.error["message"]
    assert 2.5 < time.monotonic() - started < 6  # timeout=3
    assert len(fake_server.requests) == 1


def test_stream_that_stalls_after_headers_times_out(plugin, fake_server):
    fake_server.always(headers_then_stall(first_pieces=[b"data: " + json.dumps(chat_chunk("x")).encode() + b"\n\n"]))
    result = chat(plugin, fake_server)
    assert result.text == "x"  # what arrived was streamed
    assert result.error_type == "InvokeConnectionError"
    assert result.elapsed < 10


def test_reset_mid_stream_is_an_error_not_a_truncated_answer(plugin, fake_server):
    fake_server.always(partial_then_reset(pieces=[b"data: " + json.dumps(chat_chunk("par")).encode() + b"\n\n"]))
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeServerUnavailableError"  # it answered, then dropped: not "cannot connect"
    assert "broke while the server was answering" in result.error["message"]
    assert result.text == "par" and result.finish_reason is None


def test_stream_closed_without_finish_reason_is_an_error(plugin, fake_server):
    # Ollama /v1 after a runner error: no finish_reason, no [DONE] (quirks doc §1)
    fake_server.always(sse_response([chat_chunk("partial")], done=False))
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeServerUnavailableError"
    assert "truncated" in result.error["message"]


def test_truncated_json_chunk_is_a_clear_error(plugin, fake_server):
    fake_server.always(sse_response(['data: {"id":"x","choices":[{"delta":{"content":"a'], done=False))
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeServerUnavailableError"
    assert "not valid JSON" in result.error["message"]


def test_429_with_retry_after_then_success(plugin, fake_server):
    fake_server.add(json_response({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "1"}))
    fake_server.always(sse_response(OK_STREAM))
    started = time.monotonic()
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == "Hello"
    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    assert len(fake_server.requests_to("/v1/chat/completions")) == 2


def test_503_then_success(plugin, fake_server):
    fake_server.add(json_response({"error": "loading"}, status=503))
    fake_server.always(sse_response(OK_STREAM))
    assert chat(plugin, fake_server).raise_for_error().text == "Hello"


def test_reset_before_any_byte_is_retried(plugin, fake_server):
    fake_server.add(reset())
    fake_server.always(sse_response(OK_STREAM))
    assert chat(plugin, fake_server).raise_for_error().text == "Hello"


def test_retries_stop_at_max_retries(plugin, fake_server):
    fake_server.always(json_response({"error": {"message": "overloaded"}}, status=503))
    result = chat(plugin, fake_server, max_retries="1")
    assert result.error_type == "InvokeServerUnavailableError"
    assert "overloaded" in result.error["message"]
    assert len(fake_server.requests_to("/v1/chat/completions")) == 2


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "InvokeBadRequestError"),
        (401, "InvokeAuthorizationError"),
        (403, "InvokeAuthorizationError"),
        (404, "InvokeBadRequestError"),
        (422, "InvokeBadRequestError"),
    ],
)
def test_4xx_is_never_retried(plugin, fake_server, status, error_type):
    fake_server.always(json_response({"error": {"message": "nope"}}, status=status))
    result = chat(plugin, fake_server)
    assert result.error_type == error_type
    assert len(fake_server.requests_to("/v1/chat/completions")) == 1


def test_html_502_page_from_a_proxy(plugin, fake_server):
    page = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"
    fake_server.always(Response(status=502, headers={"Content-Type": "text/html"}, body=page))
    result = chat(plugin, fake_server, max_retries="0")
    assert result.error_type == "InvokeServerUnavailableError"
    assert "HTML" in result.error["message"]


def test_401_says_to_check_the_key(plugin, fake_server):
    fake_server.always(json_response({"error": {"message": f"bad key {CANARY}"}}, status=401))
    result = chat(plugin, fake_server, stream=False)
    assert result.error_type == "InvokeAuthorizationError"
    assert "API key" in result.error["message"]
    assert CANARY not in json.dumps(result.error)


def test_unknown_model_lists_what_the_server_offers(plugin, fake_server):
    # vLLM: 404 "The model `m` does not exist."
    fake_server.always(
        json_response(
            {"object": "error", "message": "The model `m` does not exist.", "type": "NotFoundError", "code": 404},
            status=404,
        ),
        path="/v1/chat/completions",
    )
    fake_server.always(
        json_response(
            {"object": "list", "data": [{"id": "qwen3-8b", "object": "model"}, {"id": "llama3", "object": "model"}]}
        ),
        path="/v1/models",
    )
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeBadRequestError"
    assert "qwen3-8b" in result.error["message"] and "llama3" in result.error["message"]


def test_mistral_extra_forbidden_field_is_dropped_once_and_remembered(plugin, fake_server):
    # Mistral 422 for unknown fields (mistralai/platform-docs-public#7)
    rejection = {
        "object": "error",
        "message": {
            "detail": [
                {"type": "extra_forbidden", "loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted"}
            ]
        },
        "type": "invalid_request_error",
    }
    fake_server.add(json_response(rejection, status=422))
    fake_server.always(sse_response(OK_STREAM[:3]))
    first = chat(plugin, fake_server).raise_for_error()
    second = chat(plugin, fake_server).raise_for_error()
    assert first.text == second.text == "Hello"
    bodies = [r.json for r in fake_server.requests_to("/v1/chat/completions")]
    assert "stream_options" in bodies[0]
    assert ["stream_options" in b for b in bodies[1:]] == [False, False]


def test_null_assistant_content_falls_back_to_empty_string(plugin, fake_server):
    # LM Studio (lmstudio-bug-tracker#261) / llama-cpp-python reject content: null beside tool_calls
    fake_server.add(
        json_response({"error": {"message": "messages[1].content: Input should be a valid string"}}, status=400)
    )
    fake_server.always(json_response(chat_completion("done")))
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
    ]
    result = plugin.invoke(
        "invoke_llm",
        model="m",
        credentials=creds(fake_server, base_url=fake_server.base_url + "/lmstudio"),
        prompt_messages=history,
        stream=False,
    )
    result.raise_for_error()
    bodies = [r.json for r in fake_server.requests]
    assert bodies[0]["messages"][1]["content"] is None
    assert bodies[1]["messages"][1]["content"] == ""


def test_no_error_frame_ever_carries_the_key(plugin_factory, fake_server):
    plugin = plugin_factory()
    fake_server.add(json_response({"error": {"message": f"Authorization: Bearer {CANARY} rejected"}}, status=400))
    fake_server.add(Response(status=500, body=f"<html>{CANARY}</html>", headers={"Content-Type": "text/html"}))
    fake_server.add(sse_response([chat_chunk("x"), {"error": {"message": f"boom {CANARY}"}}]))
    for _ in range(3):
        chat(plugin, fake_server, max_retries="0", extra_headers=json.dumps({"X-Secret": "hdr-canary-123"}))
    dump = json.dumps(plugin.frames) + plugin.stderr_text
    assert CANARY not in dump and "hdr-canary-123" not in dump
    assert sum(1 for f in plugin.frames if f.get("data", {}).get("type") == "error") == 3


def test_keep_alive_connections_are_reused_across_calls(plugin, fake_server):
    fake_server.always(sse_response(OK_STREAM))
    for _ in range(3):
        chat(plugin, fake_server).raise_for_error()
    assert len({r.connection_id for r in fake_server.requests}) == 1


def test_sse_keepalive_comments_and_crlf_framing(plugin, fake_server):
    events = [
        ": OPENROUTER PROCESSING",
        chat_chunk("a"),
        ": keep-alive",
        chat_chunk("b"),
        chat_chunk(finish_reason="stop"),
    ]
    fake_server.always(sse_response(events, crlf=True))
    assert chat(plugin, fake_server).raise_for_error().text == "ab"


def test_slow_stream_within_timeout_completes(plugin, fake_server):
    # `timeout` bounds each wait for bytes, not the whole answer
    fake_server.always(
        sse_response(
            [chat_chunk("a"), chat_chunk("b"), chat_chunk("c"), chat_chunk(finish_reason="stop")], piece_delay=1.2
        )
    )
    result = chat(plugin, fake_server, timeout=30).raise_for_error()
    assert result.text == "abc" and result.elapsed > 3.0


def test_first_chunk_is_forwarded_before_the_stream_ends(plugin, fake_server):
    fake_server.always(
        Response(
            headers={"Content-Type": "text/event-stream"},
            chunked=True,
            pieces=[
                b"data: " + json.dumps(chat_chunk("first")).encode() + b"\n\n",
                Delay(1.5),
                b"data: " + json.dumps(chat_chunk(finish_reason="stop")).encode() + b"\n\n",
                b"data: [DONE]\n\n",
            ],
        )
    )
    result = chat(plugin, fake_server).raise_for_error()
    # The first chunk reached Dify while the server still held the rest back (a gap of 1.5 s there;
    # measured between the two ends, so a busy machine delays both alike).
    assert result.elapsed - result.stream_times[0] >= 1.0


def test_reset_after_partial_body_of_blocking_call(plugin, fake_server):
    fake_server.always(
        Response(
            headers={"Content-Type": "application/json", "Content-Length": "500"},
            pieces=[b'{"choices": [', RESET],
            content_length=False,
        )
    )
    result = chat(plugin, fake_server, stream=False, max_retries="0")
    assert result.error_type == "InvokeServerUnavailableError"
    assert "broke while the server was answering" in result.error["message"]


def test_connection_lost_before_any_text_is_retried(plugin, fake_server):
    # headers and a role-only chunk arrive, then the connection resets: Dify has seen nothing yet
    fake_server.add(
        partial_then_reset(pieces=[b"data: " + json.dumps(chat_chunk(role="assistant")).encode() + b"\n\n"])
    )
    fake_server.always(sse_response(OK_STREAM))
    assert chat(plugin, fake_server).raise_for_error().text == "Hello"
    assert len(fake_server.requests_to("/v1/chat/completions")) == 2


def test_connection_lost_after_text_is_not_retried(plugin, fake_server):
    fake_server.add(partial_then_reset(pieces=[b"data: " + json.dumps(chat_chunk("Hel")).encode() + b"\n\n"]))
    fake_server.always(sse_response(OK_STREAM))
    result = chat(plugin, fake_server)
    assert result.text == "Hel" and result.error_type == "InvokeServerUnavailableError"
    assert len(fake_server.requests_to("/v1/chat/completions")) == 1


def test_openai_reasoning_models_get_max_completion_tokens(plugin, fake_server):
    # OpenAI o-series reject max_tokens (quirks doc §5): renamed once, then remembered
    message = (
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
    )
    fake_server.add(
        json_response(
            {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": "max_tokens",
                    "code": "unsupported_parameter",
                }
            },
            status=400,
        )
    )
    fake_server.always(sse_response(OK_STREAM))
    for _ in range(2):
        assert chat(plugin, fake_server).raise_for_error().text == "Hello"
    bodies = [r.json for r in fake_server.requests_to("/v1/chat/completions")]
    assert [("max_tokens" in b, b.get("max_completion_tokens")) for b in bodies] == [
        (True, None),
        (False, 8),
        (False, 8),
    ]


def test_retries_and_adaptations_are_logged_to_dify_without_secrets(plugin_factory, fake_server):
    plugin = plugin_factory()
    fake_server.add(json_response({"error": {"message": "busy"}}, status=503, headers={"Retry-After": "0"}))
    rejection = {"detail": [{"type": "extra_forbidden", "loc": ["body", "stream_options"], "msg": "Extra inputs"}]}
    fake_server.add(json_response(rejection, status=422))
    fake_server.always(sse_response(OK_STREAM))
    chat(plugin, fake_server).raise_for_error()
    messages = [log.get("message", "") for log in plugin.logs]
    assert any("HTTP 503" in m and "retry 1" in m for m in messages), messages
    assert any("stream_options" in m for m in messages), messages
    assert CANARY not in json.dumps(plugin.logs)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param({"message": "overloaded, try again", "code": 503}, id="status-503"),
        pytest.param({"message": "slow down", "type": "rate_limit", "code": "rate_limit_exceeded"}, id="rate-limit"),
    ],
)
def test_an_error_event_before_any_text_is_retried_like_its_http_status(plugin, fake_server, error):
    # The same failure as a 503 or 429 answer, only told inside a 200 stream: Dify has seen
    # nothing, so the one retry policy opens the stream again.
    fake_server.add(sse_response([{"error": error}], done=False))
    fake_server.always(sse_response(OK_STREAM))
    assert chat(plugin, fake_server, max_retries="1").raise_for_error().text == "Hello"
    assert len(fake_server.requests_to("/v1/chat/completions")) == 2


def test_an_error_event_the_request_caused_is_not_retried(plugin, fake_server):
    fake_server.add(sse_response([{"error": {"message": "invalid tool schema", "code": 400}}], done=False))
    fake_server.always(sse_response(OK_STREAM))
    result = chat(plugin, fake_server, max_retries="1")
    assert result.error_type == "InvokeBadRequestError" and "invalid tool schema" in result.error["message"]
    assert len(fake_server.requests_to("/v1/chat/completions")) == 1


def test_an_error_event_after_text_is_not_retried(plugin, fake_server):
    fake_server.add(
        sse_response([chat_chunk("Hel", role="assistant"), {"error": {"message": "overloaded", "code": 503}}])
    )
    fake_server.always(sse_response(OK_STREAM))
    result = chat(plugin, fake_server, max_retries="1")
    assert result.text == "Hel" and result.error_type == "InvokeServerUnavailableError"
    assert len(fake_server.requests_to("/v1/chat/completions")) == 1


# A server that closes an idle keep-alive connection just as the next request arrives (without
# `Connection: close`): here deterministically, on that request's bytes, with no answer (a FIN,
# or a reset).
_CLOSING = {"fin": close_after_request, "rst": reset}


@pytest.mark.parametrize("closing", sorted(_CLOSING))
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "blocking"])
def test_a_request_on_a_reused_connection_the_server_closed_is_sent_again_on_a_new_one(
    plugin, fake_server, stream, closing
):
    answer = sse_response(OK_STREAM) if stream else json_response(chat_completion("Hello"))
    fake_server.script([answer, _CLOSING[closing](), answer])
    chat(plugin, fake_server, stream=stream, max_retries="0").raise_for_error()
    result = chat(plugin, fake_server, stream=stream, max_retries="0").raise_for_error()
    assert result.text == "Hello"
    first, closed, resent = fake_server.requests
    assert closed.connection_id == first.connection_id  # the second call reused the connection ...
    assert resent.connection_id != first.connection_id  # ... and was sent again on a new one
    assert resent.json == closed.json


def test_no_answer_on_a_new_connection_is_not_resent_and_not_called_a_broken_answer(plugin, fake_server):
    fake_server.always(close_after_request())
    result = chat(plugin, fake_server, max_retries="0")
    assert result.error_type == "InvokeServerUnavailableError"
    message = result.error["message"]
    assert "closed before the server sent any response" in message
    assert "while the server was answering" not in message
    assert len(fake_server.requests) == 1


def test_a_blocking_answer_cut_off_on_a_reused_connection_is_not_sent_again(plugin, fake_server):
    # The head came (the SDK reads a blocking body before it returns): a broken answer, not a
    # stale connection.
    cut = Response(
        headers={"Content-Type": "application/json", "Content-Length": "500"}, pieces=[b'{"choices": [', RESET]
    )
    fake_server.script([json_response(chat_completion("Hello")), cut])
    chat(plugin, fake_server, stream=False, max_retries="0").raise_for_error()
    result = chat(plugin, fake_server, stream=False, max_retries="0")
    assert result.error_type == "InvokeServerUnavailableError"
    assert "broke while the server was answering" in result.error["message"]
    first, broken = fake_server.requests
    assert broken.connection_id == first.connection_id
