"""The real rerank peer: llama.cpp ``llama-server --reranking`` on the tiny generated BERT
cross-encoder (tests/peer/make_tiny_reranker.py). These tests pin what the server answers,
so the plugin's rerank tests can rely on it:

* ``POST /v1/rerank`` (Jina shape ``{model, query, documents, top_n}``) answers
  ``{"model", "object": "list", "usage": {"prompt_tokens", "total_tokens"}, "results":
  [{"index", "relevance_score"}, ...]}``; ``model`` echoes the request (the alias when absent).
* ``POST /rerank`` with ``texts`` instead of ``documents`` (TEI shape) answers a bare JSON
  array ``[{"index", "score"}, ...]`` (plus ``"text"`` with ``return_text: true``), no usage.
* Scores are the raw classifier logit (no sigmoid/softmax for BERT): unbounded, may be
  negative or above 1. Results are sorted by score, descending; ``top_n`` cuts the sorted list.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = [pytest.mark.llama, pytest.mark.timeout(300)]

QUERY = "What is the capital of France?"
DOCUMENTS = [
    "The capital of France is Paris.",
    "A panda is a bear that eats bamboo.",
    "Berlin is the capital of Germany.",
    "Python is a programming language.",
    "The weather in Paris is sunny today.",
]


def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def jina(server, documents=DOCUMENTS, **extra) -> dict[str, Any]:
    status, body = post(
        server.base_url + "/rerank", {"model": server.model, "query": QUERY, "documents": documents, **extra}
    )
    assert status == 200, body
    return body


def single_scores(server) -> list[float]:
    """Each document's score from a request with that document alone."""
    return [jina(server, [doc])["results"][0]["relevance_score"] for doc in DOCUMENTS]


def test_v1_rerank_jina_shape(rerank_server):
    body = jina(rerank_server)
    assert set(body) == {"model", "object", "usage", "results"}
    assert body["model"] == "tiny-reranker" and body["object"] == "list"
    assert set(body["usage"]) == {"prompt_tokens", "total_tokens"}
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    results = body["results"]
    assert all(set(r) == {"index", "relevance_score"} for r in results)
    assert sorted(r["index"] for r in results) == list(range(len(DOCUMENTS)))
    scores = [r["relevance_score"] for r in results]
    assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
    assert scores == sorted(scores, reverse=True), "results are sorted by score, best first"
    assert len(set(scores)) == len(scores), "the documents get different scores"


def test_scores_are_raw_logits_outside_0_1(rerank_server):
    scores = [r["relevance_score"] for r in jina(rerank_server)["results"]]
    assert any(s < 0 or s > 1 for s in scores), scores


def test_scores_are_deterministic_and_independent_of_the_batch(rerank_server):
    by_index = {r["index"]: r["relevance_score"] for r in jina(rerank_server)["results"]}
    alone = single_scores(rerank_server)
    for i, score in enumerate(alone):
        assert by_index[i] == pytest.approx(score, rel=1e-4, abs=1e-4), (i, by_index, alone)
    again = {r["index"]: r["relevance_score"] for r in jina(rerank_server)["results"]}
    assert again == pytest.approx(by_index, rel=1e-5, abs=1e-5)


def test_top_n_keeps_the_best(rerank_server):
    full = jina(rerank_server)["results"]
    top = jina(rerank_server, top_n=2)
    assert [r["index"] for r in top["results"]] == [r["index"] for r in full[:2]]
    # usage counts every document scored, not only the returned ones
    assert top["usage"] == jina(rerank_server)["usage"]
    assert len(jina(rerank_server, top_n=99)["results"]) == len(DOCUMENTS)


def test_model_is_echoed_and_defaults_to_the_alias(rerank_server):
    assert jina(rerank_server, model="anything")["model"] == "anything"
    status, body = post(rerank_server.base_url + "/rerank", {"query": QUERY, "documents": DOCUMENTS[:2]})
    assert status == 200 and body["model"] == "tiny-reranker"


def test_tei_rerank_shape(rerank_server):
    status, body = post(rerank_server.origin + "/rerank", {"query": QUERY, "texts": DOCUMENTS})
    assert status == 200
    assert isinstance(body, list) and len(body) == len(DOCUMENTS)
    assert all(set(r) == {"index", "score"} for r in body)
    scores = [r["score"] for r in body]
    assert scores == sorted(scores, reverse=True)
    jina_scores = {r["index"]: r["relevance_score"] for r in jina(rerank_server)["results"]}
    assert {r["index"]: r["score"] for r in body} == pytest.approx(jina_scores, rel=1e-4, abs=1e-4)

    status, body = post(rerank_server.origin + "/rerank", {"query": QUERY, "texts": DOCUMENTS, "return_text": True})
    assert status == 200 and all(r["text"] == DOCUMENTS[r["index"]] for r in body)
    status, body = post(rerank_server.origin + "/rerank", {"query": QUERY, "texts": DOCUMENTS, "top_n": 1})
    assert status == 200 and len(body) == 1


def test_all_paths_answer(rerank_server):
    for path in ("/rerank", "/reranking", "/v1/rerank", "/v1/reranking"):
        status, body = post(rerank_server.origin + path, {"query": QUERY, "documents": DOCUMENTS[:2]})
        assert status == 200 and len(body["results"]) == 2, (path, body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"documents": DOCUMENTS}, '"query" must be provided'),
        ({"query": 3, "documents": DOCUMENTS}, '"query" must be a string'),
        ({"query": QUERY, "documents": []}, '"documents" must be a non-empty string array'),
        ({"query": QUERY}, '"documents" must be a non-empty string array'),
    ],
)
def test_bad_requests(rerank_server, body, message):
    status, answer = post(rerank_server.base_url + "/rerank", body)
    assert status == 400
    assert answer["error"]["message"] == message
    assert answer["error"]["type"] == "invalid_request_error"
