"""The pure parts of Responses mode: the API-type setting, stop strings cut by the plugin, the
event reader under any network split, and the learned shedding of `reasoning`."""

from __future__ import annotations

import re

import pytest
from dify_plugin.errors.model import InvokeServerUnavailableError

from oai_bridge.chat.pipeline import read_events
from oai_bridge.config.findings import Findings
from oai_bridge.config.settings import SettingsError, parse_settings
from oai_bridge.config.websearch import domains, web_search_tool
from oai_bridge.dialects import learned
from oai_bridge.errors.invoke import to_invoke_error
from oai_bridge.errors.kinds import MalformedResponseError
from oai_bridge.responses.answer import parse_response
from oai_bridge.responses.events import ResponsesReader
from oai_bridge.responses.stops import StopCutter, cut_at_stop
from tests.support.responses_streams import FLAVORS, stream_bytes, text_events, tool_events


def settings(**form: str):
    return parse_settings("m", {"base_url": "http://h:8000/v1", **form})


# -- the API type --------------------------------------------------------------------------
def test_api_type_values_and_a_clear_error():
    assert settings().api_type == "auto"
    assert settings(api_type="responses").responses_api
    assert not settings(api_type="chat_completions", base_url="http://h/v1/responses").responses_api
    with pytest.raises(SettingsError, match="`api_type` must be one of auto, chat_completions, responses"):
        settings(api_type="assistants")


def test_auto_follows_the_finding_then_a_pasted_url_else_chat():
    assert not settings().responses_api  # saved without a finding: chat completions
    assert settings(base_url="http://h:8000/v1/responses/").responses_api
    assert settings(base_url="https://x.openai.azure.com/openai/v1/responses?api-version=preview").responses_api
    assert not settings(base_url="http://h/v1?next=/responses").responses_api
    assert settings(_detected_api_type="responses").responses_api
    assert not settings(_detected_api_type="chat_completions", base_url="http://h/v1/responses").responses_api
    assert not settings(api_type="responses", mode="completion").responses_api  # /completions has no such API


def test_findings_with_value_keeps_the_rest():
    found = Findings(context_size=8, values={"a": "1"})  # type: ignore[arg-type]
    assert found.with_value("api_type", "responses").values == {"a": "1", "api_type": "responses"}
    assert found.with_value("api_type", "responses").context_size == 8


# -- stop strings --------------------------------------------------------------------------
@pytest.mark.parametrize("stops", [["\nUser:"], ["User", "\nUser:"], ["xyz", "r:"]])
def test_stop_cut_is_the_same_for_every_split(stops):
    text = "Paris is the capital.\nUser: and Berlin?"
    whole, hit = cut_at_stop(text, stops)
    assert hit
    for size in range(1, len(text) + 1):
        cutter = StopCutter(stops)
        shown = "".join(cutter.push(text[i : i + size]) for i in range(0, len(text), size))
        assert cutter.hit and shown + cutter.finish() == whole, size


def test_a_partial_stop_string_is_held_then_released():
    cutter = StopCutter(["\nUser:"])
    assert cutter.push("Paris.\nUs") == "Paris."
    assert cutter.push("ually") == "\nUsually"
    assert cutter.push(" x\n") == " x"
    assert cutter.finish() == "\n" and not cutter.hit


# -- the event reader, any network split -----------------------------------------------------
def _read(body: bytes, size: int, **kw):
    text = body.decode()
    _, events = read_events([text[i : i + size] for i in range(0, len(text), size)], ResponsesReader(**kw))
    out = list(events)
    return "".join(e for e in out if isinstance(e, str)) + out[-1].text, out[-1]


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("size", [1, 7, 64, 100000])
def test_reader_gives_the_same_answer_whatever_the_reads(flavor, size):
    body = b"".join(stream_bytes(flavor, text_events(flavor, ["Pa", "ris.\nUse", "r: next"], reasoning=["Hm", "m."])))
    text, end = _read(body, size, stop=["\nUser:"])
    assert text == "<think>\nHmm.\n</think>Paris."
    assert end.cut and end.finish_reason == "stop" and end.usage is None
    calls = [("call_1", "f", '{"a": [1, 2, 3]}'), ("call_2", "g", "{}")]
    text, end = _read(b"".join(stream_bytes(flavor, tool_events(flavor, calls))), size)
    assert [(c.id, c.name, c.arguments) for c in end.tool_calls] == calls
    assert end.finish_reason == "tool_calls" and not end.cut


