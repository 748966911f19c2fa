"""Embeddings through Dify's stdio runtime: the real llama-server (base64 and float), and a
loopback server that computes answers from each request to reproduce other servers' limits:
a batch cap (TEI: 413 above MAX_CLIENT_BATCH_SIZE), shuffled order, no usage, rejected or
ignored base64, and llama.cpp's physical-batch error for a text that is too long."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.timeout(300)
DIMS = 8


def vector_for(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((b - 128) / 128, 4) for b in digest[:DIMS]]


@dataclass
class EmbedServer:
    max_batch: int = 1000
    shuffle: bool = False
    usage: bool = True
    base64: str = "ok"  # ok | reject | ignore
    max_chars: int = 10_000
    batches: list[list[str]] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, answer = owner.answer(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, body: dict) -> tuple[int, dict]:
        texts = body["input"]
        fmt = body.get("encoding_format", "float")
        self.formats.append(fmt)
        if fmt == "base64" and self.base64 == "reject":
            # LocalAI/proxies that only know floats (422 naming the field, FastAPI style)
            return 422, {
                "detail": [{"loc": ["body", "encoding_format"], "msg": "unexpected value; permitted: 'float'"}]
            }
        if len(texts) > self.max_batch:
            return 413, {
                "error": f"batch size {len(texts)} > maximum allowed batch size {self.max_batch}",
                "error_type": "Validation",
            }
        for text in texts:
            if len(text) > self.max_chars:
                return 500, {
                    "error": {
                        "code": 500,
                        "type": "server_error",
                        "message": f"input ({len(text)} tokens) "
                        "is too large to process. increase the physical batch size (current batch size: 512)",
                    }
                }
        if any(t == "" for t in texts):
            return 400, {"error": {"message": "input cannot be an empty string"}}
        self.batches.append(list(texts))
        items = []
        for i, text in enumerate(texts):
            vec = vector_for(text)
            encoded = (
                base64.b64encode(struct.pack(f"<{DIMS}f", *vec)).decode()
                if fmt == "base64" and self.base64 == "ok"
                else vec
            )
            items.append({"object": "embedding", "index": i, "embedding": encoded})
        if self.shuffle:
            random.Random(len(texts)).shuffle(items)
        answer = {"object": "list", "data": items, "model": body["model"]}
        if self.usage:
            answer["usage"] = {"prompt_tokens": 3 * len(texts), "total_tokens": 3 * len(texts)}
        return 200, answer

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def embed_server():
    servers: list[EmbedServer] = []

    def make(**kwargs: object) -> EmbedServer:
        servers.append(EmbedServer(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def embed(plugin, base_url, texts, **creds):
    return plugin.invoke(
        "invoke_text_embedding", model="e", texts=texts, timeout=120, credentials={"base_url": base_url, **creds}
    )


def assert_vectors(result, texts):
    vectors = result.result["embeddings"]
    assert len(vectors) == len(texts)
    for text, vector in zip(texts, vectors, strict=True):
        assert vector == pytest.approx(vector_for(text or " "), abs=1e-4)


def test_batches_are_split_by_max_chunks_and_come_back_in_order(plugin, embed_server):
    server = embed_server(shuffle=True)
    texts = [f"chunk {i}" for i in range(100)]
    result = embed(plugin, server.base_url, texts, max_chunks="16")
    assert_vectors(result, texts)
    assert sorted(len(b) for b in server.batches) == [4] + [16] * 6
    assert result.result["usage"]["tokens"] == 300


def test_server_batch_limit_is_found_by_splitting(plugin, embed_server):
    # TEI's MAX_CLIENT_BATCH_SIZE defaults to 32 (text-embeddings-inference#378); form says 64
    server = embed_server(max_batch=20)
    texts = [f"t{i}" for i in range(64)]
    assert_vectors(embed(plugin, server.base_url, texts, max_chunks="64"), texts)
    assert max(len(b) for b in server.batches) <= 20


def test_missing_usage_is_estimated(plugin, embed_server):
    server = embed_server(usage=False)
    result = embed(plugin, server.base_url, ["hello world", "again"])
    assert result.result["usage"]["tokens"] > 0


def test_rejected_base64_falls_back_to_floats_and_is_remembered(plugin, embed_server):
    server = embed_server(base64="reject")
    for _ in range(2):
        assert_vectors(embed(plugin, server.base_url, ["a", "b"]), ["a", "b"])
    assert server.formats == ["base64", "float", "float"]


def test_ignored_base64_is_remembered(plugin, embed_server):
    # llama-cpp-python answers base64 requests with floats
    server = embed_server(base64="ignore")
    for _ in range(2):
        assert_vectors(embed(plugin, server.base_url, ["a"]), ["a"])
    assert server.formats == ["base64", "float"]


def test_empty_and_blank_texts_never_fail_the_job(plugin, embed_server):
    server = embed_server()
    texts = ["real text", "", "   "]
    vectors = embed(plugin, server.base_url, texts).result["embeddings"]
    assert len(vectors) == 3
    assert vectors[1] == pytest.approx(vector_for(" "), abs=1e-4)


def test_a_text_too_long_for_the_server_is_named(plugin, embed_server):
    server = embed_server(max_chars=50)
    texts = ["short"] * 5 + ["x" * 80] + ["short"] * 2
    result = embed(plugin, server.base_url, texts)
    assert result.error_type == "InvokeBadRequestError"
    assert "text #6" in result.error["message"]


def test_texts_are_cut_to_a_known_context_size(plugin, embed_server):
    server = embed_server()
    long_text = "word " * 2000
    embed(plugin, server.base_url, [long_text], context_size="512").raise_for_error()
    sent = server.batches[0][0]
    assert 0 < len(sent) < len(long_text)


def test_query_and_document_prefixes(plugin, embed_server):
    server = embed_server()
    creds = {"base_url": server.base_url, "query_prefix": "query: ", "document_prefix": "passage: "}
    plugin.invoke("invoke_text_embedding", model="e", texts=["x"], credentials=creds, input_type="query")
    plugin.invoke("invoke_text_embedding", model="e", texts=["x"], credentials=creds, input_type="document")
    assert server.batches == [["query: x"], ["passage: x"]]


def test_validation_detects_the_vector_size_and_schema_sizes_calls_by_it(plugin, embed_server):
    server = embed_server()
    creds = {"base_url": server.base_url}
    answer = plugin.invoke(
        "validate_model_credentials", model="e", credentials=creds, model_type="text-embedding"
    ).result
    assert answer["credentials"]["_detected_dimensions"] == str(DIMS)
    schema = plugin.invoke(
        "get_ai_model_schemas", model="e", credentials=answer["credentials"], model_type="text-embedding"
    ).result["model_schema"]
    assert schema["model_properties"]["max_chunks"] == 128  # 4 server batches of 32 fit one frame
    big = plugin.invoke(
        "get_ai_model_schemas", model="e", credentials=dict(creds, dimensions="8192"), model_type="text-embedding"
    ).result["model_schema"]
    assert big["model_properties"]["max_chunks"] * 8192 * 24 < 5 * 1024 * 1024


@pytest.mark.llama
@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_llama_server_embeddings_base64_and_float(plugin, llama_server, encoding):
    extra = {} if encoding == "base64" else {"extra_body": json.dumps({"encoding_format": "float"})}
    texts = ["hello world", "the weather in Paris", ""]
    result = embed(plugin, llama_server.base_url, texts, **extra).result
    vectors = result["embeddings"]
    assert len(vectors) == 3 and all(len(v) == 64 for v in vectors)
    norms = [sum(x * x for x in v) ** 0.5 for v in vectors]
    assert norms == pytest.approx([1.0] * 3, abs=1e-3)  # llama-server L2-normalises


@pytest.mark.llama
def test_llama_server_base64_and_float_agree(plugin, llama_server):
    texts = [f"sentence {i}" for i in range(10)]
    b64 = embed(plugin, llama_server.base_url, texts).result["embeddings"]
    flt = embed(plugin, llama_server.base_url, texts, extra_body=json.dumps({"encoding_format": "float"})).result[
        "embeddings"
    ]
    for a, b in zip(b64, flt, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
