"""What a model can do, each capability told by one small request built by the same code as real
calls (so `extra_body`, `extra_headers`, the thinking switch and what the endpoint refused all
apply), as a table per model type.

A capability is on when the server answers 2xx, off when it refuses (4xx but 408/429, or a 5xx
whose wording says the feature is missing), unknown otherwise: an overloaded or unreachable
server is never saved as "off". Answers cut short by max_tokens count as answers: a thinking
model may spend a small budget on reasoning.
"""

from __future__ import annotations

import base64
import io
import struct
import wave
import zlib
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

from dify_plugin.entities.model.message import (
    AudioPromptMessageContent,
    ImagePromptMessageContent,
    PromptMessage,
    PromptMessageContentUnionTypes,
    PromptMessageTool,
    TextPromptMessageContent,
    UserPromptMessage,
)

from oai_bridge.chat.body import build_chat_body
from oai_bridge.chat.parts import part_pieces
from oai_bridge.chat.think import REASONING
from oai_bridge.config.settings import Settings
from oai_bridge.config.thinking import thinking_choice
from oai_bridge.dialects.dialect import THINKING_FORMS
from oai_bridge.errors.kinds import (
    ConnectionDroppedError,
    ConnectionFailedError,
    MalformedResponseError,
    ServerStatusError,
)
from oai_bridge.errors.wording import FEATURE_UNSUPPORTED, body_text, mentions
from oai_bridge.responses.body import PATH as RESPONSES_PATH
from oai_bridge.responses.body import build_responses_body
from oai_bridge.transport.send import post_json

__all__ = [
    "CHAT_CAPABILITIES",
    "NOT_IN_RESPONSES",
    "PING_TOKENS",
    "accepted",
    "answer_message",
    "chat_request",
    "shows_reasoning",
    "shows_reasoning_items",
    "thinking_form",
]

# Enough for an answer to start even behind a little reasoning; a cut-off answer still counts.
PING_TOKENS = 16
_PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
# A server that reads an image as text pays for every byte of the data URI (~700 more tokens for
# the padded copy); a vision model pays for pixels, which are the same in both images.
_TEXT_READ_IMAGE_TOKENS = 200
_PROBE_TOOL = PromptMessageTool(
    name="get_time", description="Get the current time", parameters={"type": "object", "properties": {}}
)
_PROBE_SCHEMA = '{"name": "probe", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}'


