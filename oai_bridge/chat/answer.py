"""A whole (non-streamed) chat or completion response -> Dify content, tool calls and usage,
through the same reasoning and tool-call rules as the stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oai_bridge.chat.events import ReasoningRenderer, Usage, final_finish_reason, usage_from
from oai_bridge.chat.think import split_whole_answer
from oai_bridge.chat.toolcalls import ToolCall, tool_calls_from_message
from oai_bridge.errors.invoke import raise_for_payload_error
from oai_bridge.errors.kinds import MalformedResponseError

__all__ = ["Completion", "parse_completion"]


@dataclass(slots=True)
class Completion:
    content: str
    finish_reason: str
    usage: Usage | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)


def parse_completion(data: Any, *, completion_mode: bool = False, show_reasoning: bool = True) -> Completion:
    """Parse a /chat/completions or /completions JSON answer."""
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"the response is not a JSON object: {str(data)[:200]!r}")
    if "error" in data or data.get("object") == "error":
        raise_for_payload_error(data)
    choices = data.get("choices")
    if not choices or not isinstance(choices, list):
        raise MalformedResponseError(f"the response has no choices: {str(data)[:300]!r}")
    choice = choices[0]
    message = choice if completion_mode else (choice.get("message") or {})
    raw = message.get("text" if completion_mode else "content") or ""
    if not isinstance(raw, str):  # a content-part list from a few servers
        raw = "".join(part.get("text", "") for part in raw if isinstance(part, Mapping))
    if not raw and isinstance(message.get("refusal"), str):
        raw = message["refusal"]  # OpenAI-style refusal: `content: null` and the reason beside it
    reasoning = next((message[k] for k in ("reasoning_content", "reasoning") if message.get(k)), "")
    inline_reasoning, text = split_whole_answer(raw)
    render = ReasoningRenderer(show=show_reasoning)
    content = (
        render.reasoning(reasoning if isinstance(reasoning, str) else "")
        + render.reasoning(inline_reasoning)
        + render.text(text)
        + render.close()
    )
    calls = tool_calls_from_message(message.get("tool_calls"))
    finish = final_finish_reason(calls, choice.get("finish_reason") or "stop")
    return Completion(content=content, finish_reason=finish, usage=usage_from(data), tool_calls=calls)
