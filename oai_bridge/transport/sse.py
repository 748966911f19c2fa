"""Server-Sent Events: already-split text lines -> the data of each event, in order.

Follows the WHATWG "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
with the leniencies real OpenAI-compatible servers need: an event still pending when the
body ends is dispatched, `[DONE]` ends the stream, error events raise, and a plain JSON body
(no SSE framing at all) is passed through whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain

from oai_bridge.errors.kinds import SSEError

__all__ = ["SSEError", "iter_lines", "iter_sse_data"]

_DONE = "[DONE]"


def iter_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Decoded text chunks -> lines, ending ONLY at CR, LF or CRLF as SSE defines.

    Not `str.splitlines()` (httpx's `iter_lines`): that also splits at U+2028, U+2029 and U+0085,
    which JSON allows raw inside strings and vLLM/SGLang send unescaped, cutting an event in two.
    """
    pending = ""
    for chunk in chunks:
        text = pending + chunk if pending else chunk
        held = ""
        if text.endswith("\r"):  # may be the first half of a CRLF split across chunks
            text, held = text[:-1], "\r"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        pending = lines.pop() + held
        yield from lines
    if pending:
        yield pending.removesuffix("\r")


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """Yield the data of each event, in order; stop at `[DONE]`.

    `lines` are lines with their CR, LF or CRLF already removed, as httpx's
    `Response.iter_lines()` yields them. Raises `SSEError` on an `event: error` event or an
    `error:` line. Nothing after the `data: [DONE]` line is read.
    """
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return
    if first.startswith("\ufeff"):
        first = first[1:]  # spec: one leading byte order mark is ignored
    # DeepSeek sends blank lines ahead of a non-streamed JSON body; in SSE they are no-ops anyway.
    while not first.strip():
        first = next(it, None)
        if first is None:
            return
    if first.lstrip().startswith("{"):
        # Not SSE at all: some servers answer a stream request with a whole (often
        # pretty-printed) JSON error body. A field name can't start with `{`, so this is safe.
        yield "\n".join(chain((first,), it)).strip()
        return

    data: str | None = None  # data buffer; None = no `data` field yet (spec: empty buffer)
    event = ""  # event type buffer
    for line in chain((first,), it):
        if not line:
            # Blank line: dispatch. Most servers send one `data:` line per event, so this
            # is the only point where an event leaves, with no look-ahead.
            if event == "error":
                # Raised even with no data: an error must never pass silently.
                raise SSEError(data or "")
            if data:
                yield data
            data = None
            event = ""
            continue
        if line.startswith("data:"):
            # Spec: strip exactly one leading space; `data:x` is as valid as `data: x`.
            value = line[6:] if line.startswith(" ", 5) else line[5:]
        elif line[0] == ":":
            continue  # comment / keep-alive (`: OPENROUTER PROCESSING`, `: keep-alive`, `:`)
        else:
            field, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            if field == "event":
                event = value
                continue
            if field == "error":
                # llama.cpp before ggml-org/llama.cpp#16109 sent `error: {...}`; spec parsers drop
                # the unknown field and the stream then ends silently (coddy-agent#106).
                raise SSEError(value)
            if field != "data":
                continue  # `id`, `retry` and unknown fields are ignored
            # a bare `data` line (no colon) is a data field with an empty value
        if data is None:
            if event != "error" and value.strip() == _DONE:
                return  # stop without reading on: a server may keep the socket open
            data = value
        else:
            data = f"{data}\n{value}"  # multi-line data; rare, so plain concatenation is fine

    # The body ended without a final blank line: be lenient and dispatch what is pending.
    if event == "error":
        raise SSEError(data or "")
    if data:
        yield data
