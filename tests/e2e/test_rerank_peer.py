"""The real rerank peer: llama.cpp ``llama-server --reranking`` on the tiny generated BERT
cross-encoder (tests/peer/make_tiny_reranker.py). These tests pin what the server answers,
so the plugin's rerank tests can rely on it:

* ``POST /v1/rerank`` (Jina shape ``{model, query, documents, top_n}``) answers
  ``{"model", "object": "list", "usage": {"prompt_tokens", "total_tokens"}, "results":
  [{"index", "relevance_score"}, ...]}``; ``model`` echoes the request (the alias when absent).
* ``POST /rerank`` with ``texts`` instead of ``documents`` (TEI shape) answers a bare JSON
  array ``[{"index", "score"}, ...]`` (plus ``"text"`` with ``return_text: true``), no usage.
* Scores are the raw classifier logit (no sigmoid/softmax for BERT): unbounded, may be
  negative or above 1. Results are sorted by score, descending; ``top_n`` cuts the sorted list
  (``0`` gives ``[]``; a negative one is a 500). ``usage`` counts every scored pair, each as
  ``[CLS] query [SEP] [SEP] document [SEP]``.
* Documents must be strings (Jina's ``{"text": ...}`` objects are a 400); a pair longer than
  the 512-token ubatch is a 500; a llama-server without ``--reranking`` answers 501.
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


def test_usage_counts_each_pair_as_cls_query_sep_sep_document_sep(rerank_server):
    def n_tokens(text: str) -> int:
        status, body = post(rerank_server.origin + "/tokenize", {"content": text, "add_special": False})
        assert status == 200, body
        return len(body["tokens"])

    expected = sum(n_tokens(QUERY) + n_tokens(doc) + 4 for doc in DOCUMENTS)
    assert jina(rerank_server)["usage"] == {"prompt_tokens": expected, "total_tokens": expected}


def test_top_n_zero_and_negative(rerank_server):
    assert jina(rerank_server, top_n=0)["results"] == []
    status, body = post(rerank_server.base_url + "/rerank", {"query": QUERY, "documents": DOCUMENTS, "top_n": -1})
    assert status == 500 and body["error"]["type"] == "server_error", body


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
        (
            {"query": QUERY, "documents": [{"text": d} for d in DOCUMENTS]},
            '"documents" must be a non-empty string array',
        ),
    ],
)
def test_bad_requests(rerank_server, body, message):
    status, answer = post(rerank_server.base_url + "/rerank", body)
    assert status == 400
    assert answer["error"]["message"] == message
    assert answer["error"]["type"] == "invalid_request_error"


def test_a_pair_longer_than_the_ubatch_is_a_server_error(rerank_server):
    status, body = post(rerank_server.base_url + "/rerank", {"query": QUERY, "documents": ["the " * 600]})
    assert status == 500
    assert body["error"]["type"] == "server_error"
    assert "too large to process" in body["error"]["message"]


def test_a_server_without_reranking_answers_501(llama_server):
    status, body = post(llama_server.base_url + "/rerank", {"query": QUERY, "documents": DOCUMENTS})
    assert status == 501
    assert body["error"] == {
        "code": 501,
        "message": "This server does not support reranking. Start it with `--reranking`",
        "type": "not_supported_error",
    }
