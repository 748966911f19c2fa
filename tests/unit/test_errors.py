"""Error mapping: HTTP statuses, server error bodies, in-stream error payloads and transport
failures -> Dify's InvokeError classes with messages that say what to do and never carry secrets.

Server shapes (error bodies, context overflow, model not found, base URL mistakes) are each
server's own, as the cases below name them.
"""

from __future__ import annotations

import json
import logging
import ssl
import warnings
from typing import Any

import httpx
import openai
import pytest

with warnings.catch_warnings():
    # Importing the SDK trips pydantic deprecation warnings inside it (pytest runs with -W error).
    warnings.simplefilter("ignore")
    from dify_plugin.errors.model import (
        InvokeAuthorizationError,
        InvokeBadRequestError,
        InvokeConnectionError,
        InvokeError,
        InvokeRateLimitError,
        InvokeServerUnavailableError,
    )

    from oai_bridge.errors.invoke import (
        error_for_status,
        raise_for_payload_error,
        redact,
        to_invoke_error,
        translated_errors,
    )
from oai_bridge.config.settings import SettingsError
from oai_bridge.errors.kinds import (
    ModelNotFoundError,
    ReportedError,
    SSEError,
    StreamIncompleteError,
    TruncatedToolCallError,
)
from oai_bridge.transport.send import sdk_errors

KEY = "sk-canary-7d3e9f1a2b4c6d8e"
HEADER_SECRET = "hdr-canary-5a6b7c8d9e"
LOCAL_URL = "http://localhost:8000/v1"
CHAT_URL = "http://localhost:8000/v1/chat/completions"

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
)


def request(url: str = CHAT_URL) -> httpx.Request:
    return httpx.Request("POST", url)


def chained(outer: BaseException, *causes: BaseException) -> BaseException:
    """`outer` raised from causes[0], raised from causes[1], … (as `raise X from Y` would set)."""
    current = outer
    for cause in causes:
        current.__cause__ = cause
        current = cause
    return outer


_STATUS_CLASSES: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def through_transport(exc: BaseException) -> BaseException:
    """What the transport raises in place of an SDK exception (its production conversion)."""
    try:
        with sdk_errors():
            raise exc
    except BaseException as converted:  # noqa: BLE001 - returned for the test to map
        return converted
    raise AssertionError("sdk_errors swallowed the exception")


def status_error(status: int, body: Any) -> BaseException:
    """The openai exception for `status`, built on a real httpx.Response like the SDK does."""
    if isinstance(body, str):
        response = httpx.Response(status, request=request(), text=body)
    else:
        response = httpx.Response(status, request=request(), json=body)
    cls = _STATUS_CLASSES.get(status, openai.InternalServerError if status >= 500 else openai.APIStatusError)
    return through_transport(cls(f"Error code: {status} - {body}", response=response, body=body))


def sdk_status_error(status: int, body: Any) -> BaseException:
    """The exception the real openai client raises for this answer (it unwraps `{"error": …}`)."""

    def handler(req: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = openai.OpenAI(api_key=KEY, base_url=LOCAL_URL, max_retries=0, http_client=http)
        with pytest.raises(openai.APIStatusError) as info:
            client.post("/chat/completions", cast_to=httpx.Response, body={"model": "m"})
    return through_transport(info.value)


# The table: every status class the plugin distinguishes.
STATUS_CLASSES = [
    (400, InvokeBadRequestError),
    (401, InvokeAuthorizationError),
    (403, InvokeAuthorizationError),
    (404, InvokeBadRequestError),
    (409, InvokeBadRequestError),
    (413, InvokeBadRequestError),
    (422, InvokeBadRequestError),
    (429, InvokeRateLimitError),
    (500, InvokeServerUnavailableError),
    (502, InvokeServerUnavailableError),
    (503, InvokeServerUnavailableError),
    (504, InvokeServerUnavailableError),
]


# --- error_for_status: status classes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    STATUS_CLASSES,
)
def test_status_maps_to_invoke_error_class(status: int, cls: type[InvokeError]) -> None:
    error = error_for_status(status, {"error": {"message": "something specific"}})
    assert type(error) is cls
    assert "something specific" in str(error)
    assert str(status) in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_point_at_the_key_and_headers(status: int) -> None:
    error = error_for_status(status, {"error": "Unauthorized"})
    assert "API key" in str(error)
    assert "extra_headers" in str(error)


# LiteLLM proxy 1.106.12 without a database, any key but its master_key (tests/e2e/test_litellm_proxy.py)
LITELLM_NO_DB = {"error": {"message": "No connected db.", "type": "no_db_connection", "param": None, "code": "400"}}


