"""Streamed Responses API events (SSE data) -> Dify-ready text pieces and one StreamEnd.

Per event this does one `json.loads` and a check of its `type`; `response.output_text.delta`, the
hot path, is tested first. Reasoning (`response.reasoning_text.delta` from open-weight servers,
`response.reasoning_summary_text.delta` from OpenAI and Ollama) becomes Dify's `<think>` block;
tool calls are assembled per output item from `response.function_call_arguments.delta` and
handed to Dify by their `call_id`. The stream is over at `response.completed`,
`response.incomplete` or `response.failed` (`ended`), whether or not a `[DONE]` follows, or when
the answer reaches a stop string (the plugin applies `stop`: the API has none).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from oai_bridge.chat.events import ReasoningRenderer, StreamEnd, Usage, final_finish_reason
from oai_bridge.chat.think import REASONING, ThinkSplitter
from oai_bridge.chat.toolcalls import ToolCall
from oai_bridge.errors.invoke import raise_for_payload_error
from oai_bridge.errors.kinds import MalformedResponseError, StreamIncompleteError, UnreadableAnswerError
from oai_bridge.errors.shape import count
from oai_bridge.responses.answer import check_finished, end_reason, output_parts, usage_of
from oai_bridge.responses.stops import StopCutter

__all__ = ["END_EVENTS", "ResponsesReader"]

_TEXT_DELTA = "response.output_text.delta"
_REASONING_DELTAS = frozenset({"response.reasoning_text.delta", "response.reasoning_summary_text.delta"})
# The events that end a response -> the status they stand for.
END_EVENTS = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}


def _delta(data: Mapping[str, Any], kind: str) -> str:
    """The `delta` text of an event ("" when it has none); another JSON type is an error naming it."""
    delta = data.get("delta")
    if delta is None or type(delta) is str:
        return delta or ""
    raise UnreadableAnswerError(delta, "text", f"the delta of a {kind} event")


class _Call:
    """A function call being assembled from its output item's events."""

    __slots__ = ("args", "call_id", "done", "index", "item_id", "name", "opening")

    def __init__(self, item_id: str, index: int) -> None:
        self.item_id = item_id
        self.index = index
        self.call_id = ""
        self.name = ""
        self.opening = ""  # the arguments the `added` item carried
        self.args: list[str] = []  # the argument deltas
        self.done = ""  # the whole arguments, from a `.done` event

    def update(self, item: Mapping[str, Any], *, final: bool) -> None:
        """Fields of the output item or a `.done` event: names and ids as they come. The
        arguments of the `added` item are used only if no delta follows: vLLM repeats its first
        fragment as a delta."""
        for name in ("call_id", "name"):
            value = item.get(name)
            if isinstance(value, str) and value:
                setattr(self, name, value)
        arguments = item.get("arguments")
        if isinstance(arguments, str) and arguments:
            if final:
                self.done = arguments
            else:
                self.opening = arguments

    def finish(self) -> ToolCall:
        arguments = self.done or "".join(self.args) or self.opening
        call_id = self.call_id or self.item_id or f"call_{self.index}_{uuid.uuid4().hex[:8]}"
        return ToolCall(id=call_id, name=self.name, arguments=arguments if arguments.strip() else "{}")


