"""Text-to-speech: text split at sentence ends to the server's input limit, the parts
synthesised concurrently (at most WORKERS at a time) through `/audio/speech`, and their audio
yielded strictly in order, each part's bytes passed on as they arrive.

Every yielded piece is at most MAX_PIECE bytes: the SDK sends each one to the daemon as one
hex-encoded frame (2 characters per byte), and the daemon kills a plugin whose frame exceeds
5 MiB.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from oai_bridge.config.settings import Settings
from oai_bridge.errors.invoke import endpoint_errors, raise_for_payload_error
from oai_bridge.errors.kinds import (
    MalformedResponseError,
    UnexpectedContentError,
    UnsendableInputError,
    UnusableAnswerError,
)
from oai_bridge.errors.wording import looks_like_html
from oai_bridge.transport.audio import open_speech
from oai_bridge.transport.send import stream_bytes

__all__ = ["MAX_PIECE", "WORKERS", "pieces", "split_text", "synthesize"]

MAX_PIECE = 1024 * 1024
"""Bytes per yielded piece: ~2 MiB of hex per daemon frame, far below its 5 MiB line limit."""
WORKERS = 3
"""Parts synthesised at once (the first one plays while the next ones are made)."""
MAX_ERROR_BODY = 64 * 1024

# A sentence ends at . ! ? … ; followed by space or the end (not "3.14"), at CJK full stops
# (no space follows them) and at line breaks.
_SENTENCE_END = re.compile(r"[.!?…;]+[\"'”’)\]]*(?=\s|$)|[。！？；]+[」』”’)）]*|\n")
_WHITESPACE = re.compile(r"\s")
_END = object()


def split_text(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` characters, cut after the last sentence end that fits,
    else at the last space, else hard at the limit. Blank text gives []."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]  # a terminator at position `limit` still ends a fitting sentence
        ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= limit]
        cut = ends[-1] if ends else 0
        if not cut:
            spaces = [m.start() for m in _WHITESPACE.finditer(window) if 0 < m.start() <= limit]
            cut = spaces[-1] if spaces else limit
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return [part for part in parts if part]


def pieces(chunk: bytes, size: int = MAX_PIECE) -> Iterator[bytes]:
    """`chunk` cut into pieces of at most `size` bytes."""
    for start in range(0, len(chunk), size):
        yield chunk[start : start + size]


def synthesize(settings: Settings, text: str, voice: str) -> Generator[bytes]:
    """The audio of `text` as an iterator of pieces, in order. Empty text is refused at once;
    errors while iterating are InvokeError subclasses."""
    parts = split_text(text or "", settings.tts_max_chars)
    if not parts:
        raise UnsendableInputError("There is no text to speak: the text is empty.")
    return _in_order(settings, parts, voice)


def _in_order(settings: Settings, parts: list[str], voice: str) -> Generator[bytes]:
    stop = threading.Event()
    queues: list[queue.Queue[Any]] = [queue.Queue() for _ in parts]
    pool = ThreadPoolExecutor(max_workers=min(WORKERS, len(parts)), thread_name_prefix="tts")
    submitted = 0
    try:
        for index, pending in enumerate(queues):
            while submitted < len(parts) and submitted < index + WORKERS:
                pool.submit(_fetch, settings, parts[submitted], voice, queues[submitted], stop)
                submitted += 1
            while (item := pending.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
    finally:
        stop.set()  # the consumer stopped (done, error or Dify went away): workers stop reading
        pool.shutdown(wait=False, cancel_futures=True)


def _fetch(settings: Settings, text: str, voice: str, out: queue.Queue[Any], stop: threading.Event) -> None:
    """One part's audio into `out` as it arrives, then _END (or the InvokeError that ended it).
    The request is retried only until its response starts: nothing of it was passed on yet."""
    try:
        with endpoint_errors(settings):
            response = open_speech(settings, text, voice)
            try:
                _read(settings, response, out, stop)
            finally:
                response.close()
        out.put(_END)
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
        out.put(exc)


def _read(settings: Settings, response: httpx.Response, out: queue.Queue[Any], stop: threading.Event) -> None:
    received = 0
    chunks = stream_bytes(response)
    for chunk in chunks:
        if stop.is_set():
            return
        if not received:
            _refuse_non_audio(settings, response, chunk, chunks)
        received += len(chunk)
        for piece in pieces(chunk):
            out.put(piece)
    if not received:
        raise UnusableAnswerError("The speech server answered without any audio.")


def _refuse_non_audio(settings: Settings, response: httpx.Response, first: bytes, rest: Iterator[bytes]) -> None:
    """Raise when a 2xx answer is JSON, HTML or text instead of audio (an error payload maps by
    its status; anything else is the server's fault)."""
    content_type = response.headers.get("content-type", "").lower()
    textual = any(kind in content_type for kind in ("json", "text/", "html"))
    if not textual and (content_type or settings.tts_format == "pcm" or first[:1] not in (b"{", b"<")):
        return
    body = first
    for chunk in rest:
        body += chunk
        if len(body) > MAX_ERROR_BODY:
            break
    shown = body[:300].decode("utf-8", errors="replace")
    if "html" in content_type or looks_like_html(shown):
        raise UnexpectedContentError("an HTML page", f"{settings.tts_format} audio", str(response.request.url))
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        raise_for_payload_error(data)
    raise MalformedResponseError(
        f"{content_type or 'text'} where {settings.tts_format} audio was expected: {shown!r}. Check that the "
        "base URL points at a speech server and the model speaks."
    )