def test_litellm_no_db_400_is_a_refused_key_not_a_bad_request() -> None:
    for exc in (status_error(400, LITELLM_NO_DB), sdk_status_error(400, LITELLM_NO_DB)):
        error = to_invoke_error(exc, url=LOCAL_URL)
        assert type(error) is InvokeAuthorizationError
        text = str(error)
        assert "refused the API key" in text and "No connected db." in text
        assert "master_key" in text and "misconfigured" in text
        assert "rejected the request" not in text


def test_a_400_without_a_known_refusal_type_stays_a_bad_request() -> None:
    body = {"error": {"message": "No connected db.", "type": "invalid_request_error", "code": "400"}}
    assert type(error_for_status(400, body)) is InvokeBadRequestError


def test_413_says_the_request_is_too_large() -> None:
    assert "too large" in str(error_for_status(413, "Request Entity Too Large"))


def test_422_shows_the_servers_reason() -> None:
    error = error_for_status(422, {"error": "Input validation error: `temperature` must be strictly positive"})
    assert isinstance(error, InvokeBadRequestError)
    assert "`temperature` must be strictly positive" in str(error)


def test_429_says_try_again_later() -> None:
    assert "later" in str(error_for_status(429, {"error": {"message": "Too many requests"}}))


def test_html_502_page_is_server_unavailable_and_says_html() -> None:
    error = error_for_status(502, NGINX_502, url=CHAT_URL)
    assert isinstance(error, InvokeServerUnavailableError)
    assert "HTML" in str(error)
    assert CHAT_URL in str(error)
    assert "<html>" not in str(error)


@pytest.mark.parametrize("page", ["<!DOCTYPE html><html><body>Hi</body></html>", "  \n<HTML><title>Gateway</title>"])
def test_any_html_page_is_recognised(page: str) -> None:
    assert "HTML" in str(error_for_status(502, page))


# --- 404: model not found vs wrong base URL ------------------------------------------------------


@pytest.mark.parametrize("model", ["my-model", "Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"])
@pytest.mark.parametrize(
    "shape",
    [
        # vLLM before the ErrorInfo change (vllm serving_engine `_check_model`)
        lambda message: {"object": "error", "message": message, "type": "NotFoundError", "param": None, "code": 404},
        # vLLM after it
        lambda message: {"error": {"message": message, "type": "NotFoundError", "param": "model", "code": 404}},
    ],
    ids=["object-error", "error-info"],
)
def test_vllm_unknown_model_404_says_check_the_model_name(model: str, shape: Any) -> None:
    error = error_for_status(404, shape(f"The model `{model}` does not exist."), url=CHAT_URL)
    assert isinstance(error, InvokeBadRequestError)
    assert f"The model `{model}` does not exist" in str(error)
    assert "endpoint_model_name" in str(error)
    assert "base URL" not in str(error)


@pytest.mark.parametrize("model", ["llama3", "llama3.1:8b", "qwen2.5:7b-instruct"])
def test_ollama_unknown_model_404_says_check_the_model_name(model: str) -> None:
    # Ollama /v1 (openai.go): 404 with type not_found_error.
    body = {
        "error": {
            "message": f'model "{model}" not found, try pulling it first',
            "type": "not_found_error",
            "param": None,
            "code": None,
        }
    }
    error = error_for_status(404, body, url=CHAT_URL)
    assert isinstance(error, InvokeBadRequestError)
    assert f'model "{model}" not found' in str(error)
    assert "endpoint_model_name" in str(error)
    assert "base URL" not in str(error)


@pytest.mark.parametrize("body", ["404 page not found", {"detail": "Not Found"}, ""])
def test_plain_404_page_hints_at_the_base_url_and_v1(body: Any) -> None:
    # Ollama without /v1 answers "404 page not found" (jakobdylanc/llmcord#56); FastAPI {"detail": "Not Found"}.
    url = "http://host.docker.internal:11434/chat/completions"
    error = error_for_status(404, body, url=url)
    assert isinstance(error, InvokeBadRequestError)
    assert "base URL" in str(error)
    assert "/v1" in str(error)
    assert url in str(error)
    assert "endpoint_model_name" not in str(error)


# --- context overflow --------------------------------------------------------------------------

