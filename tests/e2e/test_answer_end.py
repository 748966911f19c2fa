"""A finished answer ends the call at once (issue 20.1), through Dify's stdio runtime.

A proxy that keeps the response body open after the answer is complete (after `data: [DONE]`,
or after a finish reason and its usage) must not hold the call open until the model's timeout:
the plugin drains for about a second by the wall clock, then closes that connection. A server
that ends its body within the bound keeps its connection pooled.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.fake_server import STALL, Delay, chat_chunk, json_response, sse_response

pytestmark = pytest.mark.timeout(180)

TIMEOUT_40 = ("--timeout", "40")
REPO_ROOT = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "hi"}]
USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
# The model's timeout: the old code waited this long (or failed on it) after the answer.
TIMEOUT = 20
# The bound is 2 s (1 s of drain); the margin is for a loaded machine, far below TIMEOUT.
ENDS_WITHIN = 6.0
FINISHED = [
    chat_chunk("Hel", role="assistant"),
    chat_chunk("lo"),
    chat_chunk(finish_reason="stop"),
    chat_chunk(no_choices=True, usage=USAGE),
]


def chat(plugin, server, **extra):
    return plugin.invoke(
        "invoke_llm",
        model="m",
        credentials={"base_url": server.base_url, "timeout": str(TIMEOUT), "max_retries": "0", **extra},
        prompt_messages=USER,
        model_parameters={"max_tokens": 8},
        stream=True,
        timeout=TIMEOUT * 3,
    )


def test_a_body_held_open_after_done_ends_the_call_with_usage(plugin, fake_server):
    fake_server.add(sse_response(FINISHED, then=STALL))
    fake_server.always(sse_response(FINISHED))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == "Hello"
    assert result.usage["prompt_tokens"] == 7 and result.usage["completion_tokens"] == 2
    assert result.elapsed < ENDS_WITHIN
    # The held connection was closed, not pooled: the next call opens a new one.
    chat(plugin, fake_server).raise_for_error()
    first, second = fake_server.requests[-2:]
    assert first.connection_id != second.connection_id


def test_finish_and_usage_without_done_end_the_call(plugin, fake_server):
    fake_server.always(sse_response(FINISHED, done=False, then=STALL))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == "Hello" and result.finish_reason == "stop"
    assert result.usage["completion_tokens"] == 2
    assert result.elapsed < ENDS_WITHIN


def test_usage_in_the_finish_chunk_ends_the_call(plugin, fake_server):
    events = [chat_chunk("Hi", role="assistant"), chat_chunk(finish_reason="length", usage=USAGE)]
    fake_server.always(sse_response(events, done=False, then=STALL))
    result = chat(plugin, fake_server).raise_for_error()
    assert result.text == "Hi" and result.finish_reason == "length"
    assert result.elapsed < ENDS_WITHIN


def test_a_completion_stream_held_open_after_done_ends(plugin, fake_server):
    events = [
        {"id": "c", "object": "text_completion", "choices": [{"index": 0, "text": "Once", "finish_reason": None}]},
        {"id": "c", "object": "text_completion", "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]},
    ]
    fake_server.always(sse_response(events, then=STALL))
    result = chat(plugin, fake_server, mode="completion").raise_for_error()
    assert result.text == "Once"
    assert result.elapsed < ENDS_WITHIN


def test_a_body_that_ends_within_the_bound_keeps_its_connection(plugin, fake_server):
    # The chunked terminator comes a little after [DONE]: drained, and the connection reused.
    fake_server.always(sse_response(FINISHED, then=Delay(0.3)))
    chat(plugin, fake_server).raise_for_error()
    chat(plugin, fake_server).raise_for_error()
    first, second = fake_server.requests[-2:]
    assert first.connection_id == second.connection_id


def test_the_doctors_streamed_usage_probe_ends_after_done(fake_server):
    def answer(request):
        body = request.json or {}
        if body.get("stream"):
            return sse_response(FINISHED, then=STALL)
        return json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
                "usage": USAGE,
            }
        )

    fake_server.always(answer, path="/v1/chat/completions")
    fake_server.always(json_response({"object": "list", "data": [{"id": "m", "object": "model"}]}), path="/v1/models")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "oai_bridge.doctor", "--base-url", fake_server.base_url, "--model", "m", *TIMEOUT_40],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Usage in streams    yes" in done.stdout
    # The probe waits at most 30 s per check: the old drain waited all of it.
    assert elapsed < 20, json.dumps(done.stdout)
