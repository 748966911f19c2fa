"""The chat prompts and tool the real-peer e2e tests share (test_llama_server.py,
test_llama_cpp_python.py), and ``make demo`` (scripts/demo.py) uses."""

from __future__ import annotations

import json
from typing import Any

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
CHAT = [{"role": "system", "content": "Answer briefly."}, *USER]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the weather for a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "enum": ["Paris", "Rome"]},
            "unit": {"type": "string", "enum": ["c", "f"]},
        },
        "required": ["city", "unit"],
    },
}

# The tiny model opens a Qwen/Hermes `<tool_call>` block when token 459 is pushed up, and
# llama.cpp's tool grammar then forces a schema-valid call (tests/peer/ README of the peer).
# Sent as the model's Extra request body fields; stop at "</tool_call>".
NUDGE = {"logit_bias": {"459": 100}}


def tool_call_request(model: str, creds: dict, *, stream: bool) -> dict:
    """The `invoke_llm` arguments that make the tiny model call WEATHER_TOOL: the nudge, room for
    the grammar's whitespace padding, and the stop at the end of the call block."""
    return {
        "model": model,
        "credentials": dict(creds, extra_body=json.dumps(NUDGE)),
        "prompt_messages": USER,
        "model_parameters": {"max_tokens": 300, "temperature": 0},
        "tools": [WEATHER_TOOL],
        "stop": ["</tool_call>"],
        "stream": stream,
    }


# A one-field JSON schema: llama.cpp turns it into a grammar, so even random weights answer it.
ANSWER_SCHEMA: dict[str, Any] = {
    "name": "answer",
    "schema": {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    },
}


def structured_request(model: str, creds: dict, *, max_tokens: int = 40) -> dict:
    """The blocking `invoke_llm` arguments for an answer constrained to ANSWER_SCHEMA."""
    return {
        "model": model,
        "credentials": creds,
        "prompt_messages": USER,
        "model_parameters": {
            "max_tokens": max_tokens,
            "temperature": 0,
            "response_format": "json_schema",
            "json_schema": json.dumps(ANSWER_SCHEMA),
        },
        "stream": False,
    }