def _png_with_comment(png: bytes, size: int) -> bytes:
    """The same image with a `size`-byte tEXt chunk after IHDR: identical pixels, bigger file."""
    data = b"Comment\x00" + b"x" * size
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def _tiny_wav() -> bytes:
    """0.1 s of silence, 16 kHz mono: the smallest audio every decoder takes."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"\0\0" * 1600)
    return out.getvalue()


def _image(png: bytes) -> ImagePromptMessageContent:
    return ImagePromptMessageContent(format="png", mime_type="image/png", base64_data=base64.b64encode(png).decode())


_IMAGE = _image(_PNG_BYTES)
_IMAGE_PADDED = _image(_png_with_comment(_PNG_BYTES, 2048))
_AUDIO = AudioPromptMessageContent(
    format="wav", mime_type="audio/wav", base64_data=base64.b64encode(_tiny_wav()).decode()
)


def chat_request(
    settings: Settings,
    parts: list[PromptMessageContentUnionTypes] | None = None,
    *,
    tools: list[PromptMessageTool] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """A small blocking chat request, exactly as a real call would build and send it."""
    content: str | list[PromptMessageContentUnionTypes] = "ping"
    if parts:
        content = [TextPromptMessageContent(data="ping"), *parts]
    messages: list[PromptMessage] = [UserPromptMessage(content=content)]
    values = {"max_tokens": PING_TOKENS, **(params or {})}
    thinking = thinking_choice(settings, values)
    if settings.responses_api:
        body = build_responses_body(settings, messages, values, thinking=thinking, tools=tools, stream=False)
        return post_json(settings, RESPONSES_PATH, body)
    body = build_chat_body(settings, messages, values, thinking=thinking, tools=tools, stream=False)
    return post_json(settings, "/chat/completions", body)


def accepted(call: Callable[[], object]) -> bool | None:
    """True if the server answered 2xx (and the call did not return False), False if it refused
    the feature, None if it could not tell."""
    try:
        verdict = call()
    except ServerStatusError as exc:
        if 400 <= exc.status < 500 and exc.status not in (408, 429):
            return False
        return False if exc.status == 500 and mentions(body_text(exc.body), FEATURE_UNSUPPORTED) else None
    except (ConnectionFailedError, ConnectionDroppedError, ValueError):
        return None
    return verdict is not False


def answer_message(answer: Any) -> Mapping[str, Any]:
    """The message of a chat answer ({} when there is none)."""
    choices = answer.get("choices") if isinstance(answer, Mapping) else None
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], Mapping) else {}
    message = choice.get("message")
    return message if isinstance(message, Mapping) else {}


def shows_reasoning(message: Mapping[str, Any]) -> bool:
    """Whether an answer carries reasoning: in a field of its own, in a thinking part (Magistral's
    typed content), or closed by `</think>`."""
    content = message.get("content")
    in_parts = False
    if isinstance(content, list):
        with suppress(MalformedResponseError):  # not readable as parts: the call itself says so
            in_parts = any(kind == REASONING for kind, _ in part_pieces(content, "content", []))
    content = content if isinstance(content, str) else ""
    return bool(in_parts or message.get("reasoning_content") or message.get("reasoning") or "</think>" in content)


def thinking_form(settings: Settings) -> str | None:
    """The form of the thinking switch this server honours: the first whose Off removes the
    reasoning from a ping (asked only of a model seen reasoning). None when none does."""
    for name in THINKING_FORMS:
        trial = replace(settings, thinking="off", detected=settings.detected.with_value("thinking_form", name))
        try:
            if not shows_reasoning(answer_message(chat_request(trial))):
                return name
        except (ServerStatusError, ConnectionFailedError, ConnectionDroppedError, ValueError):
            continue  # this form is refused here: try the next
    return None


def shows_reasoning_items(answer: Any) -> bool:
    """Whether a Responses answer has a reasoning item (even one whose summary is empty)."""
    output = answer.get("output") if isinstance(answer, Mapping) else None
    return any(isinstance(item, Mapping) and item.get("type") == "reasoning" for item in output or ())


def _prompt_tokens(answer: Any) -> int | None:
    usage = answer.get("usage") if isinstance(answer, Mapping) else None
    if not isinstance(usage, Mapping):
        return None
    tokens = usage.get("prompt_tokens", usage.get("input_tokens"))  # chat completions, Responses
    return tokens if isinstance(tokens, int) else None


def _sees_images(settings: Settings) -> bool:
    """Whether the model takes images as images. Accepting an image part is not enough: some
    servers (llama-cpp-python without a vision handler) turn it into prompt text, and Dify would
    then send users' pictures as thousands of tokens of base64."""
    small = _prompt_tokens(chat_request(settings, [_IMAGE]))
    padded = _prompt_tokens(chat_request(settings, [_IMAGE_PADDED]))
    if small is None or padded is None:
        return True  # no usage reported: accepting the image is all that can be known
    return padded - small < _TEXT_READ_IMAGE_TOKENS


# Capabilities a Responses-mode model never has (the API has no input part for them).
NOT_IN_RESPONSES = frozenset({"audio", "video"})
# Chat capabilities a small request can tell; video and document inputs have none (no tiny
# file every server decodes), so they stay off until the form turns them on.
CHAT_CAPABILITIES: dict[str, Callable[[Settings], object]] = {
    "tool_calling": lambda s: chat_request(s, tools=[_PROBE_TOOL]),
    "structured_output": lambda s: chat_request(
        s, params={"response_format": "json_schema", "json_schema": _PROBE_SCHEMA}
    ),
    "vision": _sees_images,
    "audio": lambda s: chat_request(s, [_AUDIO]),
}
