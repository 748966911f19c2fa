"""The pure parts of rerank and multimodal input: bodies per shape, answers of any shape,
ranking (sort, top_n, threshold, sigmoid), candidate paths, refusal kinds and image URIs."""

from __future__ import annotations

import math

import pytest

from oai_bridge.config.settings import SettingsError, parse_settings
from oai_bridge.embeddings.media import bare_base64, image_uri
from oai_bridge.errors.kinds import MalformedResponseError
from oai_bridge.rerank.ranking import looks_like_logits, rank, sigmoid, uses_sigmoid
from oai_bridge.rerank.run import Route, candidate_routes, route_findings, server_root
from oai_bridge.rerank.shapes import build_body, document_part, parse_scores, parse_tokens

DOCS = ["a", "b", "c"]


def settings(**creds):
    return parse_settings("m", {"base_url": "http://h:8000/v1", **creds})


# -- bodies ------------------------------------------------------------------------------
def test_jina_body_sends_top_n_only_when_given_and_never_above_the_batch():
    assert build_body("jina", "m", "q", DOCS) == {"model": "m", "query": "q", "documents": DOCS}
    assert build_body("jina", "m", "q", DOCS, top_n=10)["top_n"] == 3
    assert (
        build_body("jina", "m", "q", DOCS, top_n=2, extra={"truncate_prompt_tokens": 512})["truncate_prompt_tokens"]
        == 512
    )


def test_tei_body_asks_for_truncation_and_score_body_uses_text_pairs():
    assert build_body("tei", "m", "q", DOCS, top_n=1) == {
        "query": "q",
        "texts": DOCS,
        "raw_scores": False,
        "return_text": False,
        "truncate": True,
    }
    assert build_body("score", "m", "q", DOCS) == {"model": "m", "text_1": "q", "text_2": DOCS}


def test_image_documents_use_vllm_content_parts():
    assert document_part("text", image=False) == "text"
    assert document_part("https://x/img.png", image=True) == {
        "content": [{"type": "image_url", "image_url": {"url": "https://x/img.png"}}]
    }


# -- answers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [
        {"results": [{"index": 2, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}]},  # vLLM, Jina
        {"data": [{"index": 2, "object": "score", "score": 0.9}, {"index": 0, "score": 0.1}]},  # vLLM /score
        [{"index": 2, "score": 0.9}, {"index": 0, "score": 0.1}],  # TEI
        {"results": [{"index": 2, "relevance_score": 0.9, "document": "c"}, {"index": 0, "relevance_score": 0.1}]},
        [{"score": 0.9, "document": "c"}, {"score": 0.1, "document": "a"}],  # SGLang without index
    ],
)
def test_every_answer_shape_gives_index_score_pairs(answer):
    assert parse_scores(answer, DOCS) == [(2, 0.9), (0, 0.1)]


def test_results_without_index_or_document_are_taken_by_position():
    assert parse_scores([{"score": 0.5}, {"score": 0.7}], DOCS) == [(0, 0.5), (1, 0.7)]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"object": "list"}, "no `results`"),
        ({"results": [{"index": 0}]}, "relevance_score"),
        ({"results": [{"index": 0, "relevance_score": True}]}, "relevance_score"),
        ({"results": [{"index": 5, "relevance_score": 0.1}]}, "invalid or repeated index"),
        ([{"index": 0, "score": 0.1}, {"index": 0, "score": 0.2}], "invalid or repeated index"),
        (["x"], "not an object"),
    ],
)
def test_unreadable_answers_say_what_is_missing(answer, words):
    with pytest.raises(MalformedResponseError, match=words):
        parse_scores(answer, DOCS)


def test_tokens_from_usage_or_meta_else_none():
    assert parse_tokens({"usage": {"prompt_tokens": 5, "total_tokens": 9}}) == 9
    assert parse_tokens({"usage": {"prompt_tokens": 5}}) == 5
    assert parse_tokens({"meta": {"tokens": {"input_tokens": 12.0}}}) == 12
    assert parse_tokens([{"index": 0, "score": 1}]) is None
    assert parse_tokens({"meta": {"billed_units": {"search_units": 1}}}) is None


