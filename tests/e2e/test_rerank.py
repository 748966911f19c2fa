"""Rerank (and multimodal embeddings) through Dify's stdio runtime against loopback servers that
answer the way each real server does (paths, request and answer shapes, errors): vLLM (/rerank,
/v1/rerank, /v2/rerank and /score), TEI (root /rerank with `texts`, a bare array, 413 above its
batch limit), Xinference (document as a plain string), LocalAI (unsorted, `top_n` ignored),
SGLang (a bare list), Jina, Cohere (/v2/rerank only), llama.cpp (raw logits) and a keyless
server that refuses any Authorization header."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(300)

# Which paths each server reranks on, and in which shape it answers.
PATHS = {
    "vllm": ("/rerank", "/v1/rerank", "/v2/rerank", "/score", "/v1/score"),
    "vllm_score": ("/score",),
    "tei": ("/rerank",),
    "xinference": ("/v1/rerank",),
    "localai": ("/v1/rerank",),
    "sglang": ("/v1/rerank",),
    "jina": ("/v1/rerank",),
    "cohere": ("/v2/rerank",),
    "llamacpp": ("/v1/rerank", "/rerank"),
    "keyless": ("/v1/rerank",),
}


def relevance(query: Any, document: Any) -> float:
    """A deterministic 0-1 score: the share of the query's words found in the document."""
    if isinstance(document, dict):  # vLLM multimodal part: images score high
        return 0.9
    words = set(str(query).lower().replace("?", "").replace(".", "").split())
    found = set(str(document).lower().replace(".", "").split())
    return round(len(words & found) / max(1, len(words)), 4)


