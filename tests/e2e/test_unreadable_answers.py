"""Answers in a shape nobody expected (issue 20.2 and 20.3), through Dify's stdio runtime.

Every model type's answer, with a wrong JSON type in one field: the call either reads it
gracefully (and then never answers empty) or fails with ONE InvokeServerUnavailableError that
says what was unreadable and where, never with Python's wording of a TypeError or KeyError.
Typed content parts (Mistral Magistral) are read: text as the answer, thinking as `<think>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from oai_bridge.audio.transcribe import tone_clip
from tests.support.fake_server import Response, chat_chunk, json_response, sse_response

pytestmark = pytest.mark.timeout(120)

USER = [{"role": "user", "content": "hi"}]
# Python's own wording of an exception raised by a value of the wrong type or shape.
PYTHON_WORDING = re.compile(
    r"object has no attribute|not subscriptable|not iterable|unhashable|object is not|list index|"
    r"KeyError|TypeError|AttributeError|IndexError|RecursionError|recursion|NoneType|Traceback|"
    r"\bstr\b|\bint\b|\bdict\b"
)
FINISH = chat_chunk(finish_reason="stop")
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
MAGISTRAL = [
    {"type": "thinking", "thinking": [{"type": "text", "text": "The user greets."}]},
    {"type": "text", "text": "Hello!"},
]


def delta(**fields: Any) -> dict:
    return {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": fields}]}


def completion(message: Any, **choice: Any) -> dict:
    return {"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": message, **choice}]}


@dataclass
class Case:
    """One model type's call against an answer of the wrong shape."""

    action: str
    scripts: dict[str, Any]  # path -> answer
    error: str | None  # the InvokeError class, or None: read gracefully
    where: str = ""  # what the message must name (the field's path)
    args: dict[str, Any] = field(default_factory=dict)


