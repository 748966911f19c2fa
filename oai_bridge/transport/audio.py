"""The `/audio/*` requests through the `openai` SDK's public API: a multipart transcription upload
and a streamed speech answer. Both are retried by the one policy (`transport.retry`) before any
of their answer was read, and their failures come out as the plugin's own exceptions.

    transcription(settings, file, fields)  the 2xx answer of one upload (read whole: it is text)
    open_speech(settings, text, voice)     the 2xx speech answer, body unread; the caller closes it
"""

from __future__ import annotations

from typing import IO, Any

import httpx

from oai_bridge.config.settings import Settings
from oai_bridge.transport.clients import openai_client, request_headers
from oai_bridge.transport.retry import call
from oai_bridge.transport.send import sdk_errors

__all__ = ["open_speech", "transcription"]


def transcription(
    settings: Settings, file: tuple[str, IO[bytes], str], fields: dict[str, str] | None = None
) -> httpx.Response:
    """POST `file` (name, file object, MIME type) to `/audio/transcriptions`. httpx streams it from
    the file object and rewinds it for a retry; nothing is read into memory."""
    client = openai_client(settings)
    headers = request_headers(settings)

    def send() -> httpx.Response:
        with sdk_errors():
            # The optional fields (language, prompt, response_format) come as one dict, which the
            # SDK's per-format overloads cannot match.
            return client.audio.transcriptions.with_raw_response.create(  # type: ignore[call-overload]  # see above
                file=file,
                model=settings.endpoint_model,
                extra_body=dict(settings.extra_body) or None,
                extra_headers=headers,
                **(fields or {}),
            ).http_response

    return call(settings, send)


def open_speech(settings: Settings, text: str, voice: str) -> httpx.Response:
    """POST `text` to `/audio/speech`; the response's body is unread (the caller reads it with
    `iter_bytes` and closes it). Retried only here, before any audio was passed on."""
    client = openai_client(settings)
    headers = request_headers(settings)

    def send() -> httpx.Response:
        with sdk_errors():
            manager: Any = client.audio.speech.with_streaming_response.create(
                model=settings.endpoint_model,
                input=text,
                voice=voice,
                # The form's format: servers speak more than the SDK's literals (pcm, wav, …).
                response_format=settings.tts_format,  # type: ignore[arg-type]  # see above
                extra_body=dict(settings.extra_body) or None,
                extra_headers=headers,
            )
            return manager.__enter__().http_response

    return call(settings, send)
