"""Each real server's exact bytes, replayed through Dify's stdio runtime.

The bodies in tests/fixtures/servers/<server>/ reproduce what each server writes on the wire (key order,
separators, extra fields, comments, CRLF framing); the headers below are what its HTTP stack sends. The
shapes come from each server's source and issues, named beside each case ("quirks §n" tags group
them by kind: §1 stream framing, §2 reasoning, §3 tool calls, §5 strict fields, §7 error bodies;
V=vllm-project/vllm, S=sgl-project/sglang, L=ggml-org/llama.cpp, O=ollama/ollama,
T=huggingface/text-generation-inference). Every case asserts what Dify sees: the text including the
`<think>` block, tool calls, usage, finish reason, or the error class with the server's own message.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.fake_server import FakeServer, Response

pytestmark = pytest.mark.timeout(120)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "servers"
CHAT = "/v1/chat/completions"

USER = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME_TOOL = {
    "name": "get_time",
    "description": "Current time in a timezone",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
}

ANSWER = "The capital of France is Paris."
REASONING = "Okay, the user asks for France's capital."
# Dify's convention: `<think>\n{reasoning}\n</think>{answer}`, one newline before the close tag even
# when the reasoning already ends with one.
THINK_ANSWER = f"<think>\n{REASONING}\n</think>{ANSWER}"

# -- response headers, as each server's HTTP stack writes them ----------------------------
DATE = ("date", "Fri, 31 Oct 2025 08:40:00 GMT")
UVICORN_SSE = (DATE, ("server", "uvicorn"), ("content-type", "text/event-stream; charset=utf-8"))
UVICORN_JSON = (DATE, ("server", "uvicorn"), ("content-type", "application/json"))
SSE_HEADERS = {
    "vllm": UVICORN_SSE,
    "sglang": UVICORN_SSE,
    "msswift": UVICORN_SSE,
    # sse-starlette adds its own cache headers
    "xinference": (*UVICORN_SSE, ("cache-control", "no-store"), ("x-accel-buffering", "no")),
    "ollama": (("Content-Type", "text/event-stream"), ("Date", "Fri, 31 Oct 2025 08:40:00 GMT")),
    "lmstudio": (
        ("X-Powered-By", "Express"),
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "no-cache"),
        ("Connection", "keep-alive"),
    ),
    "llamacpp": (
        ("Access-Control-Allow-Origin", ""),
        ("Content-Type", "text/event-stream"),
        ("Keep-Alive", "timeout=5, max=100"),
        ("Server", "llama.cpp"),
    ),
    "tgi": (
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("x-compute-type", "gpu+optimized"),
        ("access-control-allow-origin", "*"),
        ("vary", "origin, access-control-request-method, access-control-request-headers"),
        DATE,
    ),
    "localai": (
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "no-cache"),
        ("Connection", "keep-alive"),
        ("Date", "Fri, 31 Oct 2025 08:40:00 GMT"),
    ),
    "deepseek": (
        DATE,
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
        ("x-ds-trace-id", "2f8c4e6a1b3d5f7e9a0c2e4b6d8f0a1c"),
        ("access-control-allow-credentials", "true"),
    ),
    "openrouter": (
        DATE,
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("access-control-allow-origin", "*"),
        ("server", "cloudflare"),
    ),
    "mistral": (
        DATE,
        ("content-type", "text/event-stream; charset=utf-8"),
        ("mistral-correlation-id", "019a3a1e-7b2c-7d4e-9f0a-1b2c3d4e5f6a"),
        ("x-envoy-upstream-service-time", "112"),
    ),
    "groq": (
        DATE,
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("x-groq-region", "us-east-1"),
        ("x-ratelimit-remaining-tokens", "11986"),
        ("x-request-id", "req_01k8x7w6v5t4s3r2q1p0n9m8k7"),
    ),
    "volcengine": (
        DATE,
        ("content-type", "text/event-stream; charset=utf-8"),
        ("x-request-id", "021761900000000a1b2c3d4e5f6a7b8c9d0e1f"),
    ),
}
JSON_HEADERS = {
    "vllm": UVICORN_JSON,
    "sglang": UVICORN_JSON,
    "xinference": UVICORN_JSON,
    "ollama": (("Content-Type", "application/json; charset=utf-8"), ("Date", "Fri, 31 Oct 2025 08:40:00 GMT")),
    "lmstudio": (("X-Powered-By", "Express"), ("Content-Type", "application/json; charset=utf-8")),
    "llamacpp": (
        ("Access-Control-Allow-Origin", ""),
        ("Content-Type", "application/json; charset=utf-8"),
        ("Server", "llama.cpp"),
    ),
    "tgi": (("content-type", "application/json"), ("x-compute-type", "gpu+optimized"), DATE),
    "deepseek": (DATE, ("content-type", "application/json"), ("x-ds-trace-id", "7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b")),
    "openrouter": (DATE, ("content-type", "application/json"), ("server", "cloudflare")),
    "mistral": (DATE, ("content-type", "application/json"), ("mistral-correlation-id", "019a3a1e-7b2c")),
    "groq": (DATE, ("content-type", "application/json"), ("x-groq-region", "us-east-1")),
}

_EVENT_END = re.compile(rb"(?<=\n\n)|(?<=\n\r\n)")


def replay(server: str, fixture: str, *, status: int = 200, piece_size: int | None = None) -> Response:
    """The recorded body of `<server>/<fixture>` with that server's headers. SSE bodies go out chunked,
    one event per piece (as servers flush them) or in `piece_size`-byte pieces; JSON bodies whole."""
    body = (FIXTURES / server / fixture).read_bytes()
    if not fixture.endswith(".sse"):
        return Response(status=status, headers=JSON_HEADERS[server], body=body)
    if piece_size:
        pieces = [body[i : i + piece_size] for i in range(0, len(body), piece_size)]
    else:
        pieces = [p for p in _EVENT_END.split(body) if p]
    return Response(status=status, headers=SSE_HEADERS[server], pieces=pieces, chunked=True)


def creds(server: FakeServer, **extra: str) -> dict[str, str]:
    return {"base_url": server.base_url, "max_retries": "0", "timeout": "10", **extra}


def chat(plugin, server: FakeServer, *, stream: bool = True, messages=USER, tools=None, params=None, **extra):
    return plugin.invoke(
        "invoke_llm",
        model="m",
        credentials=creds(server, **extra),
        prompt_messages=messages,
        model_parameters=params if params is not None else {"max_tokens": 256},
        tools=tools,
        stream=stream,
    )


def sent(server: FakeServer) -> list[dict]:
    """The chat request bodies the plugin sent (and proof it sent nothing else: no probing)."""
    assert [r.path for r in server.requests] == [CHAT] * len(server.requests)
    return [r.json for r in server.requests]


def assert_usage(result, expected: tuple[int, int] | None) -> None:
    usage = result.usage
    assert usage is not None
    if expected is None:  # the server sent none: estimated offline
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    else:
        assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
            *expected,
            sum(expected),
        )


def tool_call(call_id: str, name: str, arguments: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# -- (a) a streamed text answer ----------------------------------------------------------
@pytest.mark.parametrize(
    ("server", "fixture", "usage"),
    [
        # vLLM: `include_usage` -> final `choices: []` chunk (V: serving.py)
        pytest.param("vllm", "stream_text.sse", (41, 8), id="vllm"),
        # Ollama: an empty-delta finish chunk, then a `choices: []` usage chunk (quirks §1)
        pytest.param("ollama", "stream_text.sse", (31, 8), id="ollama"),
        # LM Studio: usage only since 0.3.18 (lmstudio.ai api-changelog)
        pytest.param("lmstudio", "stream_text.sse", (38, 8), id="lmstudio"),
        # llama.cpp: usage sent unrequested (L#12102, L#16048) in its own chunk (L#15444), plus `timings`
        pytest.param("llamacpp", "stream_text.sse", (23, 8), id="llamacpp"),
        # SGLang: `"usage": null` on every chunk, pydantic nulls everywhere, `matched_stop`
        pytest.param("sglang", "stream_text.sse", (41, 8), id="sglang"),
        # TGI 2.4: `"id": ""`, `role` on every delta, axum `:` keep-alive, usage on the finish chunk
        pytest.param("tgi", "stream_text.sse", (41, 8), id="tgi"),
        # Xinference: sse-starlette CRLF framing and `: ping` comment, no usage at all
        pytest.param("xinference", "stream_text.sse", None, id="xinference"),
        # Mistral: usage on the finish chunk
        pytest.param("mistral", "stream_text.sse", (12, 8), id="mistral"),
        # Groq: usage only in `x_groq.usage` (vercel/ai#1651), `"tool_calls": []` in plain deltas
        # (Portkey-AI/gateway#1338)
        pytest.param("groq", "stream_text.sse", (44, 8), id="groq"),
        # MS-Swift: `data:` without a space (langgenius/dify#12143), cumulative usage in every chunk
        pytest.param("msswift", "stream_text.sse", (30, 8), id="msswift"),
    ],
)
def test_streamed_text_answer(plugin, fake_server, server, fixture, usage):
    fake_server.always(replay(server, fixture))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == ANSWER
    assert result.finish_reason == "stop"
    assert result.tool_calls == []
    assert_usage(result, usage)
    assert len(sent(fake_server)) == 1


def test_vllm_raw_unicode_line_separator_inside_a_json_string(plugin, fake_server):
    # vLLM writes chunks with pydantic's model_dump_json: raw UTF-8, U+2028 LINE SEPARATOR left unescaped
    # (legal in JSON). SSE lines end only at CR, LF or CRLF (WHATWG event-stream), so this is one event;
    # a reader that splits like str.splitlines() cuts the JSON in two.
    assert "\u2028".encode() in (FIXTURES / "vllm" / "stream_line_separator.sse").read_bytes()
    fake_server.always(replay("vllm", "stream_line_separator.sse"))
    result = chat(plugin, fake_server)
    assert result.error is None, result.error
    assert result.text == f"{ANSWER}\u2028Population: 2.1\u00a0million."
    assert result.finish_reason == "stop"
    assert_usage(result, (41, 16))


def test_volcengine_crlf_stream_split_inside_utf8_characters(plugin, fake_server):
    # Volcengine Ark frames events with CRLF (langgenius/dify#17383); 5-byte pieces cut CR from LF
    # and every 3-byte CJK character, so only a correct incremental decoder gets this right.
    body = (FIXTURES / "volcengine" / "stream_text.sse").read_bytes()
    assert b"\r\n\r\n" in body and b"\n\n" not in body.replace(b"\r\n", b"")
    fake_server.always(replay("volcengine", "stream_text.sse", piece_size=5))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == "法国的首都是巴黎。"
    assert result.finish_reason == "stop"
    assert_usage(result, (12, 6))


# -- (b) reasoning ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("server", "fixture", "text", "usage"),
    [
        # vLLM: `reasoning` since V#27752, `reasoning_content` removed in V#33402 (broke
        # langgenius/dify-official-plugins#2740); the answer's own "\n\n" is kept as sent
        pytest.param(
            "vllm", "stream_reasoning.sse", f"<think>\n{REASONING}\n</think>\n\n{ANSWER}", (14, 22), id="vllm"
        ),
        # Ollama: `reasoning` in the delta beside `"content": ""` (O: openai/openai.go)
        pytest.param("ollama", "stream_reasoning.sse", THINK_ANSWER, (14, 22), id="ollama"),
        # LM Studio: `reasoning_content` (opt-in setting, 0.3.9), no usage chunk -> estimated
        pytest.param("lmstudio", "stream_reasoning.sse", THINK_ANSWER, None, id="lmstudio"),
        # llama.cpp `--reasoning-format deepseek` (default): `reasoning_content`, plus a `:` ping (L#24013)
        pytest.param("llamacpp", "stream_reasoning.sse", THINK_ANSWER, (14, 22), id="llamacpp-field"),
        # llama.cpp `--reasoning-format none`: tags inline, split across chunks (`<th` + `ink>`, `</thi` + `nk>`)
        pytest.param("llamacpp", "stream_inline_think.sse", THINK_ANSWER, (14, 24), id="llamacpp-inline"),
        # SGLang: `reasoning_content` (S: protocol.py)
        pytest.param("sglang", "stream_reasoning.sse", THINK_ANSWER, (14, 22), id="sglang"),
        # Xinference: `reasoning_content`, CRLF framing, no usage
        pytest.param(
            "xinference", "stream_reasoning.sse", f"<think>\n{REASONING}\n</think>\n\n{ANSWER}", None, id="xinference"
        ),
        # DeepSeek: `reasoning_content`, `: keep-alive` while queued and stray blank lines (quirks §1)
        pytest.param("deepseek", "stream_reasoning.sse", THINK_ANSWER, (14, 22), id="deepseek"),
        # OpenRouter: `reasoning` + `reasoning_details`, `: OPENROUTER PROCESSING` comments, usage in a
        # chunk after the finish chunk (openrouter.ai/docs streaming, reasoning-tokens)
        pytest.param("openrouter", "stream_reasoning.sse", THINK_ANSWER, (14, 22), id="openrouter"),
        # LocalAI: `reasoning` (LA: core/http/endpoints/openai/chat.go), usage on the finish chunk
        pytest.param("localai", "stream_reasoning.sse", THINK_ANSWER, (14, 22), id="localai"),
        # Groq `reasoning_format: raw` (its default): `<think>` tags inline in content (langchain-groq)
        pytest.param("groq", "stream_think_raw.sse", THINK_ANSWER, (14, 24), id="groq-raw"),
    ],
)
def test_streamed_reasoning_is_one_think_block_before_the_answer(plugin, fake_server, server, fixture, text, usage):
    fake_server.always(replay(server, fixture))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == text
    assert result.finish_reason == "stop"
    assert_usage(result, usage)


# -- (c) tool calls -----------------------------------------------------------------------
def test_vllm_two_parallel_tool_calls_interleaved_by_index(plugin, fake_server):
    # vLLM: id/type/name on the first delta of each index, then argument fragments (quirks §3);
    # here the fragments of index 0 and 1 alternate.
    fake_server.always(replay("vllm", "stream_parallel_tools.sse"))
    result = chat(plugin, fake_server, tools=[WEATHER_TOOL, TIME_TOOL]).raise_for_error()
    assert result.tool_calls == [
        tool_call("chatcmpl-tool-3b1f0c8e9a7d4e21", "get_weather", '{"city": "Paris"}'),
        tool_call("chatcmpl-tool-8c2d7e6f5a4b4c3d", "get_time", '{"timezone": "Europe/Paris"}'),
    ]
    assert result.finish_reason == "tool_calls"
    assert result.text == ""
    assert_usage(result, (212, 38))
    # tool calls reach Dify once, complete, in the last chunk
    with_calls = [i for i, c in enumerate(result.chunks) if c["delta"]["message"]["tool_calls"]]
    assert with_calls == [len(result.chunks) - 1]


def test_ollama_whole_tool_call_in_one_chunk_then_empty_finish_chunk(plugin, fake_server):
    # Ollama: each call arrives whole with id `call_…` and an index (O: openai/openai.go, server/routes.go
    # toolCallId); the finish reason comes in the next, empty-delta chunk.
    fake_server.always(replay("ollama", "stream_tool.sse"))
    result = chat(plugin, fake_server, tools=[WEATHER_TOOL]).raise_for_error()
    assert result.tool_calls == [tool_call("call_k3v9x2qa", "get_weather", '{"city":"Paris"}')]
    assert result.finish_reason == "tool_calls"
    assert_usage(result, (160, 19))


def test_lmstudio_tool_call_with_empty_name_on_later_deltas(plugin, fake_server):
    # LM Studio before 0.3.16 appended `"name": ""` to every later delta; the first name must stay.
    fake_server.always(replay("lmstudio", "stream_tool.sse"))
    result = chat(plugin, fake_server, tools=[WEATHER_TOOL]).raise_for_error()
    assert result.tool_calls == [tool_call("365174485", "get_weather", '{"city":"Paris"}')]
    assert result.finish_reason == "tool_calls"


def test_mistral_whole_tool_call_with_finish_reason_and_usage_in_one_chunk(plugin, fake_server):
    # Mistral: the call, `finish_reason: tool_calls` and usage in a single chunk; ids are exactly
    # 9 alphanumeric characters (quirks §3, mistralai/platform-docs-public#7)
    fake_server.always(replay("mistral", "stream_tool.sse"))
    result = chat(plugin, fake_server, tools=[WEATHER_TOOL]).raise_for_error()
    assert result.tool_calls == [tool_call("D681PevKs", "get_weather", '{"city": "Paris"}')]
    assert result.finish_reason == "tool_calls"
    assert_usage(result, (92, 22))


def test_tgi_24_tool_call_streamed_as_one_object_with_the_name_inside_the_arguments(plugin, fake_server):
    # TGI 2.4 (T#2794): `tool_calls` is an object, `id` is "", `name` is always null and `arguments`
    # streams the raw grammar output `{"function": {"_name": "get_weather", "city": "Paris"}}`
    # token by token (T: router/src/lib.rs ChatCompletionChunk::new, `name: None`); finish is `stop`.
    fake_server.always(replay("tgi", "stream_tool.sse"))
    result = chat(plugin, fake_server, tools=[WEATHER_TOOL]).raise_for_error()
    [call] = result.tool_calls
    assert re.fullmatch(r"call_0_[0-9a-f]{8}", call["id"])  # generated: TGI's id is ""
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert result.finish_reason == "tool_calls"
    assert_usage(result, (310, 17))


# -- (d) error shapes ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("server", "fixture", "status", "text", "error_type", "message"),
    [
        # vLLM: `data: {"error": {…, "code": 400}}` then `[DONE]` (V: serving.py create_streaming_error_response;
        # the {"error": …} envelope since v0.10.1, fms-guardrails-orchestrator#511). vLLM labels it 400.
        pytest.param(
            "vllm",
            "stream_error.sse",
            200,
            "The capital",
            "InvokeBadRequestError",
            "EngineCore encountered an issue",
            id="vllm-in-stream",
        ),
        # Ollama /v1: a runner error becomes an empty chunk and the stream closes with no finish_reason
        # and no [DONE] (quirks §1: O server/routes.go streamResponse, middleware/openai.go)
        pytest.param(
            "ollama",
            "stream_runner_error.sse",
            200,
            "The capital",
            "InvokeServerUnavailableError",
            "truncated",
            id="ollama-runner-died",
        ),
        # Ollama: a model without tools -> 400 in OpenAI shape, `code: null` (O: openai/openai.go NewError)
        pytest.param(
            "ollama",
            "error_no_tools.json",
            400,
            "",
            "InvokeBadRequestError",
            '"gemma3:4b" does not support tools',
            id="ollama-no-tools",
        ),
        # LM Studio: context overflow as `{"error": "<string>"}` (lmstudio-bug-tracker#546)
        pytest.param(
            "lmstudio",
            "error_context.json",
            400,
            "",
            "InvokeBadRequestError",
            "Trying to keep the first 6144 tokens",
            id="lmstudio-context",
        ),
        # llama.cpp now: `data: {"error": {code, message, type}}` (since L#16109)
        pytest.param(
            "llamacpp",
            "stream_error.sse",
            200,
            "",
            "InvokeServerUnavailableError",
            "Failed to parse tool call arguments as JSON",
            id="llamacpp-in-stream",
        ),
        # llama.cpp: context overflow before streaming, 400 `exceed_context_size_error` (quirks §7)
        pytest.param(
            "llamacpp",
            "error_context.json",
            400,
            "",
            "InvokeBadRequestError",
            "the request exceeds the available context size",
            id="llamacpp-context",
        ),
        # SGLang: json.dumps() spacing, `{"error": {"object": "error", …}}` (S: serving_base.py)
        pytest.param(
            "sglang",
            "stream_error.sse",
            200,
            "",
            "InvokeBadRequestError",
            "The input (9000 tokens) is longer than the model's context length (8192 tokens).",
            id="sglang-in-stream",
        ),
        # SGLang `finish_reason: abort` (quirks §1): not a complete answer
        pytest.param(
            "sglang", "stream_abort.sse", 200, "The capital", "InvokeServerUnavailableError", "abort", id="sglang-abort"
        ),
        # TGI: `{"error": {"message", "http_status_code": 422}}` (T: server.rs ErrorEvent); the words say
        # the GPU ran out of memory, a server fault whatever the status (issue 16.11)
        pytest.param(
            "tgi",
            "stream_error.sse",
            200,
            "The",
            "InvokeServerUnavailableError",
            "Request failed during generation: Server error: CUDA out of memory",
            id="tgi-in-stream",
        ),
        # TGI: 422 `{"error": "<string>", "error_type": "validation"}`, overflow worded "must be <=" (T: validation.rs)
        pytest.param(
            "tgi",
            "error_validation.json",
            422,
            "",
            "InvokeBadRequestError",
            "`inputs` tokens + `max_new_tokens` must be <= 4096",
            id="tgi-validation",
        ),
        # Xinference: `data: {"error": "<string>"}` and no [DONE] (X: restful_api.py)
        pytest.param(
            "xinference",
            "stream_error.sse",
            200,
            "The capital",
            "InvokeServerUnavailableError",
            "CUDA out of memory. Tried to allocate 2.00 GiB",
            id="xinference-in-stream",
        ),
        # Xinference: FastAPI `{"detail": "…"}` (quirks §7)
        pytest.param(
            "xinference",
            "error_detail.json",
            400,
            "",
            "InvokeBadRequestError",
            "Model not found in the model list, uid: qwen3",
            id="xinference-detail",
        ),
        # DeepSeek: 402 with a string `code` (api-docs.deepseek.com error codes)
        pytest.param(
            "deepseek",
            "error_balance.json",
            402,
            "",
            "InvokeBadRequestError",
            "Insufficient Balance",
            id="deepseek-402",
        ),
        # OpenRouter: `error` beside `finish_reason: "error"` in a 200 stream (openrouter.ai/docs errors)
        pytest.param(
            "openrouter",
            "stream_error.sse",
            200,
            "The capital",
            "InvokeServerUnavailableError",
            "Provider disconnected unexpectedly",
            id="openrouter-in-stream",
        ),
        # OpenRouter: `{"error": {"code": <number>, "message"}}`
        pytest.param(
            "openrouter", "error_auth.json", 401, "", "InvokeAuthorizationError", "User not found.", id="openrouter-401"
        ),
        # Groq: 400 `tool_use_failed` with `failed_generation` (console.groq.com/docs/tool-use)
        pytest.param(
            "groq",
            "error_tool_use_failed.json",
            400,
            "",
            "InvokeBadRequestError",
            "Failed to call a function. Please adjust your prompt.",
            id="groq-tool-use-failed",
        ),
        # LocalAI: `{"error": {…, "type": "server_error"}}` then [DONE] (quirks matrix)
        pytest.param(
            "localai",
            "stream_error.sse",
            200,
            "The capital",
            "InvokeServerUnavailableError",
            "rpc error: code = Unavailable desc = error reading from server: EOF",
            id="localai-in-stream",
        ),
    ],
)
def test_error_shape_reaches_dify_as_invoke_error_with_the_server_message(
    plugin, fake_server, server, fixture, status, text, error_type, message
):
    fake_server.always(replay(server, fixture, status=status))
    result = chat(plugin, fake_server, tools=[WEATHER_TOOL])
    assert result.error_type == error_type, result.error
    assert message in result.error["message"]
    assert result.text == text  # what streamed before the failure, and nothing pretending to be complete
    assert result.finish_reason is None
    assert len(sent(fake_server)) == 1  # 4xx and in-stream errors are never retried


@pytest.mark.parametrize(
    ("server", "fixture", "status"),
    [
        pytest.param("llamacpp", "error_context.json", 400, id="llamacpp"),
        pytest.param("tgi", "error_validation.json", 422, id="tgi"),
        pytest.param("lmstudio", "error_context.json", 400, id="lmstudio"),
    ],
)
def test_context_overflow_says_so(plugin, fake_server, server, fixture, status):
    # quirks §7 / rule 7: overflow is classified by status plus type or wording
    fake_server.always(replay(server, fixture, status=status))
    result = chat(plugin, fake_server)
    assert result.error_type == "InvokeBadRequestError"
    assert "context window" in result.error["message"]


def test_llamacpp_legacy_error_line_is_a_context_overflow_not_a_server_failure(plugin, fake_server):
    # llama.cpp before L#16109 (Sep 2025) sent `error: {…}` as its own SSE field, which spec parsers drop
    # (openai-go then died with "unexpected end of JSON input", coddy-agent#106); older builds sent
    # context overflow this way (quirks §7): code 400, type exceed_context_size_error.
    fake_server.always(replay("llamacpp", "stream_error_legacy.sse"))
    result = chat(plugin, fake_server)
    assert result.text == "The capital"
    assert result.finish_reason is None
    assert "the request exceeds the available context size" in result.error["message"]
    assert result.error_type == "InvokeBadRequestError", result.error
    assert "context window" in result.error["message"]


def test_mistral_422_extra_forbidden_on_top_k_is_dropped_and_retried_once(plugin, fake_server):
    # Mistral: 422 `extra_forbidden` for any field it does not know (quirks §5, mistralai/platform-docs-public#7)
    fake_server.add(replay("mistral", "error_extra_forbidden_top_k.json", status=422))
    fake_server.always(replay("mistral", "stream_text.sse"))
    result = chat(plugin, fake_server, params={"max_tokens": 64, "top_k": 40}).raise_for_error()
    assert result.text == ANSWER
    assert_usage(result, (12, 8))
    first, second = sent(fake_server)
    assert first["top_k"] == 40
    assert "top_k" not in second
    assert {k: v for k, v in first.items() if k != "top_k"} == second


def test_mistral_422_extra_forbidden_on_a_user_extra_field_names_the_field(plugin, fake_server):
    # An extra_body field the user added is not the plugin's to drop: the 422 reaches Dify, naming the
    # field the way the plugin words FastAPI/Mistral validation items (`body.<field>: <msg>`).
    fake_server.always(replay("mistral", "error_extra_forbidden_repetition_penalty.json", status=422))
    result = chat(plugin, fake_server, extra_body=json.dumps({"repetition_penalty": 1.1}))
    assert result.error_type == "InvokeBadRequestError"
    assert len(sent(fake_server)) == 1
    assert "body.repetition_penalty: Extra inputs are not permitted" in result.error["message"], result.error


# -- (e) blocking (stream=false) answers ----------------------------------------------------
@pytest.mark.parametrize(
    ("server", "fixture", "text", "usage"),
    [
        # vLLM: `reasoning` in the message, `tool_calls: []`, many null extras (V: protocol.py)
        pytest.param("vllm", "blocking.json", THINK_ANSWER, (14, 22), id="vllm"),
        # Ollama: `reasoning` in the message (O: openai/openai.go)
        pytest.param("ollama", "blocking.json", THINK_ANSWER, (14, 22), id="ollama"),
        # DeepSeek: `reasoning_content` in the message, blank lines ahead of the JSON body (DeepSeek rate-limit doc)
        pytest.param("deepseek", "blocking.json", THINK_ANSWER, (14, 22), id="deepseek"),
        # Groq `reasoning_format: parsed`: `reasoning` in the message; usage with Groq's timing extras
        pytest.param(
            "groq",
            "blocking.json",
            f"<think>\nThe user asks for France's capital.\n</think>{ANSWER}",
            (80, 26),
            id="groq",
        ),
    ],
)
def test_blocking_answer(plugin, fake_server, server, fixture, text, usage):
    fake_server.always(replay(server, fixture))
    result = chat(plugin, fake_server, stream=False).raise_for_error()
    assert result.text == text
    assert result.tool_calls == []
    assert_usage(result, usage)
    [body] = sent(fake_server)
    assert "stream_options" not in body  # vLLM 400s on stream_options with stream:false (quirks §1)
    assert body.get("stream") in (None, False)


def test_tgi_blocking_tool_call_with_arguments_as_an_object(plugin, fake_server):
    # Older TGI returned `arguments` as a JSON object, not a JSON text (T#2461); id "0", no `content` key
    fake_server.always(replay("tgi", "blocking_tool.json"))
    result = chat(plugin, fake_server, stream=False, tools=[WEATHER_TOOL]).raise_for_error()
    [call] = result.tool_calls
    assert call["id"] == "0"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert result.text == ""
    assert_usage(result, (310, 17))


# -- what the plugin sends -------------------------------------------------------------------
def test_vllm_streaming_request_shape(plugin, fake_server):
    # Only standard fields (quirks rule 8): no `user` (Groq 400s on it; Dify's user id must not leak), no `n`
    # (Groq: n≠1 is a 400); `stream_options` with stream=true only; `developer` sent as `system` (most
    # servers reject the role).
    fake_server.always(replay("vllm", "stream_text.sse"))
    messages = [{"role": "developer", "content": "Answer in one sentence."}, *USER]
    chat(plugin, fake_server, messages=messages).raise_for_error()
    [body] = sent(fake_server)
    assert body == {
        "model": "m",
        "max_tokens": 256,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    }


def test_mistral_tool_result_turn_keeps_the_9_char_id_and_null_content(plugin, fake_server):
    # The follow-up turn after a Mistral tool call: the assistant turn carries `content: null` beside its
    # tool_calls (OpenAI's shape; Bedrock needs null, vercel/ai#13505) and the tool result its
    # `tool_call_id`, unchanged (Mistral accepts only 9 alphanumeric characters).
    fake_server.always(replay("mistral", "stream_text.sse"))
    history = [
        *USER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "D681PevKs",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": '{"temp_c": 18}', "tool_call_id": "D681PevKs", "name": "get_weather"},
    ]
    result = chat(plugin, fake_server, messages=history, tools=[WEATHER_TOOL]).raise_for_error()
    assert result.text == ANSWER
    [body] = sent(fake_server)
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "D681PevKs",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "D681PevKs", "content": '{"temp_c": 18}'},
    ]
    assert body["tools"] == [{"type": "function", "function": WEATHER_TOOL}]
    assert "tool_choice" not in body and "parallel_tool_calls" not in body  # quirks rule 11
    assert "user" not in body and "n" not in body