OVERFLOW_CASES = [
    pytest.param(
        400,
        {
            "error": {
                "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
                "(4000 in the messages, 1000 in the completion). "
                "Please reduce the length of the messages or completion.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
        id="vllm",
    ),
    pytest.param(
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        id="vllm-old-sglang",
    ),
    pytest.param(
        400,
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 5120,
                "n_ctx": 4096,
            }
        },
        id="llama.cpp",
    ),
    pytest.param(
        400,
        {"error": {"code": 400, "message": "request too big", "type": "exceed_context_size_error"}},
        id="llama.cpp-type-only",
    ),
    pytest.param(
        422,
        {
            "error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
            "Given: 4000 `inputs` tokens and 500 `max_new_tokens`",
            "error_type": "validation",
        },
        id="tgi",
    ),
    pytest.param(
        400,
        {
            "error": "Trying to keep the first 5000 tokens when context the overflows. However, the model is loaded "
            "with context length of only 4096 tokens, which is not enough."
        },
        id="lm-studio",
    ),
    pytest.param(
        400,
        {
            "error": {
                "message": "Input is too long for the requested model.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
        id="openai-code",
    ),
    pytest.param(
        500,
        {"error": {"message": "This model's maximum context length is 2048 tokens.", "code": 500}},
        id="overflow-reported-as-500",
    ),
]


def assert_context_overflow(error: InvokeError) -> None:
    assert type(error) is InvokeBadRequestError
    assert "does not fit the model's context" in str(error)
    assert "max_tokens" in str(error)


@pytest.mark.parametrize(("status", "body"), OVERFLOW_CASES)
def test_context_overflow_in_every_known_shape(status: int, body: Any) -> None:
    assert_context_overflow(error_for_status(status, body))


@pytest.mark.parametrize(("status", "body"), OVERFLOW_CASES)
def test_context_overflow_through_the_openai_client(status: int, body: Any) -> None:
    # The SDK hands over `body["error"]` when there is one: detection must still work.
    assert_context_overflow(to_invoke_error(sdk_status_error(status, body), url=LOCAL_URL))


def test_context_overflow_keeps_the_servers_numbers() -> None:
    body = {"error": {"message": "This model's maximum context length is 4096 tokens. However, you requested 5000"}}
    assert "4096" in str(error_for_status(400, body))


# --- error body shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            {"error": {"message": "temperature out of range", "type": "invalid_request_error"}},
            "temperature out of range",
        ),
        ({"error": "temperature out of range"}, "temperature out of range"),
        (
            {"object": "error", "message": "temperature out of range", "type": "BadRequestError"},
            "temperature out of range",
        ),
        (
            {"detail": [{"loc": ["body", "messages", 0, "role"], "msg": "field required", "type": "missing"}]},
            "field required",
        ),
        (
            {
                "object": "error",
                "message": {
                    "detail": [
                        {"type": "extra_forbidden", "loc": ["body", "foo"], "msg": "Extra inputs are not permitted"}
                    ]
                },
                "type": "invalid_request_message_error",
                "param": None,
                "code": None,
            },
            "Extra inputs are not permitted",
        ),
        ({"detail": "Model not found in the model list, uid: qwen"}, "Model not found in the model list"),
        ("Bad Request: temperature out of range", "Bad Request: temperature out of range"),
        ({"error": {"code": 400, "type": "weird"}}, "weird"),
    ],
    ids=[
        "error-object",
        "error-string",
        "object-error",
        "fastapi-detail",
        "mistral-nested",
        "detail-string",
        "text",
        "no-message",
    ],
)
def test_message_is_found_in_every_body_shape(body: Any, shown: str) -> None:
    error = error_for_status(400, body)
    assert isinstance(error, InvokeBadRequestError)
    assert shown in str(error)


def test_several_validation_errors_are_all_shown() -> None:
    body = {"detail": [{"loc": ["body", "a"], "msg": "first problem"}, {"loc": ["body", "b"], "msg": "second problem"}]}
    text = str(error_for_status(422, body))
    assert "first problem" in text
    assert "second problem" in text


def test_empty_body_says_no_message() -> None:
    assert "HTTP 400 with no message" in str(error_for_status(400, None))


def test_huge_message_is_clipped() -> None:
    error = error_for_status(400, {"error": "x" * 10_000})
    assert len(str(error)) < 1_000


# --- raise_for_payload_error (errors inside a 200 stream) --------------------------------------


def reported(payload: dict[str, Any]) -> InvokeError:
    """What Dify is shown for an error payload (raised as the plugin's ReportedError)."""
    with pytest.raises(ReportedError) as info:
        raise_for_payload_error(payload)
    error = info.value.error
    assert isinstance(error, InvokeError)
    assert type(to_invoke_error(info.value)) is type(error)  # the boundary shows exactly that
    return error


