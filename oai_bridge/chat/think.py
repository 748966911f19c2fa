"""Inline `<think>…</think>` reasoning in streamed text -> (kind, text) segments.

Used when a server leaves the tags in the content (vLLM without `--reasoning-parser`,
llama.cpp `--reasoning-format none`, Groq `reasoning_format: raw`). Rules:

- `<think>` opens reasoning only at the start of the output, after optional whitespace;
  later it is literal text. Only one reasoning block is recognised.
- `</think>` closes it; whitespace right after either tag is dropped (models emit
  `<think>\\n` and `</think>\\n\\n`).
- `start_in_reasoning=True` covers templates that put `<think>` in the prompt
  (DeepSeek-R1 distills, QwQ): output starts as reasoning, and a leading `<think>` is swallowed.
- Without it, a `</think>` met in text is dropped (never leaked); the text before it
  stays text, since streamed text cannot be taken back.
- Only a suffix that could still grow into a tag is held back between chunks; all other
  text is emitted at once (time to first token matters).
"""

from __future__ import annotations

import re

__all__ = ["REASONING", "TEXT", "ThinkSplitter", "split_think", "split_whole_answer", "strip_think"]

REASONING = "reasoning"
TEXT = "text"

_OPEN = "<think>"
_CLOSE = "</think>"
_CLOSE_LEN = len(_CLOSE)

# Splitter states.
_START = 0  # nothing decided yet: leading whitespace and a possible `<think>` are held
_REASONING = 1  # inside the reasoning block, watching for `</think>`
_TEXT_SCAN = 2  # text, no block closed yet: a stray `</think>` must still be dropped
_TEXT = 3  # text after the block: plain pass-through


def _held(data: str) -> int:
    """Length of the longest suffix of `data` that is a proper prefix of `</think>`."""
    # The tag has a single `<`, so only the last `<` within reach can start such a suffix.
    j = data.rfind("<", max(0, len(data) - _CLOSE_LEN + 1))
    if j != -1 and _CLOSE.startswith(data[j:]):
        return len(data) - j
    return 0


def _emit(out: list[tuple[str, str]], kind: str, text: str) -> None:
    if text:
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))


class ThinkSplitter:
    """Incremental splitter: `push()` each streamed piece, `finish()` once at the end."""

    __slots__ = ("_lstrip", "_pending", "_start_in_reasoning", "_state")

    def __init__(self, *, start_in_reasoning: bool = False) -> None:
        self._start_in_reasoning = start_in_reasoning
        self._state = _START
        # Held back: leading whitespace plus a `<think>` prefix, or a `</think>` prefix.
        self._pending = ""
        # Drop the leading whitespace of what comes next (right after a tag).
        self._lstrip = False

    def push(self, text: str) -> list[tuple[str, str]]:
        """Segments `(kind, text)` ready to emit; adjacent same-kind merged, never empty."""
        if self._state == _TEXT and not self._lstrip:
            # Hot path once the block is over: no scanning, no buffering.
            return [(TEXT, text)] if text else []
        if self._state != _START and not self._pending and not self._lstrip and "<" not in text:
            # Most tokens hold no `<`: no tag can start here, so nothing to scan or hold.
            return [(REASONING if self._state == _REASONING else TEXT, text)] if text else []
        out: list[tuple[str, str]] = []
        self._feed(text, out)
        return out

    def finish(self) -> list[tuple[str, str]]:
        """Flush held-back characters (an unfinished tag is literal)."""
        pending, self._pending = self._pending, ""
        if self._state == _START:
            if self._start_in_reasoning:
                return [(REASONING, pending.lstrip())] if pending.strip() else []
            return [(TEXT, pending)] if pending else []
        if not pending:
            return []
        return [(REASONING if self._state == _REASONING else TEXT, pending)]

    def _feed(self, data: str, out: list[tuple[str, str]]) -> None:
        if self._pending:
            data = self._pending + data
            self._pending = ""
        while data:
            state = self._state
            if state == _TEXT:
                if self._lstrip:
                    data = data.lstrip()
                    if not data:
                        return
                    self._lstrip = False
                _emit(out, TEXT, data)
                return
            if state == _START:
                rest = data.lstrip()
                if rest.startswith(_OPEN):
                    self._state = _REASONING
                    self._lstrip = True
                    data = rest[len(_OPEN) :]
                    continue
                if _OPEN.startswith(rest):  # all whitespace, or a prefix of `<think>`
                    self._pending = data
                    return
                if self._start_in_reasoning:
                    self._state = _REASONING  # implicit opening tag: its whitespace goes too
                    data = rest
                else:
                    self._state = _TEXT_SCAN  # plain text keeps its leading whitespace
                continue
            # _REASONING or _TEXT_SCAN: look for `</think>`.
            if self._lstrip:
                data = data.lstrip()
                if not data:
                    return
                self._lstrip = False
            kind = REASONING if state == _REASONING else TEXT
            i = data.find(_CLOSE)
            if i == -1:
                n = _held(data)
                if n:
                    self._pending = data[-n:]
                    data = data[:-n]
                _emit(out, kind, data)
                return
            _emit(out, kind, data[:i])
            data = data[i + _CLOSE_LEN :]
            self._state = _TEXT
            # After real reasoning the answer's leading whitespace goes; after a stray
            # `</think>` it stays, or the streamed reasoning would be glued to the answer.
            self._lstrip = state == _REASONING


def split_think(text: str, *, start_in_reasoning: bool = False) -> tuple[str, str]:
    """Whole-text version: `(reasoning, text)`, identical to streaming `text` in any chunks."""
    # One implementation for both paths, so streamed and non-streamed results always agree.
    splitter = ThinkSplitter(start_in_reasoning=start_in_reasoning)
    parts: dict[str, list[str]] = {REASONING: [], TEXT: []}
    for kind, piece in (*splitter.push(text), *splitter.finish()):
        parts[kind].append(piece)
    return "".join(parts[REASONING]), "".join(parts[TEXT])


def split_whole_answer(text: str) -> tuple[str, str]:
    """`(reasoning, text)` of a complete answer. A whole text can be read completely: a closing tag
    without an opening one means the template put `<think>` in the prompt (DeepSeek-R1 distills,
    QwQ), so what comes before it is reasoning."""
    return split_think(text, start_in_reasoning=_CLOSE in text and _OPEN not in text)


_BLOCK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


def strip_think(text: str) -> str:
    """Remove every `<think>…</think>` block (and an unterminated leading one) with the
    whitespace after it: reasoning from earlier assistant turns is not sent back."""
    if _OPEN not in text:
        return text
    text = _BLOCK.sub("", text)
    # Any `<think>` left has no closing tag after it; at the start it is cut-off reasoning.
    if text.lstrip().startswith(_OPEN):
        return ""
    return text
