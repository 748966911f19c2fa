"""Offline token estimates: no tokenizer download, roughly GPT-BPE sized, and cheap."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

with warnings.catch_warnings():
    # Importing the SDK trips pydantic deprecation warnings inside it (pytest runs with -W error).
    warnings.simplefilter("ignore")
    from dify_plugin.entities.model.message import (
        AssistantPromptMessage,
        ImagePromptMessageContent,
        PromptMessageTool,
        SystemPromptMessage,
        TextPromptMessageContent,
        ToolPromptMessage,
        UserPromptMessage,
    )

    from oai_bridge.tokens import estimate_messages, estimate_text, estimate_tools

WEATHER = PromptMessageTool(
    name="get_weather",
    description="Current weather for a city, in degrees Celsius.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def call(name: str, arguments: str) -> AssistantPromptMessage.ToolCall:
    return AssistantPromptMessage.ToolCall(
        id="call_1",
        type="function",
        function=AssistantPromptMessage.ToolCall.ToolCallFunction(name=name, arguments=arguments),
    )


# --- estimate_text -----------------------------------------------------------------------------


def test_empty_text_is_zero_tokens() -> None:
    assert estimate_text("") == 0


def test_whitespace_only_is_zero_tokens() -> None:
    assert estimate_text("  \n\t ") == 0


def test_short_english_is_about_one_token_per_word_or_mark() -> None:
    # cl100k_base gives 10 tokens for this sentence.
    assert estimate_text("The quick brown fox jumps over the lazy dog.") == 10
    assert estimate_text("Hello, world!") == 4


def test_growth_is_linear_in_repeated_text() -> None:
    one = estimate_text("The quick brown fox. ")
    assert estimate_text("The quick brown fox. " * 100) == 100 * one


def test_cjk_counts_one_token_per_character() -> None:
    assert estimate_text("你好世界") == 4
    assert estimate_text("日本語のテキスト") == 8
    assert estimate_text("안녕하세요") == 5
    assert estimate_text("你好 world") == 3


def test_long_words_count_more_than_short_ones() -> None:
    assert estimate_text("cat") == 1
    assert estimate_text("internationalization") > estimate_text("nation") == 1
    assert estimate_text("pneumonoultramicroscopicsilicovolcanoconiosis") >= 10


def test_long_numbers_are_split_into_groups_of_three() -> None:
    assert estimate_text("7") == 1
    assert estimate_text("123") == 1
    assert estimate_text("1234567") == 3


@given(st.text(max_size=300), st.integers(min_value=0, max_value=300))
def test_a_prefix_never_costs_more_than_the_whole(text: str, cut: int) -> None:
    assert estimate_text(text[:cut]) <= estimate_text(text)


@given(st.text(max_size=200), st.text(max_size=200))
def test_joining_with_a_space_costs_the_sum(a: str, b: str) -> None:
    assert estimate_text(a + " " + b) == estimate_text(a) + estimate_text(b)


@given(st.text(max_size=300))
def test_estimate_is_never_negative_and_at_most_one_per_character(text: str) -> None:
    assert 0 <= estimate_text(text) <= len(text)


# --- estimate_messages / estimate_tools --------------------------------------------------------


def test_no_messages_no_tokens() -> None:
    assert estimate_messages([]) == 0
    assert estimate_tools(None) == 0
    assert estimate_tools([]) == 0


def test_every_message_counts_including_its_overhead() -> None:
    one = [UserPromptMessage(content="Hello there")]
    two = [SystemPromptMessage(content="Be brief."), *one]
    assert estimate_messages(one) > estimate_text("Hello there")
    assert estimate_messages(two) > estimate_messages(one) + estimate_text("Be brief.")


def test_empty_messages_still_cost_their_overhead() -> None:
    assert estimate_messages([UserPromptMessage(content="")]) > 0
    assert estimate_messages([UserPromptMessage(content=""), UserPromptMessage(content="")]) > estimate_messages(
        [UserPromptMessage(content="")]
    )


def test_text_parts_of_multimodal_messages_count() -> None:
    image = ImagePromptMessageContent(format="png", mime_type="image/png", base64_data="iVBORw0KGgo=")
    with_text = UserPromptMessage(content=[TextPromptMessageContent(data="Describe this picture in detail"), image])
    without_text = UserPromptMessage(content=[image])
    assert estimate_messages([with_text]) - estimate_messages([without_text]) == estimate_text(
        "Describe this picture in detail"
    )


def test_tool_calls_and_tool_results_count() -> None:
    plain = AssistantPromptMessage(content="")
    calling = AssistantPromptMessage(
        content="", tool_calls=[call("get_weather", '{"city": "Paris", "unit": "celsius"}')]
    )
    assert estimate_messages([calling]) >= estimate_messages([plain]) + estimate_text(
        '{"city": "Paris", "unit": "celsius"}'
    )
    result = ToolPromptMessage(content="18 degrees and sunny", tool_call_id="call_1")
    assert estimate_messages([calling, result]) > estimate_messages([calling]) + estimate_text("18 degrees")


def test_tools_are_counted_on_top_of_messages() -> None:
    messages = [UserPromptMessage(content="Weather in Paris?")]
    assert estimate_tools([WEATHER]) > estimate_text(WEATHER.description)
    assert estimate_messages(messages, [WEATHER]) == estimate_messages(messages) + estimate_tools([WEATHER])
    assert estimate_tools([WEATHER, WEATHER]) == 2 * estimate_tools([WEATHER])


# --- cost --------------------------------------------------------------------------------------
# Counted, not timed: Python function calls grow with messages, never with the text's length
# (one C regex scan per text), so 100 KB costs what its scan costs on any machine.


def python_calls(fn: Callable[[], object]) -> int:
    calls = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


SAMPLE_100KB = ("Lorem ipsum dolor sit amet, 你好世界 internationalization 12345; x=y*2. " * 2000)[:100_000]


def test_100_kb_of_text_costs_the_python_calls_of_a_few_words() -> None:
    assert len(SAMPLE_100KB) == 100_000
    assert estimate_text(SAMPLE_100KB) > 10_000
    assert python_calls(lambda: estimate_text(SAMPLE_100KB)) == python_calls(lambda: estimate_text("a few words"))


def test_100_kb_of_conversation_costs_python_calls_per_message_not_per_character() -> None:
    def conversation(size: int) -> list[UserPromptMessage]:
        return [UserPromptMessage(content=SAMPLE_100KB[i : i + size]) for i in range(0, 100 * size, size)]

    small, large = conversation(10), conversation(1000)  # 100 messages of 10 characters, of 1 KB
    assert python_calls(lambda: estimate_messages(large, [WEATHER])) == python_calls(
        lambda: estimate_messages(small, [WEATHER])
    )
