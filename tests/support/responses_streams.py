"""Responses API event streams as three servers write them, for the loopback reproductions.

* ``openai``: OpenAI's API reference (responses-streaming): `event:` + `data:` lines, compact JSON
  with `type` and `sequence_number` first; reasoning as `response.reasoning_summary_part.added` +
  `response.reasoning_summary_text.delta`; function calls as an `in_progress` item with empty
  `arguments`, argument deltas, `.done`; the end as `response.completed`, `.incomplete`,
  `.failed` or an `error` event. No `data: [DONE]`.
* ``vllm``: vllm/entrypoints/openai/responses (api_router `_convert_stream_to_sse_events`:
  `event: {type}\\ndata: {model_dump_json()}\\n\\n`; openai-python models, fields in alphabetical
  order, nulls written); `simple_streaming_events.py`: reasoning as `response.reasoning_text.delta`,
  a function call's `output_item.added` carrying its FIRST argument fragment, which is then sent
  again as a `function_call_arguments.delta`; item ids are bare uuids, call ids `call_<uuid>`;
  every stream ends with `response.completed`, whose response says `status: "incomplete"` and
  `incomplete_details.reason: "max_output_tokens"` for an answer cut by the limit.
* ``ollama``: ollama/ollama openai/responses.go + middleware/openai.go (`writeEvent`:
  `event: %s\\ndata: %s\\n\\n`, Go `json.Marshal` of maps: keys sorted); reasoning as
  `response.reasoning_summary_text.delta` with no summary-part events; each tool call's
  arguments whole in one delta; always `response.completed` (never `incomplete`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["FLAVORS", "Call", "stream_bytes", "text_events", "tool_events", "whole_response"]

FLAVORS = ("openai", "vllm", "ollama")
Call = tuple[str, str, str]  # call_id, name, arguments


def _ids(flavor: str) -> dict[str, str]:
    if flavor == "vllm":
        return {"resp": "resp_4f0d6a2e9b8c4d1e", "msg": "9c1e5b7a3d2f4e6a", "rs": "0b2d4f6a8c1e3a5c"}
    if flavor == "ollama":
        return {"resp": "resp_582213", "msg": "msg_917402", "rs": "rs_311876"}
    return {"resp": "resp_67ccd2bed1ec8190", "msg": "msg_67ccd2bf17f0819", "rs": "rs_6820f383d7c08191"}


def _response(flavor: str, status: str, output: list[dict], usage: dict | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": _ids(flavor)["resp"],
        "object": "response",
        "created_at": 1741476542,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": "m",
        "output": output,
        "parallel_tool_calls": True,
        "store": False,
        "tool_choice": "auto",
        "usage": usage,
    }
    out.update(extra)
    if flavor == "vllm" and out["error"] is None:
        del out["error"]  # vLLM's ResponsesResponse has no `error` field
    return out


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _message(flavor: str, text: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": _ids(flavor)["msg"], "type": "message", "status": "completed", "role": "assistant", "content": [part]}


def _reasoning_events(flavor: str, reasoning: Sequence[str]) -> tuple[list[tuple[str, dict]], dict[str, Any]]:
    rs = _ids(flavor)["rs"]
    whole = "".join(reasoning)
    events: list[tuple[str, dict]] = []
    if flavor == "vllm":
        events.append(
            (
                "response.output_item.added",
                {"output_index": 0, "item": {"id": rs, "type": "reasoning", "summary": [], "status": "in_progress"}},
            )
        )
        events.append(
            (
                "response.content_part.added",
                {"output_index": 0, "item_id": rs, "content_index": 0, "part": {"type": "reasoning_text", "text": ""}},
            )
        )
        for piece in reasoning:
            events.append(
                (
                    "response.reasoning_text.delta",
                    {"content_index": 0, "output_index": 0, "item_id": rs, "delta": piece},
                )
            )
        events.append(
            ("response.reasoning_text.done", {"item_id": rs, "output_index": 0, "content_index": 0, "text": whole})
        )
        item = {
            "id": rs,
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": whole}],
            "status": "completed",
        }
    elif flavor == "ollama":
        events.append(
            ("response.output_item.added", {"output_index": 0, "item": {"id": rs, "type": "reasoning", "summary": []}})
        )
        for piece in reasoning:
            events.append(
                (
                    "response.reasoning_summary_text.delta",
                    {"item_id": rs, "output_index": 0, "summary_index": 0, "delta": piece},
                )
            )
        events.append(
            (
                "response.reasoning_summary_text.done",
                {"item_id": rs, "output_index": 0, "summary_index": 0, "text": whole},
            )
        )
        item = {
            "id": rs,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": whole}],
            "encrypted_content": whole,
        }
    else:
        events.append(
            ("response.output_item.added", {"output_index": 0, "item": {"id": rs, "type": "reasoning", "summary": []}})
        )
        events.append(
            (
                "response.reasoning_summary_part.added",
                {"item_id": rs, "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
            )
        )
        for piece in reasoning:
            events.append(
                (
                    "response.reasoning_summary_text.delta",
                    {"item_id": rs, "output_index": 0, "summary_index": 0, "delta": piece, "obfuscation": "xY3"},
                )
            )
        events.append(
            (
                "response.reasoning_summary_text.done",
                {"item_id": rs, "output_index": 0, "summary_index": 0, "text": whole},
            )
        )
        events.append(
            (
                "response.reasoning_summary_part.done",
                {"item_id": rs, "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": whole}},
            )
        )
        item = {"id": rs, "type": "reasoning", "summary": [{"type": "summary_text", "text": whole}]}
    events.append(("response.output_item.done", {"output_index": 0, "item": item}))
    return events, item


def _start(flavor: str) -> list[tuple[str, dict]]:
    created = _response(flavor, "in_progress", [], None)
    return [("response.created", {"response": created}), ("response.in_progress", {"response": created})]


def text_events(
    flavor: str,
    pieces: Sequence[str],
    *,
    reasoning: Sequence[str] = (),
    usage: tuple[int, int] = (12, 7),
    end: str = "completed",
    incomplete_reason: str = "max_output_tokens",
) -> list[tuple[str, dict]]:
    """A streamed text answer (after reasoning, if any), ending with `end`:
    completed, incomplete (with `incomplete_reason`) or failed."""
    events = _start(flavor)
    output: list[dict] = []
    index = 0
    if reasoning:
        more, item = _reasoning_events(flavor, reasoning)
        events += more
        output.append(item)
        index = 1
    msg = _ids(flavor)["msg"]
    text = "".join(pieces)
    events.append(
        (
            "response.output_item.added",
            {
                "output_index": index,
                "item": {"id": msg, "type": "message", "status": "in_progress", "role": "assistant", "content": []},
            },
        )
    )
    events.append(
        (
            "response.content_part.added",
            {
                "item_id": msg,
                "output_index": index,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            },
        )
    )
    for piece in pieces:
        delta = {"item_id": msg, "output_index": index, "content_index": 0, "delta": piece, "logprobs": []}
        if flavor == "openai":
            delta["obfuscation"] = "q7"
        events.append(("response.output_text.delta", delta))
    if end != "failed":
        events.append(
            (
                "response.output_text.done",
                {"item_id": msg, "output_index": index, "content_index": 0, "text": text, "logprobs": []},
            )
        )
        events.append(
            (
                "response.content_part.done",
                {
                    "item_id": msg,
                    "output_index": index,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []},
                },
            )
        )
        events.append(("response.output_item.done", {"output_index": index, "item": _message(flavor, text)}))
        output.append(_message(flavor, text))
    if end == "completed":
        events.append(("response.completed", {"response": _response(flavor, "completed", output, _usage(*usage))}))
    elif end == "incomplete":
        final = _response(
            flavor, "incomplete", output, _usage(*usage), incomplete_details={"reason": incomplete_reason}
        )
        # vLLM ends every stream with `response.completed`, its response's status saying
        # `incomplete` (serving.py responses_stream_generator, protocol.py from_request)
        events.append(("response.completed" if flavor == "vllm" else "response.incomplete", {"response": final}))
    else:
        error = {
            "code": "server_error",
            "message": "The model produced invalid content. Consider modifying your prompt.",
        }
        events.append(("response.failed", {"response": _response(flavor, "failed", output, None, error=error)}))
    return events


def tool_events(flavor: str, calls: Sequence[Call], *, usage: tuple[int, int] = (40, 22)) -> list[tuple[str, dict]]:
    """Function calls, several per answer, with streamed arguments."""
    events = _start(flavor)
    output = []
    for index, (call_id, name, arguments) in enumerate(calls):
        item_id = f"7f3e{index}a9c2b1d4e6f8" if flavor == "vllm" else f"fc_{index}_68123ab0"
        if flavor == "vllm":  # the first fragment rides on the item, then comes again as a delta
            fragments = [arguments[:9], arguments[9:]]
            opening = fragments[0]
        elif flavor == "ollama":
            fragments, opening = [arguments], ""
        else:
            fragments, opening = [arguments[i : i + 6] for i in range(0, len(arguments), 6)], ""
        added = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": opening,
            "call_id": call_id,
            "name": name,
        }
        events.append(("response.output_item.added", {"output_index": index, "item": added}))
        for fragment in fragments:
            delta = {"item_id": item_id, "output_index": index, "delta": fragment}
            if flavor == "openai":
                delta["obfuscation"] = "a1"
            events.append(("response.function_call_arguments.delta", delta))
        done_args = {"item_id": item_id, "output_index": index, "arguments": arguments}
        if flavor == "vllm":
            done_args["name"] = name
        events.append(("response.function_call_arguments.done", done_args))
        done = {
            "id": item_id,
            "type": "function_call",
            "status": "completed",
            "arguments": arguments,
            "call_id": call_id,
            "name": name,
        }
        events.append(("response.output_item.done", {"output_index": index, "item": done}))
        output.append(done)
    events.append(("response.completed", {"response": _response(flavor, "completed", output, _usage(*usage))}))
    return events


def stream_bytes(flavor: str, events: Sequence[tuple[str, dict]]) -> list[bytes]:
    """One SSE event per piece, as each server writes it."""
    pieces = []
    for number, (kind, fields) in enumerate(events):
        if flavor == "openai":
            data = json.dumps({"type": kind, "sequence_number": number, **fields}, separators=(",", ":"))
        else:  # openai-python models dumped by pydantic (vLLM), Go maps (Ollama): keys sorted
            data = json.dumps(
                {"type": kind, "sequence_number": number, **fields},
                separators=(",", ":"),
                sort_keys=True,
                ensure_ascii=False,
            )
        pieces.append(f"event: {kind}\ndata: {data}\n\n".encode())
    return pieces


def whole_response(
    flavor: str, text: str, *, reasoning: str = "", calls: Sequence[Call] = (), usage: tuple[int, int] = (12, 7)
) -> dict[str, Any]:
    """A blocking (`stream: false`) answer."""
    output: list[dict] = []
    if reasoning:
        output.append(
            {"id": _ids(flavor)["rs"], "type": "reasoning", "summary": [{"type": "summary_text", "text": reasoning}]}
        )
    if text:
        output.append(_message(flavor, text))
    for index, (call_id, name, arguments) in enumerate(calls):
        output.append(
            {
                "id": f"fc_{index}",
                "type": "function_call",
                "status": "completed",
                "arguments": arguments,
                "call_id": call_id,
                "name": name,
            }
        )
    return _response(flavor, "completed", output, _usage(*usage))
