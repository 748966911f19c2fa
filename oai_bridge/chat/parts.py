"""Content and reasoning that arrive as typed parts instead of text -> (kind, text) pieces.

Mistral's Magistral models (and gateways in front of them) send `content` as a list, in whole
answers and in stream deltas alike:

    [{"type": "thinking", "thinking": [{"type": "text", "text": "…"}]}, {"type": "text", "text": "…"}]

Text parts are the answer, thinking parts (their text nested, or plain) are reasoning, a refusal
part is shown as the answer (as a `refusal` field is), and a part of a type the plugin does not
know is skipped: its type is handed back so the caller logs it once per call. A reasoning field
(`reasoning_content`, `reasoning`) that comes as such a list is read the same way.
"""

from __future__ import annotations

from typing import Any

from oai_bridge.chat.think import REASONING, TEXT
from oai_bridge.errors.kinds import UnreadableAnswerError
from oai_bridge.errors.shape import text as read_text

__all__ = ["part_pieces"]

# part type -> the key holding its text, and the kind of that text
_TEXT_PARTS = {"text": ("text", TEXT), "output_text": ("text", TEXT), "refusal": ("refusal", TEXT)}
_THINKING_PARTS = {"thinking": "thinking", "reasoning": "reasoning", "reasoning_text": "text"}


def _nested(value: Any, where: str, out: list[tuple[str, str]], skipped: list[str]) -> None:
    """The reasoning inside a thinking part: plain text, or a list of text parts."""
    if isinstance(value, list):
        for piece, _kind in _pieces(value, where, skipped):
            if piece:
                out.append((REASONING, piece))
        return
    piece = read_text(value, where)
    if piece:
        out.append((REASONING, piece))


def _pieces(parts: list[Any], where: str, skipped: list[str]) -> list[tuple[str, str]]:
    """(text, kind) of each readable part; unreadable ones raise, unknown ones are skipped."""
    out: list[tuple[str, str]] = []
    for position, part in enumerate(parts):
        at = f"{where}[{position}]"
        if isinstance(part, str):  # a bare string among the parts is text
            out.append((part, TEXT))
            continue
        if not isinstance(part, dict):
            raise UnreadableAnswerError(part, "a content part (an object)", at)
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            key, meaning = _TEXT_PARTS[kind]
            out.append((read_text(part.get(key), f"{at}.{key}"), meaning))
        elif kind in _THINKING_PARTS:
            key = _THINKING_PARTS[kind]
            nested: list[tuple[str, str]] = []
            _nested(part.get(key), f"{at}.{key}", nested, skipped)
            out.extend((piece, meaning) for meaning, piece in nested)
        else:
            skipped.append(str(kind) if isinstance(kind, str) else "(no type)")
    return out


def part_pieces(value: Any, where: str, skipped: list[str], *, kind: str = TEXT) -> list[tuple[str, str]]:
    """`value` (text, a list of parts, or one part object) -> [(REASONING | TEXT, text)] in order.
    Plain text is `kind` (TEXT for content, REASONING for a reasoning field); so is a text part
    of a reasoning field. The types of skipped parts are appended to `skipped`."""
    if isinstance(value, str):
        return [(kind, value)] if value else []
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]  # one part instead of a list of them
    if not isinstance(value, list):
        raise UnreadableAnswerError(value, "text or a list of content parts", where)
    out: list[tuple[str, str]] = []
    for piece, meaning in _pieces(value, where, skipped):
        if piece:
            out.append((REASONING if kind == REASONING else meaning, piece))
    return out
