"""Tool-call fragments from streamed chunks (or a whole message) -> complete tool calls.

Normalises the shapes servers really send (quirks doc, rule 6 and §3): fragments keyed by
`index` (by position when it is missing), an empty `id` treated as missing, the name set
once, argument strings concatenated and argument objects serialised, a lone object instead
of a list, `[]` meaning no calls, and whole calls in one chunk. The legacy top-level
`function_call` field is not handled here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from oai_bridge.errors.kinds import json_kind
from oai_bridge.errors.shape import count

__all__ = ["ToolCall", "ToolCallAccumulator", "tool_calls_from_message"]


@dataclass(slots=True)
class ToolCall:
    """One complete tool call."""

    id: str
    """The server's id, or a generated `call_<index>_<8 hex>` when it sent none."""
    name: str
    """The function name (may be empty if the server never sent one but sent arguments)."""
    arguments: str
    """Always a JSON text (`"{}"` when empty); kept as sent when it is not valid JSON."""


class _Partial:
    """A call being assembled from fragments."""

    __slots__ = ("args", "id", "name", "seq", "slot")

    def __init__(self, slot: int, seq: int) -> None:
        self.slot = slot  # the server's index (or list position): output order
        self.seq = seq  # arrival order: tie-break between calls sharing a slot
        self.id = ""
        self.name = ""
        self.args: list[str] = []

    def merge(self, fragment: dict[str, object], call_id: str) -> None:
        if call_id and not self.id:
            self.id = call_id
        function = fragment.get("function")
        if not isinstance(function, dict):
            return
        name = function.get("name")
        # Set once: llama-cpp-python repeats the name on every chunk, and LM Studio before
        # 0.3.16 sent an empty name on later deltas; neither may change the first one.
        if name and isinstance(name, str) and not self.name:
            self.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            if arguments:
                self.args.append(arguments)
        elif arguments is not None:
            # An object instead of a JSON text: older TGI (huggingface/text-generation-inference#2461)
            # and llama.cpp (ggml-org/llama.cpp#20198).
            self.args.append(json.dumps(arguments, ensure_ascii=False))

    def finish(self) -> ToolCall | None:
        arguments = "".join(self.args)
        if not self.name:
            self.name, arguments = _tgi_grammar_call(arguments)
        if not arguments.strip():
            if not self.name:
                return None  # a garbage fragment: no name, no arguments
            arguments = "{}"
        if not self.id:
            # Generated once, so finishing twice gives the same id.
            self.id = f"call_{self.slot}_{uuid.uuid4().hex[:8]}"
        return ToolCall(id=self.id, name=self.name, arguments=arguments)


def _tgi_grammar_call(arguments: str) -> tuple[str, str]:
    """TGI 2.2-2.4 streams `name: null` and its raw grammar output as the arguments:
    `{"function": {"_name": "get_weather", "city": "Paris"}}` (router/src/lib.rs)."""
    try:
        data = json.loads(arguments)
    except (ValueError, RecursionError):
        return "", arguments
    function = data.get("function") if isinstance(data, dict) and len(data) == 1 else None
    if not isinstance(function, dict) or not isinstance(function.get("_name"), str):
        return "", arguments
    rest = {key: value for key, value in function.items() if key != "_name"}
    return function["_name"], json.dumps(rest, ensure_ascii=False)


def _fragments(tool_calls: object, skipped: list[str]) -> list[object] | tuple[object, ...]:
    """The fragments of a `tool_calls` value; what cannot be a call is noted in `skipped` (the
    caller fails an answer that then holds nothing at all, rather than answer it empty)."""
    if not tool_calls:
        return ()  # None, or `[]` (Groq sends `"tool_calls": []` in plain deltas)
    if isinstance(tool_calls, dict):
        # TGI 2.4 sent one object instead of a list (huggingface/text-generation-inference#2794).
        return (tool_calls,)
    if isinstance(tool_calls, list | tuple):
        skipped.extend(f"{json_kind(item)} among the tool calls" for item in tool_calls if not isinstance(item, dict))
        return tool_calls
    skipped.append(f"{json_kind(tool_calls)} where tool calls were expected")
    return ()


def _call_id(fragment: dict[str, object]) -> str:
    raw = fragment.get("id")
    if isinstance(raw, str):
        return raw  # "" (TGI 2.4) counts as missing
    return "" if raw is None else str(raw)


def _index(fragment: dict[str, object]) -> int | None:
    raw = fragment.get("index")
    if (index := count(raw)) is not None:
        return index
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


def _is_other_call(call: _Partial, call_id: str, fragment: dict[str, object]) -> bool:
    """Whether `fragment` starts a new call although it lands on `call`'s slot."""
    if call_id and call.id:
        return call_id != call.id
    # Without ids to compare, a different (non-empty) name can only be another call.
    function = fragment.get("function")
    if call.name and isinstance(function, dict):
        name = function.get("name")
        return bool(name) and isinstance(name, str) and name != call.name
    return False


class ToolCallAccumulator:
    """Collects `delta.tool_calls` values chunk by chunk; `finish()` returns the calls."""

    __slots__ = ("_by_id", "_by_slot", "_calls", "skipped")

    def __init__(self) -> None:
        self._calls: list[_Partial] = []
        self._by_slot: dict[int, _Partial] = {}  # the latest call for each index
        self._by_id: dict[str, _Partial] = {}
        self.skipped: list[str] = []
        """What was sent as tool calls but could not be one ("a number among the tool calls")."""

    def add(self, tool_calls: object) -> None:
        """Add the raw `delta.tool_calls` (or `message.tool_calls`) value of one chunk."""
        for position, fragment in enumerate(_fragments(tool_calls, self.skipped)):
            if not isinstance(fragment, dict):
                continue
            call_id = _call_id(fragment)
            index = _index(fragment)
            call = None
            if index is None and call_id:
                # No index: a repeated id continues its call (llama-cpp-python repeats
                # id, type and name on every chunk).
                call = self._by_id.get(call_id)
            if call is None:
                slot = position if index is None else index
                call = self._by_slot.get(slot)
                if call is None or _is_other_call(call, call_id, fragment):
                    # Some servers number every call 0, and without an index each chunk's
                    # list starts again at position 0: a used slot does not prove the same call.
                    call = _Partial(slot, len(self._calls))
                    self._calls.append(call)
                    self._by_slot[slot] = call
                if call_id and not call.id:
                    self._by_id[call_id] = call
            call.merge(fragment, call_id)

    def __bool__(self) -> bool:
        """Whether any call was seen (one `finish()` would return)."""
        return any(call.name or "".join(call.args).strip() for call in self._calls)

    def finish(self) -> list[ToolCall]:
        """The complete calls in index order."""
        done = (call.finish() for call in sorted(self._calls, key=lambda c: (c.slot, c.seq)))
        return [call for call in done if call is not None]


def tool_calls_from_message(tool_calls: object, skipped: list[str] | None = None) -> list[ToolCall]:
    """The `message.tool_calls` of a non-streamed response -> complete calls; what could not be
    a call is noted in `skipped`.

    Same normalisation as streaming, but each list item is a whole call: items are never
    merged, even when a server repeats an id.
    """
    calls = []
    for position, fragment in enumerate(_fragments(tool_calls, [] if skipped is None else skipped)):
        if isinstance(fragment, dict):
            partial = _Partial(position, position)
            partial.merge(fragment, _call_id(fragment))
            call = partial.finish()
            if call is not None:
                calls.append(call)
    return calls