def test_normal_chunks_do_not_raise() -> None:
    raise_for_payload_error({"choices": [{"delta": {"content": "hi"}, "index": 0}]})
    raise_for_payload_error({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    raise_for_payload_error({"error": None, "choices": []})  # some proxies send an explicit null


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        pytest.param(
            {"error": {"message": "invalid tool schema", "type": "BadRequestError", "code": 400}},
            InvokeBadRequestError,
            id="vllm-sglang",
        ),
        pytest.param(
            {"error": {"message": "invalid tool schema", "http_status_code": 422}}, InvokeBadRequestError, id="tgi"
        ),
        pytest.param({"error": {"message": "invalid tool schema", "code": 429}}, InvokeRateLimitError, id="rate-limit"),
        pytest.param(
            {"error": {"message": "invalid tool schema", "code": 503}}, InvokeServerUnavailableError, id="overloaded"
        ),
        pytest.param({"error": "invalid tool schema"}, InvokeServerUnavailableError, id="xinference-string"),
        pytest.param(
            {"object": "error", "message": "invalid tool schema", "type": "InternalServerError"},
            InvokeServerUnavailableError,
            id="object-error-without-code",
        ),
    ],
)
def test_in_stream_error_shapes_raise_with_the_message(payload: dict[str, Any], cls: type[InvokeError]) -> None:
    error = reported(payload)
    assert type(error) is cls
    assert "invalid tool schema" in str(error)


def test_in_stream_object_error_uses_its_top_level_code() -> None:
    # SGLang and vLLM's older ErrorResponse put `code` at the top level: {"object":"error",…,"code":400}.
    payload = {
        "object": "error",
        "message": "invalid tool schema",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    error = reported(payload)
    assert type(error) is InvokeBadRequestError and "invalid tool schema" in str(error)


def test_in_stream_context_overflow_from_llama_cpp_says_it_does_not_fit() -> None:
    payload = {"error": {"code": 400, "message": "too long", "type": "exceed_context_size_error", "n_ctx": 4096}}
    error = reported(payload)
    assert type(error) is InvokeBadRequestError
    assert_context_overflow(error)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            {
                "object": "error",
                "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
                "type": "BadRequestError",
                "code": 400,
            },
            id="object-error-with-code",
        ),
        pytest.param(
            {
                "error": {
                    "message": "This model's maximum context length is 4096 tokens.",
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                }
            },
            id="string-code",
        ),
    ],
)
def test_in_stream_context_overflow_is_never_reported_as_server_unavailable(payload: dict[str, Any]) -> None:
    assert_context_overflow(reported(payload))


# --- redact ------------------------------------------------------------------------------------


def test_redact_removes_secrets_and_bearer_tokens() -> None:
    text = f"key={KEY} header={HEADER_SECRET} Authorization: Bearer abc.def-123 and 'bearer  xyz'"
    clean = redact(text, [KEY, HEADER_SECRET])
    assert KEY not in clean
    assert HEADER_SECRET not in clean
    assert "abc.def-123" not in clean
    assert "xyz" not in clean
    assert "Bearer ***" in clean


def test_redact_keeps_ordinary_text() -> None:
    assert redact("model not found", [KEY]) == "model not found"


def test_redact_ignores_tiny_secrets() -> None:
    # A 1-3 character "secret" would shred every message; such values are not real secrets.
    assert redact("a bad request", ["a"]) == "a bad request"


# --- to_invoke_error: transport failures -------------------------------------------------------


def connect_error(url: str) -> BaseException:
    req = request(url.rstrip("/") + "/chat/completions")
    return through_transport(
        chained(
            openai.APIConnectionError(request=req), httpx.ConnectError("All connection attempts failed", request=req)
        )
    )


@pytest.mark.parametrize(
    "url", ["http://localhost:8000/v1", "http://127.0.0.1:11434/v1", "http://0.0.0.0:8080/v1", "http://[::1]:1234/v1"]
)
def test_refused_local_connection_suggests_host_docker_internal(url: str) -> None:
    error = to_invoke_error(connect_error(url), url=url)
    assert type(error) is InvokeConnectionError
    assert "host.docker.internal" in str(error)
    assert "All connection attempts failed" in str(error)
    assert url in str(error)


@pytest.mark.parametrize(
    "url", ["http://192.168.1.20:8000/v1", "https://api.example.com/v1", "http://gpu-box.lan:8000/v1"]
)
def test_refused_remote_connection_has_no_docker_hint(url: str) -> None:
    error = to_invoke_error(connect_error(url), url=url)
    assert type(error) is InvokeConnectionError
    assert "host.docker.internal" not in str(error)
    assert url in str(error)


