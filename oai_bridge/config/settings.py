"""The credentials form (a dict of strings from Dify) parsed once into frozen, typed Settings.

This is the only module that reads form keys; everything after it takes a `Settings`.
Invalid values raise `SettingsError` naming the field, never echoing secret values.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from oai_bridge.config.findings import AUTO_DEFAULTS, Findings, findings_from
from oai_bridge.config.urls import base_query, display_url, pasted_responses_url, secret_query_values

__all__ = [
    "API_TYPES",
    "DEFAULT_CONTEXT_SIZE",
    "DEFAULT_EMBEDDING_BATCH",
    "DEFAULT_TTS_MAX_CHARS",
    "TTS_FORMATS",
    "ApiType",
    "MultimodalInput",
    "ScoreScale",
    "Settings",
    "SettingsError",
    "TriState",
    "parse_settings",
]

TriState = Literal["auto", "on", "off"]
ScoreScale = Literal["auto", "served", "sigmoid"]
MultimodalInput = Literal["auto", "off", "messages", "jina"]
ApiType = Literal["auto", "chat_completions", "responses"]
API_TYPES: tuple[ApiType, ...] = ("auto", "chat_completions", "responses")

DEFAULT_TIMEOUT = 300.0
DEFAULT_MAX_RETRIES = 2
# Used when the form leaves context_size empty and the server does not report one.
DEFAULT_CONTEXT_SIZE = 4096
DEFAULT_EMBEDDING_BATCH = 32
# --- audio ---
# OpenAI's /audio/speech input limit; most other servers take at least as much.
DEFAULT_TTS_MAX_CHARS = 4096
TTS_FORMATS = ("mp3", "wav", "opus", "flac", "aac", "pcm")


class SettingsError(ValueError):
    """A form value that cannot be used; the message names the field and says what is expected."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Everything one model's form says, typed. Defaults are the form's defaults."""

    model: str
    """The model name as entered in Dify."""
    base_url: str
    """As typed; see `oai_bridge.config.urls.normalize_base_url` for what is requested."""
    base_query: tuple[tuple[str, str], ...] = ()
    """The query string typed into the base URL (Azure's `api-version`): sent with every request.
    Kept apart from `base_url`, so a corrected base URL keeps it."""
    api_key: str | None = None
    endpoint_model: str = ""
    """The model id sent to the server (`endpoint_model_name`, else `model`)."""
    mode: Literal["chat", "completion"] = "chat"
    api_type: ApiType = "auto"
    """Which API a chat-mode LLM speaks; see `responses_api`."""
    context_size: int | None = None
    """None = not set in the form (detect, else DEFAULT_CONTEXT_SIZE)."""
    max_tokens: int | None = None
    tool_calling: TriState = "auto"
    vision: TriState = "auto"
    audio: TriState = "auto"
    video: TriState = "auto"
    document: TriState = "auto"
    structured_output: TriState = "auto"
    thinking: TriState = "auto"
    timeout: float = DEFAULT_TIMEOUT
    """Seconds without progress (connect excluded) before giving up."""
    max_retries: int = DEFAULT_MAX_RETRIES
    extra_headers: tuple[tuple[str, str], ...] = ()
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    verify_tls: bool = True
    ca_certificate: str = ""
    """PEM certificates (an internal CA's) trusted besides the default ones; empty = none."""
    max_chunks: int = DEFAULT_EMBEDDING_BATCH
    dimensions: int | None = None
    query_prefix: str = ""
    document_prefix: str = ""
    score_scale: ScoreScale = "auto"
    """Rerank scores: as served, or mapped to 0-1 by a sigmoid (auto: sigmoid when logits were detected)."""
    rerank_images: TriState = "auto"
    """Rerank image documents: on/off by hand, auto = what the probe at save found."""
    multimodal_input: MultimodalInput = "auto"
    """How the embedding server takes images: vLLM chat-style `messages`, Jina `input` objects, or off."""
    # --- audio ---
    stt_language: str = ""
    """ISO-639-1 code of the speech, lower-case; empty = the server detects it."""
    stt_prompt: str = ""
    tts_voices: tuple[str, ...] = ()
    """Voices named in the form (empty = discovered at validation: `detected.value("voices")`)."""
    tts_format: str = "mp3"
    tts_max_chars: int = DEFAULT_TTS_MAX_CHARS
    detected: Findings = field(default_factory=Findings)
    """Facts found by detection when the model was saved."""

    def capability(self, name: str) -> bool:
        """Whether a tri-state capability is on: the form's on/off, else detected, else the default."""
        value: TriState = getattr(self, name)
        if value != "auto":
            return value == "on"
        found = self.detected.feature(name)
        return AUTO_DEFAULTS[name] if found is None else found

    @property
    def responses_api(self) -> bool:
        """Whether LLM calls go to `/responses`: chosen in the form, else found at save
        (`_detected_api_type`), else a pasted Base URL ending in `/responses`. A model saved
        without the finding uses chat completions."""
        if self.mode != "chat":
            return False
        if self.api_type != "auto":
            return self.api_type == "responses"
        found = self.detected.value("api_type")
        if found is not None:
            return found == "responses"
        return pasted_responses_url(self.base_url)

    @property
    def known_context_size(self) -> int | None:
        """The context size the form or detection gave; None when only the default applies."""
        return self.context_size or self.detected.context_size

    @property
    def effective_context_size(self) -> int:
        return self.known_context_size or DEFAULT_CONTEXT_SIZE

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in an error or a log: the key and extra header values."""
        password = urlsplit(self.base_url).password  # https://user:secret@host/v1
        headers = (value for _, value in self.extra_headers)
        return tuple(v for v in (self.api_key, password, *secret_query_values(self.base_query), *headers) if v)

    def __repr__(self) -> str:
        # Never show the key or header values, even in a debugger or a log line.
        return f"Settings(model={self.model!r}, base_url={display_url(self.base_url)!r}, mode={self.mode!r})"


def _text(credentials: Mapping[str, Any], key: str) -> str:
    value = credentials.get(key)
    if value is None:
        return ""
    return str(value).strip()


def _positive_int(credentials: Mapping[str, Any], key: str, *, default: int | None) -> int | None:
    raw = _text(credentials, key)
    if not raw:
        return default
    try:
        value = int(float(raw))
    except (ValueError, OverflowError):
        raise SettingsError(f"`{key}` must be a whole number, got {raw!r}.") from None
    if value <= 0:
        raise SettingsError(f"`{key}` must be greater than 0, got {value}.")
    return value


def _tri_state(credentials: Mapping[str, Any], key: str) -> TriState:
    raw = _text(credentials, key).lower() or "auto"
    # YAML 1.1 readers and older Dify forms may hand over booleans for on/off.
    raw = {"true": "on", "false": "off"}.get(raw, raw)
    if raw not in ("auto", "on", "off"):
        raise SettingsError(f"`{key}` must be auto, on or off, got {raw!r}.")
    return raw  # type: ignore[return-value]


def _json_object(credentials: Mapping[str, Any], key: str, *, secret: bool) -> dict[str, Any]:
    raw = credentials.get(key)
    if isinstance(raw, Mapping):
        return dict(raw)
    text = "" if raw is None else str(raw).strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        shown = "" if secret else f", got {text[:60]!r}"
        raise SettingsError(f'`{key}` must be a JSON object such as {{"name": "value"}}{shown}.') from None
    if not isinstance(value, dict):
        raise SettingsError(f"`{key}` must be a JSON object, not {type(value).__name__}.")
    return value


def _headers(credentials: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    headers = _json_object(credentials, "extra_headers", secret=True)
    out = []
    for name, value in headers.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise SettingsError(f"`extra_headers` value for {name!r} must be a string.")
        out.append((str(name), str(value)))
    return tuple(out)


_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


def _ca_certificate(credentials: Mapping[str, Any]) -> str:
    """The CA certificate(s) pasted into the form, as clean PEM. A one-line text field loses the
    line breaks of a pasted PEM: the base64 between the markers is taken whatever its spacing."""
    raw = _text(credentials, "ca_certificate")
    if not raw:
        return ""
    blocks = []
    for body in _PEM_BLOCK.findall(raw):
        data = "".join(body.split())
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            blocks = []
            break
        lines = [data[i : i + 64] for i in range(0, len(data), 64)]
        blocks.append("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n")
    pem = "".join(blocks)
    try:
        if not pem:
            raise ssl.SSLError("no certificate")
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem)
    except ssl.SSLError:
        raise SettingsError(
            "`ca_certificate` must be a certificate in PEM form, from -----BEGIN CERTIFICATE----- to "
            "-----END CERTIFICATE----- (the CA that signed the server's certificate)."
        ) from None
    return pem


def _language(credentials: Mapping[str, Any]) -> str:
    raw = _text(credentials, "stt_language").lower()
    if raw and not (len(raw) == 2 and raw.isascii() and raw.isalpha()):
        raise SettingsError(f"`stt_language` must be a two-letter ISO-639-1 code such as en or zh, got {raw!r}.")
    return raw


def _choice(credentials: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    raw = _text(credentials, key).lower() or allowed[0]
    if raw not in allowed:
        raise SettingsError(f"`{key}` must be one of {', '.join(allowed)}, got {raw!r}.")
    return raw


def parse_settings(model: str, credentials: Mapping[str, Any]) -> Settings:
    """Parse Dify's credentials form for `model`; raise SettingsError on unusable values."""
    base_url = _text(credentials, "base_url")
    if not base_url:
        raise SettingsError("`base_url` is required, e.g. http://host.docker.internal:11434/v1.")
    if not base_url.lower().startswith(("http://", "https://")):
        raise SettingsError(f"`base_url` must start with http:// or https://, got {base_url!r}.")
    mode = _text(credentials, "mode").lower() or "chat"
    if mode not in ("chat", "completion"):
        raise SettingsError(f"`mode` must be chat or completion, got {mode!r}.")
    timeout_raw = _text(credentials, "timeout")
    try:
        timeout = float(timeout_raw) if timeout_raw else DEFAULT_TIMEOUT
    except ValueError:
        raise SettingsError(f"`timeout` must be a number of seconds, got {timeout_raw!r}.") from None
    if not 0 < timeout < float("inf"):  # also refuses nan
        raise SettingsError("`timeout` must be greater than 0 seconds.")
    retries_raw = _text(credentials, "max_retries")
    try:
        max_retries = int(float(retries_raw)) if retries_raw else DEFAULT_MAX_RETRIES
    except (ValueError, OverflowError):
        raise SettingsError(f"`max_retries` must be a whole number, got {retries_raw!r}.") from None
    if not 0 <= max_retries <= 10:
        raise SettingsError("`max_retries` must be between 0 and 10.")
    verify = _text(credentials, "verify_tls").lower() or "on"
    return Settings(
        model=model,
        base_url=base_url,
        base_query=base_query(base_url),
        api_key=_text(credentials, "api_key") or None,
        endpoint_model=_text(credentials, "endpoint_model_name") or model,
        mode=mode,  # type: ignore[arg-type]
        api_type=_choice(credentials, "api_type", API_TYPES),  # type: ignore[arg-type]
        context_size=_positive_int(credentials, "context_size", default=None),
        max_tokens=_positive_int(credentials, "max_tokens", default=None),
        tool_calling=_tri_state(credentials, "tool_calling"),
        vision=_tri_state(credentials, "vision"),
        audio=_tri_state(credentials, "audio"),
        video=_tri_state(credentials, "video"),
        document=_tri_state(credentials, "document"),
        structured_output=_tri_state(credentials, "structured_output"),
        thinking=_tri_state(credentials, "thinking"),
        timeout=timeout,
        max_retries=max_retries,
        extra_headers=_headers(credentials),
        extra_body=_json_object(credentials, "extra_body", secret=False),
        verify_tls=verify not in ("off", "false", "0", "no"),
        ca_certificate=_ca_certificate(credentials),
        max_chunks=_positive_int(credentials, "max_chunks", default=DEFAULT_EMBEDDING_BATCH) or DEFAULT_EMBEDDING_BATCH,
        dimensions=_positive_int(credentials, "dimensions", default=None),
        query_prefix=str(credentials.get("query_prefix") or ""),
        document_prefix=str(credentials.get("document_prefix") or ""),
        score_scale=_choice(credentials, "score_scale", ("auto", "served", "sigmoid")),  # type: ignore[arg-type]
        rerank_images=_tri_state(credentials, "rerank_images"),
        multimodal_input=_choice(  # type: ignore[arg-type]
            credentials, "multimodal_input", ("auto", "off", "messages", "jina")
        ),
        # --- audio ---
        stt_language=_language(credentials),
        stt_prompt=str(credentials.get("stt_prompt") or "").strip(),
        tts_voices=tuple(v.strip() for v in _text(credentials, "tts_voices").split(",") if v.strip()),
        tts_format=_choice(credentials, "tts_format", TTS_FORMATS),
        tts_max_chars=_positive_int(credentials, "tts_max_chars", default=DEFAULT_TTS_MAX_CHARS)
        or DEFAULT_TTS_MAX_CHARS,
        detected=findings_from(credentials),
    )