class ResponsesReader:
    """SSE data strings -> Dify content, fed a batch at a time (`feed`), then one `finish`; the
    same interface as `chat.events.StreamNormalizer`, plus `ended` (nothing after it is read)."""

    __slots__ = (
        "_by_index",
        "_calls",
        "_cutter",
        "_end",
        "_order",
        "_reasoned",
        "_reasoning_key",
        "_render",
        "_splitter",
        "_texted",
        "_usage",
        "cut",
        "ended",
    )

    def __init__(self, *, show_reasoning: bool = True, stop: Sequence[str] = ()) -> None:
        self._render = ReasoningRenderer(show=show_reasoning)
        self._splitter: ThinkSplitter | None = None  # made at the first text
        self._cutter = StopCutter(stop) if any(stop) else None
        self._order: list[_Call] = []  # every call, as first seen
        self._calls: dict[str, _Call] = {}  # by item id
        self._by_index: dict[int, _Call] = {}  # by output index
        self._reasoning_key: tuple[object, ...] | None = None
        self._reasoned = False
        self._texted = False
        self._end: str | None = None
        self._usage: Usage | None = None
        self.ended = False
        """The response is over (an end event, or a stop string): read nothing more."""
        self.cut = False
        """The plugin ended the answer at a stop string before the end event: the server's usage
        never came and the connection is still busy."""

    def feed(self, payloads: Iterable[str], out: list[str]) -> None:
        """Append to `out` the content of each payload that has any, in order."""
        loads = json.loads
        for raw in payloads:
            if self.ended:
                return
            data = loads(raw)
            if type(data) is not dict:
                raise MalformedResponseError(f"stream event is not a JSON object: {raw[:200]!r}")
            kind = data.get("type")
            if kind == _TEXT_DELTA:  # the hot path
                delta = data.get("delta")
                if type(delta) is str:
                    if delta and (text := self._text(delta)):
                        out.append(text)
                elif delta is not None:
                    raise UnreadableAnswerError(delta, "text", f"the delta of a {kind} event")
                continue
            self._other(kind, data, out)

    def _text(self, delta: str) -> str:
        splitter = self._splitter
        if splitter is None:
            splitter = self._splitter = ThinkSplitter()
        self._texted = True
        return self._segments(splitter.push(delta))

    def _segments(self, segments: list[tuple[str, str]]) -> str:
        render, cutter = self._render, self._cutter
        parts = []
        for kind, piece in segments:
            if kind == REASONING:
                parts.append(render.reasoning(piece))
                continue
            if cutter is not None:
                piece = cutter.push(piece)
            parts.append(render.text(piece))
            if cutter is not None and cutter.hit:
                self._stopped()
                break
        return "".join(parts)

    def _stopped(self) -> None:
        self.ended = True
        if self._end is None:  # in the deltas: the server is still generating, its usage never comes
            self.cut = True
            self._usage = None
        self._end = "stop"  # else the response is complete: its usage stays and its connection drains

    def _reasoning(self, data: Mapping[str, Any], kind: str) -> str:
        delta = _delta(data, kind)
        if not delta:
            return ""
        key = (kind, data.get("item_id"), data.get("summary_index"))
        if self._reasoned and key != self._reasoning_key:
            delta = "\n\n" + delta  # a new summary part or reasoning item: a paragraph of its own
        self._reasoning_key = key
        self._reasoned = True
        return self._render.reasoning(delta)

    def _call(self, data: Mapping[str, Any]) -> _Call:
        """The call an event is about: by its item id, else by its output index (servers send one
        or both: llama.cpp only the id); a new one for an item not seen before."""
        item_id = data.get("item_id")
        item_id = item_id if isinstance(item_id, str) else ""
        index = count(data.get("output_index"))
        call = (self._calls.get(item_id) if item_id else None) or (
            self._by_index.get(index) if index is not None else None
        )
        if call is None:
            call = _Call(item_id, len(self._order) if index is None else index)
            self._order.append(call)
        if item_id:
            self._calls.setdefault(item_id, call)
            call.item_id = call.item_id or item_id
        if index is not None:
            self._by_index.setdefault(index, call)
        return call

    def _other(self, kind: object, data: dict[str, Any], out: list[str]) -> None:
        if kind in _REASONING_DELTAS:
            text = self._reasoning(data, kind)
        elif kind == "response.refusal.delta":
            delta = _delta(data, kind)
            text = self._text(delta) if delta else ""
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = data.get("item")
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                self._call({**data, "item_id": item.get("id")}).update(item, final=kind.endswith("done"))
            return
        elif kind == "response.function_call_arguments.delta":
            delta = _delta(data, kind)
            if delta:
                self._call(data).args.append(delta)
            return
        elif kind == "response.function_call_arguments.done":
            self._call(data).update(data, final=True)
            return
        elif kind in END_EVENTS:
            text = self._ended(END_EVENTS[kind], data)
        elif kind == "error" or (kind is None and ("error" in data or data.get("object") == "error")):
            raise_for_payload_error(data if kind is None else {"error": data})
            return
        else:
            return  # created, in_progress, part added/done, text done, …: nothing to show
        if text:
            out.append(text)

    def _ended(self, status: str, data: Mapping[str, Any]) -> str:
        response = data.get("response")
        response = response if isinstance(response, Mapping) else {}
        self._end = end_reason(response, status)  # raises for a failed response
        self._usage = usage_of(response)
        self.ended = True
        # What a server put only in the end event, not in deltas, is taken from there. Its copy of
        # what the deltas already gave is not needed: an unreadable one fails only an answer that
        # has nothing else.
        try:
            reasoning, text, calls = output_parts(response.get("output"))
        except UnreadableAnswerError:
            if not (self._texted or self._order):
                raise
            reasoning, text, calls = "", "", []
        answered = self._texted or self._reasoned or self._order or reasoning or text or calls
        check_finished(response, status, answered=bool(answered))  # raises for a cancelled one with nothing
        if not self._order:
            for position, call in enumerate(calls):
                partial = _Call(call.id, position)
                partial.update({"call_id": call.id, "name": call.name, "arguments": call.arguments}, final=True)
                self._order.append(partial)
        if self._texted:
            return ""
        shown = "" if self._reasoned else self._render.reasoning(reasoning)
        return shown + (self._text(text) if text else "")

    def finish(self) -> StreamEnd:
        """The stream is over: held-back text, the tool calls, the finish reason and usage."""
        if self._end is None:
            raise StreamIncompleteError("no response.completed before the stream closed")
        tail = self._segments(self._splitter.finish()) if self._splitter and not self.cut else ""
        if self._cutter is not None:
            tail += self._render.text(self._cutter.finish())
        tail += self._render.close()
        if self.cut:
            return StreamEnd(finish_reason="stop", usage=None, text=tail, cut=True)
        calls = [call.finish() for call in sorted(self._order, key=lambda c: c.index)]
        return StreamEnd(
            finish_reason=final_finish_reason(calls, self._end), usage=self._usage, tool_calls=calls, text=tail
        )
