"""`llm.call.plan_call`: the API one LLM call takes, and one thinking choice for its body, its
stream reader and its blocking parser."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the SDK's own pydantic deprecation warnings (pytest -W error)
    from dify_plugin.entities.model.message import UserPromptMessage

from oai_bridge.chat.events import StreamEnd
from oai_bridge.chat.pipeline import read_events
from oai_bridge.config.settings import Settings, parse_settings
from oai_bridge.llm.call import LlmCall, plan_call
from tests.support.fake_server import chat_chunk, chat_completion, sse_body
from tests.support.responses_streams import stream_bytes, text_events, whole_response

HI = [UserPromptMessage(content="Hi")]


def form(**values: str) -> Settings:
    return parse_settings("m", {"base_url": "http://127.0.0.1:8000/v1", **values})


def streamed(plan: LlmCall, body: bytes) -> str:
    """What Dify is shown of a streamed answer read with the plan's reader."""
    _, events = read_events([body.decode()], plan.reader())
    out = list(events)
    end = out[-1]
    assert isinstance(end, StreamEnd)
    return "".join(e for e in out if isinstance(e, str)) + end.text


CHAT_STREAM = sse_body(
    [chat_chunk(role="assistant", reasoning_content="2 and 2"), chat_chunk("4", finish_reason="stop")]
)
CHAT_ANSWER = chat_completion("4", reasoning_content="2 and 2")
RESPONSES_STREAM = b"".join(stream_bytes("openai", text_events("openai", ["4"], reasoning=["2 and 2"])))
RESPONSES_ANSWER = whole_response("openai", "4", reasoning="2 and 2")


@pytest.mark.parametrize(
    ("saved", "params", "shown"),
    [
        # the app's Off on a model saved On: the switch says off, and nothing reads reasoning
        ({"thinking": "on", "_detected_thinking_form": "enable_thinking"}, {"enable_thinking": False}, False),
        # the app's On where detection saw no reasoning: the switch says on, and reasoning is shown
        (
            {"_detected_thinking": "false", "_detected_thinking_form": "enable_thinking"},
            {"enable_thinking": True},
            True,
        ),
    ],
)
def test_a_chat_call_sends_and_reads_the_apps_one_choice(saved: dict[str, str], params: dict[str, Any], shown: bool):
    settings = form(_detected_think_in_prompt="false", **saved)
    plan = plan_call(settings, HI, params, tools=None, stop=None, stream=True)
    assert plan.path == "/chat/completions"
    assert plan.body["enable_thinking"] is params["enable_thinking"]
    expected = "<think>\n2 and 2\n</think>4" if shown else "4"
    assert streamed(plan, CHAT_STREAM) == expected
    blocking = plan_call(settings, HI, params, tools=None, stop=None, stream=False)
    assert blocking.parse(CHAT_ANSWER).content == expected


def test_a_responses_call_sends_and_reads_the_apps_one_choice():
    settings = form(api_type="responses", thinking="on")
    off = plan_call(settings, HI, {"enable_thinking": False}, tools=None, stop=None, stream=True)  # the app's Off
    assert (off.path, off.body["reasoning"]) == ("/responses", {"effort": "none"})
    assert streamed(off, RESPONSES_STREAM) == "4"
    assert off.parse(RESPONSES_ANSWER).content == "4"
    on = plan_call(settings, HI, {}, tools=None, stop=None, stream=True)  # the form's On
    assert on.body["reasoning"] == {"summary": "auto"}
    assert streamed(on, RESPONSES_STREAM) == "<think>\n2 and 2\n</think>4"


def test_the_plugin_applies_stop_strings_on_the_responses_api_and_the_server_on_chat():
    responses = plan_call(form(api_type="responses"), HI, {}, tools=None, stop=["\nUser:"], stream=False)
    assert "stop" not in responses.body
    assert responses.parse(whole_response("openai", "Paris.\nUser: next")).content == "Paris."
    chat = plan_call(form(), HI, {}, tools=None, stop=["\nUser:"], stream=False)
    assert chat.body["stop"] == ["\nUser:"]


def test_a_completion_model_posts_the_completion_body():
    plan = plan_call(form(mode="completion"), HI, {}, tools=None, stop=None, stream=False)
    assert (plan.path, plan.body["prompt"]) == ("/completions", "Hi")
    assert plan.parse({"choices": [{"text": "there", "finish_reason": "stop"}]}).content == "there"