# -- ranking -----------------------------------------------------------------------------
def test_rank_sorts_cuts_then_applies_the_threshold():
    pairs = [(0, 0.2), (1, 0.9), (2, 0.5), (3, 0.5)]
    assert rank(pairs) == [(1, 0.9), (2, 0.5), (3, 0.5), (0, 0.2)]
    assert rank(pairs, top_n=2) == [(1, 0.9), (2, 0.5)]
    assert rank(pairs, top_n=3, score_threshold=0.6) == [(1, 0.9)]
    assert rank(pairs, top_n=0) == rank(pairs)


def test_one_document_and_equal_scores_keep_their_scores():
    assert rank([(0, 0.3)], score_threshold=0.2) == [(0, 0.3)]
    assert rank([(0, 0.4), (1, 0.4)]) == [(0, 0.4), (1, 0.4)]


def test_sigmoid_maps_logits_to_0_1_keeping_order_and_never_overflows():
    assert sigmoid(0) == 0.5
    assert sigmoid(-1000) == 0.0 and sigmoid(1000) == 1.0
    assert math.isclose(sigmoid(2), 1 / (1 + math.exp(-2)))
    ranked = rank([(0, -3.0), (1, 4.0), (2, 0.0)], scale="sigmoid", score_threshold=0.5)
    assert [index for index, _ in ranked] == [1, 2]
    assert all(0 <= score <= 1 for _, score in ranked)


def test_logits_are_any_score_outside_0_1():
    assert looks_like_logits([0.2, -0.1])
    assert looks_like_logits([1.5])
    assert not looks_like_logits([0.0, 1.0, 0.5])


def test_scale_choice_form_wins_else_detected():
    assert not uses_sigmoid(settings())
    assert uses_sigmoid(settings(_detected_rerank_scores="logits"))
    assert not uses_sigmoid(settings(_detected_rerank_scores="logits", score_scale="served"))
    assert uses_sigmoid(settings(score_scale="sigmoid"))
    with pytest.raises(SettingsError, match="score_scale"):
        settings(score_scale="minmax")


# -- paths -------------------------------------------------------------------------------
def test_candidate_paths_cover_every_server_with_or_without_v1():
    with_v1 = [(r.path, r.shape) for r in candidate_routes(settings())]
    assert with_v1 == [
        ("/v1/rerank", "jina"),
        ("/rerank", "jina"),
        ("/rerank", "tei"),
        ("/v2/rerank", "jina"),
        ("/score", "score"),
        ("/v1/score", "score"),
    ]
    bare = candidate_routes(settings(base_url="http://h:8080/"))
    assert bare[0] == Route("/rerank", "jina") and Route("/v1/rerank", "jina") in bare
    assert server_root(settings(base_url="https://api.cohere.com/v2")) == "https://api.cohere.com"
    assert candidate_routes(settings(base_url="https://api.cohere.com/v2"))[0] == Route("/v2/rerank", "jina")


def test_findings_are_strings_for_the_credentials():
    assert route_findings(Route("/rerank", "tei"), [0.1, 0.9]) == {
        "rerank_path": "/rerank",
        "rerank_shape": "tei",
        "rerank_scores": "probabilities",
    }
    assert route_findings(Route("/v1/rerank", "jina"), [-2.0])["rerank_scores"] == "logits"


# -- images ------------------------------------------------------------------------------
def test_image_uris_are_never_fetched_and_bare_base64_gets_its_type():
    assert image_uri("https://x/a.jpg") == "https://x/a.jpg"
    assert image_uri("data:image/webp;base64,AAAA") == "data:image/webp;base64,AAAA"
    assert image_uri("/9j/4AAQSkZJRg==").startswith("data:image/jpeg;base64,")
    assert image_uri("iVBORw0KGgo=").startswith("data:image/png;base64,")
    assert bare_base64("data:image/png;base64,iVBORw0KGgo=") == "iVBORw0KGgo="
    assert bare_base64("http://x/a.png") == "http://x/a.png"


def test_multimodal_input_setting():
    assert settings().multimodal_input == "auto"
    assert settings(multimodal_input="Jina").multimodal_input == "jina"
    with pytest.raises(SettingsError, match="multimodal_input"):
        settings(multimodal_input="clip")


def test_image_form_from_setting_or_detection():
    from oai_bridge.embeddings.multimodal import image_form

    assert image_form(settings()) == "off"
    assert image_form(settings(_detected_multimodal_input="messages")) == "messages"
    assert image_form(settings(_detected_multimodal_input="messages", multimodal_input="off")) == "off"
    assert image_form(settings(multimodal_input="jina")) == "jina"
