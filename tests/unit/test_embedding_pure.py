"""Embedding helpers: texts -> request batches, and server answers -> vectors in input order.

Server quirks: OpenAI, vLLM and SGLang reject empty
strings (sgl-project/sglang#5621), TEI caps batches at 32, llama-cpp-python without pooling
returns one vector per token, and `encoding_format: base64` is little-endian float32.
"""

from __future__ import annotations

import base64
import random
import struct
from typing import Any

import pytest

from oai_bridge.config.settings import Settings, parse_settings
from oai_bridge.embeddings.embed import (
    EMPTY_TEXT_STAND_IN,
    batches,
    build_embedding_body,
    parse_embeddings,
    prepare_texts,
)


def settings(**form: Any) -> Settings:
    return parse_settings("bge-m3", {"base_url": "http://localhost:8000/v1", **form})


def b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def answer(vectors: list[Any], *, order: list[int] | None = None, usage: Any = None) -> dict[str, Any]:
    order = list(range(len(vectors))) if order is None else order
    data: dict[str, Any] = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in order],
        "model": "bge-m3",
    }
    if usage is not None:
        data["usage"] = usage
    return data


# --- prepare_texts -----------------------------------------------------------------------------


def test_prefix_is_prepended_to_every_text() -> None:
    assert prepare_texts(["what is rust", "tokio"], "query: ") == ["query: what is rust", "query: tokio"]


def test_no_prefix_leaves_texts_unchanged() -> None:
    assert prepare_texts(["a", " b "], "") == ["a", " b "]


@pytest.mark.parametrize("blank", ["", " ", "\n\t ", "\u3000"])
def test_empty_or_whitespace_text_is_replaced_by_the_stand_in(blank: str) -> None:
    assert prepare_texts(["a", blank, "c"], "") == ["a", EMPTY_TEXT_STAND_IN, "c"]


def test_stand_in_is_not_empty() -> None:
    # The whole point: servers reject "" (sglang#5621, vLLM, OpenAI).
    assert EMPTY_TEXT_STAND_IN
    assert prepare_texts([""], "")[0] != ""


def test_empty_text_with_a_prefix_is_never_empty() -> None:
    assert all(text.strip() for text in prepare_texts(["", "  "], "passage: "))


def test_prepare_texts_keeps_count_and_order() -> None:
    texts = [str(i) if i % 3 else "" for i in range(50)]
    out = prepare_texts(texts, "q: ")
    assert len(out) == 50
    assert out[1] == "q: 1"
    assert out[49] == "q: 49"


# --- batches -----------------------------------------------------------------------------------


def test_batches_cover_all_texts_with_offsets() -> None:
    texts = [f"t{i}" for i in range(70)]
    out = list(batches(texts, 32))
    assert [offset for offset, _ in out] == [0, 32, 64]
    assert [len(chunk) for _, chunk in out] == [32, 32, 6]
    assert [text for _, chunk in out for text in chunk] == texts


def test_batch_size_larger_than_input_gives_one_batch() -> None:
    assert [(o, list(c)) for o, c in batches(["a", "b"], 32)] == [(0, ["a", "b"])]


def test_exact_multiple_has_no_empty_trailing_batch() -> None:
    assert [len(c) for _, c in batches(["x"] * 64, 32)] == [32, 32]


def test_no_texts_no_batches() -> None:
    assert list(batches([], 32)) == []


def test_batch_size_one() -> None:
    assert [(o, list(c)) for o, c in batches(["a", "b", "c"], 1)] == [(0, ["a"]), (1, ["b"]), (2, ["c"])]


# --- build_embedding_body ----------------------------------------------------------------------


def test_body_has_model_input_and_float_encoding() -> None:
    assert build_embedding_body(settings(), ("a", "b")) == {
        "model": "bge-m3",
        "input": ["a", "b"],
        "encoding_format": "float",
    }


def test_body_uses_endpoint_model_name() -> None:
    assert build_embedding_body(settings(endpoint_model_name="BAAI/bge-m3"), ["a"])["model"] == "BAAI/bge-m3"