def test_reader_without_deltas_takes_the_answer_from_the_end_event():
    events = text_events("openai", ["Paris."])
    only_end = [event for event in events if not event[0].startswith("response.output_text")]
    text, end = _read(b"".join(stream_bytes("openai", only_end)), 50)
    assert text == "Paris." and end.finish_reason == "stop"


# -- shedding a refused `reasoning` ------------------------------------------------------------
def test_a_refused_summary_sheds_only_the_summary():
    learned.forget_all()
    body = {"model": "m", "reasoning": {"effort": "low", "summary": "auto"}}
    fixed = learned.fallback("http://a/v1", body, 400, {"error": {"message": "reasoning.summary is not supported"}})
    assert fixed == {"model": "m", "reasoning": {"effort": "low"}}
    fixed = learned.fallback(
        "http://b/v1", fixed, 400, {"error": {"message": "Unsupported parameter: 'reasoning.effort'"}}
    )
    assert fixed == {"model": "m"}
    assert learned.adapt("http://b/v1", {"reasoning": {"effort": "none"}, "model": "m"}) == {"model": "m"}
    learned.forget_all()


def test_reasoning_effort_wording_does_not_shed_a_chat_body():
    learned.forget_all()
    body = {"model": "m", "reasoning_effort": "none"}
    fixed = learned.fallback("http://c/v1", body, 400, {"error": {"message": "unknown field reasoning_effort"}})
    assert fixed == {"model": "m"}
    assert learned.adapt("http://c/v1", {"model": "m", "reasoning": {"x": 1}}) == {"model": "m", "reasoning": {"x": 1}}
    learned.forget_all()


# -- web search parameters -------------------------------------------------------------------
def test_domains_are_host_names_in_order_without_repeats():
    raw = "https://openai.com, github.com/test, https://docs.dify.ai:443 openai.com,,"
    assert domains(raw) == ["openai.com", "github.com", "docs.dify.ai"]
    assert domains(None) == [] and domains("  ") == []


def test_web_search_values_are_checked():
    assert web_search_tool({}) is None and web_search_tool({"web_search": "false"}) is None
    assert web_search_tool({"web_search": "true"}) == {"type": "web_search"}
    with pytest.raises(SettingsError, match="`web_search_context_size` must be one of low, medium, high"):
        web_search_tool({"web_search": True, "web_search_context_size": "huge"})
    with pytest.raises(SettingsError, match="`web_search` must be true or false"):
        web_search_tool({"web_search": "maybe"})


def test_a_refused_web_search_tool_is_removed_and_function_tools_stay():
    learned.forget_all()
    function = {"type": "function", "name": "f", "parameters": {}}
    body = {"model": "m", "tools": [function, {"type": "web_search"}]}
    fixed = learned.fallback("http://d/v1", body, 400, "Tool type 'web_search' is not supported")
    assert fixed == {"model": "m", "tools": [function]}
    assert learned.adapt("http://d/v1", {"model": "m", "tools": [{"type": "web_search"}]}) == {"model": "m"}
    learned.forget_all()


def test_a_call_is_one_call_whether_events_name_its_item_or_its_index():
    # the item is added with an id and an index; deltas name only the index, `.done` only the id
    events = [
        '{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"f","arguments":""}}',
        '{"type":"response.function_call_arguments.delta","output_index":0,"delta":"{\\"a\\":"}',
        '{"type":"response.function_call_arguments.delta","output_index":0,"delta":"1}"}',
        '{"type":"response.completed","response":{"status":"completed","output":[]}}',
    ]
    reader = ResponsesReader()
    reader.feed(events, [])
    end = reader.finish()
    assert [(c.id, c.name, c.arguments) for c in end.tool_calls] == [("call_1", "f", '{"a":1}')]