def test_raw_httpx_connect_error_is_a_connection_error() -> None:
    error = to_invoke_error(httpx.ConnectError("[Errno 111] Connection refused", request=request()), url=LOCAL_URL)
    assert type(error) is InvokeConnectionError
    assert "Connection refused" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(
            through_transport(
                chained(openai.APITimeoutError(request=request()), httpx.ReadTimeout("timed out", request=request()))
            ),
            id="openai-timeout",
        ),
        pytest.param(httpx.ReadTimeout("timed out", request=request()), id="httpx-read-timeout"),
        pytest.param(
            through_transport(
                chained(openai.APIConnectionError(request=request()), httpx.ConnectTimeout("", request=request()))
            ),
            id="connect-timeout",
        ),
        pytest.param(TimeoutError(), id="builtin"),
    ],
)
def test_timeouts_are_connection_errors_that_mention_the_timeout(exc: BaseException) -> None:
    error = to_invoke_error(exc, url=LOCAL_URL)
    assert type(error) is InvokeConnectionError
    assert "timed out" in str(error).lower()
    assert "`timeout`" in str(error)


def test_certificate_failure_mentions_verify_tls() -> None:
    cert = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed")
    exc = through_transport(
        chained(
            openai.APIConnectionError(request=request("https://gpu.lan/v1/chat/completions")),
            httpx.ConnectError(str(cert), request=request("https://gpu.lan/v1/chat/completions")),
            cert,
        )
    )
    error = to_invoke_error(exc, url="https://gpu.lan/v1")
    assert type(error) is InvokeConnectionError
    assert "verify_tls" in str(error)


# --- to_invoke_error: openai status errors -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    STATUS_CLASSES,
)
def test_openai_status_errors_map_by_status(status: int, cls: type[InvokeError]) -> None:
    body = {"error": {"message": "server says no", "type": "x"}}
    for exc in (status_error(status, body), sdk_status_error(status, body)):
        error = to_invoke_error(exc, url=LOCAL_URL)
        assert type(error) is cls
        assert "server says no" in str(error)


def test_openai_status_error_with_html_body_says_html() -> None:
    error = to_invoke_error(sdk_status_error(502, NGINX_502), url=LOCAL_URL)
    assert type(error) is InvokeServerUnavailableError
    assert "HTML" in str(error)


@pytest.mark.parametrize("status", [400, 401, 404, 422, 500])
def test_canary_key_in_server_error_body_never_reaches_the_message(status: int) -> None:
    # Servers echo request headers in errors (e.g. a proxy dumping the request).
    body = {
        "error": {
            "message": f"Incorrect API key provided: {KEY}. Headers: X-Key={HEADER_SECRET}; "
            f"Authorization: Bearer {KEY}",
            "type": "invalid_request_error",
        }
    }
    for exc in (status_error(status, body), sdk_status_error(status, body)):
        error = to_invoke_error(exc, url=LOCAL_URL, secrets=[KEY, HEADER_SECRET])
        assert KEY not in str(error)
        assert HEADER_SECRET not in str(error)
        assert KEY not in repr(error)


@pytest.mark.parametrize("kept", [8, 12, 20])
def test_canary_key_cut_by_message_clipping_does_not_leak_a_prefix(kept: int) -> None:
    # Messages are clipped to 600 characters; a key straddling the cut must not leave its start behind.
    filler = "x" * (599 - 1 - kept)
    body = {"error": {"message": f"{filler} {KEY} tail"}}
    assert len(body["error"]["message"]) > 600  # longer than the clip limit, which falls inside the key
    error = to_invoke_error(status_error(400, body), url=LOCAL_URL, secrets=[KEY])
    assert KEY[:8] not in str(error)


def test_secret_in_an_invoke_error_passed_through_is_redacted() -> None:
    error = to_invoke_error(InvokeRateLimitError(f"slow down {KEY}"), secrets=[KEY])
    assert type(error) is InvokeRateLimitError
    assert KEY not in str(error)


def test_secret_in_a_connection_error_is_redacted() -> None:
    url = f"http://user:{KEY}@gpu.lan:8000/v1"
    error = to_invoke_error(connect_error("http://gpu.lan:8000/v1"), url=url, secrets=[KEY])
    assert KEY not in str(error)


# --- to_invoke_error: other failures -----------------------------------------------------------


def test_incomplete_stream_is_server_unavailable_and_says_truncated() -> None:
    error = to_invoke_error(StreamIncompleteError("no finish_reason before the stream closed"))
    assert type(error) is InvokeServerUnavailableError
    assert "truncated" in str(error)