@dataclass
class RerankServer:
    flavor: str
    max_batch: int = 1000
    max_chars: int = 100_000
    logits: bool = False
    answer_override: tuple[int, str] | None = None  # (status, raw body) for every rerank call
    listed: tuple[str, ...] | None = None  # what GET /v1/models lists (a gateway's other models)
    too_long_words: str | None = None  # a refusal of a too-long document that states no numbers
    strict: bool = False  # refuses any field it does not know, naming it (FastAPI `extra_forbidden`)
    requests: list[tuple[str, dict, dict]] = field(default_factory=list)  # (path, headers, body)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, payload: Any) -> None:
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models" and owner.listed is not None:
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in owner.listed]})
                elif self.path == "/v1/models" and owner.flavor not in ("tei", "cohere", "jina"):
                    self._send(200, {"object": "list", "data": [{"id": "rr", "object": "model"}]})
                else:
                    self._send(404, {"error": "Not Found"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.requests.append((self.path, headers, body))
                self._send(*owner.answer(self.path, headers, body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.base_url = self.origin + "/v1"

    def rerank_calls(self) -> list[tuple[str, dict, dict]]:
        return [r for r in self.requests if r[0] in PATHS[self.flavor] and r[0] != "/v1/embeddings"]

    def answer(self, path: str, headers: dict, body: dict) -> tuple[int, Any]:
        flavor = self.flavor
        if path == "/v1/embeddings":
            return self.embed(body)
        if path not in PATHS[flavor]:
            return 404, {"detail": "Not Found"} if flavor in ("xinference", "sglang") else {"error": "Not Found"}
        if flavor == "keyless" and "authorization" in headers:
            return 401, {"error": {"message": "Invalid authorization header", "type": "authentication_error"}}
        if flavor == "cohere" and headers.get("authorization") != "Bearer co-key":
            return 401, {"message": "invalid api token"}
        if self.answer_override:
            return self.answer_override
        extra = sorted(set(body) - {"model", "query", "documents", "top_n", "texts", "text_1", "text_2"})
        if self.strict and extra:
            detail = [{"type": "extra_forbidden", "loc": ["body", extra[0]], "msg": "Extra inputs are not permitted"}]
            return 422, {"detail": detail}
        if flavor == "tei" or (flavor == "llamacpp" and "texts" in body):
            if "texts" not in body:
                return 422, "Failed to deserialize the JSON body into the target type: missing field `texts` at line 1"
            docs = body["texts"]
        elif path.endswith("/score"):
            if "text_2" not in body:
                return 400, {"object": "error", "message": "text_1 and text_2 are required", "code": 400}
            docs = body["text_2"]
        else:
            docs = body["documents"]
        if flavor != "vllm" and any(isinstance(d, dict) for d in docs):
            return 400, {"error": {"message": "documents must be strings", "code": 400}}
        if len(docs) > self.max_batch:
            return 413, {
                "error": f"batch size {len(docs)} > maximum allowed batch size {self.max_batch}",
                "error_type": "Validation",
            }
        server_cuts = body.get("truncate") if flavor == "tei" else body.get("truncate_prompt_tokens") == -1
        if server_cuts and flavor in ("vllm", "vllm_score", "tei"):
            docs = [d[: self.max_chars] if isinstance(d, str) else d for d in docs]  # the server cuts
        for doc in docs:
            if isinstance(doc, str) and len(doc) > self.max_chars:
                return self.too_long(len(doc) // 4)
        query = body.get("query", body.get("text_1"))
        scores = [relevance(query, d) for d in docs]
        if self.logits or flavor == "llamacpp":
            scores = [round(s * 10 - 5, 4) for s in scores]
        order = sorted(range(len(docs)), key=lambda i: -scores[i])
        top_n = body.get("top_n") or len(docs)
        tokens = 7 * len(docs)
        if path.endswith("/score"):
            items = [{"index": i, "object": "score", "score": scores[i]} for i in range(len(docs))]
            return 200, {"id": "score-1", "object": "list", "data": items, "usage": {"prompt_tokens": tokens}}
        if flavor == "tei" or "texts" in body:
            return 200, [{"index": i, "score": scores[i]} for i in order]
        if flavor == "localai":  # llama.cpp backend: unsorted, top_n ignored (LocalAI #7189)
            results = [
                {"index": i, "document": {"text": docs[i]}, "relevance_score": scores[i]} for i in range(len(docs))
            ]
            return 200, {"model": body["model"], "results": results, "usage": {"total_tokens": tokens}}
        if flavor == "sglang":
            return 200, [{"score": scores[i], "document": docs[i]} for i in order]
        if flavor == "xinference":
            results = [{"index": i, "relevance_score": scores[i], "document": docs[i]} for i in order[:top_n]]
            meta = {"api_version": None, "billed_units": None, "tokens": {"input_tokens": tokens, "output_tokens": 0}}
            return 200, {"id": "x-1", "results": results, "meta": meta}
        if flavor == "cohere":
            results = [{"index": i, "relevance_score": scores[i]} for i in order[:top_n]]
            return 200, {"id": "c-1", "results": results, "meta": {"billed_units": {"search_units": 1}}}
        results = [{"index": i, "document": {"text": docs[i]}, "relevance_score": scores[i]} for i in order[:top_n]]
        usage = {"total_tokens": tokens} if flavor == "jina" else {"prompt_tokens": tokens, "total_tokens": tokens}
        return 200, {"id": "rerank-1", "model": body["model"], "usage": usage, "results": results}

    def too_long(self, tokens: int) -> tuple[int, Any]:
        """A pair longer than the model takes, in each server's words."""
        if self.too_long_words:
            return 400, {"error": {"message": self.too_long_words, "code": 400}}
        if self.flavor in ("vllm", "vllm_score"):  # vLLM's pooling validation (a 400 `VLLMValidationError`)
            message = (
                f"This model's maximum context length is 512 tokens. However, you requested {tokens} tokens "
                "in the input for score. Please reduce the length of the input."
            )
            return 400, {"error": {"message": message, "type": "BadRequestError", "param": "input_tokens", "code": 400}}
        if self.flavor == "tei":  # TEI's validation error is a 413
            message = f"Input validation error: `inputs` must have less than 512 tokens. Given: {tokens}"
            return 413, {"error": message, "error_type": "Validation"}
        return 400, {
            "object": "error",
            "message": "This model's maximum context length is 512 tokens. However, you requested 900 tokens",
            "code": 400,
        }

    def embed(self, body: dict) -> tuple[int, Any]:
        """vLLM (`messages`, one input) and Jina (`input` objects) multimodal embeddings."""
        if self.flavor == "vllm" and "messages" in body:
            part = body["messages"][0]["content"][0]
            vec = [1.0, 0.0] if part["type"] == "image_url" else [0.0, 1.0]
            return 200, {"object": "list", "data": [{"index": 0, "embedding": vec}], "usage": {"prompt_tokens": 5}}
        if self.flavor == "jina" and isinstance(body.get("input"), list):
            data = [
                {"index": i, "embedding": [1.0, 0.0] if isinstance(x, dict) and "image" in x else [0.0, 1.0]}
                for i, x in enumerate(body["input"])
            ]
            if not all(isinstance(x, dict) for x in body["input"]):  # plain texts too
                data = [{"index": i, "embedding": [0.0, 1.0]} for i in range(len(body["input"]))]
            return 200, {"object": "list", "data": data, "usage": {"total_tokens": 4}}
        if isinstance(body.get("input"), list) and all(isinstance(x, str) for x in body["input"]):
            data = [{"index": i, "embedding": [0.0, 1.0]} for i in range(len(body["input"]))]
            return 200, {"object": "list", "data": data, "usage": {"prompt_tokens": 2}}
        return 400, {"error": {"message": "this model does not take images", "code": 400}}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    made: list[RerankServer] = []

    def make(flavor: str, **kwargs: Any) -> RerankServer:
        made.append(RerankServer(flavor, **kwargs))
        return made[-1]

    yield make
    for item in made:
        item.close()


QUERY = "what is the capital of France?"
DOCS = ["Bananas are yellow.", "Paris is the capital of France.", "The capital of Spain is Madrid.", "France"]


def validate(plugin, creds, model_type="rerank"):
    return plugin.invoke("validate_model_credentials", model="rr", credentials=creds, model_type=model_type)


def rerank(plugin, creds, query=QUERY, docs=DOCS, top_n=None, score_threshold=None):
    return plugin.invoke(
        "invoke_rerank",
        model="rr",
        model_type="rerank",
        credentials=creds,
        query=query,
        docs=docs,
        top_n=top_n,
        score_threshold=score_threshold,
    )


def saved(plugin, creds):
    return validate(plugin, creds).result["credentials"]


@pytest.mark.parametrize(
    ("flavor", "base", "path", "shape"),
    [
        ("vllm", "/v1", "/v1/rerank", "jina"),
        ("vllm", "", "/v1/rerank", "jina"),  # no /v1 typed: corrected from /v1/models
        ("vllm_score", "/v1", "/score", "score"),
        ("tei", "", "/rerank", "tei"),
        ("tei", "/v1", "/rerank", "tei"),
        ("xinference", "/v1", "/v1/rerank", "jina"),
        ("localai", "/v1", "/v1/rerank", "jina"),
        ("sglang", "/v1", "/v1/rerank", "jina"),
        ("jina", "/v1", "/v1/rerank", "jina"),
        ("llamacpp", "/v1", "/v1/rerank", "jina"),
    ],
)
def test_each_server_is_found_and_ranked_locally(plugin, server, flavor, base, path, shape):
    srv = server(flavor)
    creds = saved(plugin, {"base_url": srv.origin + base})
    assert creds["_detected_rerank_path"] == path
    assert creds["_detected_rerank_shape"] == shape
    docs = rerank(plugin, creds, top_n=2).result["docs"]
    assert [d["index"] for d in docs] == [1, 2]
    assert [d["text"] for d in docs] == [DOCS[1], DOCS[2]]  # Dify's own text, whatever was echoed
    assert docs[0]["score"] >= docs[1]["score"]
    sent = srv.rerank_calls()[-1]
    assert sent[0] == path
    if shape == "tei":
        assert sent[2] == {
            "query": QUERY,
            "texts": DOCS,
            "raw_scores": False,
            "return_text": False,
            "truncate": True,
        }
    elif shape == "score":
        assert sent[2] == {"model": "rr", "text_1": QUERY, "text_2": DOCS}
    else:
        assert sent[2] == {"model": "rr", "query": QUERY, "documents": DOCS, "top_n": 2}


def test_vllm_v2_path_when_the_base_url_says_v2(plugin, server):
    srv = server("vllm")
    creds = saved(plugin, {"base_url": srv.origin + "/v2"})
    assert creds["_detected_rerank_path"] == "/v2/rerank"
    assert rerank(plugin, creds).result["docs"][0]["index"] == 1


def test_cohere_v2_only_with_its_key(plugin, server):
    srv = server("cohere")
    creds = saved(plugin, {"base_url": srv.base_url, "api_key": "co-key"})
    assert creds["_detected_rerank_path"] == "/v2/rerank"
    docs = rerank(plugin, creds, top_n=1).result["docs"]
    assert docs == [{"index": 1, "text": DOCS[1], "score": pytest.approx(docs[0]["score"])}]
    assert srv.rerank_calls()[-1][1]["authorization"] == "Bearer co-key"


def test_keyless_server_gets_no_authorization_header(plugin, server):
    srv = server("keyless")
    creds = saved(plugin, {"base_url": srv.base_url})
    rerank(plugin, creds).raise_for_error()
    assert srv.rerank_calls() and all("authorization" not in h for _, h, _ in srv.rerank_calls())


def test_wrong_key_is_an_authorization_error_without_the_key(plugin, server):
    srv = server("cohere")
    creds = {"base_url": srv.base_url, "api_key": "wrong-secret-key"}
    answer = validate(plugin, creds)
    assert answer.error_type == "CredentialsValidateFailedError"
    assert "wrong-secret-key" not in json.dumps(answer.error)
    creds.update(_detected_rerank_path="/v2/rerank", _detected_rerank_shape="jina")
    result = rerank(plugin, creds)
    assert result.error_type == "InvokeAuthorizationError"
    assert "invalid api token" in result.error["message"]


def test_localai_unsorted_and_top_n_ignored_is_sorted_and_cut(plugin, server):
    srv = server("localai")
    creds = saved(plugin, {"base_url": srv.base_url})
    docs = rerank(plugin, creds, top_n=1).result["docs"]
    assert [d["index"] for d in docs] == [1]


def test_threshold_applies_last_and_scores_are_never_min_max_normalised(plugin, server):
    srv = server("vllm")
    creds = saved(plugin, {"base_url": srv.base_url})
    one = rerank(plugin, creds, docs=["the capital"], score_threshold=0.1).result["docs"]
    assert len(one) == 1 and 0 < one[0]["score"] < 1  # a single document keeps its score
    same = rerank(plugin, creds, docs=["France", "France"]).result["docs"]
    assert [d["score"] for d in same] == [same[0]["score"]] * 2 and same[0]["score"] > 0
    cut = rerank(plugin, creds, top_n=3, score_threshold=0.5).result["docs"]
    assert [d["index"] for d in cut] == [1, 2]


def test_logits_are_detected_and_mapped_by_a_sigmoid_unless_served(plugin, server):
    srv = server("llamacpp")
    creds = saved(plugin, {"base_url": srv.base_url})
    assert creds["_detected_rerank_scores"] == "logits"
    docs = rerank(plugin, creds, score_threshold=0.5).result["docs"]
    assert docs and all(0.5 <= d["score"] <= 1 for d in docs)
    served = rerank(plugin, dict(creds, score_scale="served")).result["docs"]
    assert min(d["score"] for d in served) < 0
    srv2 = server("vllm")
    assert saved(plugin, {"base_url": srv2.base_url})["_detected_rerank_scores"] == "probabilities"


def test_tei_batches_split_on_413_and_the_limit_is_remembered(plugin, server):
    srv = server("tei", max_batch=8)
    creds = saved(plugin, {"base_url": srv.origin})
    docs = [f"document {i} about France" if i % 7 == 0 else f"document {i}" for i in range(40)]
    first = rerank(plugin, creds, docs=docs).result["docs"]
    assert len(first) == 40 and sorted(d["index"] for d in first) == list(range(40))
    assert {d["text"] for d in first} == set(docs)
    assert first[0]["text"].endswith("about France")
    count = len(srv.rerank_calls())
    rerank(plugin, creds, docs=docs).raise_for_error()
    later = srv.rerank_calls()[count:]
    assert len(later) == 5 and all(len(body["texts"]) <= 8 for _, _, body in later)  # no 413 again


def test_empty_documents_make_no_request(plugin, server):
    srv = server("vllm")
    creds = saved(plugin, {"base_url": srv.base_url})
    count = len(srv.requests)
    assert rerank(plugin, creds, docs=[]).result["docs"] == []
    assert len(srv.requests) == count


def test_bad_input_and_bad_answers_get_the_right_error(plugin, server):
    srv = server("vllm")
    creds = saved(plugin, {"base_url": srv.base_url})
    assert rerank(plugin, creds, query="  ").error_type == "InvokeBadRequestError"
    srv.answer_override = (200, "<html>not json</html>")
    assert rerank(plugin, creds).error_type == "InvokeServerUnavailableError"
    srv.answer_override = (200, json.dumps({"results": [{"index": 0, "document": {"text": "x"}}]}))
    result = rerank(plugin, creds)
    assert result.error_type == "InvokeServerUnavailableError"
    assert "relevance_score" in result.error["message"]
    srv.answer_override = (503, json.dumps({"error": {"message": "model is loading"}}))
    assert rerank(plugin, dict(creds, max_retries="0")).error_type == "InvokeServerUnavailableError"


def test_a_document_too_long_is_named_when_nothing_makes_it_fit(plugin, server):
    # No truncation on the server, no limit stated and none saved: nothing to cut to.
    srv = server("xinference", max_chars=100, too_long_words="the document is too long for this reranker")
    creds = saved(plugin, {"base_url": srv.base_url})
    docs = ["short"] * 4 + ["x" * 300] + ["short"]
    result = rerank(plugin, creds, docs=docs)
    assert result.error_type == "InvokeBadRequestError"
    assert "document #5" in result.error["message"]


def test_no_rerank_endpoint_is_a_clear_validation_error(plugin, server):
    srv = server("vllm")
    answer = validate(plugin, {"base_url": srv.origin + "/nothing/v1"})
    assert answer.error_type == "CredentialsValidateFailedError"
    assert "No rerank endpoint found" in answer.error["message"]


def test_connection_refused_is_a_connection_error(plugin, server):
    srv = server("vllm")
    creds = {"base_url": srv.base_url, "_detected_rerank_path": "/v1/rerank", "_detected_rerank_shape": "jina"}
    srv.close()
    assert rerank(plugin, dict(creds, max_retries="0")).error_type == "InvokeConnectionError"


def test_lazy_detection_when_dify_did_not_keep_the_findings(plugin, server):
    srv = server("tei")
    docs = rerank(plugin, {"base_url": srv.origin}).result["docs"]
    assert docs[0]["index"] == 1


def test_multimodal_rerank_sends_vllm_content_parts(plugin, server):
    srv = server("vllm")
    creds = saved(plugin, {"base_url": srv.base_url})
    assert creds["_detected_vision"] == "true"
    schema = plugin.invoke("get_ai_model_schemas", model="rr", model_type="rerank", credentials=creds).result
    assert "vision" in schema["model_schema"]["features"]
    image = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
    result = plugin.invoke(
        "invoke_multimodal_rerank",
        model="rr",
        model_type="rerank",
        credentials=creds,
        query={"content": QUERY, "content_type": "text"},
        docs=[{"content": "Bananas.", "content_type": "text"}, {"content": image, "content_type": "image"}],
        top_n=None,
        score_threshold=None,
    ).result
    assert [d["index"] for d in result["docs"]] == [1, 0]
    assert result["docs"][0]["text"] == image
    sent = srv.rerank_calls()[-1][2]["documents"]
    assert sent[0] == "Bananas."
    assert sent[1] == {"content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + image}}]}


def test_text_rerankers_declare_no_vision(plugin, server):
    srv = server("tei")
    creds = saved(plugin, {"base_url": srv.origin})
    assert creds["_detected_vision"] == "false"
    schema = plugin.invoke("get_ai_model_schemas", model="rr", model_type="rerank", credentials=creds).result
    assert schema["model_schema"]["model_type"] == "rerank"
    assert "vision" not in (schema["model_schema"].get("features") or [])


def _image_probes(srv) -> list:
    return [c for c in srv.rerank_calls() if any(not isinstance(d, str) for d in c[2].get("documents") or [])]


def test_image_documents_on_declares_vision_without_a_test(plugin, server):
    # A server the test at save could not tell about (here a text-only TEI): On is the user's word.
    srv = server("tei")
    creds = saved(plugin, {"base_url": srv.origin, "rerank_images": "on"})
    assert "_detected_vision" not in creds and not _image_probes(srv)
    schema = plugin.invoke("get_ai_model_schemas", model="rr", model_type="rerank", credentials=creds).result
    assert "vision" in schema["model_schema"]["features"]


def test_image_documents_off_sends_no_image_and_declares_no_vision(plugin, server):
    srv = server("vllm")  # would score an image
    creds = saved(plugin, {"base_url": srv.base_url, "rerank_images": "off"})
    assert not _image_probes(srv)
    stale = dict(creds, _detected_vision="true")  # a finding from an earlier save does not override Off
    schema = plugin.invoke("get_ai_model_schemas", model="rr", model_type="rerank", credentials=stale).result
    assert "vision" not in (schema["model_schema"].get("features") or [])


@pytest.mark.parametrize(("flavor", "form"), [("vllm", "messages"), ("jina", "jina")])
def test_multimodal_embedding_forms_are_detected_and_used(plugin, server, flavor, form):
    srv = server(flavor)
    creds = validate(plugin, {"base_url": srv.base_url}, model_type="text-embedding").result["credentials"]
    assert creds["_detected_multimodal_input"] == form
    schema = plugin.invoke("get_ai_model_schemas", model="rr", model_type="text-embedding", credentials=creds).result[
        "model_schema"
    ]
    assert "vision" in schema["features"]
    image = "data:image/png;base64,iVBORw0KGgo="
    result = plugin.invoke(
        "invoke_multimodal_embedding",
        model="rr",
        credentials=creds,
        documents=[{"content": "hello", "content_type": "text"}, {"content": image, "content_type": "image"}],
        input_type="document",
    ).result
    assert result["embeddings"] == [[0.0, 1.0], [1.0, 0.0]]
    assert result["usage"]["tokens"] > 0
    bodies = [body for path, _, body in srv.requests if path == "/v1/embeddings"][-2:]
    if form == "messages":  # one input per request
        parts = sorted(json.dumps(b["messages"][0]["content"][0]) for b in bodies)
        assert parts == sorted(
            [
                json.dumps({"type": "text", "text": "hello"}),
                json.dumps({"type": "image_url", "image_url": {"url": image}}),
            ]
        )
    else:
        assert bodies[-1]["input"] == [{"text": "hello"}, {"image": "iVBORw0KGgo="}]


def test_text_only_embedding_server_refuses_images_clearly(plugin, server):
    srv = server("tei")
    creds = validate(plugin, {"base_url": srv.base_url}, model_type="text-embedding").result["credentials"]
    assert creds["_detected_multimodal_input"] == "off"
    result = plugin.invoke(
        "invoke_multimodal_embedding",
        model="rr",
        credentials=creds,
        documents=[{"content": "data:image/png;base64,AAAA", "content_type": "image"}],
        input_type="document",
    )
    assert result.error_type == "InvokeBadRequestError"
    assert "text-only" in result.error["message"]


@pytest.mark.parametrize(
    ("flavor", "typed", "path"),
    [
        ("vllm", "/v1/rerank", "/v1/rerank"),
        ("vllm", "/v1/rerank/ ", "/v1/rerank"),
        ("vllm", "/v2/rerank", "/v2/rerank"),
        ("tei", "/rerank", "/rerank"),
        ("llamacpp", "/v1/reranking", "/v1/rerank"),
        ("vllm_score", "/v1/score/", "/score"),
    ],
)
def test_a_pasted_rerank_path_is_reduced_to_its_base(plugin, server, flavor, typed, path):
    srv = server(flavor)
    creds = saved(plugin, {"base_url": srv.origin + typed})
    assert creds["_detected_rerank_path"] == path
    assert rerank(plugin, creds).result["docs"][0]["index"] == 1
    assert not [p for p, _, _ in srv.requests if p.count("rerank") > 1 or "score/" in p]


@pytest.mark.parametrize(
    ("flavor", "path", "extra"), [("tei", "/rerank", {}), ("cohere", "/v2/rerank", {"api_key": "co-key"})]
)
def test_a_missing_path_is_not_a_missing_model_while_probing(plugin, server, flavor, path, extra):
    # A gateway whose /models lists other models, in front of a reranker that serves one path.
    srv = server(flavor, listed=("gpt-4o", "bge-m3"))
    creds = saved(plugin, {"base_url": srv.base_url, **extra})
    assert creds["_detected_rerank_path"] == path
    assert rerank(plugin, creds).result["docs"][0]["index"] == 1


def test_a_404_on_a_real_call_names_both_causes_with_the_list(plugin, server):
    srv = server("vllm", listed=("gpt-4o", "bge-m3"))
    creds = {"base_url": srv.base_url, "_detected_rerank_path": "/v1/ranking", "_detected_rerank_shape": "jina"}
    result = rerank(plugin, creds)
    assert result.error_type == "InvokeBadRequestError"
    message = result.error["message"]
    assert "no such path or model" in message and "'rr'" in message and "/v1/ranking" in message
    assert "It lists: gpt-4o, bge-m3" in message


def test_a_probe_refusal_that_names_the_model_still_explains_it(plugin, server):
    # vLLM's 404 "The model `x` does not exist." at an existing path: the model is wrong, say so.
    srv = server("vllm", listed=("bge-reranker",))
    srv.answer_override = (404, json.dumps({"error": {"message": "The model `rr` does not exist.", "code": 404}}))
    answer = validate(plugin, {"base_url": srv.base_url})
    assert answer.error_type == "CredentialsValidateFailedError"
    assert "It lists: bge-reranker" in answer.error["message"]


LONG = "Paris is the capital of France. " + "Its long history fills many pages of this chunk. " * 300


@pytest.mark.parametrize("flavor", ["vllm", "vllm_score"])
def test_vllm_truncates_a_long_document_once_it_refused_it(plugin, server, flavor):
    srv = server(flavor, max_chars=2000)
    creds = saved(plugin, {"base_url": srv.base_url})
    docs = ["Bananas are yellow.", LONG, "The capital of Spain is Madrid."]
    count = len(srv.rerank_calls())
    result = rerank(plugin, creds, docs=docs).result["docs"]
    assert sorted(d["index"] for d in result) == [0, 1, 2] and result[0]["index"] == 1
    assert result[0]["text"] == LONG  # Dify gets the whole document back
    sent = [body for _, _, body in srv.rerank_calls()[count:]]
    assert [b.get("truncate_prompt_tokens") for b in sent] == [None, -1]  # refused, then asked to truncate
    assert any("truncates documents" in str(log.get("message")) for log in plugin.logs)
    count = len(srv.rerank_calls())
    rerank(plugin, creds, docs=docs).raise_for_error()
    assert [b.get("truncate_prompt_tokens") for _, _, b in srv.rerank_calls()[count:]] == [-1]  # remembered


def test_tei_is_asked_to_truncate(plugin, server):
    srv = server("tei", max_chars=2000)
    creds = saved(plugin, {"base_url": srv.origin})
    docs = ["Bananas are yellow.", LONG]
    count = len(srv.rerank_calls())
    result = rerank(plugin, creds, docs=docs).result["docs"]
    assert result[0] == {"index": 1, "text": LONG, "score": pytest.approx(result[0]["score"])}
    assert [b["truncate"] for _, _, b in srv.rerank_calls()[count:]] == [True]


def test_a_server_that_refuses_the_truncation_field_gets_documents_cut_by_the_plugin(plugin, server):
    # Not vLLM: it refuses `truncate_prompt_tokens` by name, and states its limit in vLLM's words.
    srv = server("jina", max_chars=2000, strict=True)
    creds = saved(plugin, {"base_url": srv.base_url})
    docs = ["Bananas are yellow.", LONG]
    count = len(srv.rerank_calls())
    result = rerank(plugin, creds, docs=docs).result["docs"]
    assert [d["index"] for d in result] == [1, 0] and result[0]["text"] == LONG
    sent = [body["documents"][1] for _, _, body in srv.rerank_calls()[count:]]
    assert sent[0] == LONG and len(sent[-1]) <= 2000 and LONG.startswith(sent[-1])  # scored on its head
    assert any("scored on its beginning" in str(log.get("message")) for log in plugin.logs)
    count = len(srv.rerank_calls())
    rerank(plugin, creds, docs=docs).raise_for_error()
    assert len(srv.rerank_calls()) - count == 1  # what fits is remembered: cut at once
