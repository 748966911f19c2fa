"""A whole Responses API answer -> Dify content, tool calls, usage and a truthful finish reason;
also the rules the stream shares: how a response ends and where its usage is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dify_plugin.errors.model import InvokeServerUnavailableError

from oai_bridge.chat.answer import Completion
from oai_bridge.chat.events import ReasoningRenderer, Usage, final_finish_reason
from oai_bridge.chat.think import split_whole_answer
from oai_bridge.chat.toolcalls import ToolCall
from oai_bridge.errors.invoke import raise_for_payload_error, raise_for_response_error
from oai_bridge.errors.kinds import MalformedResponseError
from oai_bridge.responses.stops import cut_at_stop

__all__ = ["INCOMPLETE_REASONS", "end_reason", "output_parts", "parse_response", "usage_of"]

# `incomplete_details.reason` -> Dify's finish reason.
INCOMPLETE_REASONS: Mapping[str, str] = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_of(response: Mapping[str, Any]) -> Usage | None:
    """The response's own token counts (`input_tokens`, `output_tokens`); None when it has none."""
    usage = response.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
    return None if prompt is None and completion is None else Usage(prompt, completion)


def end_reason(response: Mapping[str, Any], status: str | None = None) -> str:
    """How the response ended, as Dify's finish reason (before tool calls are counted); raises
    for a failed response with the server's words. `status` is the end event's, if the response
    object carries none."""
    status = response.get("status") or status
    if status == "failed":
        raise_for_response_error(response)
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        mapped = INCOMPLETE_REASONS.get(reason) if isinstance(reason, str) else None
        if mapped is None:
            raise InvokeServerUnavailableError(
                f"The server ended the answer incomplete ({reason or 'no reason given'})."
            )
        return mapped
    return "stop"


def _texts(parts: object, *types: str) -> list[str]:
    if not isinstance(parts, Sequence):
        return []
    out = []
    for part in parts:
        if isinstance(part, Mapping) and part.get("type") in types:
            text = part.get("text") if part.get("type") != "refusal" else part.get("refusal")
            if isinstance(text, str) and text:
                out.append(text)
    return out


def output_parts(output: object) -> tuple[str, str, list[ToolCall]]:
    """(reasoning, answer text, tool calls) of a response's `output` items. A refusal is the answer."""
    reasoning: list[str] = []
    text: list[str] = []
    calls: list[ToolCall] = []
    for position, item in enumerate(output if isinstance(output, list) else ()):
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "message":
            text += _texts(item.get("content"), "output_text", "refusal")
        elif kind == "reasoning":
            reasoning += _texts(item.get("content"), "reasoning_text") or _texts(item.get("summary"), "summary_text")
        elif kind == "function_call":
            call_id = item.get("call_id") or item.get("id") or f"call_{position}"
            arguments = item.get("arguments")
            calls.append(
                ToolCall(
                    id=str(call_id),
                    name=str(item.get("name") or ""),
                    arguments=arguments if isinstance(arguments, str) and arguments.strip() else "{}",
                )
            )
    return "\n\n".join(reasoning), "".join(text), calls


def parse_response(data: Any, *, show_reasoning: bool = True, stop: Sequence[str] = ()) -> Completion:
    """Parse a blocking `/responses` answer; the answer is cut at the first of `stop`."""
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"the response is not a JSON object: {str(data)[:200]!r}")
    if data.get("object") == "error" or (data.get("error") and data.get("status") != "failed"):
        raise_for_payload_error(data)  # an error body with a 200 status
    reason = end_reason(data)
    if "output" not in data and not isinstance(data.get("output_text"), str):
        raise MalformedResponseError(f"the response has no output: {str(data)[:300]!r}")
    reasoning, raw, calls = output_parts(data.get("output"))
    if not raw and isinstance(data.get("output_text"), str):
        raw = data["output_text"]
    inline, text = split_whole_answer(raw)
    text, _ = cut_at_stop(text, stop)
    render = ReasoningRenderer(show=show_reasoning)
    content = render.reasoning(reasoning) + render.reasoning(inline) + render.text(text) + render.close()
    return Completion(
        content=content, finish_reason=final_finish_reason(calls, reason), usage=usage_of(data), tool_calls=calls
    )
