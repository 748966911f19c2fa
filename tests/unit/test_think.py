"""ThinkSplitter / split_think / strip_think: inline `<think>` reasoning in streamed text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oai_bridge.chat.think import REASONING, TEXT, ThinkSplitter, split_think, strip_think


def stream(chunks: list[str], *, start_in_reasoning: bool = False) -> list[tuple[str, str]]:
    """All segments of a stream, merged across pushes the way a consumer would see them."""
    splitter = ThinkSplitter(start_in_reasoning=start_in_reasoning)
    segments: list[tuple[str, str]] = []
    for chunk in chunks:
        segments.extend(splitter.push(chunk))
    segments.extend(splitter.finish())
    merged: list[tuple[str, str]] = []
    for kind, text in segments:
        assert text, "empty segments must never be emitted"
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


def joined(chunks: list[str], *, start_in_reasoning: bool = False) -> tuple[str, str]:
    segments = stream(chunks, start_in_reasoning=start_in_reasoning)
    reasoning = "".join(text for kind, text in segments if kind == REASONING)
    answer = "".join(text for kind, text in segments if kind == TEXT)
    return reasoning, answer


def reference(text: str, *, start_in_reasoning: bool = False) -> tuple[str, str]:
    """The rules of oai_bridge/think.py written declaratively, on the whole text."""
    stripped = text.lstrip()
    if stripped.startswith("<think>"):
        body = stripped[len("<think>") :]
    elif start_in_reasoning:
        body = stripped
    else:
        before, _, after = text.partition("</think>")  # a stray closing tag is dropped
        return "", before + after
    reasoning, closed, after = body.lstrip().partition("</think>")
    return reasoning, after.lstrip() if closed else ""


SAMPLE = "<think>\nLet me think.\n</think>\n\nThe answer is 42."
SAMPLE_SPLIT = ("Let me think.\n", "The answer is 42.")


def test_whole_block_in_one_chunk() -> None:
    assert stream([SAMPLE]) == [(REASONING, "Let me think.\n"), (TEXT, "The answer is 42.")]


@pytest.mark.parametrize("cut", range(len(SAMPLE) + 1))
def test_tags_split_at_every_position(cut: int) -> None:
    assert joined([SAMPLE[:cut], SAMPLE[cut:]]) == SAMPLE_SPLIT


def test_tags_split_at_every_pair_of_positions() -> None:
    n = len(SAMPLE)
    for i in range(n + 1):
        for j in range(i, n + 1):
            assert joined([SAMPLE[:i], SAMPLE[i:j], SAMPLE[j:]]) == SAMPLE_SPLIT, (i, j)


def test_one_character_per_chunk() -> None:
    assert joined(list(SAMPLE)) == SAMPLE_SPLIT


def test_ordinary_text_is_emitted_immediately() -> None:
    splitter = ThinkSplitter()
    assert splitter.push("Hello") == [(TEXT, "Hello")]
    assert splitter.push(" world") == [(TEXT, " world")]


def test_reasoning_is_emitted_immediately() -> None:
    splitter = ThinkSplitter()
    assert splitter.push("<think>") == []
    assert splitter.push("Hmm") == [(REASONING, "Hmm")]


def test_only_a_possible_tag_prefix_is_held_back() -> None:
    splitter = ThinkSplitter()
    assert splitter.push("<think>abc</th") == [(REASONING, "abc")]
    assert splitter.push("at") == [(REASONING, "</that")]
    assert splitter.push(" x <") == [(REASONING, " x ")]
    assert splitter.push("/think>ok") == [(TEXT, "ok")]
    assert splitter.finish() == []


def test_held_prefix_is_flushed_by_finish_as_literal() -> None:
    splitter = ThinkSplitter()
    assert splitter.push("a <") == [(TEXT, "a ")]
    assert splitter.finish() == [(TEXT, "<")]


def test_unterminated_reasoning_stays_reasoning() -> None:
    splitter = ThinkSplitter()
    assert splitter.push("<think>still thinking</thi") == [(REASONING, "still thinking")]
    assert splitter.finish() == [(REASONING, "</thi")]


def test_segments_within_one_push_are_merged_and_ordered() -> None:
    assert ThinkSplitter().push("<think>a</think>b") == [(REASONING, "a"), (TEXT, "b")]


def test_missing_opening_tag_with_start_in_reasoning() -> None:
    # DeepSeek-R1 distills and QwQ: the chat template puts `<think>` in the prompt, so the
    # output starts with reasoning and only the closing tag appears.
    chunks = ["Okay, the user", " asks 2+2.\n</th", "ink>\n\n", "4"]
    assert stream(chunks, start_in_reasoning=True) == [
        (REASONING, "Okay, the user asks 2+2.\n"),
        (TEXT, "4"),
    ]


def test_start_in_reasoning_swallows_a_leading_opening_tag() -> None:
    assert joined(["\n<thi", "nk>\nx</think>y"], start_in_reasoning=True) == ("x", "y")


def test_start_in_reasoning_without_any_tag_is_all_reasoning() -> None:
    assert joined(["  a", "b"], start_in_reasoning=True) == ("ab", "")


def test_stray_closing_tag_is_dropped_and_earlier_text_stays_text() -> None:
    # Missing opening tag without start_in_reasoning: the reasoning already went out as
    # text and cannot be taken back, but the tag itself must never leak.
    assert joined(["I think so.", "</think>", "\n\nYes."]) == ("", "I think so.\n\nYes.")


def test_opening_tag_later_in_text_is_literal() -> None:
    text = "Wrap reasoning in <think> tags."
    assert joined([text]) == ("", text)
    assert joined(["Wrap reasoning in <th", "ink> tags."]) == ("", text)


def test_only_the_first_block_is_recognised() -> None:
    text = "<think>a</think>b <think>c</think> d"
    assert split_think(text) == ("a", "b <think>c</think> d")


def test_similar_tag_is_literal() -> None:
    assert split_think("<thinking>x</thinking>") == ("", "<thinking>x</thinking>")


def test_leading_whitespace_before_opening_tag_is_dropped() -> None:
    assert split_think("\n \n<think>r</think>t") == ("r", "t")


def test_plain_text_keeps_its_leading_whitespace() -> None:
    assert split_think("  hi") == ("", "  hi")
    assert split_think(" \n ") == ("", " \n ")


def test_whitespace_after_tags_is_dropped_but_trailing_reasoning_whitespace_may_remain() -> None:
    assert split_think("<think>\n\n  r  \n</think>\n\n  t \n") == ("r  \n", "t \n")


def test_empty_think_block_yields_no_reasoning() -> None:
    # Ollama + Qwen3 with thinking off emit `<think>\n\n</think>\n\n` ahead of the answer
    # (pydantic-ai test_stream_text_empty_think_tag_and_text_before_tool_call).
    assert stream(["<think>", "\n\n", "</think>", "\n\n", "Hi"]) == [(TEXT, "Hi")]


def test_empty_input() -> None:
    assert stream([]) == []
    assert stream(["", ""]) == []
    assert split_think("") == ("", "")


@pytest.mark.parametrize("start_in_reasoning", [False, True])
@pytest.mark.parametrize(
    "text",
    [
        SAMPLE,
        "no tags",
        "</think>",
        "<think>",
        "<think>x",
        "  <thi",
        "a</think>b</think>c",
        "<think><think>x</think></think>",
        "<<think>x",
        "x</</think>y",
    ],
)
def test_split_think_matches_streaming_and_reference(text: str, start_in_reasoning: bool) -> None:
    expected = reference(text, start_in_reasoning=start_in_reasoning)
    assert split_think(text, start_in_reasoning=start_in_reasoning) == expected
    assert joined(list(text), start_in_reasoning=start_in_reasoning) == expected


PIECES = ["<think>", "</think>", "<", "</", "<th", "<think", "</thi", "think", ">", "/", " ", "\n", "a", "b."]


@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
    start_in_reasoning=st.booleans(),
)
def test_any_chunking_gives_the_whole_text_result(pieces: list[str], cuts: list[int], start_in_reasoning: bool) -> None:
    text = "".join(pieces)
    points = sorted({min(cut, len(text)) for cut in cuts})
    chunks = [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]
    expected = split_think(text, start_in_reasoning=start_in_reasoning)
    assert joined(chunks, start_in_reasoning=start_in_reasoning) == expected
    assert expected == reference(text, start_in_reasoning=start_in_reasoning)


# --- strip_think: reasoning removed from earlier assistant turns --------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>\nreasoning\n</think>\n\nAnswer", "Answer"),
        ("Answer", "Answer"),
        ("", ""),
        ("<think>cut off", ""),
        ("  \n<think>cut off", ""),
        ("<think>a</think> x <think>b</think>\ny", "x y"),
        ("Use <think> tags", "Use <think> tags"),
        ("<think>\n\n</think>\n\n", ""),
    ],
)
def test_strip_think(text: str, expected: str) -> None:
    assert strip_think(text) == expected
