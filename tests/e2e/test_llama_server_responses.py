"""Responses mode through Dify's stdio runtime against the real llama-server's `/v1/responses`
(the tiny generated model, tests/peer/), through a recording pass-through that shows the path
each request took: saving, streamed and blocking answers with the server's usage, tool calls by
`call_id`, and a stateless history that replays the calls."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.fake_server import Response
from tests.support.prompts import CHAT, USER, WEATHER_TOOL, tool_call_request

pytestmark = [pytest.mark.llama, pytest.mark.timeout(600)]


@pytest.fixture
def relay(fake_server, llama_server):
    """A recording pass-through in front of the real llama-server: every answer is the server's
    own bytes, and the test sees which path each request took."""

    def forward(request):
        answer = httpx.request(
            request.method,
            llama_server.origin + request.target,
            content=request.body,
            headers={"Content-Type": "application/json"},
            timeout=120,
            trust_env=False,
        )
        headers = [("Content-Type", answer.headers.get("content-type", "application/json"))]
        return Response(status=answer.status_code, headers=headers, body=answer.content)

    fake_server.always(forward)
    return fake_server


@pytest.fixture
def creds(relay):
    return {"base_url": relay.base_url, "api_type": "responses"}


def posted(relay) -> set[str]:
    return {request.path for request in relay.requests if request.method == "POST"}


def test_a_pasted_responses_url_is_saved_as_the_responses_api(plugin, relay):
    saved = plugin.invoke(
        "validate_model_credentials", model="tiny", credentials={"base_url": relay.base_url + "/responses"}
    ).result["credentials"]
    assert posted(relay) == {"/v1/responses"}  # every check went where the calls go
    assert saved["_detected_api_type"] == "responses"
    assert saved["_detected_tool_calling"] == "true"  # told by a /responses request with a tool
    schema = plugin.invoke("get_ai_model_schemas", model="tiny", credentials=saved).result["model_schema"]
    names = {rule["name"] for rule in schema["parameter_rules"]}
    assert "top_k" not in names and "seed" not in names and "max_tokens" in names
    assert "tool-call" in schema["features"]


@pytest.mark.parametrize("stream", [True, False])
def test_answer_with_the_servers_usage(plugin, relay, creds, stream):
    result = plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=creds,
        prompt_messages=CHAT,
        model_parameters={"max_tokens": 12, "temperature": 0},
        stream=stream,
    ).raise_for_error()
    assert result.text.strip()
    assert posted(relay) == {"/v1/responses"}
    usage = result.usage
    # llama-server reports usage in response.completed; the tiny model spends the budget or stops
    assert usage["prompt_tokens"] > 5 and 0 < usage["completion_tokens"] <= 12
    if stream:  # a blocking result carries no finish reason in Dify's protocol
        assert result.finish_reason in ("stop", "length")


@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_are_assembled_by_call_id(plugin, relay, creds, stream):
    request = tool_call_request("tiny", creds, stream=stream)
    result = plugin.invoke("invoke_llm", **request).raise_for_error()
    calls = result.tool_calls
    assert calls, result.text
    assert posted(relay) == {"/v1/responses"}
    for call in calls:
        assert call["id"].startswith("call_")  # llama.cpp's call_id, not the item id (fc_…)
        assert call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"])["city"] in ("Paris", "Rome")
    if stream:
        assert result.finish_reason == "tool_calls"


def test_stateless_history_with_replayed_calls_is_accepted(plugin, relay, creds):
    history = [
        {"role": "system", "content": "Answer briefly."},
        *USER,
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"c"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny", "name": "get_weather"},
    ]
    result = plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=creds,
        prompt_messages=history,
        model_parameters={"max_tokens": 8, "temperature": 0},
        tools=[WEATHER_TOOL],
    ).raise_for_error()
    assert result.text.strip() or result.tool_calls
    assert result.usage["prompt_tokens"] > 20  # the whole history was read
    (request,) = relay.requests
    assert [item.get("type") for item in request.json["input"]] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
    ]