def test_calls_only_in_the_end_event_are_still_handed_on_after_streamed_text():
    events = [
        '{"type":"response.output_text.delta","item_id":"m","delta":"Let me check."}',
        '{"type":"response.completed","response":{"status":"completed","output":['
        '{"type":"message","content":[{"type":"output_text","text":"Let me check."}]},'
        '{"type":"function_call","id":"fc_9","call_id":"call_9","name":"g","arguments":"{}"}]}}',
    ]
    reader, out = ResponsesReader(), []
    reader.feed(events, out)
    end = reader.finish()
    assert "".join(out) + end.text == "Let me check."  # not repeated from the end event
    assert [(c.id, c.name) for c in end.tool_calls] == [("call_9", "g")] and end.finish_reason == "tool_calls"


def test_summary_parts_are_paragraphs_of_one_think_block():
    def delta(index: int, text: str) -> str:
        return (
            '{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,'
            f'"summary_index":{index},"delta":"{text}"}}'
        )

    events = [
        delta(0, "**Plan**"),
        delta(0, " first."),
        delta(1, "**Check**"),
        '{"type":"response.output_text.delta","item_id":"m","delta":"Done."}',
        '{"type":"response.completed","response":{"status":"completed","output":[]}}',
    ]
    reader, out = ResponsesReader(), []
    reader.feed(events, out)
    assert "".join(out) + reader.finish().text == "<think>\n**Plan** first.\n\n**Check**\n</think>Done."


# -- a field of another JSON type: an error naming it, never a silent empty answer -------------
def _message(content: object) -> dict:
    return {"status": "completed", "output": [{"type": "message", "role": "assistant", "content": content}]}


@pytest.mark.parametrize(
    ("response", "named"),
    [
        (_message("Paris."), "text where a list was expected in output[0].content"),
        (_message([{"type": "output_text", "text": ["Paris."]}]), "a list where text was expected in output[0]"),
        ({"status": "completed", "output": {"type": "message"}}, "an object where a list was expected in output"),
        ({"status": "completed", "output": ["Paris."]}, "text where an object was expected in output[0]"),
        (
            {
                "status": "completed",
                "output": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}],
            },
            "an object where text was expected in output[0].arguments",
        ),
        ({"status": "completed", "output": None}, "no output"),
    ],
)
def test_a_blocking_answer_of_another_shape_is_an_error_naming_the_field(response, named):
    with pytest.raises(MalformedResponseError, match=re.escape(named)) as raised:
        parse_response(response)
    mapped = to_invoke_error(raised.value)
    assert type(mapped) is InvokeServerUnavailableError and named in str(mapped)


@pytest.mark.parametrize(
    "event",
    [
        '{"type":"response.output_text.delta","item_id":"m","delta":["Paris."]}',
        '{"type":"response.refusal.delta","item_id":"m","delta":{"text":"no"}}',
        '{"type":"response.reasoning_summary_text.delta","item_id":"r","delta":7}',
        '{"type":"response.function_call_arguments.delta","item_id":"fc","delta":{"a":1}}',
    ],
)
def test_a_streamed_delta_of_another_type_is_an_error_naming_the_event(event):
    """Was skipped: with an end event that repeats nothing, the call succeeded with no answer."""
    kind = event.split('"type":"', 1)[1].split('"', 1)[0]
    reader = ResponsesReader()
    with pytest.raises(MalformedResponseError, match=re.escape(f"where text was expected in the delta of a {kind}")):
        reader.feed([event, '{"type":"response.completed","response":{"status":"completed","output":[]}}'], [])


def test_an_unreadable_copy_in_the_end_event_does_not_fail_an_answer_the_deltas_gave():
    events = [
        '{"type":"response.output_text.delta","item_id":"m","delta":"Paris."}',
        '{"type":"response.completed","response":{"status":"completed","output":[{"type":"message","content":7}]}}',
    ]
    reader, out = ResponsesReader(), []
    reader.feed(events, out)
    end = reader.finish()
    assert "".join(out) + end.text == "Paris." and end.finish_reason == "stop"
    reader = ResponsesReader()
    with pytest.raises(MalformedResponseError, match=re.escape("a number where a list was expected in output[0]")):
        reader.feed(events[1:], [])  # nothing else: the end event was the answer
