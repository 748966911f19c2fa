"""The pure parts of rerank and multimodal input: bodies per shape, answers of any shape,
ranking (sort, top_n, threshold, sigmoid), candidate paths, refusal kinds, image URIs, and what
is tried when a document is longer than the server takes."""

from __future__ import annotations

import math

import pytest

from oai_bridge.config.settings import SettingsError, parse_settings
from oai_bridge.embeddings.media import bare_base64, image_uri
from oai_bridge.errors.kinds import HTTPStatusError, MalformedResponseError
from oai_bridge.errors.wording import STATED_INPUT_TOKENS, STATED_TOKEN_LIMIT
from oai_bridge.rerank.fit import PAIR_OVERHEAD, Fit, fitted, next_fit, stated
from oai_bridge.rerank.ranking import looks_like_logits, rank, sigmoid, uses_sigmoid
from oai_bridge.rerank.run import Route, _kind_of_refusal, candidate_routes, route_findings, server_root
from oai_bridge.rerank.shapes import build_body, document_part, parse_scores, parse_tokens
from oai_bridge.tokens import estimate_text

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


# -- documents longer than the server takes ----------------------------------------------
LLAMA_REFUSAL = (
    "input (1005 tokens) is too large to process. increase the physical batch size (current batch size: 512)"
)
VLLM_REFUSAL = (
    "This model's maximum context length is 512 tokens. However, you requested 900 tokens in the input for "
    "score. Please reduce the length of the input."
)
TEI_REFUSAL = "Input validation error: `inputs` must have less than 256 tokens. Given: 700"
WORDS = " ".join(["word"] * 1000)  # the estimate: one token a word


@pytest.mark.parametrize(
    ("refusal", "limit", "counted"), [(LLAMA_REFUSAL, 512, 1005), (VLLM_REFUSAL, 512, 900), (TEI_REFUSAL, 256, 700)]
)
def test_the_limit_and_the_count_are_read_from_each_servers_words(refusal, limit, counted):
    assert stated(STATED_TOKEN_LIMIT, refusal) == limit
    assert stated(STATED_INPUT_TOKENS, refusal) == counted
    assert stated(STATED_TOKEN_LIMIT, "HTTP 500 with no message") is None


def test_vllm_shapes_ask_the_server_first_then_cut_then_cut_smaller_then_give_up():
    docs = ["short", WORDS]
    server = next_fit(Fit(), "jina", VLLM_REFUSAL, None, "q", docs)
    assert server == Fit(server=True)
    assert build_body("jina", "m", "q", docs, truncate=True)["truncate_prompt_tokens"] == -1
    assert build_body("score", "m", "q", docs, truncate=True)["truncate_prompt_tokens"] == -1
    assert "truncate_prompt_tokens" not in build_body("jina", "m", "q", docs)
    cut = next_fit(server, "jina", "This model's maximum context length is 512 tokens.", None, "q", docs)
    assert cut is not None and cut.limit == 512 and not cut.smaller
    sent, count = fitted(cut, "q", docs)
    assert count == 1 and sent[0] == "short" and estimate_text(sent[1]) <= 512 - PAIR_OVERHEAD - 1
    assert WORDS.startswith(sent[1])  # its head
    smaller = next_fit(cut, "jina", "still too long: maximum context length is 512 tokens", None, "q", docs)
    assert smaller is not None and smaller.smaller
    assert estimate_text(fitted(smaller, "q", docs)[0][1]) <= (512 - PAIR_OVERHEAD - 1) // 2
    assert next_fit(smaller, "jina", VLLM_REFUSAL, None, "q", docs) is None


def test_tei_truncates_in_every_request_so_the_plugin_cuts_at_once():
    cut = next_fit(Fit(), "tei", TEI_REFUSAL, None, "q", ["x", WORDS])
    assert cut is not None and cut.limit == 256 and not cut.server


def test_the_cut_leaves_room_for_the_query_and_the_saved_context_is_the_fallback():
    query = " ".join(["q"] * 100)
    cut = next_fit(Fit(server=True), "jina", "input is too long", 512, query, [WORDS])
    assert cut is not None and cut.limit == 512  # nothing stated: the context saved at detection
    assert cut.budget(query) == 512 - PAIR_OVERHEAD - 100
    assert next_fit(Fit(server=True), "jina", "input is too long", None, query, [WORDS]) is None  # no limit known
    huge = " ".join(["q"] * 600)  # a query that fills the context leaves nothing to cut to
    assert next_fit(Fit(server=True), "jina", LLAMA_REFUSAL, None, huge, [WORDS]) is None


def test_a_server_counting_more_tokens_than_estimated_scales_the_cut():
    spelled = " ".join(["zz"] * 100)  # estimated 100 tokens; the server says 400
    refusal = "input (404 tokens) is too large to process. increase the physical batch size (current batch size: 128)"
    cut = next_fit(Fit(server=True), "jina", refusal, None, "", [spelled])
    assert cut is not None and cut.scale == pytest.approx(4.0, rel=0.05)
    assert estimate_text(fitted(cut, "", [spelled])[0][0]) * cut.scale <= 128


def test_images_and_documents_that_fit_are_never_cut():
    image = document_part("data:image/png;base64,AAAA", image=True)
    fit = Fit(server=True, limit=64)
    assert fitted(fit, "q", [image, "fits"]) == ([image, "fits"], 0)
    assert next_fit(Fit(server=True), "jina", LLAMA_REFUSAL, None, "q", [image, "fits"]) is None


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (413, {"error": TEI_REFUSAL, "error_type": "Validation"}, "context"),  # TEI words both with 413
        (413, {"error": "batch size 40 > maximum allowed batch size 32", "error_type": "Validation"}, "batch"),
        (500, {"error": {"code": 500, "message": LLAMA_REFUSAL, "type": "server_error"}}, "context"),
        (400, {"error": {"message": VLLM_REFUSAL, "type": "BadRequestError", "code": 400}}, "context"),
        (400, {"error": {"message": "unknown field", "code": 400}}, None),
    ],
)
def test_a_too_long_document_is_told_from_a_too_large_batch(status, body, kind):
    assert _kind_of_refusal(HTTPStatusError(status, body)) == kind