# A route saved at validation: the call goes straight to it (no route detection).
RERANK = {
    "model_type": "rerank",
    "query": "q",
    "docs": ["a"],
    "top_n": None,
    "score_threshold": None,
    "credentials": {"_detected_rerank_path": "/v1/rerank", "_detected_rerank_shape": "jina"},
}
CHAT = {"prompt_messages": USER, "model_parameters": {"max_tokens": 8}}
STREAM = {**CHAT, "stream": True}
BLOCKING = {**CHAT, "stream": False}
CASES = {
    # chat, streamed
    "stream content of numbers": Case(
        "invoke_llm",
        {"/v1/chat/completions": sse_response([delta(content=[1, 2]), FINISH])},
        "InvokeServerUnavailableError",
        "a number where a content part (an object) was expected in choices[0].delta.content[0]",
        STREAM,
    ),
    "stream content a number": Case(
        "invoke_llm",
        {"/v1/chat/completions": sse_response([delta(content=42), FINISH])},
        "InvokeServerUnavailableError",
        "a number where text or a list of content parts was expected in choices[0].delta.content",
        STREAM,
    ),
    "stream choices an object": Case(
        "invoke_llm",
        {"/v1/chat/completions": sse_response([{"choices": {"0": {"delta": {"content": "x"}}}}, FINISH])},
        "InvokeServerUnavailableError",
        "an object where a list of choices was expected in choices",
        STREAM,
    ),
    "stream delta a list": Case(
        "invoke_llm",
        {"/v1/chat/completions": sse_response([{"choices": [{"index": 0, "delta": ["x"]}]}, FINISH])},
        "InvokeServerUnavailableError",
        "a list where an object was expected in choices[0].delta",
        STREAM,
    ),
    "stream finish reason a list": Case(
        "invoke_llm",
        {
            "/v1/chat/completions": sse_response(
                [delta(content="x"), {"choices": [{"index": 0, "delta": {}, "finish_reason": ["stop"]}]}]
            )
        },
        "InvokeServerUnavailableError",
        "a list where a finish reason (text) was expected in choices[0].finish_reason",
        STREAM,
    ),
    "stream reasoning a number": Case(
        "invoke_llm",
        {"/v1/chat/completions": sse_response([delta(reasoning_content=7), FINISH])},
        "InvokeServerUnavailableError",
        "a number where text or a list of content parts was expected in choices[0].delta.reasoning_content",
        STREAM,
    ),
    "stream tool calls as text, nothing else": Case(
        "invoke_llm",
        {"/v1/chat/completions": sse_response([delta(tool_calls="get_time()"), FINISH])},
        "InvokeServerUnavailableError",
        "no readable tool call (text where tool calls were expected",
        STREAM,
    ),
    "stream only unknown part types": Case(
        "invoke_llm",
        {"/v1/chat/completions": sse_response([delta(content=[{"type": "audio", "audio": "…"}]), FINISH])},
        "InvokeServerUnavailableError",
        "only content parts the plugin cannot read (type 'audio')",
        STREAM,
    ),
    "stream chunk a list": Case(
        "invoke_llm",
        {"/v1/chat/completions": sse_response(["data: [1, 2]", FINISH])},
        "InvokeServerUnavailableError",
        "a list where an object was expected in a stream chunk",
        STREAM,
    ),
    # chat, blocking
    "content a number": Case(
        "invoke_llm",
        {"/v1/chat/completions": json_response(completion({"role": "assistant", "content": 5}))},
        "InvokeServerUnavailableError",
        "a number where text or a list of content parts was expected in choices[0].message.content",
        BLOCKING,
    ),
    "choice text": Case(
        "invoke_llm",
        {"/v1/chat/completions": json_response({"choices": ["Hello"]})},
        "InvokeServerUnavailableError",
        "text where an object was expected in choices[0]",
        BLOCKING,
    ),
    "message a list": Case(
        "invoke_llm",
        {"/v1/chat/completions": json_response(completion(["Hello"]))},
        "InvokeServerUnavailableError",
        "a list where an object was expected in choices[0].message",
        BLOCKING,
    ),
    "thinking part a number": Case(
        "invoke_llm",
        {"/v1/chat/completions": json_response(completion({"content": [{"type": "thinking", "thinking": 3}]}))},
        "InvokeServerUnavailableError",
        "a number where text was expected in choices[0].message.content[0].thinking",
        BLOCKING,
    ),
    "tool calls of numbers, nothing else": Case(
        "invoke_llm",
        {"/v1/chat/completions": json_response(completion({"content": None, "tool_calls": [1, 2]}))},
        "InvokeServerUnavailableError",
        "no readable tool call (a number among the tool calls",
        BLOCKING,
    ),
    "finish reason a number": Case(
        "invoke_llm",
        {"/v1/chat/completions": json_response(completion({"content": "x"}, finish_reason=1))},
        "InvokeServerUnavailableError",
        "a number where a finish reason (text) was expected in choices[0].finish_reason",
        BLOCKING,
    ),
    "nested deeper than Python reads": Case(
        "invoke_llm",
        {
            "/v1/chat/completions": Response(
                headers={"Content-Type": "application/json"}, body="[" * 100_000 + "]" * 100_000
            )
        },
        "InvokeServerUnavailableError",
        "nested deeper",
        BLOCKING,
    ),
    # completion
    "completion text a number": Case(
        "invoke_llm",
        {"/v1/completions": sse_response([{"choices": [{"index": 0, "text": 9}]}, {"choices": []}])},
        "InvokeServerUnavailableError",
        "a number where text or a list of content parts was expected in choices[0].text",
        {**STREAM, "credentials": {"mode": "completion"}},
    ),
    # embeddings
    "embedding entry a number": Case(
        "invoke_text_embedding",
        {"/v1/embeddings": json_response({"data": [3]})},
        "InvokeServerUnavailableError",
        "a number where an object was expected in data[0]",
        {"texts": ["x"]},
    ),
    "embedding an object": Case(
        "invoke_text_embedding",
        {"/v1/embeddings": json_response({"data": [{"index": 0, "embedding": {"values": [1.0]}}]})},
        "InvokeServerUnavailableError",
        "an object where a list was expected in data[0].embedding",
        {"texts": ["x"]},
    ),
    "embedding of text": Case(
        "invoke_text_embedding",
        {"/v1/embeddings": json_response({"data": [{"index": 0, "embedding": ["0.1", "0.2"]}]})},
        "InvokeServerUnavailableError",
        "text where a number was expected in data[0].embedding[0]",
        {"texts": ["x"]},
    ),
    "embedding not base64": Case(
        "invoke_text_embedding",
        {"/v1/embeddings": json_response({"data": [{"index": 0, "embedding": "not base64!"}]})},
        "InvokeServerUnavailableError",
        "text where a vector (base64) was expected in data[0].embedding",
        {"texts": ["x"]},
    ),
    # rerank
    "rerank score as text": Case(
        "invoke_rerank",
        {"/v1/rerank": json_response({"results": [{"index": 0, "relevance_score": "high"}]})},
        "InvokeServerUnavailableError",
        "relevance_score",
        RERANK,
    ),
    "rerank results an object": Case(
        "invoke_rerank",
        {"/v1/rerank": json_response({"results": {"index": 0}})},
        "InvokeServerUnavailableError",
        "no `results`, `data` or list",
        RERANK,
    ),
    # transcription
    "transcript text a number": Case(
        "invoke_speech2text",
        {"/v1/audio/transcriptions": json_response({"text": 5})},
        "InvokeServerUnavailableError",
        "a number where text was expected in text",
        {"model_type": "speech2text", "file": tone_clip().hex()},
    ),
    "transcript a list": Case(
        "invoke_speech2text",
        {"/v1/audio/transcriptions": json_response(["hello"])},
        "InvokeServerUnavailableError",
        "a list where an object was expected in the transcription answer",
        {"model_type": "speech2text", "file": tone_clip().hex()},
    ),
    # the voice list and the model list are optional: read gracefully, the save goes on
    "voices a number": Case(
        "validate_model_credentials",
        {
            "/v1/audio/voices": json_response({"voices": 5}),
            "/v1/audio/speech": Response(headers={"Content-Type": "audio/wav"}, body=tone_clip()),
        },
        None,
        args={"model_type": "tts"},
    ),
    "voices of numbers": Case(
        "validate_model_credentials",
        {
            "/v1/audio/voices": json_response({"voices": [1, {"id": 3}, None]}),
            "/v1/audio/speech": Response(headers={"Content-Type": "audio/wav"}, body=tone_clip()),
        },
        None,
        args={"model_type": "tts"},
    ),
    "model list of numbers": Case(
        "validate_model_credentials",
        {
            "/v1/models": json_response({"data": [1, {"id": 5}, "m"]}),
            "/v1/chat/completions": json_response(completion({"content": "pong"})),
        },
        None,
        args={"model_type": "llm"},
    ),
    "model list data true": Case(
        "validate_model_credentials",
        {
            "/v1/models": json_response({"data": True}),
            "/v1/chat/completions": json_response(completion({"content": "pong"})),
        },
        None,
        args={"model_type": "llm"},
    ),
    "model card owned_by an object": Case(
        "validate_model_credentials",
        {
            "/v1/models": json_response({"data": [{"id": "m", "owned_by": {"name": "team"}}]}),
            "/v1/chat/completions": json_response(completion({"content": "pong"})),
        },
        None,
        args={"model_type": "llm"},
    ),
    "model list a string": Case(
        "validate_model_credentials",
        {"/v1/models": json_response({"data": "m"}), "/v1/embeddings": json_response({"data": "nope"})},
        "CredentialsValidateFailedError",
        "text where a list was expected in data",
        {"model_type": "text-embedding"},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_wrong_type_in_an_answer_is_one_clear_error_or_read(plugin, fake_server, case: Case) -> None:
    for path, answer in case.scripts.items():
        fake_server.always(answer, path=path)
    args = dict(case.args)
    credentials = {"base_url": fake_server.base_url, "max_retries": "0", "timeout": "10", **args.pop("credentials", {})}
    result = plugin.invoke(case.action, model="m", credentials=credentials, timeout=60, **args)
    assert result.ended
    if case.error is None:
        result.raise_for_error()
        return
    assert result.error_type == case.error, result.error
    message = result.error["message"]
    assert case.where in message
    assert not PYTHON_WORDING.search(message), message
    assert "unexpected shape" in message or case.error == "CredentialsValidateFailedError"


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "blocking"])
def test_magistral_typed_parts_become_think_and_answer(plugin, fake_server, stream: bool) -> None:
    if stream:
        fake_server.always(
            sse_response(
                [
                    delta(role="assistant", content=[MAGISTRAL[0]]),
                    delta(content=[{"type": "text", "text": "Hel"}]),
                    delta(content=[{"type": "text", "text": "lo!"}, {"type": "image_url", "image_url": "x"}]),
                    chat_chunk(finish_reason="stop", usage=USAGE),
                ]
            )
        )
    else:
        fake_server.always(json_response({**completion({"role": "assistant", "content": MAGISTRAL}), "usage": USAGE}))
    result = plugin.invoke(
        "invoke_llm",
        model="magistral-small",
        credentials={"base_url": fake_server.base_url, "max_retries": "0"},
        prompt_messages=USER,
        model_parameters={"max_tokens": 8},
        stream=stream,
    ).raise_for_error()
    text = result.text if stream else result.result["delta"]["message"]["content"]
    assert text == "<think>\nThe user greets.\n</think>Hello!"


