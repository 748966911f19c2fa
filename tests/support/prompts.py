"""The chat prompts and tool the real-peer e2e tests share (test_llama_server.py,
test_llama_cpp_python.py), and ``make demo`` (scripts/demo.py) uses."""

from __future__ import annotations

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