def test_model_not_found_lists_what_the_server_serves() -> None:
    error = to_invoke_error(ModelNotFoundError("qwen", ["Qwen/Qwen2.5-7B-Instruct", "bge-m3"]))
    assert type(error) is InvokeBadRequestError
    assert "'qwen'" in str(error)
    assert "Qwen/Qwen2.5-7B-Instruct, bge-m3" in str(error)
    assert "endpoint_model_name" in str(error)


def test_model_not_found_shortens_a_long_list() -> None:
    error = to_invoke_error(ModelNotFoundError("x", [f"model-{i}" for i in range(50)]))
    assert "model-19" in str(error)
    assert "model-20" not in str(error)
    assert "30 more" in str(error)


def test_truncated_tool_call_says_raise_max_tokens() -> None:
    error = to_invoke_error(TruncatedToolCallError('`get_weather` arguments end with \'{"city": "Par\''))
    assert type(error) is InvokeBadRequestError
    assert "max_tokens" in str(error)


def test_sse_error_event_with_llama_cpp_overflow_says_it_does_not_fit() -> None:
    # Older llama.cpp builds sent context overflow as a mid-stream `error:` line.
    data = json.dumps({"error": {"code": 400, "message": "too long", "type": "exceed_context_size_error"}})
    assert_context_overflow(to_invoke_error(SSEError(data)))


def test_sse_error_event_with_plain_text_is_server_unavailable() -> None:
    error = to_invoke_error(SSEError("model crashed"))
    assert type(error) is InvokeServerUnavailableError
    assert "model crashed" in str(error)


def test_invalid_json_response_is_server_unavailable() -> None:
    try:
        json.loads("<html>oops")
    except json.JSONDecodeError as exc:
        error = to_invoke_error(exc)
    assert type(error) is InvokeServerUnavailableError
    assert "not valid JSON" in str(error)


def test_settings_error_is_a_bad_request() -> None:
    error = to_invoke_error(SettingsError("`mode` must be chat or completion, got 'foo'."))
    assert type(error) is InvokeBadRequestError
    assert "`mode`" in str(error)


def test_an_unknown_exception_is_a_plain_invoke_error_without_python_wording(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        error = to_invoke_error(RuntimeError(f"boom {KEY}"), secrets=[KEY])
    assert type(error) is InvokeError
    assert "boom" in str(error) and "RuntimeError" not in str(error) and KEY not in str(error)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "RuntimeError" in logged and KEY not in logged  # the class is in the log, for whoever looks


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("choices"),
        TypeError("'int' object is not iterable"),
        AttributeError("'list' object has no attribute 'get'"),
        IndexError("list index out of range"),
    ],
)
def test_a_stray_python_shape_error_is_an_unreadable_answer_without_python_wording(exc: Exception) -> None:
    # The last resort behind the parsers' typed reads (issue 20.3).
    error = to_invoke_error(exc)
    assert isinstance(error, InvokeServerUnavailableError)
    assert "unexpected shape" in str(error)
    for wording in (type(exc).__name__, "object", "index out of range", "'choices'"):
        assert wording not in str(error)


def _reads_a_missing_field(answer: dict, field: str) -> object:
    return answer[field]


def test_a_stray_python_shape_error_is_logged_with_where_it_was_raised_and_no_secret(caplog) -> None:
    # The same exception types can be a defect of the plugin's own: the log keeps the traceback.
    try:
        _reads_a_missing_field({}, KEY)  # the KeyError's message is the secret
    except KeyError as exc:
        with caplog.at_level(logging.WARNING):
            to_invoke_error(exc, secrets=[KEY])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "_reads_a_missing_field" in logged and "Traceback" in logged
    assert KEY not in logged


# --- translated_errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "cls"),
    [
        (InvokeRateLimitError("slow down"), InvokeRateLimitError),
        (InvokeAuthorizationError("bad key"), InvokeAuthorizationError),
        (status_error(503, {"error": "overloaded"}), InvokeServerUnavailableError),
        (ValueError("the response has no choices"), InvokeError),
        (SettingsError("`timeout` must be greater than 0 seconds."), InvokeBadRequestError),
    ],
)
def test_translated_errors_reraises_invoke_errors_without_chaining(raised: Exception, cls: type[InvokeError]) -> None:
    # Dify ships the traceback with chained messages to the caller: nothing may be chained.
    with pytest.raises(InvokeError) as info, translated_errors(url=LOCAL_URL, secrets=[KEY]):
        raise raised
    assert type(info.value) is cls
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True