def test_reasoning_sent_as_parts_is_the_think_block(plugin, fake_server) -> None:
    fake_server.always(
        sse_response(
            [
                delta(reasoning_content=[{"type": "text", "text": "Think"}, {"type": "text", "text": "ing."}]),
                delta(content="Done."),
                chat_chunk(finish_reason="stop"),
            ]
        )
    )
    result = plugin.invoke(
        "invoke_llm",
        model="m",
        credentials={"base_url": fake_server.base_url, "max_retries": "0"},
        prompt_messages=USER,
        model_parameters={"max_tokens": 8},
    ).raise_for_error()
    assert result.text == "<think>\nThinking.\n</think>Done."


def test_unknown_part_types_are_logged_once_per_call(plugin, fake_server) -> None:
    audio = {"type": "audio", "audio": {"data": "…"}}
    fake_server.always(
        sse_response([delta(content=[audio, {"type": "text", "text": "a"}]), delta(content=[audio, "b"]), FINISH])
    )
    before = [f for f in plugin.iter_frames("log") if "content parts" in json.dumps(f)]
    result = plugin.invoke(
        "invoke_llm",
        model="m",
        credentials={"base_url": fake_server.base_url, "max_retries": "0"},
        prompt_messages=USER,
        model_parameters={"max_tokens": 8},
    ).raise_for_error()
    assert result.text == "ab"
    logs = [f for f in plugin.iter_frames("log") if "content parts" in json.dumps(f)]
    assert len(logs) - len(before) == 1, logs
