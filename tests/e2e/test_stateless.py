"""Nothing correct depends on one process's memory (issue 15.2).

Dify restarts plugin processes and can run plugins serverless: every call may land in a fresh
`python -m main`. Fields an endpoint refused, the base64-to-float fall-back, a rerank batch size
a server allows and values detected lazily are optimisations a process learns; a fresh process
must give the same answers, only maybe with one more request.

The same sequence of calls (validate, schema, streamed and blocking chat, embeddings, rerank, an
error) runs once in one long-lived plugin process and once with a fresh process per call, against
loopback servers that behave the same for every client:

* a strict chat server (Mistral-style 422 `extra_forbidden` for `stream_options`),
* an embeddings server that ignores `encoding_format: base64` and answers floats,
* a TEI-style rerank server that refuses larger batches with 413 (TEI's default limit is 32,
  which is also the plugin's first batch size, so this one is started with
  `--max-client-batch-size 8` to make the plugin split and remember),
* and calls with a model saved without any `_detected_*` value.

The answers (text, tool calls, usage, vectors, rerank results, saved values, schemas, error
classes) must be identical.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.test_rerank import RerankServer
from tests.support.fake_server import (
    FakeServer,
    RecordedRequest,
    Response,
    chat_chunk,
    chat_completion,
    embeddings_body,
    json_response,
    sse_response,
)
from tests.support.plugin_process import PluginProcess
from tests.support.prompts import USER, WEATHER_TOOL

pytestmark = pytest.mark.timeout(600)  # about 20 plugin start-ups

MODEL = "m"
TEI_BATCH = 8
USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
REJECTION = {
    "object": "error",
    "message": {
        "detail": [
            {"type": "extra_forbidden", "loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted"}
        ]
    },
    "type": "invalid_request_error",
    "param": None,
    "code": None,
}


def strict_chat(req: RecordedRequest) -> Response:
    """Mistral-style: 422 for `stream_options`, 404 for another model; answers text, or a tool
    call when tools are offered, streamed or not."""
    if req.path == "/v1/models":
        return json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
    body = req.json or {}
    if req.path != "/v1/chat/completions":
        return json_response({"detail": "Not Found"}, status=404)
    if "stream_options" in body:
        return json_response(REJECTION, status=422)
    if body.get("model") != MODEL:
        return json_response({"object": "error", "message": f"Invalid model: {body.get('model')}"}, status=404)
    tools = bool(body.get("tools"))
    if not body.get("stream"):
        if tools:
            return json_response(chat_completion(None, tool_calls=[CALL], finish_reason="tool_calls", usage=USAGE))
        return json_response(chat_completion('{"ok": true}' if body.get("response_format") else "Hello world"))
    if tools:
        events = [
            chat_chunk(role="assistant", tool_calls=[dict(CALL, index=0)]),
            chat_chunk(finish_reason="tool_calls", usage=USAGE),
        ]
    else:
        events = [chat_chunk("Hello", role="assistant"), chat_chunk(" world"), chat_chunk(finish_reason="stop")]
        events.append(chat_chunk(no_choices=True, usage=USAGE))
    return sse_response(events)


def vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255, 6) for b in digest[:8]]


def floats_only_embeddings(req: RecordedRequest) -> Response:
    """Ignores `encoding_format: base64` (llama-cpp-python): always floats."""
    if req.path == "/v1/models":
        return json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
    if req.path != "/v1/embeddings":
        return json_response({"detail": "Not Found"}, status=404)
    texts = (req.json or {}).get("input") or []
    texts = [texts] if isinstance(texts, str) else texts
    return json_response(embeddings_body([vector(str(t)) for t in texts], model=MODEL, prompt_tokens=3 * len(texts)))


@pytest.fixture
def servers() -> Iterator[dict[str, Any]]:
    chat, embed = FakeServer(), FakeServer()
    chat.always(strict_chat)
    embed.always(floats_only_embeddings)
    tei = RerankServer("tei", max_batch=TEI_BATCH)
    try:
        yield {"chat": chat, "embed": embed, "tei": tei}
    finally:
        chat.stop()
        embed.stop()
        tei.close()


def summary(result: Any) -> dict[str, Any]:
    """What Dify gets from one call, without what legitimately differs between runs (ids of
    sessions, timings)."""
    out: dict[str, Any] = {"error": result.error_type}
    if result.error_type:
        return out
    if result.chunks:
        out.update(
            text=result.text,
            tool_calls=[(c.get("id"), c["function"]["name"], c["function"]["arguments"]) for c in result.tool_calls],
            usage={k: (result.usage or {}).get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
            finish=result.finish_reason,
        )
        return out
    item = result.result
    if "credentials" in item:
        out["saved"] = item["credentials"]
    elif "model_schema" in item:
        out["schema"] = item["model_schema"]
    elif "embeddings" in item:
        out.update(embeddings=item["embeddings"], tokens=item["usage"]["tokens"])
    elif "docs" in item:
        out["docs"] = [(d["index"], round(d["score"], 6), d["text"]) for d in item["docs"]]
    else:
        out["other"] = item
    return out


def calls(servers: dict[str, Any]) -> list[tuple[str, Callable[[PluginProcess, dict], Any]]]:
    """The sequence: each step gets the plugin and what earlier steps saved."""
    chat = {"base_url": servers["chat"].base_url}
    embed = {"base_url": servers["embed"].base_url}
    tei = {"base_url": servers["tei"].origin}
    docs = [f"document {i} about {'Paris' if i % 5 == 0 else 'bananas'}" for i in range(70)]

    def llm(plugin: PluginProcess, creds: dict, stream: bool, tools: bool = False, **params: Any) -> Any:
        return plugin.invoke(
            "invoke_llm",
            model=MODEL,
            credentials=creds,
            prompt_messages=USER,
            model_parameters={"max_tokens": 16, **params},
            tools=[WEATHER_TOOL] if tools else None,
            stream=stream,
        )

    def save(key: str, model_type: str, creds: dict, model: str = MODEL) -> Callable[[PluginProcess, dict], Any]:
        def run(plugin: PluginProcess, saved: dict) -> Any:
            result = plugin.invoke("validate_model_credentials", model=model, credentials=creds, model_type=model_type)
            if result.error is None:
                saved[key] = result.result["credentials"]
            return result

        return run

    return [
        ("validate llm", save("llm", "llm", chat)),
        ("schema", lambda p, s: p.invoke("get_ai_model_schemas", model=MODEL, credentials=s["llm"])),
        ("stream", lambda p, s: llm(p, s["llm"], True)),
        ("stream again", lambda p, s: llm(p, s["llm"], True)),
        ("stream tools", lambda p, s: llm(p, s["llm"], True, tools=True)),
        ("blocking", lambda p, s: llm(p, s["llm"], False)),
        ("blocking tools", lambda p, s: llm(p, s["llm"], False, tools=True)),
        ("json schema", lambda p, s: llm(p, s["llm"], False, response_format="json_object")),
        ("unsaved stream", lambda p, s: llm(p, chat, True)),
        ("unsaved schema", lambda p, s: p.invoke("get_ai_model_schemas", model=MODEL, credentials=chat)),
        ("unknown model", lambda p, s: p.invoke("invoke_llm", **_llm_args(s["llm"], model="nope"))),
        ("validate embedding", save("embed", "text-embedding", embed)),
        (
            "embed",
            lambda p, s: p.invoke(
                "invoke_text_embedding", model=MODEL, credentials=s["embed"], texts=["a", "b", "c"] * 15
            ),
        ),
        (
            "embed again",
            lambda p, s: p.invoke("invoke_text_embedding", model=MODEL, credentials=s["embed"], texts=["d"]),
        ),
        ("unsaved embed", lambda p, s: p.invoke("invoke_text_embedding", model=MODEL, credentials=embed, texts=["e"])),
        ("validate rerank", save("tei", "rerank", tei, model="rr")),
        ("rerank", lambda p, s: _rerank(p, s["tei"], docs)),
        ("rerank again", lambda p, s: _rerank(p, s["tei"], docs[:40])),
        ("unsaved rerank", lambda p, s: _rerank(p, tei, docs)),
    ]


def _llm_args(creds: dict, **over: Any) -> dict:
    return {
        "model": MODEL,
        "credentials": creds,
        "prompt_messages": USER,
        "model_parameters": {"max_tokens": 16},
        "stream": True,
        **over,
    }


def _rerank(plugin: PluginProcess, creds: dict, docs: list[str]) -> Any:
    return plugin.invoke(
        "invoke_rerank",
        model="rr",
        model_type="rerank",
        credentials=creds,
        query="what about Paris?",
        docs=docs,
        top_n=8,
        score_threshold=None,
    )


def test_a_fresh_process_per_call_gives_the_same_answers(servers, plugin_factory) -> None:
    sequence = calls(servers)

    saved_long: dict = {}
    long_lived = plugin_factory()
    in_one = {name: summary(step(long_lived, saved_long)) for name, step in sequence}

    saved_fresh: dict = {}
    fresh = {}
    for name, step in sequence:
        plugin = plugin_factory()
        fresh[name] = summary(step(plugin, saved_fresh))
        plugin.close()

    # the sequence exercised what it is meant to (learned refusals, fall-backs, errors, batches)
    assert in_one["stream"]["text"] == "Hello world" and in_one["stream"]["usage"]["total_tokens"] == 14
    assert in_one["stream tools"]["tool_calls"] == [("call_1", "get_weather", '{"city": "Paris"}')]
    assert in_one["unknown model"]["error"] == "InvokeBadRequestError"
    assert len(in_one["embed"]["embeddings"]) == 45 and in_one["embed"]["embeddings"][0] == vector("a")
    assert len(in_one["rerank"]["docs"]) == 8
    assert "_detected_rerank_path" in in_one["validate rerank"]["saved"]
    assert servers["chat"].requests_to("/v1/chat/completions"), "the strict server was called"
    assert any(
        len(body.get("texts", [])) > TEI_BATCH for path, _, body in servers["tei"].requests if path == "/rerank"
    ), "the rerank server's batch limit was reached"

    different = {name: (in_one[name], fresh[name]) for name, _ in sequence if in_one[name] != fresh[name]}
    assert not different, json.dumps(different, indent=1)[:6000]
