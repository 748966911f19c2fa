"""Offline token estimates: no tokenizer download (air-gapped Dify installs are common), and cheap.

The estimate follows GPT-style BPE closely enough for Dify's budgeting: about one token per short
word or punctuation mark, long words cost one token per ~4 characters, and CJK characters count
one each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from dify_plugin.entities.model.message import PromptMessage, PromptMessageTool

__all__ = ["estimate_messages", "estimate_text", "estimate_tools", "truncate_to_tokens"]

_PIECES = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]")
# Per-message overhead of chat templates (role markers, separators).
_MESSAGE_OVERHEAD = 4


def estimate_text(text: str) -> int:
    """Approximate token count of `text`."""
    if not text:
        return 0
    count = 0
    for piece in _PIECES.findall(text):
        n = len(piece)
        count += 1 if n <= 6 else (n + 3) // 4
    return count


def estimate_tools(tools: Iterable[PromptMessageTool] | None) -> int:
    return sum(
        estimate_text(tool.name) + estimate_text(tool.description) + estimate_text(json.dumps(tool.parameters))
        for tool in tools or ()
    )


def estimate_messages(messages: Sequence[PromptMessage], tools: Iterable[PromptMessageTool] | None = None) -> int:
    """Approximate prompt tokens of a whole chat request: every message, tool calls and tools."""
    total = 0
    for message in messages:
        total += _MESSAGE_OVERHEAD + estimate_text(message.get_text_content())
        for call in getattr(message, "tool_calls", None) or ():
            total += estimate_text(call.function.name) + estimate_text(call.function.arguments)
    return total + estimate_tools(tools)


def truncate_to_tokens(text: str, limit: int) -> str:
    """`text` cut (at a character boundary) so its estimate is at most `limit` tokens."""
    estimate = estimate_text(text)
    while estimate > limit and text:
        text = text[: max(0, int(len(text) * limit / estimate * 0.95))]
        estimate = estimate_text(text)
    return text