def test_translated_errors_redacts_secrets() -> None:
    with pytest.raises(InvokeBadRequestError) as info, translated_errors(url=LOCAL_URL, secrets=[KEY]):
        raise status_error(400, {"error": {"message": f"bad key {KEY}"}})
    assert KEY not in str(info.value)


def test_translated_errors_lets_generator_exit_through() -> None:
    with pytest.raises(GeneratorExit), translated_errors():
        raise GeneratorExit


def test_translated_errors_is_silent_without_an_error() -> None:
    with translated_errors():
        value = 1
    assert value == 1


def test_plugin_start_does_not_import_openai():
    # openai is most of the start-up time; it is imported on the first request (transport.clients)
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import dify_plugin, models.llm.llm, models.text_embedding.text_embedding, models.speech2text.speech2text, "
        "models.tts.tts, sys; print('openai' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"


def test_sglang_context_overflow_wording_is_recognised():
    # SGLang 400: {"object": "error", "message": "The input (5000 tokens) is longer than the model's
    # context length (4096 tokens).", "type": "BadRequestError", "code": 400}
    body = {
        "object": "error",
        "message": "The input (5000 tokens) is longer than the model's context length (4096 tokens).",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    error = error_for_status(400, body)
    assert type(error) is InvokeBadRequestError and "context window" in str(error)


def test_llama_cpp_python_validation_failures_are_bad_requests_not_outages():
    # llama-cpp-python (FastAPI) answers request validation errors with HTTP 500
    body = {
        "error": {
            "message": "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', "
            "'type'), 'msg': \"Input should be 'text' or 'json_object'\"}",
            "type": "internal_server_error",
            "param": None,
            "code": None,
        }
    }
    assert type(error_for_status(500, body)) is InvokeBadRequestError
    assert type(error_for_status(500, {"error": {"message": "CUDA out of memory"}})) is InvokeServerUnavailableError


def test_a_404_explained_with_the_list_covers_a_missing_path_and_masks_query_credentials() -> None:
    url = "https://gw.example.com/v1/rerank?api-version=1&api_key=sk-in-the-query"
    error = to_invoke_error(ModelNotFoundError("rr", ["gpt-4o"], "Not Found", url=url), secrets=("sk-in-the-query",))
    assert type(error) is InvokeBadRequestError
    assert str(error).startswith("The server has no such path or model: model 'rr' at https://gw.example.com/v1/rerank")
    assert "It lists: gpt-4o" in str(error) and "base URL" in str(error)
    assert "sk-in-the-query" not in str(error)


def test_azure_deployment_not_found_keeps_its_words_and_names_the_deployment() -> None:
    body = {
        "error": {
            "code": "DeploymentNotFound",
            "message": "The API deployment for this resource does not exist. If you created the deployment "
            "within the last 5 minutes, please wait a moment and try again.",
        }
    }
    error = error_for_status(404, body, url="https://x.openai.azure.com/openai/deployments/d/chat/completions")
    assert type(error) is InvokeBadRequestError
    assert "The API deployment for this resource does not exist" in str(error)
    assert "deployment name in the base URL" in str(error) and "/v1" not in str(error)


def test_only_the_error_boundary_speaks_difys_error_classes() -> None:
    """The model types raise the plugin's own kinds (`errors/kinds.py`); `errors/invoke.py` maps
    them, and only the boundaries that catch Dify's classes import them."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "oai_bridge"
    boundaries = {"errors/invoke.py", "adapter/base.py", "doctor.py"}
    speaking = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if str(path.relative_to(root)) not in boundaries
        and re.search(r"^from dify_plugin\.errors", path.read_text(encoding="utf-8"), re.M)
    )
    assert speaking == []


def test_no_assert_guards_the_plugins_code() -> None:
    """`python -O` (or PYTHONOPTIMIZE in the daemon's environment, which plugins inherit) strips
    `assert`: every check in the plugin is explicit."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    asserts = [
        f"{path.relative_to(root)}:{node.lineno}"
        for folder in ("oai_bridge", "models")
        for path in sorted((root / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert asserts == []


def test_the_plugins_error_kinds_share_no_name_with_httpx() -> None:
    """The plugin's kinds sit beside httpx's exceptions in `except` clauses: a shared name (the
    plugin's status error was once `HTTPStatusError`, like httpx's) reads as the other one."""
    import httpx

    from oai_bridge.errors import kinds

    httpx_errors = {
        name for name, value in vars(httpx).items() if isinstance(value, type) and issubclass(value, Exception)
    }
    ours = {name for name in kinds.__all__ if isinstance(getattr(kinds, name), type)}
    assert ours and not ours & httpx_errors


# -- httpx's exceptions stop at the transport -----------------------------------------------------
def test_only_the_transport_and_the_error_mapping_see_httpx_exceptions() -> None:
    """Everything above `transport/` catches the plugin's kinds; `errors/` reads httpx's
    exceptions only as the causes under them."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    uses = sorted(
        f"{path.relative_to(root)}:{number}"
        for folder in ("oai_bridge", "models")
        for path in (root / folder).rglob("*.py")
        if not str(path.relative_to(root)).startswith(("oai_bridge/transport/", "oai_bridge/errors/"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bhttpx\.\w*(Error|Exception|Timeout)\b", line)
    )
    assert uses == []


def test_a_request_that_gets_no_answer_is_the_plugins_connection_failure(fake_server: Any) -> None:
    from oai_bridge.adapter.base import settings_for
    from oai_bridge.errors.kinds import ConnectionDroppedError, ConnectionFailedError, causes
    from oai_bridge.transport.send import open_stream, post_json, stream_text
    from tests.support.fake_server import partial_then_reset

    closed = settings_for("m", {"base_url": "http://127.0.0.1:9/v1", "max_retries": "0"})
    with pytest.raises(ConnectionFailedError) as failed:
        post_json(closed, "/chat/completions", {})
    assert any(isinstance(cause, httpx.ConnectError) for cause in causes(failed.value))

    fake_server.always(partial_then_reset(pieces=[b"data: {}\n\n"]))
    settings = settings_for("m", {"base_url": fake_server.base_url, "max_retries": "0"})
    response = open_stream(settings, "/chat/completions", {})
    with pytest.raises(ConnectionDroppedError) as dropped:
        list(stream_text(response))
    assert any(isinstance(cause, httpx.TransportError) for cause in causes(dropped.value))
    assert isinstance(to_invoke_error(failed.value), InvokeConnectionError)
    assert isinstance(to_invoke_error(dropped.value), InvokeServerUnavailableError)


def test_a_redirect_loop_and_an_undecodable_body_are_named_not_the_sdks_connection_error(fake_server: Any) -> None:
    """The SDK wraps httpx's TooManyRedirects and DecodingError as its APIConnectionError; they
    reached Dify as "APIConnectionError: Connection error.", the SDK's class name and no cause."""
    from oai_bridge.adapter.base import settings_for
    from oai_bridge.errors.kinds import MalformedResponseError, RedirectLoopError
    from oai_bridge.transport.send import post_json
    from tests.support.fake_server import Response

    settings = settings_for("m", {"base_url": fake_server.base_url, "max_retries": "0"})
    fake_server.always(Response(307, [("location", "/v1/chat/completions")]), path="/v1/chat/completions")
    fake_server.always(Response(200, [("content-type", "application/json"), ("content-encoding", "gzip")], b"{}"))
    with pytest.raises(RedirectLoopError) as looped:
        post_json(settings, "/chat/completions", {})
    with pytest.raises(MalformedResponseError) as undecodable:
        post_json(settings, "/embeddings", {})
    loop = to_invoke_error(looped.value, url=settings.base_url)
    assert type(loop) is InvokeConnectionError and "redirects that never end" in str(loop)
    garbled = to_invoke_error(undecodable.value, url=settings.base_url)
    assert type(garbled) is InvokeServerUnavailableError and "could not be decoded" in str(garbled)
    assert not any("APIConnectionError" in str(error) for error in (loop, garbled))


def test_a_blocking_answer_that_is_not_utf8_is_read_not_a_python_error(fake_server: Any) -> None:
    """JSON from a server that writes another charset (a Latin-1 gateway) raised UnicodeDecodeError,
    which reached Dify as "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9 …"."""
    from oai_bridge.adapter.base import settings_for
    from oai_bridge.transport.send import post_json
    from tests.support.fake_server import Response

    body = '{"data": [{"index": 0, "document": "café"}]}'.encode("latin-1")
    fake_server.always(Response(200, [("content-type", "application/json; charset=iso-8859-1")], body), path="/v1/a")
    fake_server.always(Response(200, [("content-type", "application/json")], body), path="/v1/b")
    settings = settings_for("m", {"base_url": fake_server.base_url, "max_retries": "0"})
    assert post_json(settings, "/a", {})["data"][0]["document"] == "café"  # in the charset it names
    assert post_json(settings, "/b", {})["data"][0]["document"] == "caf\ufffd"  # as a stream would read it
