"""Server-Sent Events: decoded text -> lines -> the data of each event, in order.

Follows the WHATWG "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
with the leniencies real OpenAI-compatible servers need: an event still pending when the
body ends is dispatched, `[DONE]` ends the stream, error events raise, and a plain JSON body
(no SSE framing at all) is passed through whole.

Both stages are incremental state objects (`LineSplitter`, `SSEParser`) fed one network read at
a time, so a caller can tell which events arrived together; `iter_lines` and `iter_sse_data` are
generator wrappers over them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from oai_bridge.errors.kinds import SSEError

__all__ = ["LineSplitter", "SSEError", "SSEParser", "iter_lines", "iter_sse_data"]

_DONE = "[DONE]"
# SSEParser modes
_FIRST = 0  # no line yet (the one that may start with a byte order mark)
_START = 1  # nothing but blank lines so far
_SSE = 2
_JSON = 3  # not SSE at all: a whole JSON body, collected to the end


class LineSplitter:
    """Decoded text chunks -> lines, ending ONLY at CR, LF or CRLF as SSE defines.

    Not `str.splitlines()` (httpx's `iter_lines`): that also splits at U+2028, U+2029 and U+0085,
    which JSON allows raw inside strings and vLLM/SGLang send unescaped, cutting an event in two.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str) -> list[str]:
        """The lines completed by `chunk` (a partial last line is kept for the next one)."""
        pending = self._pending
        text = pending + chunk if pending else chunk
        held = ""
        if text.endswith("\r"):  # may be the first half of a CRLF split across chunks
            text, held = text[:-1], "\r"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._pending = lines.pop() + held
        return lines

    def finish(self) -> list[str]:
        """The last line, if the body did not end with a line break."""
        pending, self._pending = self._pending, ""
        return [pending.removesuffix("\r")] if pending else []


def iter_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Decoded text chunks -> lines (see `LineSplitter`)."""
    splitter = LineSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.finish()


class SSEParser:
    """Lines (CR, LF or CRLF removed) -> the data of each event, in order; `done` once `[DONE]`
    was seen (nothing after it is looked at). Raises `SSEError` on an `event: error` event or an
    `error:` line."""

    __slots__ = ("_data", "_event", "_mode", "done")

    def __init__(self) -> None:
        self._mode = _FIRST
        self._data: str | list[str] | None = None  # data buffer; None = no `data` field yet
        self._event = ""  # event type buffer
        self.done = False

    def _head(self, lines: list[str]) -> list[str]:
        """Lines while nothing but blank lines was seen: -> the lines to parse as SSE."""
        for i, line in enumerate(lines):
            if self._mode == _FIRST:
                self._mode = _START
                if line.startswith("\ufeff"):
                    line = line[1:]  # spec: one leading byte order mark is ignored
            # DeepSeek sends blank lines ahead of a non-streamed JSON body; in SSE they are no-ops anyway.
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                # Not SSE at all: some servers answer a stream request with a whole (often
                # pretty-printed) JSON error body. A field name can't start with `{`, so this is safe.
                self._mode = _JSON
                self._data = [line, *lines[i + 1 :]]
                return []
            self._mode = _SSE
            return [line, *lines[i + 1 :]]
        return []

    def feed(self, lines: list[str], out: list[str]) -> None:
        """Append to `out` the data of each event that `lines` complete."""
        mode = self._mode
        if mode != _SSE:
            if mode == _JSON:
                self._data.extend(lines)  # type: ignore[union-attr]  # a list of lines in JSON mode
                return
            lines = self._head(lines)
            if self._mode != _SSE:
                return
        data: str | None = self._data  # type: ignore[assignment]  # a str or None in SSE mode
        event = self._event
        for line in lines:
            if not line:
                # Blank line: dispatch. Most servers send one `data:` line per event, so this
                # is the only point where an event leaves, with no look-ahead.
                if event == "error":
                    # Raised even with no data: an error must never pass silently.
                    raise SSEError(data or "")
                if data:
                    out.append(data)
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
                    self.done = True  # stop without reading on: a server may keep the socket open
                    break
                data = value
            else:
                data = f"{data}\n{value}"  # multi-line data; rare, so plain concatenation is fine
        self._data = data
        self._event = event

    def finish(self, out: list[str]) -> None:
        """The body ended: append what is pending (a JSON body; an event without its final
        blank line, dispatched leniently)."""
        if self.done:
            return
        self.done = True
        if self._mode == _JSON:
            out.append("\n".join(self._data).strip())  # type: ignore[arg-type]  # lines in JSON mode
        elif self._mode == _SSE:
            if self._event == "error":
                raise SSEError(self._data or "")  # type: ignore[arg-type]  # a str or None in SSE mode
            if self._data:
                out.append(self._data)  # type: ignore[arg-type]  # a str in SSE mode


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """Yield the data of each event, in order; stop at `[DONE]`.

    `lines` are lines with their CR, LF or CRLF already removed, as httpx's
    `Response.iter_lines()` yields them. Raises `SSEError` on an `event: error` event or an
    `error:` line. Nothing after the `data: [DONE]` line is read.
    """
    parser = SSEParser()
    out: list[str] = []
    for line in lines:
        parser.feed([line], out)
        if out:
            yield from out
            out.clear()
        if parser.done:
            return
    parser.finish(out)
    yield from out
