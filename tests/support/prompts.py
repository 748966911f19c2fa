"""The chat prompts and tool the real-peer e2e tests share (test_llama_server.py,
test_llama_cpp_python.py)."""

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
