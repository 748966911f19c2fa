"""Zero-config models through Dify's stdio runtime: validation finds the base URL, checks the
model is served, reads the context size, probes the capabilities left on auto and saves what it
found with the credentials; the schema then declares the right features. Plus the doctor CLI.

The loopback server here answers from each request (probes run in parallel, so a FIFO script
cannot say which answer goes to which probe) and reproduces the servers' own bytes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.plugin_process import REPO_ROOT

pytestmark = pytest.mark.timeout(120)

Handler = Callable[[str, str, dict], tuple[int, str, bytes]]
OK_CHAT = {
    "id": "c",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
USAGE_STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"content":"p"},"finish_reason":"stop"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\ndata: [DONE]\n\n'
)


def as_json(status: int, obj: object) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(obj).encode()


class Server:
    """A loopback server whose answers are computed by `handler(method, path, body)`."""

    def __init__(self, handler: Handler) -> None:
        self.seen: list[tuple[str, str, dict]] = []
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                owner.seen.append((method, self.path, body))
                status, ctype, data = handler(method, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers: list[Server] = []

    def make(handler: Handler) -> Server:
        servers.append(Server(handler))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def vllm_like(*, tools: bool, cards: list[dict]) -> Handler:
    """vLLM started without --enable-auto-tool-choice when `tools` is False; text-only model."""

    def handle(method: str, path: str, body: dict) -> tuple[int, str, bytes]:
        if path == "/v1/models":
            return as_json(200, {"object": "list", "data": cards})
        if path != "/v1/chat/completions":
            return 404, "application/json", b'{"detail":"Not Found"}'
        if body.get("model") not in [card["id"] for card in cards]:
            message = f"The model `{body.get('model')}` does not exist."
            return as_json(404, {"error": {"message": message, "type": "NotFoundError", "param": None, "code": 404}})
        if "tools" in body and not tools:
            message = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
            return as_json(400, {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}})
        if any(isinstance(m["content"], list) for m in body["messages"]):
            message = "Model does not support multimodal input (image_url)"
            return as_json(400, {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}})
        if body.get("stream"):
            return 200, "text/event-stream", USAGE_STREAM
        return as_json(200, OK_CHAT)

    return handle


VLLM_CARD = {"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm", "max_model_len": 32768}


def validate(plugin, creds, model="Qwen/Qwen3-8B", model_type="llm"):
    return plugin.invoke("validate_model_credentials", model=model, credentials=creds, model_type=model_type)


def schema(plugin, creds, model="Qwen/Qwen3-8B"):
    return plugin.invoke("get_ai_model_schemas", model=model, credentials=creds).result["model_schema"]


def test_validation_saves_what_it_found_and_the_schema_follows(plugin, serve):
    server = serve(vllm_like(tools=False, cards=[VLLM_CARD]))
    saved = validate(plugin, {"base_url": server.origin + "/v1/"}).result["credentials"]
    assert saved["_detected_context_size"] == "32768"  # vLLM max_model_len
    assert saved["_detected_tool_calling"] == "false"  # no --enable-auto-tool-choice
    assert saved["_detected_vision"] == "false"
    assert saved["_detected_structured_output"] == "true"
    found = schema(plugin, saved)
    assert found["model_properties"]["context_size"] == 32768
    assert "tool-call" not in found["features"] and "vision" not in found["features"]
    assert "structured-output" in found["features"]


def test_an_explicit_setting_wins_over_detection(plugin, serve):
    server = serve(vllm_like(tools=False, cards=[VLLM_CARD]))
    creds = {"base_url": server.origin + "/v1", "tool_calling": "on", "context_size": "8192"}
    saved = validate(plugin, creds).result["credentials"]
    assert "_detected_tool_calling" not in saved  # not probed: the user said on
    found = schema(plugin, saved)
    assert "tool-call" in found["features"] and found["model_properties"]["context_size"] == 8192
    # the probes that did run never asked for tools
    assert not any("tools" in body for _, _, body in server.seen)


def test_missing_v1_is_found_and_saved(plugin, serve):
    def ollama(method, path, body):
        if not path.startswith("/v1/"):
            return 404, "text/plain", b"404 page not found"  # Ollama's native router
        if path == "/v1/models":
            return as_json(
                200, {"object": "list", "data": [{"id": "qwen3:8b", "object": "model", "owned_by": "library"}]}
            )
        if body.get("stream"):
            return 200, "text/event-stream", USAGE_STREAM
        return as_json(200, OK_CHAT)

    server = serve(ollama)
    saved = validate(plugin, {"base_url": server.origin}, model="qwen3:8b").result["credentials"]
    assert saved["base_url"] == server.origin + "/v1"
    assert "_detected_context_size" not in saved  # Ollama's cards carry none
    assert schema(plugin, saved, model="qwen3:8b")["model_properties"]["context_size"] == 4096


def test_a_pasted_endpoint_path_is_stripped(plugin, serve):
    server = serve(vllm_like(tools=True, cards=[VLLM_CARD]))
    validate(plugin, {"base_url": server.origin + "/v1/chat/completions"}).raise_for_error()
    assert all(not path.startswith("/v1/chat/completions/") for _, path, _ in server.seen)


def test_unknown_model_lists_the_served_ones(plugin, serve):
    server = serve(vllm_like(tools=True, cards=[VLLM_CARD, {"id": "BAAI/bge-m3", "object": "model"}]))
    result = validate(plugin, {"base_url": server.origin + "/v1"}, model="qwen3")
    assert result.error_type == "CredentialsValidateFailedError"
    assert "Qwen/Qwen3-8B" in result.error["message"] and "BAAI/bge-m3" in result.error["message"]


def test_wrong_key_says_so(plugin, serve):
    server = serve(lambda m, p, b: as_json(401, {"error": {"message": "Incorrect API key provided", "code": 401}}))
    result = validate(plugin, {"base_url": server.origin + "/v1", "api_key": "sk-wrong-canary-123"})
    assert result.error_type == "CredentialsValidateFailedError"
    assert "API key" in result.error["message"] and "sk-wrong-canary-123" not in json.dumps(plugin.frames[-3:])


def test_wrong_path_suggests_v1(plugin, serve):
    server = serve(lambda m, p, b: (404, "text/html", b"<html><title>404 Not Found</title></html>"))
    result = validate(plugin, {"base_url": server.origin + "/api"})
    assert result.error_type == "CredentialsValidateFailedError"
    assert "/v1" in result.error["message"] or "HTML" in result.error["message"]


def test_refused_localhost_explains_docker_networking(plugin):
    result = validate(plugin, {"base_url": "http://localhost:9/v1"})
    assert result.error_type == "CredentialsValidateFailedError"
    assert "host.docker.internal" in result.error["message"]


def test_embedding_validation_reads_the_context_size(plugin, serve):
    def tei(method, path, body):
        if path == "/v1/models":
            return as_json(200, {"object": "list", "data": [{"id": "bge", "object": "model", "max_model_len": 512}]})
        vectors = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(body["input"]))]
        return as_json(200, {"object": "list", "data": vectors, "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    server = serve(tei)
    saved = validate(plugin, {"base_url": server.origin + "/v1"}, model="bge", model_type="text-embedding")
    creds = saved.result["credentials"]
    assert creds["_detected_context_size"] == "512" and creds["_detected_dimensions"] == "3"


def test_schema_without_saved_detection_probes_once_per_process(plugin_factory, serve):
    # A Dify version that does not keep what validation returned: detect lazily, once
    server = serve(vllm_like(tools=False, cards=[VLLM_CARD]))
    plugin = plugin_factory()
    creds = {"base_url": server.origin + "/v1"}
    first = schema(plugin, creds)
    probes = len(server.seen)
    second = schema(plugin, creds)
    assert first == second and "tool-call" not in first["features"]
    assert len(server.seen) == probes > 0


def test_invoking_never_probes(plugin_factory, serve):
    server = serve(vllm_like(tools=True, cards=[VLLM_CARD]))
    plugin = plugin_factory()
    plugin.invoke(
        "invoke_llm",
        model="Qwen/Qwen3-8B",
        credentials={"base_url": server.origin + "/v1"},
        prompt_messages=[{"role": "user", "content": "hi"}],
        model_parameters={"max_tokens": 6000},  # above the SDK template's 2048 cap: not refused
    ).raise_for_error()
    assert [(m, p) for m, p, _ in server.seen] == [("POST", "/v1/chat/completions")]
    assert server.seen[0][2]["max_tokens"] == 6000


def run_doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oai_bridge.doctor", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=90
    )


@pytest.mark.llama
def test_doctor_against_llama_server(llama_server):
    done = run_doctor("--base-url", llama_server.base_url, "--model", "tiny", "--api-key", "sk-doctor-canary-42")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Context size        2048" in out
    assert "Tool calling        yes" in out and "Structured output   yes" in out and "Vision              no" in out
    assert "Usage in streams    yes" in out
    assert "sk-doctor-canary-42" not in out + done.stderr


def test_doctor_reports_a_failure_in_words(serve):
    server = serve(vllm_like(tools=True, cards=[VLLM_CARD]))
    done = run_doctor("--base-url", server.origin + "/v1", "--model", "nope")
    assert done.returncode == 1
    assert "Qwen/Qwen3-8B" in done.stdout and "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("native_path", "native_body", "expected"),
    [
        # LM Studio's own API: the loaded window, not the model's maximum
        (
            "/api/v0/models",
            {
                "object": "list",
                "data": [
                    {
                        "id": "m",
                        "object": "model",
                        "type": "llm",
                        "state": "loaded",
                        "max_context_length": 131072,
                        "loaded_context_length": 8192,
                    }
                ],
            },
            "8192",
        ),
        # Ollama: the loaded model's context, which it silently truncates to
        ("/api/ps", {"models": [{"name": "m", "model": "m", "size": 1, "context_length": 4096}]}, "4096"),
    ],
)
def test_context_size_from_lm_studio_and_ollama_native_apis(plugin, serve, native_path, native_body, expected):
    def handle(method, path, body):
        if path == "/v1/models":
            return as_json(200, {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "x"}]})
        if path == native_path:
            return as_json(200, native_body)
        if path == "/v1/chat/completions":
            return (200, "text/event-stream", USAGE_STREAM) if body.get("stream") else as_json(200, OK_CHAT)
        return 404, "text/plain", b"404 page not found"

    server = serve(handle)
    saved = validate(plugin, {"base_url": server.origin + "/v1"}, model="m").result["credentials"]
    assert saved["_detected_context_size"] == expected


def test_lazy_detection_of_a_failing_endpoint_is_not_retried_per_request(plugin_factory, serve):
    # The schema is asked for often (app pages, model lists): an endpoint that fails must not
    # be probed again on every request (it is asked again after a minute)
    server = serve(lambda m, p, b: as_json(503, {"error": {"message": "loading model"}}))
    plugin = plugin_factory()
    creds = {"base_url": server.origin + "/v1"}
    first = plugin.invoke("get_ai_model_schemas", model="m", credentials=creds).result
    probes = len(server.seen)
    second = plugin.invoke("get_ai_model_schemas", model="m", credentials=creds).result
    assert first == second and probes > 0 and len(server.seen) == probes
    assert "tool-call" in first["model_schema"]["features"]  # the defaults meanwhile


@pytest.mark.parametrize(("reads_image_as_text", "expected"), [(False, "true"), (True, "false")])
def test_vision_needs_images_seen_as_images_not_as_text(plugin, serve, reads_image_as_text, expected):
    # llama-cpp-python without a vision handler accepts image parts and renders the data URI into
    # the prompt: it answers 200, but a picture then costs thousands of tokens of base64
    def handle(method, path, body):
        if path == "/v1/models":
            return as_json(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})
        if body.get("stream"):
            return 200, "text/event-stream", USAGE_STREAM
        prompt_tokens = 10
        for message in body["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else ():
                if part["type"] == "image_url":
                    url = part["image_url"]["url"]
                    prompt_tokens += len(url) // 3 if reads_image_as_text else 64  # text vs pixels
        return as_json(200, {**OK_CHAT, "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1}})

    server = serve(handle)
    saved = validate(plugin, {"base_url": server.origin + "/v1"}, model="m").result["credentials"]
    assert saved["_detected_vision"] == expected
