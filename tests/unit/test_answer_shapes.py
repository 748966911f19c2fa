"""Answers of any shape (issue 20.2, 20.3): typed content parts are read, and any JSON value in any
field of any model type's answer is read or refused with the plugin's own error naming the field,
never a TypeError, AttributeError, KeyError or IndexError."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oai_bridge.audio.transcribe import read_transcript
from oai_bridge.audio.voices import parse_voices
from oai_bridge.chat.answer import parse_completion
from oai_bridge.chat.events import StreamNormalizer, usage_from
from oai_bridge.chat.parts import part_pieces
from oai_bridge.chat.think import REASONING, TEXT
from oai_bridge.discovery.capabilities import shows_reasoning
from oai_bridge.discovery.endpoint import context_from_card
from oai_bridge.embeddings.embed import parse_embeddings
from oai_bridge.errors.kinds import (
    MalformedResponseError,
    ReportedError,
    StreamIncompleteError,
    TruncatedToolCallError,
)
from oai_bridge.rerank.shapes import parse_scores, parse_tokens
from oai_bridge.transport.send import model_cards

# What a parser may raise: the plugin's own kinds (an error payload as ReportedError).
ALLOWED = (MalformedResponseError, StreamIncompleteError, TruncatedToolCallError, ReportedError)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(
    (
        *("choices", "delta", "message", "content", "text", "reasoning_content", "reasoning", "refusal"),
        *("tool_calls", "finish_reason", "usage", "index", "type", "thinking", "function", "arguments", "name"),
        *("id", "data", "embedding", "results", "relevance_score", "score", "document", "voices", "error", "object"),
        *("meta", "tokens", "input_tokens", "prompt_tokens", "completion_tokens", "total_tokens", "max_model_len"),
    )
)
# JSON whose keys are the fields the parsers look at, so the values land where they read.
ANSWERS = st.recursive(
    JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def stream(*chunks: Any, completion_mode: bool = False) -> tuple[list[str], Any]:
    normalizer = StreamNormalizer(completion_mode=completion_mode)
    out: list[str] = []
    normalizer.feed([json.dumps(chunk) for chunk in chunks], out)
    return out, normalizer.finish()


def test_magistral_parts_are_reasoning_then_text() -> None:
    content = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Hm."}, {"type": "text", "text": " Yes."}]},
        {"type": "text", "text": "Hi"},
    ]
    assert part_pieces(content, "c", []) == [(REASONING, "Hm."), (REASONING, " Yes."), (TEXT, "Hi")]


@pytest.mark.parametrize(
    ("value", "pieces", "skipped"),
    [
        ([{"type": "thinking", "thinking": "plain"}], [(REASONING, "plain")], []),
        ([{"type": "refusal", "refusal": "No."}], [(TEXT, "No.")], []),
        ({"type": "text", "text": "one part"}, [(TEXT, "one part")], []),
        (["bare", {"type": "text", "text": " string"}], [(TEXT, "bare"), (TEXT, " string")], []),
        (
            [{"type": "image_url", "image_url": {}}, {"text": "x"}, {"data": 1}, {"type": "text", "text": "t"}],
            [(TEXT, "x"), (TEXT, "t")],
            ["image_url", "(no type)"],
        ),
        (None, [], []),
        ("", [], []),
    ],
)
def test_parts_are_read_and_unknown_types_skipped(value: Any, pieces: list, skipped: list) -> None:
    seen: list[str] = []
    assert part_pieces(value, "c", seen) == pieces
    assert seen == skipped


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "a number where text or a list of content parts was expected in c"),
        ([True], "true/false where a content part (an object) was expected in c[0]"),
        ([{"type": "text", "text": {"a": 1}}], "an object where text was expected in c[0].text"),
        (
            [{"type": "thinking", "thinking": [3]}],
            "a number where a content part (an object) was expected in c[0].thinking[0]",
        ),
    ],
)
def test_unreadable_parts_name_their_path(value: Any, message: str) -> None:
    with pytest.raises(MalformedResponseError) as info:
        part_pieces(value, "c", [])
    assert str(info.value) == message


@pytest.mark.parametrize("choice", [{"message": None}, {"index": 0}])
def test_a_blocking_choice_without_a_message_is_an_error_not_an_empty_answer(choice: dict) -> None:
    # Found by the chaos harness (Case(seed=1010, kind='llm-blocking', mutation='wrong-type')).
    answer = {"choices": [{**choice, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    with pytest.raises(MalformedResponseError) as info:
        parse_completion(answer)
    assert str(info.value) == "null where an object was expected in choices[0].message"  # absent reads as null


def test_a_list_reasoning_field_is_all_reasoning() -> None:
    pieces, end = stream(
        {"choices": [{"delta": {"reasoning": [{"type": "text", "text": "why"}]}}]},
        {"choices": [{"delta": {"content": "ok"}, "finish_reason": "stop"}]},
    )
    assert "".join(pieces) + end.text == "<think>\nwhy\n</think>ok"


def test_the_stream_ends_at_a_finish_reason_with_usage_and_reads_nothing_after() -> None:
    normalizer = StreamNormalizer()
    out: list[str] = []
    chunks = [
        {"choices": [{"delta": {"content": "a"}}]},
        {"choices": [{"delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
        {"choices": [{"delta": {"content": "after the end"}}]},
    ]
    normalizer.feed([json.dumps(c) for c in chunks[:2]], out)
    assert not normalizer.ended  # a finish reason alone: usage may follow
    normalizer.feed([json.dumps(c) for c in chunks[2:]], out)
    assert normalizer.ended and out == ["a"]


def test_usage_alone_does_not_end_the_stream() -> None:
    normalizer = StreamNormalizer()
    normalizer.feed([json.dumps({"choices": [{"delta": {"content": "a"}}], "usage": {"prompt_tokens": 1}})], [])
    assert not normalizer.ended


@settings(max_examples=300, deadline=None)
@given(ANSWERS, ANSWERS, st.booleans())
def test_any_json_in_a_stream_chunk_is_read_or_refused_in_the_plugins_words(
    delta: Any, extra: Any, completion_mode: bool
) -> None:
    chunk = {"choices": [{"delta": delta, "text": delta, "finish_reason": "stop"}], "usage": extra}
    with contextlib.suppress(*ALLOWED):
        stream(chunk, completion_mode=completion_mode)
    with contextlib.suppress(*ALLOWED):
        stream({"choices": delta}, completion_mode=completion_mode)


@settings(max_examples=300, deadline=None)
@given(ANSWERS)
def test_any_json_answer_of_any_model_type_is_read_or_refused_in_the_plugins_words(data: Any) -> None:
    for parse in (
        lambda: parse_completion(data),
        lambda: parse_completion({"choices": [data]}),
        lambda: parse_completion({"choices": [{"message": data}]}),
        lambda: parse_completion({"choices": [data]}, completion_mode=True),
        lambda: parse_embeddings(data, 1),
        lambda: parse_embeddings({"data": [data]}, 1),
        lambda: parse_scores(data, ["a", "b"]),
        lambda: parse_tokens(data),
        lambda: read_transcript("application/json", json.dumps(data).encode()),
        lambda: parse_voices(data),
        lambda: model_cards(data),
        lambda: usage_from({"usage": data}),
        lambda: [context_from_card(card) for card in model_cards({"data": [data]})],
    ):
        with contextlib.suppress(*ALLOWED):
            parse()


@pytest.mark.parametrize(
    ("message", "seen"),
    [
        (
            {
                "content": [
                    {"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]},
                    {"type": "text", "text": "hi"},
                ]
            },
            True,
        ),
        ({"content": [{"type": "text", "text": "hi"}]}, False),
        ({"content": [{"type": "text", "text": "hi"}], "reasoning_content": "hm"}, True),
        ({"content": [3]}, False),
    ],
)
def test_detection_sees_reasoning_in_thinking_parts(message: dict, seen: bool) -> None:
    # Saving a Magistral model finds that it reasons (and which thinking switch it honours).
    assert shows_reasoning(message) is seen


@pytest.mark.parametrize("vector", ["not base64!", "AAAAAAA=", "AA=="])
def test_a_base64_vector_that_is_not_whole_float32s_names_the_field(vector: str) -> None:
    with pytest.raises(MalformedResponseError, match=r"where a vector \(base64\) was expected in data\[0\]\.embedding"):
        parse_embeddings({"data": [{"index": 0, "embedding": vector}]}, 1)


@pytest.mark.parametrize("count", ["NaN", "Infinity", "-Infinity"])
def test_token_counts_that_are_not_finite_are_not_counts(count: str) -> None:
    # Python's json reads these non-standard literals as floats; int() of them raises.
    assert parse_tokens(json.loads(f'{{"meta": {{"tokens": {{"input_tokens": {count}}}}}}}')) is None