def test_dimensions_only_when_set() -> None:
    # vLLM answers 400 "does not support matryoshka representation" for models not trained for it.
    assert "dimensions" not in build_embedding_body(settings(), ["a"])
    assert build_embedding_body(settings(dimensions="256"), ["a"])["dimensions"] == 256


def test_base64_encoding_can_be_requested() -> None:
    assert build_embedding_body(settings(), ["a"], encoding_format="base64")["encoding_format"] == "base64"


def test_extra_body_is_merged_and_overrides() -> None:
    body = build_embedding_body(
        settings(extra_body='{"truncate_prompt_tokens": 512, "encoding_format": "base64"}'), ["a"]
    )
    assert body["truncate_prompt_tokens"] == 512
    assert body["encoding_format"] == "base64"


# --- parse_embeddings --------------------------------------------------------------------------


def test_vectors_come_back_in_input_order_whatever_the_server_order() -> None:
    vectors = [[float(i), float(i) + 0.5] for i in range(20)]
    order = list(range(20))
    random.Random(7).shuffle(order)
    assert order != sorted(order)
    parsed, tokens = parse_embeddings(answer(vectors, order=order), 20)
    assert parsed == vectors
    assert tokens is None


def test_missing_index_means_list_position() -> None:
    data = {"data": [{"embedding": [1.0]}, {"embedding": [2.0]}]}
    assert parse_embeddings(data, 2)[0] == [[1.0], [2.0]]


def test_base64_float32_vectors_are_decoded() -> None:
    vectors = [[0.5, -1.25, 3.0], [0.0, 2.5, -0.125]]  # exactly representable in float32
    parsed, _ = parse_embeddings(answer([b64(v) for v in vectors], order=[1, 0]), 2)
    assert parsed == vectors


def test_base64_keeps_float32_precision() -> None:
    (vector,), _ = parse_embeddings(answer([b64([0.1])]), 1)
    assert vector == [struct.unpack("<f", struct.pack("<f", 0.1))[0]]
    assert vector[0] == pytest.approx(0.1, rel=1e-6)


@pytest.mark.parametrize(("count", "expected"), [(1, 2), (3, 2), (0, 1)])
def test_count_mismatch_is_refused(count: int, expected: int) -> None:
    with pytest.raises(ValueError, match=f"returned {count} embeddings for {expected} texts"):
        parse_embeddings(answer([[1.0]] * count), expected)


@pytest.mark.parametrize("indexes", [[0, 0], [1, 1], [0, 2], [-1, 0], ["0", 1]])
def test_repeated_or_invalid_index_is_refused(indexes: list[Any]) -> None:
    data = {"data": [{"index": i, "embedding": [1.0]} for i in indexes]}
    with pytest.raises(ValueError, match="invalid or repeated index"):
        parse_embeddings(data, 2)


def test_per_token_vectors_say_to_enable_pooling() -> None:
    # llama-cpp-python / llama.cpp without pooling answer one vector per token.
    data = answer([[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.6]]])
    with pytest.raises(ValueError, match="one vector per token") as info:
        parse_embeddings(data, 2)
    assert "--pooling" in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "no `data` list"),
        ([], "no `data` list"),
        ({"object": "list"}, "no `data` list"),
        ({"data": "nope"}, "text where a list was expected in data"),
        ({"error": "boom"}, "no `data` list"),
    ],
)
def test_answer_without_data_list_is_refused(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_embeddings(data, 1)


@pytest.mark.parametrize(
    ("usage", "tokens"),
    [
        ({"prompt_tokens": 12, "total_tokens": 12}, 12),
        ({"prompt_tokens": 7, "total_tokens": 9}, 7),
        ({"total_tokens": 9}, 9),
        ({}, None),
        ({"prompt_tokens": "12"}, None),
        (None, None),
    ],
)
def test_usage_tokens(usage: Any, tokens: int | None) -> None:
    assert parse_embeddings(answer([[1.0]], usage=usage), 1)[1] == tokens
