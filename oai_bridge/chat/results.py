"""Builders for Dify's result objects.

Streamed text chunks are built per token, so they skip pydantic entirely: the values are
already the right types, and even `model_construct` (which loops over every field) was about
30% of the plugin's per-chunk CPU. tests/unit/test_chunks.py pins the result to what pydantic
itself builds, so an SDK upgrade that adds a field fails loudly instead of dropping it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dify_plugin.entities.model.llm import LLMResultChunk, LLMResultChunkDelta, LLMUsage
from dify_plugin.entities.model.message import AssistantPromptMessage, PromptMessageRole

from oai_bridge.chat.toolcalls import ToolCall

__all__ = ["assistant_message", "final_chunk", "text_chunk"]

_ASSISTANT = PromptMessageRole.ASSISTANT


_new = object.__new__
_set = object.__setattr__


def _built[T](cls: type[T], values: dict[str, Any]) -> T:
    """What `cls.model_construct(**values)` returns, without its per-field loop."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def text_chunk(model: str, text: str) -> LLMResultChunk:
    """A chunk carrying only text (the hot path)."""
    message = _built(
        AssistantPromptMessage,
        {"role": _ASSISTANT, "content": text, "name": None, "tool_calls": [], "opaque_body": None},
    )
    delta = _built(LLMResultChunkDelta, {"index": 0, "message": message, "usage": None, "finish_reason": None})
    return _built(LLMResultChunk, {"model": model, "prompt_messages": [], "system_fingerprint": None, "delta": delta})


def _dify_tool_calls(calls: Sequence[ToolCall]) -> list[AssistantPromptMessage.ToolCall]:
    return [
        AssistantPromptMessage.ToolCall(
            id=call.id,
            type="function",
            function=AssistantPromptMessage.ToolCall.ToolCallFunction(name=call.name, arguments=call.arguments),
        )
        for call in calls
    ]


def assistant_message(content: str, calls: Sequence[ToolCall]) -> AssistantPromptMessage:
    return AssistantPromptMessage(content=content, tool_calls=_dify_tool_calls(calls))


def final_chunk(
    model: str, text: str, calls: Sequence[ToolCall], usage: LLMUsage, finish_reason: str
) -> LLMResultChunk:
    """The last chunk: any held-back text, the complete tool calls, usage and the finish reason."""
    return LLMResultChunk(
        model=model,
        delta=LLMResultChunkDelta(
            index=0, message=assistant_message(text, calls), usage=usage, finish_reason=finish_reason
        ),
    )
