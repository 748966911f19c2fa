"""Builders for Dify's result objects. Streamed text chunks skip pydantic validation
(`model_construct`) because they are built per token; the values are already the right types."""

from __future__ import annotations

from collections.abc import Sequence

from dify_plugin.entities.model.llm import LLMResultChunk, LLMResultChunkDelta, LLMUsage
from dify_plugin.entities.model.message import AssistantPromptMessage, PromptMessageRole

from oai_bridge.toolcalls import ToolCall

__all__ = ["assistant_message", "final_chunk", "text_chunk"]

_ASSISTANT = PromptMessageRole.ASSISTANT


def _message(content: str, tool_calls: list[AssistantPromptMessage.ToolCall]) -> AssistantPromptMessage:
    return AssistantPromptMessage.model_construct(
        role=_ASSISTANT, content=content, name=None, tool_calls=tool_calls, opaque_body=None
    )


def text_chunk(model: str, text: str) -> LLMResultChunk:
    """A chunk carrying only text (the hot path)."""
    delta = LLMResultChunkDelta.model_construct(index=0, message=_message(text, []), usage=None, finish_reason=None)
    return LLMResultChunk.model_construct(model=model, prompt_messages=[], system_fingerprint=None, delta=delta)


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
