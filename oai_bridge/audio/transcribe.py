"""Speech-to-text: one multipart upload to `/audio/transcriptions`, and the answer read in any
shape servers give (JSON `{"text"}`, `verbose_json`, plain text).

The file is never read into memory: its first bytes name the format, then httpx streams it
from the file object (and rewinds it for a retry).
"""

from __future__ import annotations

import json
import math
import struct
import wave
from collections.abc import Mapping
from io import BytesIO
from typing import IO

from dify_plugin.errors.model import InvokeBadRequestError

from oai_bridge.audio.formats import HEAD_BYTES, KNOWN, AudioFormat, sniff
from oai_bridge.config.settings import Settings
from oai_bridge.errors.invoke import raise_for_payload_error, to_invoke_error
from oai_bridge.errors.kinds import (
    HTTPStatusError,
    MalformedResponseError,
    UnexpectedContentError,
    UnreadableAnswerError,
)
from oai_bridge.errors.wording import UPLOAD_TOO_LARGE, body_text, looks_like_html, mentions
from oai_bridge.transport.audio import transcription

__all__ = ["OPENAI_LIMIT_MB", "read_transcript", "tone_clip", "transcribe", "upload_format"]

OPENAI_LIMIT_MB = 25


def upload_format(file: IO[bytes]) -> tuple[AudioFormat, int]:
    """The file's audio format and size in bytes; the file is left at its start. Raises
    InvokeBadRequestError for an empty file or one that is not audio."""
    size = file.seek(0, 2)
    file.seek(0)
    if not size:
        raise InvokeBadRequestError("The audio file is empty: there is nothing to transcribe.")
    head = file.read(HEAD_BYTES)
    file.seek(0)
    found = sniff(head)
    if found is None:
        raise InvokeBadRequestError(
            f"The file is not audio in a format speech servers read ({KNOWN}): it starts with bytes "
            f"{head[:8].hex(' ')}. Convert it, e.g. to mp3 or wav."
        )
    return found, size


def transcribe(settings: Settings, file: IO[bytes]) -> str:
    """The text spoken in `file`. Errors: InvokeError subclasses and the plugin's own exceptions
    (the caller maps the latter with `translated_errors`)."""
    fmt, size = upload_format(file)
    fields: dict[str, str] = {}
    if settings.stt_language:
        fields["language"] = settings.stt_language
    if settings.stt_prompt:
        fields["prompt"] = settings.stt_prompt
    try:
        response = transcription(settings, (f"audio.{fmt.extension}", file, fmt.mime), fields)
    except HTTPStatusError as exc:
        if not _too_large(exc):
            raise
        mapped = to_invoke_error(exc, url=settings.base_url, secrets=settings.secrets)
        raise InvokeBadRequestError(
            f"{mapped} The audio file is {_size(size)}; OpenAI accepts at most {OPENAI_LIMIT_MB} MB, "
            "other servers have their own upload limit. Send shorter or more compressed audio (mp3, opus), "
            "or raise the server's limit."
        ) from None
    return read_transcript(response.headers.get("content-type", ""), response.content, str(response.request.url))


def _too_large(exc: HTTPStatusError) -> bool:
    """413, or a 400 whose words say the upload is over a size limit."""
    return exc.status == 413 or (exc.status == 400 and mentions(body_text(exc.body), UPLOAD_TOO_LARGE))


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{size / 1000:.0f} kB"


def read_transcript(content_type: str, body: bytes, url: str = "") -> str:
    """The transcript in a 2xx answer: JSON (`json`, `verbose_json`: the `text` field) or plain text."""
    text = body.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if "json" in content_type.lower() or stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError:
            if "json" in content_type.lower():
                raise MalformedResponseError(f"a transcription answer that is not valid JSON: {text[:200]!r}") from None
            return text.strip()
        if isinstance(data, Mapping):
            raise_for_payload_error(data)
            if isinstance(data.get("text"), str):
                return data["text"].strip()
            if "text" in data:
                raise UnreadableAnswerError(data["text"], "text", "text")
            raise MalformedResponseError(f"a transcription answer without `text` (keys: {', '.join(map(str, data))})")
        raise UnreadableAnswerError(data, "an object", "the transcription answer")
    if looks_like_html(stripped):  # whisper.cpp sends plain text as text/html: only a page is refused
        raise UnexpectedContentError("an HTML page", "a transcript", url)
    return text.strip()


def tone_clip(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    """A short WAV tone (16 kHz mono 16-bit) that every speech server decodes: validation
    transcribes it, so nothing is downloaded."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
    )
    out = BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()
