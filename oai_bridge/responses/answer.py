"""A whole Responses API answer -> Dify content, tool calls, usage and a truthful finish reason;
also the rules the stream shares: how a response ends and where its usage is."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from oai_bridge.chat.answer import Completion
from oai_bridge.chat.events import ReasoningRenderer, Usage, final_finish_reason
from oai_bridge.chat.think import split_whole_answer
from oai_bridge.chat.toolcalls import ToolCall
from oai_bridge.errors import shape
from oai_bridge.errors.invoke import raise_for_payload_error, raise_for_response_error
from oai_bridge.errors.kinds import MalformedResponseError, UnusableAnswerError
from oai_bridge.responses.stops import cut_at_stop

__all__ = [
    "INCOMPLETE_REASONS",
    "UNFINISHED",
    "check_finished",
    "end_reason",
    "output_parts",
    "parse_response",
    "usage_of",
]

logger = logging.getLogger(__name__)

# `incomplete_details.reason` -> Dify's finish reason.
INCOMPLETE_REASONS: Mapping[str, str] = {"max_output_tokens": "length", "content_filter": "content_filter"}
# Statuses of a response that did not finish: cancelled, or (never a final status) still going.
UNFINISHED = frozenset({"cancelled", "queued", "in_progress"})


def usage_of(response: Mapping[str, Any]) -> Usage | None:
    """The response's own token counts (`input_tokens`, `output_tokens`); None when it has none."""
    usage = response.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = shape.count(usage.get("input_tokens")), shape.count(usage.get("output_tokens"))
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
            raise UnusableAnswerError(f"The server ended the answer incomplete ({reason or 'no reason given'}).")
        return mapped
    return "stop"


def check_finished(response: Mapping[str, Any], status: str | None = None, *, answered: bool) -> None:
    """A response ended with an unfinished status (`UNFINISHED`) is an error naming it (with the
    server's words, if any) when nothing was `answered`; otherwise what arrived is the answer (one
    log line), as Dify shows whatever came."""
    status = response.get("status") or status
    if not isinstance(status, str) or status not in UNFINISHED:
        return
    if answered:
        logger.warning("the server ended the response with status %r; the output so far is the answer", status)
        return
    error = response.get("error")
    words = error.get("message") if isinstance(error, Mapping) else None
    said = f": {' '.join(words.split())[:300]}" if isinstance(words, str) and words.strip() else ""
    raise UnusableAnswerError(f"The server ended the response {status} with no output{said}.")


def _texts(parts: object, where: str, *types: str) -> list[str]:
    """The text of the parts of `types` (a refusal part's `refusal`); parts of other types are
    skipped. A list or a text field of another JSON type is an error naming it (`errors.shape`)."""
    out = []
    for i, part in enumerate(shape.items(parts, where) if parts is not None else ()):
        if isinstance(part, Mapping) and part.get("type") in types:
            key = "refusal" if part.get("type") == "refusal" else "text"
            value = shape.text(part.get(key), f"{where}[{i}].{key}")
            if value:
                out.append(value)
    return out


def output_parts(output: object) -> tuple[str, str, list[ToolCall]]:
    """(reasoning, answer text, tool calls) of a response's `output` items. A refusal is the answer;
    items of other types (a hosted tool's call) are skipped. A field of another JSON type than the
    API's is an error naming it, never a silently empty answer or an empty call."""
    reasoning: list[str] = []
    answer: list[str] = []
    calls: list[ToolCall] = []
    for position, item in enumerate(shape.items(output, "output") if output is not None else ()):
        where = f"output[{position}]"
        item = shape.obj(item, where)
        kind = item.get("type")
        if kind == "message":
            answer += _texts(item.get("content"), f"{where}.content", "output_text", "refusal")
        elif kind == "reasoning":
            reasoning += _texts(item.get("content"), f"{where}.content", "reasoning_text") or _texts(
                item.get("summary"), f"{where}.summary", "summary_text"
            )
        elif kind == "function_call":
            call_id = shape.text(item.get("call_id"), f"{where}.call_id") or shape.text(item.get("id"), f"{where}.id")
            arguments = shape.text(item.get("arguments"), f"{where}.arguments")
            calls.append(
                ToolCall(
                    id=call_id or f"call_{position}",
                    name=shape.text(item.get("name"), f"{where}.name"),
                    arguments=arguments if arguments.strip() else "{}",
                )
            )
    return "\n\n".join(reasoning), "".join(answer), calls


def parse_response(data: Any, *, show_reasoning: bool = True, stop: Sequence[str] = ()) -> Completion:
    """Parse a blocking `/responses` answer; the answer is cut at the first of `stop`."""
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"the response is not a JSON object: {str(data)[:200]!r}")
    if data.get("object") == "error" or (data.get("error") and data.get("status") != "failed"):
        raise_for_payload_error(data)  # an error body with a 200 status
    reason = end_reason(data)
    if data.get("output") is None and not isinstance(data.get("output_text"), str):
        check_finished(data, answered=False)
        raise MalformedResponseError(f"the response has no output: {str(data)[:300]!r}")
    reasoning, raw, calls = output_parts(data.get("output"))
    if not raw and isinstance(data.get("output_text"), str):
        raw = data["output_text"]
    check_finished(data, answered=bool(reasoning or raw or calls))
    inline, text = split_whole_answer(raw)
    text, _ = cut_at_stop(text, stop)
    render = ReasoningRenderer(show=show_reasoning)
    content = render.reasoning(reasoning) + render.reasoning(inline) + render.text(text) + render.close()
    return Completion(
        content=content, finish_reason=final_finish_reason(calls, reason), usage=usage_of(data), tool_calls=calls
    )
