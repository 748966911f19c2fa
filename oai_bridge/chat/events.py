"""Streamed chat/completion payloads (any server's dialect) -> Dify-ready text pieces and one end.

Per chunk this does one `json.loads`, an error check, and dict lookups; text is handed on the
moment it arrives. Reasoning, from `reasoning_content`, `reasoning` or inline `<think>` tags,
is rendered as Dify's convention: `<think>\\n…\\n</think>` ahead of the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from oai_bridge.chat.parts import part_pieces
from oai_bridge.chat.think import REASONING, ThinkSplitter
from oai_bridge.chat.toolcalls import ToolCall, ToolCallAccumulator
from oai_bridge.errors.invoke import raise_for_payload_error
from oai_bridge.errors.kinds import (
    MalformedResponseError,
    StreamIncompleteError,
    TruncatedToolCallError,
    UnreadableAnswerError,
)
from oai_bridge.errors.shape import count

__all__ = [
    "ReasoningRenderer",
    "StreamEnd",
    "StreamNormalizer",
    "Usage",
    "final_finish_reason",
    "normalize_stream",
    "nothing_readable",
    "usage_from",
]

THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>"
# Reasoning field names, in the order servers are checked (quirks doc §2).
_REASONING_KEYS = ("reasoning_content", "reasoning")
# Finish reasons that mean the answer is not complete even though the stream ended cleanly.
_FAILED_FINISH = frozenset({"error", "abort"})
_CHOICE = {"choices": "a list of choices", "choices[0]": "a choice (an object)"}

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the server reported them; a side it left out is None."""

    prompt_tokens: int | None
    completion_tokens: int | None

    def completed(self, prompt: Callable[[], int], completion: Callable[[], int]) -> Usage:
        """Both sides: what the server reported, an estimate only for what it left out."""
        return Usage(
            self.prompt_tokens if self.prompt_tokens is not None else prompt(),
            self.completion_tokens if self.completion_tokens is not None else completion(),
        )


@dataclass(slots=True)
class StreamEnd:
    """What is known once the stream is over."""

    finish_reason: str
    usage: Usage | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    text: str = ""
    """Held-back text flushed at the end (a partial tag that never completed, a closing tag)."""
    cut: bool = False
    """The plugin ended the answer itself (a stop string it applies): the connection is closed,
    not drained, and usage the server never sent is estimated."""


def usage_from(data: Mapping[str, Any]) -> Usage | None:
    """Usage from a chunk or response, wherever the server put it (Groq: `x_groq.usage`)."""
    usage = data.get("usage")
    if not usage:
        groq = data.get("x_groq")
        usage = groq.get("usage") if isinstance(groq, Mapping) else None
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = count(usage.get("prompt_tokens")), count(usage.get("completion_tokens"))
    if prompt is None and completion is None:
        return None
    return Usage(prompt, completion)


def final_finish_reason(calls: list[ToolCall], finish_reason: str) -> str:
    """`tool_calls` whenever calls are present (vLLM says `stop` for a named tool_choice), after
    making sure a call cut off by max_tokens is not handed to Dify as if it were complete."""
    if not calls:
        return finish_reason
    if finish_reason == "length":
        for call in calls:
            try:
                json.loads(call.arguments)
            except ValueError:
                raise TruncatedToolCallError(f"`{call.name}` arguments end with {call.arguments[-40:]!r}") from None
    return "tool_calls"


def nothing_readable(parts: list[str], calls: list[str], where: str) -> str:
    """Why an answer that held something, but nothing readable, is an error (never an empty answer)."""
    if parts:
        return f"the answer holds only content parts the plugin cannot read (type {parts[0]!r}) in {where}"
    return f"the answer holds no text and no readable tool call ({calls[0]} in {where}.tool_calls)"


