"""A knowledge-base chunk longer than a small reranker takes is scored, not refused (issue 20),
through Dify's stdio runtime against the real ``llama-server --reranking`` started with a small
physical batch (``-b 128 -ub 128``). llama-server has no truncation option: a (query, document)
pair longer than the batch is a 500 "input (N tokens) is too large to process. increase the
physical batch size (current batch size: 128)", and the plugin cuts the document to fit."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from tests.e2e.test_rerank_peer import post
from tests.support.llama_server import RerankServer

pytestmark = [pytest.mark.llama, pytest.mark.timeout(300)]

BATCH = 128
QUERY = "What is the capital of France?"
# Words of the tiny reranker's vocabulary (one token each): ten times the batch.
CHUNK = " ".join(["the capital of france is paris and it has a long history"] * 107)
# Words it spells letter by letter: the server counts about three times the plugin's estimate.
SPELLED = " ".join(["xylophones quixotically zigzagged"] * 140)
OTHERS = ["A panda is a bear that eats bamboo.", "Berlin is the capital of Germany.", "Python is fun."]


@pytest.fixture(scope="module")
def small_batch_reranker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RerankServer]:
    log_dir = tmp_path_factory.mktemp("llama-rerank-small-batch")
    with RerankServer.start(log_dir=log_dir, extra_args=("-b", str(BATCH), "-ub", str(BATCH))) as server:
        yield server


def rerank(plugin, creds, docs):
    return plugin.invoke(
        "invoke_rerank",
        model="tiny-reranker",
        model_type="rerank",
        credentials=creds,
        query=QUERY,
        docs=docs,
        top_n=None,
        score_threshold=None,
    )


@pytest.mark.parametrize("chunk", [CHUNK, SPELLED], ids=["words", "spelled"])
def test_the_server_refuses_the_chunk_and_states_its_batch(small_batch_reranker, chunk):
    status, body = post(small_batch_reranker.base_url + "/rerank", {"query": QUERY, "documents": [chunk]})
    assert status == 500
    assert f"increase the physical batch size (current batch size: {BATCH})" in body["error"]["message"]
    assert int(body["error"]["message"].split("(")[1].split()[0]) >= 10 * BATCH  # "input (N tokens)"


@pytest.mark.parametrize("chunk", [CHUNK, SPELLED], ids=["words", "spelled"])
def test_a_chunk_ten_times_the_batch_is_scored_on_its_beginning(plugin, small_batch_reranker, chunk):
    creds = (
        plugin.invoke(
            "validate_model_credentials",
            model="tiny-reranker",
            model_type="rerank",
            credentials={"base_url": small_batch_reranker.base_url},
        )
        .raise_for_error()
        .result["credentials"]
    )
    docs = [OTHERS[0], chunk, *OTHERS[1:]]
    logs_before = len(plugin.logs)
    ranked = rerank(plugin, creds, docs).raise_for_error().result["docs"]
    assert sorted(d["index"] for d in ranked) == [0, 1, 2, 3]
    assert next(d for d in ranked if d["index"] == 1)["text"] == chunk  # the whole chunk back to Dify
    assert all(math.isfinite(d["score"]) for d in ranked)
    cut = [log for log in plugin.logs[logs_before:] if "scored on its beginning" in str(log.get("message"))]
    assert len(cut) == 1, plugin.logs[logs_before:]
    assert f"{BATCH} tokens" in cut[0]["message"]
    # Later calls cut at once (what fits is remembered) and score the same.
    again = rerank(plugin, creds, docs).raise_for_error().result["docs"]
    assert {d["index"]: d["score"] for d in again} == pytest.approx({d["index"]: d["score"] for d in ranked})
