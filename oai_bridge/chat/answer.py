"""A whole (non-streamed) chat or completion response -> Dify content, tool calls and usage,
through the same reasoning and tool-call rules as the stream."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oai_bridge.chat.events import ReasoningRenderer, Usage, final_finish_reason, nothing_readable, usage_from
from oai_bridge.chat.parts import part_pieces
from oai_bridge.chat.think import REASONING, TEXT, split_whole_answer
from oai_bridge.chat.toolcalls import ToolCall, tool_calls_from_message
from oai_bridge.errors.invoke import raise_for_payload_error
from oai_bridge.errors.kinds import MalformedResponseError, UnreadableAnswerError
from oai_bridge.errors.shape import items, obj

__all__ = ["Completion", "parse_completion"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Completion:
    content: str
    finish_reason: str
    usage: Usage | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)


def parse_completion(data: Any, *, completion_mode: bool = False, show_reasoning: bool = True) -> Completion:
    """Parse a /chat/completions or /completions JSON answer. Content and reasoning may be text
    or typed parts (`chat.parts`); any other shape is an error naming the field."""
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"the response is not a JSON object: {str(data)[:200]!r}")
    if "error" in data or data.get("object") == "error":
        raise_for_payload_error(data)
    choices = data.get("choices")
    if not choices:
        raise MalformedResponseError(f"the response has no choices: {str(data)[:300]!r}")
    choice = obj(items(choices, "choices")[0], "choices[0]")
    # No message is not an empty answer: the server's answer could not be read.
    message = choice if completion_mode else obj(choice.get("message"), "choices[0].message")
    key = "text" if completion_mode else "content"
    where = f"choices[0].{key}" if completion_mode else f"choices[0].message.{key}"
    skipped: list[str] = []
    pieces = part_pieces(message.get(key), where, skipped)
    raw = "".join(piece for kind, piece in pieces if kind == TEXT)
    if not raw and isinstance(message.get("refusal"), str):
        raw = message["refusal"]  # OpenAI-style refusal: `content: null` and the reason beside it
    field = next((k for k in ("reasoning_content", "reasoning") if message.get(k)), None)
    reasoning = "".join(piece for kind, piece in pieces if kind == REASONING)
    if field:
        parts = part_pieces(message[field], f"{where.rsplit('.', 1)[0]}.{field}", skipped, kind=REASONING)
        reasoning = "".join(piece for _, piece in parts) + reasoning
    inline_reasoning, text = split_whole_answer(raw)
    render = ReasoningRenderer(show=show_reasoning)
    content = render.reasoning(reasoning) + render.reasoning(inline_reasoning) + render.text(text) + render.close()
    skipped_calls: list[str] = []
    calls = tool_calls_from_message(message.get("tool_calls"), skipped_calls)
    if skipped:
        logger.info("skipped content parts of a type the plugin does not read: %s", ", ".join(skipped))
    if (skipped or skipped_calls) and not (raw or reasoning or calls):
        raise MalformedResponseError(nothing_readable(skipped, skipped_calls, where.rsplit(".", 1)[0]))
    reason = choice.get("finish_reason") or "stop"
    if not isinstance(reason, str):
        raise UnreadableAnswerError(reason, "a finish reason (text)", "choices[0].finish_reason")
    finish = final_finish_reason(calls, reason)
    return Completion(content=content, finish_reason=finish, usage=usage_from(data), tool_calls=calls)
