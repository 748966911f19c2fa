"""ToolCallAccumulator / tool_calls_from_message: fragments from many servers -> complete calls."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from oai_bridge.chat.toolcalls import ToolCall, ToolCallAccumulator, tool_calls_from_message

GENERATED_ID = re.compile(r"call_\d+_[0-9a-f]{8}")


def fragment(
    index: int | None = None, *, id: str | None = None, name: str | None = None, arguments: object = None
) -> dict[str, object]:
    """One `delta.tool_calls[i]` item; keys left out when None, as servers do."""
    part: dict[str, object] = {}
    if index is not None:
        part["index"] = index
    if id is not None:
        part["id"] = id
        part["type"] = "function"
    function: dict[str, object] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    if function:
        part["function"] = function
    return part


def accumulate(*chunks: object) -> list[ToolCall]:
    acc = ToolCallAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.finish()


def test_openai_style_fragments() -> None:
    calls = accumulate(
        [fragment(0, id="call_abc", name="get_weather", arguments="")],
        [fragment(0, arguments='{"loc')],
        [fragment(0, arguments='ation": "Paris"}')],
    )
    assert calls == [ToolCall(id="call_abc", name="get_weather", arguments='{"location": "Paris"}')]


def test_two_parallel_calls_interleaved_by_index() -> None:
    calls = accumulate(
        [fragment(0, id="call_a", name="f", arguments="")],
        [fragment(1, id="call_b", name="g", arguments="")],
        [fragment(1, arguments='{"y":')],
        [fragment(0, arguments='{"x":')],
        [fragment(0, arguments="1}"), fragment(1, arguments="2}")],
    )
    assert calls == [
        ToolCall(id="call_a", name="f", arguments='{"x":1}'),
        ToolCall(id="call_b", name="g", arguments='{"y":2}'),
    ]


def test_calls_are_finished_in_index_order_not_arrival_order() -> None:
    calls = accumulate([fragment(1, id="b", name="g", arguments="{}")], [fragment(0, id="a", name="f", arguments="{}")])
    assert [call.id for call in calls] == ["a", "b"]


def test_ollama_sends_each_call_whole_in_one_chunk() -> None:
    # ollama/ollama openai/openai.go: every call complete, with an id `call_…` and an index.
    calls = accumulate(
        [fragment(0, id="call_x1", name="get_weather", arguments='{"city":"Paris"}')],
        [fragment(1, id="call_x2", name="get_time", arguments='{"tz":"CET"}')],
    )
    assert calls == [
        ToolCall(id="call_x1", name="get_weather", arguments='{"city":"Paris"}'),
        ToolCall(id="call_x2", name="get_time", arguments='{"tz":"CET"}'),
    ]


def test_llama_cpp_python_repeats_id_and_name_on_every_chunk() -> None:
    # abetlen/llama-cpp-python: id, type and name repeated on every delta; no index.
    # The name is set once (not "fff"); the arguments are concatenated.
    calls = accumulate(
        [fragment(id="call_1", name="f", arguments='{"a"')],
        [fragment(id="call_1", name="f", arguments=": 1")],
        [fragment(id="call_1", name="f", arguments="}")],
    )
    assert calls == [ToolCall(id="call_1", name="f", arguments='{"a": 1}')]


def test_tgi_lone_object_with_empty_id_and_arguments_object() -> None:
    # huggingface/text-generation-inference#2794 (TGI 2.4): `tool_calls` is an object, `id` is "";
    # T#2461: arguments arrive as a JSON object.
    calls = accumulate(
        {"index": 0, "id": "", "type": "function", "function": {"name": "search", "arguments": {"q": "café"}}}
    )
    assert len(calls) == 1
    assert calls[0].name == "search"
    assert calls[0].arguments == '{"q": "café"}'  # ensure_ascii=False keeps the text readable
    assert GENERATED_ID.fullmatch(calls[0].id)


def test_arguments_as_a_list_are_serialised() -> None:
    assert accumulate([fragment(0, name="f", arguments=[1, 2])])[0].arguments == "[1, 2]"


def test_missing_index_uses_list_position() -> None:
    calls = accumulate(
        [fragment(id="a", name="f", arguments=""), fragment(id="b", name="g", arguments="")],
        [fragment(arguments="{}"), fragment(arguments='{"k":1}')],
    )
    assert calls == [ToolCall(id="a", name="f", arguments="{}"), ToolCall(id="b", name="g", arguments='{"k":1}')]


def test_missing_index_with_a_repeated_id_continues_that_call_at_any_position() -> None:
    calls = accumulate(
        [fragment(id="a", name="f", arguments="{"), fragment(id="b", name="g", arguments="[")],
        [fragment(id="b", arguments="]")],  # position 0, but id `b`
        [fragment(id="a", arguments="}")],
    )
    assert calls == [ToolCall(id="a", name="f", arguments="{}"), ToolCall(id="b", name="g", arguments="[]")]


def test_missing_index_and_a_new_id_at_position_zero_is_a_new_call() -> None:
    calls = accumulate(
        [fragment(id="a", name="f", arguments="{}")],
        [fragment(id="b", name="g", arguments="{}")],
    )
    assert [(call.id, call.name) for call in calls] == [("a", "f"), ("b", "g")]


def test_every_call_numbered_zero_with_distinct_ids_stays_separate() -> None:
    calls = accumulate(
        [fragment(0, id="a", name="f", arguments='{"x":')],
        [fragment(0, arguments="1}")],
        [fragment(0, id="b", name="f", arguments='{"x":')],
        [fragment(0, arguments="2}")],
    )
    assert calls == [ToolCall(id="a", name="f", arguments='{"x":1}'), ToolCall(id="b", name="f", arguments='{"x":2}')]


def test_a_different_name_at_a_used_slot_without_ids_is_a_new_call() -> None:
    calls = accumulate([fragment(name="f", arguments="{}")], [fragment(name="g", arguments="{}")])
    assert [(call.name, call.arguments) for call in calls] == [("f", "{}"), ("g", "{}")]


def test_empty_id_is_treated_as_missing_and_a_later_real_id_is_kept() -> None:
    calls = accumulate([fragment(0, id="", name="f", arguments="")], [fragment(0, id="call_9", arguments="{}")])
    assert calls == [ToolCall(id="call_9", name="f", arguments="{}")]


def test_missing_ids_are_generated_unique_and_stable() -> None:
    acc = ToolCallAccumulator()
    acc.add([fragment(0, name="f", arguments="{}"), fragment(1, name="g", arguments="{}")])
    first = acc.finish()
    assert GENERATED_ID.fullmatch(first[0].id) and first[0].id.startswith("call_0_")
    assert first[1].id.startswith("call_1_")
    assert first[0].id != first[1].id
    assert [call.id for call in acc.finish()] == [call.id for call in first]


def test_groq_empty_list_and_none_mean_no_calls() -> None:
    # Groq sends `"tool_calls": []` in plain deltas (Portkey-AI/gateway#1338).
    acc = ToolCallAccumulator()
    acc.add([])
    acc.add(None)
    assert not acc
    assert acc.finish() == []


def test_bool_is_true_once_a_call_is_seen() -> None:
    acc = ToolCallAccumulator()
    acc.add([fragment(0, id="a", name="f")])
    assert acc


def test_lm_studio_empty_name_on_later_deltas_does_not_overwrite() -> None:
    # LM Studio before 0.3.16 sent an empty-name string on later deltas (lmstudio.ai api-changelog).
    calls = accumulate(
        [fragment(0, id="a", name="f", arguments="")],
        [fragment(0, name="", arguments="{}")],
        [{"index": 0, "function": {"name": None, "arguments": ""}}],
    )
    assert calls == [ToolCall(id="a", name="f", arguments="{}")]


def test_empty_arguments_become_an_empty_object() -> None:
    assert accumulate([fragment(0, id="a", name="f")])[0].arguments == "{}"
    assert accumulate([fragment(0, id="a", name="f", arguments="  ")])[0].arguments == "{}"


def test_invalid_json_arguments_are_kept_as_sent() -> None:
    calls = accumulate([fragment(0, id="a", name="f", arguments='{"x": ')], [fragment(0, arguments="oops")])
    assert calls[0].arguments == '{"x": oops'


def test_garbage_fragments_without_name_or_arguments_are_dropped() -> None:
    acc = ToolCallAccumulator()
    acc.add([{"index": 0, "type": "function"}, "junk", 3])
    acc.add(42)
    assert not acc
    assert acc.finish() == []


def test_call_with_arguments_but_no_name_is_kept() -> None:
    calls = accumulate([fragment(0, id="a", arguments='{"x":1}')])
    assert calls == [ToolCall(id="a", name="", arguments='{"x":1}')]


def test_tool_calls_from_message_normalises_a_whole_message() -> None:
    calls = tool_calls_from_message(
        [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
            {"id": "", "type": "function", "function": {"name": "g", "arguments": {"b": 2}}},
            {"id": "call_3", "type": "function", "function": {"name": "h", "arguments": ""}},
        ]
    )
    assert [(call.name, call.arguments) for call in calls] == [("f", '{"a":1}'), ("g", '{"b": 2}'), ("h", "{}")]
    assert calls[0].id == "call_1"
    assert GENERATED_ID.fullmatch(calls[1].id)


def test_tool_calls_from_message_never_merges_items_sharing_an_id() -> None:
    same = {"id": "call_0", "function": {"name": "f", "arguments": "{}"}}
    assert len(tool_calls_from_message([same, same])) == 2


def test_tool_calls_from_message_accepts_a_lone_object_and_nothing() -> None:
    assert tool_calls_from_message({"id": "x", "function": {"name": "f", "arguments": "{}"}}) == [
        ToolCall(id="x", name="f", arguments="{}")
    ]
    assert tool_calls_from_message(None) == []
    assert tool_calls_from_message([]) == []


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(cut, len(text)) for cut in cuts})
    return [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    args_a=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    args_b=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    cuts_a=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
    cuts_b=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
    order=st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_any_split_and_interleaving_of_arguments_gives_the_same_calls(
    args_a: dict[str, object],
    args_b: dict[str, object],
    cuts_a: list[int],
    cuts_b: list[int],
    order: list[bool],
) -> None:
    text_a = json.dumps(args_a, ensure_ascii=False)
    text_b = json.dumps(args_b, ensure_ascii=False)
    pending = {
        0: [fragment(0, arguments=piece) for piece in _split(text_a, cuts_a)],
        1: [fragment(1, arguments=piece) for piece in _split(text_b, cuts_b)],
    }
    chunks: list[object] = [[fragment(0, id="call_a", name="f")], [fragment(1, id="call_b", name="g")]]
    for pick_b in order:  # interleave the two calls' fragments in a random order
        queue = pending[1] if pick_b and pending[1] else pending[0] or pending[1]
        if queue:
            chunks.append([queue.pop(0)])
    chunks.extend([part] for part in pending[0] + pending[1])

    calls = accumulate(*chunks)

    assert calls == [
        ToolCall(id="call_a", name="f", arguments=text_a),
        ToolCall(id="call_b", name="g", arguments=text_b),
    ]
    assert json.loads(calls[0].arguments) == args_a
