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

# part type -> the key holding its text, and what that text is
_PARTS = {
    "text": ("text", TEXT),
    "output_text": ("text", TEXT),
    "refusal": ("refusal", TEXT),
    "thinking": ("thinking", REASONING),
    "reasoning": ("reasoning", REASONING),
    "reasoning_text": ("text", REASONING),
}


def _read(parts: list[Any], where: str, skipped: list[str], out: list[tuple[str, str]], inside: str | None) -> None:
    """Append (kind, text) of each readable part; `inside` = REASONING within a thinking part."""
    for position, part in enumerate(parts):
        at = f"{where}[{position}]"
        if isinstance(part, str):  # a bare string among the parts is text
            kind, value, value_at = TEXT, part, at
        elif isinstance(part, dict):
            name = part.get("type")
            known = _PARTS.get(name) if isinstance(name, str) else None
            if name is None and "text" in part:
                known = _PARTS["text"]  # a part without a type, but with text
            if known is None:
                skipped.append(name if isinstance(name, str) else "(no type)")
                continue
            key, kind = known
            value, value_at = part.get(key), f"{at}.{key}"
        else:
            raise UnreadableAnswerError(part, "a content part (an object)", at)
        kind = inside or kind
        if kind == REASONING and isinstance(value, list):  # Magistral: the thinking's text parts
            _read(value, value_at, skipped, out, REASONING)
            continue
        piece = read_text(value, value_at)
        if piece:
            out.append((kind, piece))


def part_pieces(value: Any, where: str, skipped: list[str], *, kind: str = TEXT) -> list[tuple[str, str]]:
    """`value` (text, a list of parts, or one part object) -> [(REASONING | TEXT, text)] in order.
    Plain text is `kind` (TEXT for content, REASONING for a reasoning field), and so is every
    part of a reasoning field. The types of skipped parts are appended to `skipped`."""
    if isinstance(value, str):
        return [(kind, value)] if value else []
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]  # one part instead of a list of them
    if not isinstance(value, list):
        raise UnreadableAnswerError(value, "text or a list of content parts", where)
    out: list[tuple[str, str]] = []
    _read(value, where, skipped, out, REASONING if kind == REASONING else None)
    return out