class ReasoningRenderer:
    """Renders (kind, text) pieces as Dify content: reasoning wrapped once in <think> tags."""

    __slots__ = ("_in_think", "_newline", "show")

    def __init__(self, *, show: bool = True) -> None:
        self.show = show
        self._in_think = False
        self._newline = False  # reasoning so far ends with "\n": the close tag needs none

    def reasoning(self, text: str) -> str:
        if not self.show or not text:
            return ""
        self._newline = text[-1] == "\n"
        if self._in_think:
            return text
        self._in_think = True
        return THINK_OPEN + text

    def text(self, text: str) -> str:
        if self._in_think:
            self._in_think = False
            return (THINK_CLOSE[1:] if self._newline else THINK_CLOSE) + text
        return text

    def close(self) -> str:
        return self.text("")


def _render(pieces: list[tuple[str, str]], render: ReasoningRenderer) -> str:
    return "".join(render.reasoning(text) if kind == REASONING else render.text(text) for kind, text in pieces)


class StreamNormalizer:
    """SSE data strings -> Dify content, fed a batch at a time (`feed`), then one `finish`.

    Per chunk this does one `json.loads`, an error check and dict lookups; the state lives in
    locals for the whole batch. Raises (plain exceptions; the caller maps them) on an error
    payload, a malformed chunk, or a stream that ends without a finish reason; what the batch
    produced before the failure is already in `out`.

    `start_in_reasoning`: the model always thinks first, and its template may have put the
    opening `<think>` into the prompt (DeepSeek-R1 distills, QwQ), so content before `</think>`
    is reasoning. Ignored once the server has sent reasoning in a field of its own.
    """

    __slots__ = (
        "_calls",
        "_field_reasoning",
        "_finish_reason",
        "_logged",
        "_read",
        "_render",
        "_skipped",
        "_splitter",
        "_start_in_reasoning",
        "_text_key",
        "_usage",
        "completion_mode",
        "ended",
    )

    def __init__(
        self, *, completion_mode: bool = False, show_reasoning: bool = True, start_in_reasoning: bool = False
    ) -> None:
        self.completion_mode = completion_mode
        self._text_key = "text" if completion_mode else "content"
        self._start_in_reasoning = start_in_reasoning
        self._splitter: ThinkSplitter | None = None  # created at the first content, see start_in_reasoning
        self._field_reasoning = False
        self._render = ReasoningRenderer(show=show_reasoning)
        self._calls = ToolCallAccumulator()
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._skipped: list[str] = []  # types of content parts not read
        self._logged = False
        self._read = False  # any text (or reasoning) was read
        self.ended = False
        """The answer is complete: a finish reason and its usage were read (see
        `chat.pipeline.EventReader`)."""

    def feed(self, payloads: Iterable[str], out: list[str]) -> None:
        """Append to `out` the content of each payload that has any, in order. Payloads after
        the end of the answer (`ended`) are not read."""
        render, calls, text_key = self._render, self._calls, self._text_key
        completion_mode = self.completion_mode
        loads = json.loads
        for raw in payloads:
            if self.ended:
                return
            data = loads(raw)
            if type(data) is not dict:
                raise UnreadableAnswerError(data, "an object", "a stream chunk")
            if "error" in data or data.get("object") == "error":
                raise_for_payload_error(data)
            usage = None
            if "usage" in data or "x_groq" in data:
                usage = usage_from(data)
                self._usage = usage or self._usage
            choices = data.get("choices")
            if not choices:
                # usage-only chunk (vLLM, llama.cpp, Ollama send `choices: []`): after the finish
                # reason, the answer is complete
                if usage is not None and self._finish_reason is not None:
                    self.ended = True
                continue
            choice = choices[0] if type(choices) is list else None
            if type(choice) is not dict:
                where = "choices[0]" if type(choices) is list else "choices"
                raise UnreadableAnswerError(choice if type(choices) is list else choices, _CHOICE[where], where)
            delta = choice if completion_mode else choice.get("delta") or choice.get("message") or {}
            if type(delta) is not dict:
                raise UnreadableAnswerError(delta, "an object", "choices[0].delta")
            text = ""
            for key in _REASONING_KEYS:
                reasoning = delta.get(key)
                if reasoning:
                    self._field_reasoning = True
                    if type(reasoning) is not str:
                        reasoning = self._reasoning_parts(reasoning, key)
                    text = render.reasoning(reasoning)
                    break
            content = delta.get(text_key)
            if content is not None and type(content) is not str:
                text += self._content_parts(content)  # typed parts (Magistral): rare, off the hot path
                content = None
            if "refusal" in delta and isinstance(delta["refusal"], str):
                content = (content or "") + delta["refusal"]  # OpenAI-style refusals are the answer
            if content:
                splitter = self._splitter
                if splitter is None:
                    splitter = self._splitter = ThinkSplitter(
                        start_in_reasoning=self._start_in_reasoning and not self._field_reasoning
                    )
                text += _render(splitter.push(content), render)
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                calls.add(tool_calls)
            if text:
                self._read = True
                out.append(text)
            reason = choice.get("finish_reason")
            if reason and self._finish_reason is None:
                if type(reason) is not str:
                    raise UnreadableAnswerError(reason, "a finish reason (text)", "choices[0].finish_reason")
                if reason in _FAILED_FINISH:
                    raise_for_payload_error({"error": {"message": f"generation ended with finish_reason={reason!r}"}})
                self._finish_reason = reason
            if "usage" in choice:  # a few servers put usage inside the choice
                usage = usage_from(choice) or usage
                self._usage = usage or self._usage
            if usage is not None and self._finish_reason is not None:
                self.ended = True  # a finish reason with its usage: nothing more is needed

    def _text(self, content: str) -> str:
        """Content text through the inline `<think>` splitter, rendered."""
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = ThinkSplitter(
                start_in_reasoning=self._start_in_reasoning and not self._field_reasoning
            )
        return _render(splitter.push(content), self._render)

    def _content_parts(self, content: object) -> str:
        """Typed content parts: thinking parts rendered as reasoning, text parts as content."""
        where = f"choices[0].{self._text_key}" if self.completion_mode else f"choices[0].delta.{self._text_key}"
        rendered = []
        for kind, piece in part_pieces(content, where, self._skipped):
            if kind == REASONING:
                self._field_reasoning = True
                rendered.append(self._render.reasoning(piece))
            else:
                rendered.append(self._text(piece))
        self._log_skipped()
        return "".join(rendered)

    def _reasoning_parts(self, reasoning: object, key: str) -> str:
        """A reasoning field sent as typed parts: all of its text is reasoning."""
        where = "choices[0].delta." + key
        pieces = part_pieces(reasoning, where, self._skipped, kind=REASONING)
        self._log_skipped()
        return "".join(piece for _, piece in pieces)

    def _log_skipped(self) -> None:
        if self._skipped and not self._logged:
            self._logged = True
            logger.info("skipped content parts of a type the plugin does not read: %s", ", ".join(self._skipped))

    def finish(self) -> StreamEnd:
        """The stream is over: the held-back text, the tool calls, the finish reason and usage."""
        if self._finish_reason is None:
            raise StreamIncompleteError("no finish_reason before the stream closed")
        splitter, render = self._splitter, self._render
        tail = (_render(splitter.finish(), render) if splitter else "") + render.close()
        finished = self._calls.finish()
        if (self._skipped or self._calls.skipped) and not (self._read or tail or finished):
            raise MalformedResponseError(nothing_readable(self._skipped, self._calls.skipped, "choices[0].delta"))
        finish_reason = final_finish_reason(finished, self._finish_reason)
        return StreamEnd(finish_reason=finish_reason, usage=self._usage, tool_calls=finished, text=tail)


def normalize_stream(
    payloads: Iterable[str],
    *,
    completion_mode: bool = False,
    show_reasoning: bool = True,
    start_in_reasoning: bool = False,
) -> Iterator[str | StreamEnd]:
    """Yield content strings as they arrive, then exactly one StreamEnd (see `StreamNormalizer`).

    `payloads` are SSE data strings, read one at a time."""
    normalizer = StreamNormalizer(
        completion_mode=completion_mode, show_reasoning=show_reasoning, start_in_reasoning=start_in_reasoning
    )
    out: list[str] = []
    for raw in payloads:
        normalizer.feed((raw,), out)
        if out:
            yield out.pop()
    yield normalizer.finish()
