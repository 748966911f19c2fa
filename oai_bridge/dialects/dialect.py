"""Per-server behaviour as data: a small frozen `Dialect` per kind of server, chosen by host.

Almost every endpoint speaks the generic dialect; a few hosted APIs need something else (DeepSeek
wants earlier reasoning echoed on tool-call turns, OpenAI's reasoning models name the token limit
`max_completion_tokens`). What a server refuses at run time refines this further, per endpoint
(`dialects.learned`). Nothing correct depends on that memory: a fresh process re-learns it with
one extra round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import httpx

__all__ = [
    "DEEPSEEK",
    "GENERIC",
    "KNOWN_HOSTS",
    "KNOWN_SERVERS",
    "THINKING_FORMS",
    "VIDEO_PARTS",
    "Dialect",
    "dialect_for",
    "with_video_parts",
]


def _frozen(value: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(value)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one kind of server wants a few things said."""

    name: str
    thinking_on: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    """Top-level fields that switch thinking on (merged into the body when Thinking = On)."""
    thinking_off: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    """Top-level fields that switch thinking off."""
    echo_reasoning: bool = False
    """Send earlier reasoning back as `reasoning_content` on assistant tool-call turns."""
    max_tokens_field: str = "max_tokens"
    video_part: str = "video_url"
    """How a video goes in a message: a key of `VIDEO_PARTS`."""


def _input_video(part: Mapping[str, Any]) -> dict[str, Any]:
    url = str((part.get("video_url") or {}).get("url") or "")
    _, base64_marker, data = url.partition(";base64,")
    if url.startswith("data:") and base64_marker:
        return {"type": "input_video", "input_video": {"data": data}}
    return {"type": "input_video", "input_video": {"url": url}}


# A video content part in each form servers take, made from the OpenAI-style `video_url` part the
# body is built with: `video_url` with a URL or data URL (vLLM, SGLang), or llama.cpp's
# llama-server `input_video` with the raw base64 in `data` (it refuses every part type it does not
# know with 400 "unsupported content[].type").
VIDEO_PARTS: Mapping[str, Any] = MappingProxyType({"video_url": dict, "input_video": _input_video})


def with_video_parts(body: Mapping[str, Any], form: str) -> dict[str, Any] | None:
    """`body` with its `video_url` parts in `form`; None when it has none to change."""
    convert = VIDEO_PARTS.get(form)
    messages = body.get("messages")
    if form == "video_url" or convert is None or not isinstance(messages, list):
        return None
    changed = False
    out = []
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list) and any(isinstance(p, Mapping) and p.get("type") == "video_url" for p in content):
            parts = [convert(p) if isinstance(p, Mapping) and p.get("type") == "video_url" else p for p in content]
            message = {**message, "content": parts}
            changed = True
        out.append(message)
    return {**body, "messages": out} if changed else None


# The thinking switch in every form servers read, name -> (fields for On, fields for Off):
# `chat_template_kwargs` (vLLM, SGLang, llama.cpp: Qwen3 `enable_thinking`, DeepSeek-V3.1 and
# Granite `thinking`), a top-level `enable_thinking` (Xinference, some Qwen deployments),
# GLM/DeepSeek-style `thinking.type`, and `reasoning_effort` (`none` turns thinking off on Ollama
# /v1 and OpenAI). The generic dialect sends them all: servers that reject one by name get it
# dropped and remembered (dialects.learned), the rest ignore what they do not know. Which one a
# server honours is found at save where a small request can tell (`_detected_thinking_form`).
THINKING_FORMS: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = _frozen(
    {
        "chat_template_kwargs": (
            {"chat_template_kwargs": {"enable_thinking": True, "thinking": True}},
            {"chat_template_kwargs": {"enable_thinking": False, "thinking": False}},
        ),
        "enable_thinking": ({"enable_thinking": True}, {"enable_thinking": False}),
        "thinking_type": ({"thinking": {"type": "enabled"}}, {"thinking": {"type": "disabled"}}),
        "reasoning_effort": ({}, {"reasoning_effort": "none"}),
    }
)
GENERIC = Dialect(
    name="generic",
    thinking_on=_frozen({k: v for on, _ in THINKING_FORMS.values() for k, v in on.items()}),
    thinking_off=_frozen({k: v for _, off in THINKING_FORMS.values() for k, v in off.items()}),
)
# api-docs.deepseek.com (thinking mode): `thinking.type`, and a 400 unless assistant tool-call
# turns carry their `reasoning_content`.
DEEPSEEK = Dialect(
    name="deepseek",
    thinking_on=_frozen({"thinking": {"type": "enabled"}}),
    thinking_off=_frozen({"thinking": {"type": "disabled"}}),
    echo_reasoning=True,
)
# Mistral answers 422 to any field it does not know: switch nothing it would refuse.
MISTRAL = Dialect(name="mistral")
# OpenAI's chat API names the limit max_completion_tokens (its reasoning models refuse max_tokens).
OPENAI = Dialect(
    name="openai", thinking_off=_frozen({"reasoning_effort": "minimal"}), max_tokens_field="max_completion_tokens"
)

# Host suffix -> dialect.
KNOWN_HOSTS: Mapping[str, Dialect] = _frozen(
    {"deepseek.com": DEEPSEEK, "mistral.ai": MISTRAL, "api.openai.com": OPENAI}
)


# Self-hosted servers have no telling host: detection at save names them (`_detected_server`, from
# what /models says). Server kind -> the fields in which it differs from the generic dialect.
KNOWN_SERVERS: Mapping[str, Mapping[str, Any]] = _frozen({"llama.cpp": _frozen({"video_part": "input_video"})})


def dialect_for(base_url: str, thinking_form: str | None = None, server: str | None = None) -> Dialect:
    """The dialect of the server at `base_url`: a known host's, else the generic one, which speaks
    only `thinking_form` (detected at save) when that is known, adapted to the `server` kind
    detection named."""
    host = httpx.URL(base_url).host
    for suffix, dialect in KNOWN_HOSTS.items():
        if host == suffix or host.endswith("." + suffix):
            return dialect
    dialect = GENERIC
    if thinking_form in THINKING_FORMS:
        on, off = THINKING_FORMS[thinking_form]
        dialect = replace(
            GENERIC, name=f"generic/{thinking_form}", thinking_on=_frozen(dict(on)), thinking_off=_frozen(dict(off))
        )
    if server in KNOWN_SERVERS:
        dialect = replace(dialect, name=f"{dialect.name}/{server}", **KNOWN_SERVERS[server])
    return dialect
