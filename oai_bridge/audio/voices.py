"""TTS voices: named in the form, else discovered at validation from the server's voice list
(`GET /audio/voices` on Kokoro-FastAPI and Speaches), and checked before a request is sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oai_bridge.config.settings import Settings
from oai_bridge.errors.kinds import UnsendableInputError
from oai_bridge.transport.send import get_json

__all__ = [
    "DEFAULT_VOICE",
    "choose_voice",
    "discover_voices",
    "known_voices",
    "parse_voices",
    "saved_form",
    "voice_options",
]

# OpenAI's first voice: what a server without a voice list most likely accepts.
DEFAULT_VOICE = "alloy"
MAX_SHOWN = 30


def parse_voices(data: Any) -> list[tuple[str, str]]:
    """(value, display name) pairs from a voice list: a list of strings, or `{"voices": [...]}`
    of strings or of objects with `id` and/or `name`."""
    if isinstance(data, Mapping):
        data = data.get("voices", data.get("data"))
    if not isinstance(data, list):
        return []
    out: list[tuple[str, str]] = []
    for item in data:
        if isinstance(item, str) and item.strip():
            out.append((item.strip(), item.strip()))
        elif isinstance(item, Mapping):
            value = item.get("id") or item.get("voice_id") or item.get("name")
            if isinstance(value, str) and value.strip():
                name = item.get("name")
                if not isinstance(name, str):
                    name = value
                out.append((value.strip(), name.strip() or value.strip()))
    first: dict[str, tuple[str, str]] = {}  # the first pair of each value, in order
    for pair in out:
        first.setdefault(pair[0], pair)
    return list(first.values())


def discover_voices(settings: Settings) -> list[tuple[str, str]]:
    """The server's voice list, or [] when it has none (any failure: the list is optional)."""
    status, data = get_json(settings, "/audio/voices")
    return parse_voices(data) if status == 200 else []


def known_voices(settings: Settings) -> list[tuple[str, str]]:
    """The form's voices, else those saved at validation (`_detected_voices`: value=name pairs
    joined by commas), else []."""
    if settings.tts_voices:
        return [(voice, voice) for voice in settings.tts_voices]
    saved = settings.detected.value("voices") or ""
    pairs = []
    for entry in filter(None, (part.strip() for part in saved.split(","))):
        value, _, name = entry.partition("=")
        pairs.append((value, name or value))
    return pairs


def saved_form(voices: list[tuple[str, str]]) -> str:
    """The `_detected_voices` credential value for `voices`."""
    return ",".join(value if value == name else f"{value}={name}" for value, name in voices)


def voice_options(settings: Settings) -> list[dict[str, str]]:
    """What Dify's voice picker shows (`get_tts_model_voices`)."""
    voices = known_voices(settings) or [(DEFAULT_VOICE, DEFAULT_VOICE)]
    return [{"name": name, "value": value} for value, name in voices]


def choose_voice(settings: Settings, voice: str | None) -> str:
    """The voice to send: Dify's choice, checked against the known voices; the first known
    voice when Dify gives none."""
    known = [value for value, _ in known_voices(settings)]
    voice = (voice or "").strip()
    if not voice:
        return known[0] if known else DEFAULT_VOICE
    if known and voice not in known:
        shown = ", ".join(known[:MAX_SHOWN]) + (
            f" (and {len(known) - MAX_SHOWN} more)" if len(known) > MAX_SHOWN else ""
        )
        raise UnsendableInputError(
            f"Unknown voice {voice!r}. This model's voices: {shown}. Pick one of them, or list the server's "
            "voices in `tts_voices`."
        )
    return voice
