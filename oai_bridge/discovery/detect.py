"""Detection: what an endpoint and model support, found with a few small requests in the same
order for every model type:

    base URL and listed models -> context size from the card -> the plain request (must work)
    -> context size from the native API (after it: Ollama lists loaded models only)
    -> the model type's capabilities left on auto, concurrently

Used when a model is saved (validation writes the findings into the credentials, which Dify
keeps), by `make doctor` (the same code), and lazily once per process when a Dify version did
not keep them. The model list is never a gate: it only explains a refused model name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from io import BytesIO
from types import MappingProxyType
from typing import Any, Literal

from dify_plugin.entities.model.message import UserPromptMessage

from oai_bridge.audio.speech import synthesize
from oai_bridge.audio.transcribe import tone_clip, transcribe
from oai_bridge.audio.voices import choose_voice, discover_voices, saved_form
from oai_bridge.chat.answer import parse_completion
from oai_bridge.chat.body import build_chat_body, build_completion_body
from oai_bridge.chat.events import StreamEnd
from oai_bridge.chat.pipeline import chat_reader, read_events
from oai_bridge.config.findings import Findings
from oai_bridge.config.settings import Settings
from oai_bridge.config.thinking import thinking_choice
from oai_bridge.config.urls import base_query, normalize_base_url, pasted_responses_url, with_query
from oai_bridge.discovery.capabilities import (
    CHAT_CAPABILITIES,
    NOT_IN_RESPONSES,
    PING_TOKENS,
    accepted,
    answer_message,
    chat_request,
    shows_reasoning,
    shows_reasoning_items,
    thinking_form,
)
from oai_bridge.discovery.endpoint import context_from_card, find_base_url, native_context, server_kind
from oai_bridge.embeddings.embed import embed_texts
from oai_bridge.embeddings.multimodal import detect_form
from oai_bridge.errors.kinds import ConnectionFailedError, ServerStatusError
from oai_bridge.rerank.run import detect_route, route_findings, takes_image_documents
from oai_bridge.singleflight import SingleFlight
from oai_bridge.transport.ending import release
from oai_bridge.transport.send import open_stream, post_json, stream_text

__all__ = [
    "PROBE_TIMEOUT",
    "Detection",
    "ModelKind",
    "auto_capabilities",
    "detect",
    "kind_of",
    "lazy_detected",
    "save_findings",
]

ModelKind = Literal["chat", "completion", "embedding", "rerank", "speech2text", "tts"]
# Each capability check waits at most this long (the plain request gets the model's timeout: a
# model may load on first use).
PROBE_TIMEOUT = 30.0
_CAPABILITIES: Mapping[ModelKind, Mapping[str, Callable[[Settings], object]]] = MappingProxyType(
    {"chat": CHAT_CAPABILITIES, "completion": {}, "embedding": {}, "rerank": {}, "speech2text": {}, "tts": {}}
)
# Kinds whose calls need what their ping found (a rerank path), not only capabilities: detected
# lazily even with no capability left on auto.
_PING_FINDINGS: frozenset[ModelKind] = frozenset({"rerank"})
# Model kinds that have a context window (the native APIs are asked for it).
_CONTEXT_KINDS: frozenset[ModelKind] = frozenset({"chat", "completion", "embedding", "rerank"})
# What validation speaks (the shortest text every speech server accepts).
TTS_PING_TEXT = "Hello."


@dataclass
class Detection:
    """What detection found. None means "could not tell"."""

    base_url: str
    models: list[str] | None = None
    context_size: int | None = None
    dimensions: int | None = None
    features: dict[str, bool] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    """Per-model-type facts (a rerank path, a score scale, voices) saved as `_detected_<name>`."""
    reasoning_seen: bool = False
    streamed_usage: bool | None = None
    """Only the doctor asks (it costs a request)."""
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> Findings:
        features = dict(self.features)
        if self.reasoning_seen:
            features["thinking"] = True
        return Findings(
            context_size=self.context_size,
            dimensions=self.dimensions,
            features=MappingProxyType(features),
            values=MappingProxyType(dict(self.values)),
        )


def kind_of(
    settings: Settings, model_type: Literal["llm", "text-embedding", "rerank", "speech2text", "tts"]
) -> ModelKind:
    if model_type == "text-embedding":
        return "embedding"
    if model_type == "rerank":
        return "rerank"
    if model_type in ("speech2text", "tts"):
        return model_type
    return "completion" if settings.mode == "completion" else "chat"


def _with_api(settings: Settings, api_type: str) -> Settings:
    return replace(settings, detected=settings.detected.with_value("api_type", api_type))


def _plain_chat_request(settings: Settings, found: Detection) -> tuple[Settings, Any]:
    """The plain request, to the API the calls will use. With API type Auto: chat completions,
    unless the pasted Base URL ended in /responses, or /chat/completions answers 404/405 and
    /responses answers (never on a 400, a 5xx or a timeout: those say nothing about the API).
    The choice is saved (`_detected_api_type`)."""
    if settings.api_type != "auto":
        return settings, chat_request(settings)
    choice = found.values.setdefault("api_type", "chat_completions")  # `detect` set it for a pasted URL
    settings = _with_api(settings, choice)
    try:
        return settings, chat_request(settings)
    except ServerStatusError as exc:
        if choice != "chat_completions" or exc.status not in (404, 405):
            raise
        refused = exc
    responses = _with_api(settings, "responses")
    try:
        answer = chat_request(responses)
    except (ServerStatusError, ConnectionFailedError):
        raise refused from None  # no /responses either: chat completions' own error says more
    found.values["api_type"] = "responses"
    return responses, answer


def _ping_chat(settings: Settings, found: Detection) -> None:
    settings, answer = _plain_chat_request(settings, found)
    if settings.responses_api:
        found.reasoning_seen = shows_reasoning_items(answer)
        return
    message = answer_message(answer)
    content = message.get("content") if isinstance(message.get("content"), str) else ""
    in_field = bool(message.get("reasoning_content") or message.get("reasoning"))
    found.reasoning_seen = shows_reasoning(message)
    if found.reasoning_seen:
        # Which form of the thinking switch this server honours (a few pings, only for a model
        # that was seen reasoning); the switch then speaks only that form.
        form = thinking_form(replace(settings, timeout=min(settings.timeout, PROBE_TIMEOUT)))
        if form:
            found.values["thinking_form"] = form
    if content and not in_field:
        # Whether the template opens `<think>` in the prompt (the answer closes a tag it never
        # opened: DeepSeek-R1 distills, QwQ). Thinking = On reads a stream's start as reasoning
        # only then; a model that answers straight away keeps its answer as the answer.
        found.values["think_in_prompt"] = "true" if "</think>" in content and "<think>" not in content else "false"


def _ping_completion(settings: Settings, found: Detection) -> None:
    body = build_completion_body(
        settings, [UserPromptMessage(content="ping")], {"max_tokens": PING_TOKENS}, stream=False
    )
    parse_completion(post_json(settings, "/completions", body), completion_mode=True)


def _ping_embedding(settings: Settings, found: Detection) -> None:
    vectors, _ = embed_texts(settings, ["ping"])
    found.dimensions = len(vectors[0])
    if settings.multimodal_input == "auto":  # which image form the server embeds, if any
        found.values["multimodal_input"] = detect_form(settings)


def _ping_rerank(settings: Settings, found: Detection) -> None:
    """Rerank two documents for real: the path and shape that answered, whether the scores are
    logits, and whether the route scores an image document (the `vision` feature)."""
    route, scores = detect_route(settings)
    found.values.update(route_findings(route, scores))
    if settings.rerank_images == "auto":  # the form's On/Off needs no probe
        found.features["vision"] = takes_image_documents(settings, route)


def _ping_speech2text(settings: Settings, found: Detection) -> None:
    """Transcribe a half-second tone the plugin makes itself (nothing is downloaded)."""
    transcribe(settings, BytesIO(tone_clip()))


def _ping_tts(settings: Settings, found: Detection) -> None:
    """Read the server's voices (unless the form names them), then speak with the first one."""
    voices = [] if settings.tts_voices else discover_voices(settings)
    if voices:
        found.values["voices"] = saved_form(voices)
        settings = replace(settings, detected=settings.detected.with_value("voices", found.values["voices"]))
    for _ in synthesize(settings, TTS_PING_TEXT, choose_voice(settings, None)):
        pass  # synthesize raises when the answer holds no audio


_PINGS: Mapping[ModelKind, Callable[[Settings, Detection], None]] = MappingProxyType(
    {
        "chat": _ping_chat,
        "completion": _ping_completion,
        "embedding": _ping_embedding,
        "rerank": _ping_rerank,
        "speech2text": _ping_speech2text,
        "tts": _ping_tts,
    }
)


def auto_capabilities(settings: Settings, kind: ModelKind) -> tuple[str, ...]:
    """The capabilities to check: the model type's, where the form left them on auto."""
    lacking = NOT_IN_RESPONSES if settings.responses_api else frozenset()
    return tuple(name for name in _CAPABILITIES[kind] if getattr(settings, name) == "auto" and name not in lacking)


def detect(settings: Settings, kind: ModelKind, *, doctor: bool = False) -> Detection:
    """Detect. Raises whatever the plain request raises (the caller maps it); capability checks
    only ever answer True/False/None."""
    base, cards = find_base_url(settings)
    found = Detection(base_url=base)
    if kind == "chat" and settings.api_type == "auto" and pasted_responses_url(settings.base_url):
        found.values["api_type"] = "responses"  # seen only before the URL is normalised
    if base != normalize_base_url(settings.base_url):
        found.notes.append(f"base URL corrected to {base} (the server answers under /v1)")
    settings = replace(settings, base_url=base, max_retries=0)
    quick = replace(settings, timeout=min(settings.timeout, PROBE_TIMEOUT))
    if cards:
        found.models = [card["id"] for card in cards]
        if server := server_kind(cards):
            found.values["server"] = server
        card = next((c for c in cards if c["id"] == settings.endpoint_model), None)
        found.context_size = context_from_card(card) if card else None
        if card is None:
            found.notes.append(f"the server does not list {settings.endpoint_model!r}, but answers it")
    _PINGS[kind](settings, found)
    if api_type := found.values.get("api_type"):  # the checks below speak the API the ping found
        settings = _with_api(settings, api_type)
        quick = replace(settings, timeout=min(settings.timeout, PROBE_TIMEOUT))
    if found.context_size is None and kind in _CONTEXT_KINDS:
        found.context_size = native_context(quick, base)
    jobs: dict[str, Callable[[], bool | None]] = {
        name: partial(_probe, _CAPABILITIES[kind][name], quick) for name in auto_capabilities(settings, kind)
    }
    if doctor and kind == "chat" and not settings.responses_api:
        jobs["streamed_usage"] = lambda: _streamed_usage(quick)
    if jobs:
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
            results = {name: future.result() for name, future in futures.items()}
        found.streamed_usage = results.pop("streamed_usage", None)
        found.features.update({name: value for name, value in results.items() if value is not None})
    return found


def _probe(check: Callable[[Settings], object], settings: Settings) -> bool | None:
    return accepted(lambda: check(settings))


def _streamed_usage(settings: Settings) -> bool | None:
    """Whether the server reports usage in streams (the doctor shows it; the plugin estimates
    without it). Read by the chat stream's own reading chain, so the probe ends where a call
    ends: at `[DONE]` or a finish reason with its usage, whether or not the body closes."""
    thinking = thinking_choice(settings)  # the form's: no app asks
    messages = [UserPromptMessage(content="ping")]
    body = build_chat_body(settings, messages, {"max_tokens": 1}, thinking=thinking, stream=True)
    try:
        response = open_stream(settings, "/chat/completions", body)
    except (ServerStatusError, ConnectionFailedError):
        return None
    rest, events = read_events(stream_text(response), chat_reader(settings, thinking))
    try:
        end = next(event for event in events if isinstance(event, StreamEnd))
        return end.usage is not None
    except Exception:  # noqa: BLE001 - any failure only means the probe cannot tell
        return None
    finally:
        release(response, rest)


def save_findings(credentials: dict[str, Any], found: Detection) -> None:
    """Write what detection found into the credentials being validated: Dify saves what
    validation returns, so later calls and the model schema use it without detecting again."""
    typed = str(credentials.get("base_url", ""))
    if found.base_url != normalize_base_url(typed):
        credentials["base_url"] = with_query(found.base_url, base_query(typed))
    credentials.update(found.findings.to_credentials())


_lazy_lock = threading.Lock()
# (model kind, base URL, model, key) -> (findings, time they stop being valid)
_LazyKey = tuple[str, str, str, str | None]
_lazy: dict[_LazyKey, tuple[Findings, float]] = {}
# Concurrent first calls of one model wait for one detection.
_lazy_flights: SingleFlight[_LazyKey, Findings] = SingleFlight()
# An endpoint that is down is asked again after this long, not on every schema request.
RETRY_DETECTION_AFTER = 60.0


def _lazy_cached(key: _LazyKey) -> Findings | None:
    with _lazy_lock:
        cached = _lazy.get(key)
    return cached[0] if cached and cached[1] > time.monotonic() else None


def lazy_detected(settings: Settings, kind: ModelKind) -> Findings:
    """Findings for a model saved without them (a Dify version that did not keep what validation
    returned): detected once per process, with short timeouts, and cached; empty while the
    endpoint is unreachable (asked again after RETRY_DETECTION_AFTER seconds). Calls that arrive
    while it runs wait for that one detection. An optimisation only: every answer is also correct
    without it."""
    if settings.detected or not (auto_capabilities(settings, kind) or kind in _PING_FINDINGS):
        return settings.detected
    key = (kind, normalize_base_url(settings.base_url), settings.endpoint_model, settings.api_key)
    cached = _lazy_cached(key)
    if cached is not None:
        return cached
    return _lazy_flights.run(key, lambda: _detect_lazily(settings, kind, key))


def _detect_lazily(settings: Settings, kind: ModelKind, key: _LazyKey) -> Findings:
    cached = _lazy_cached(key)  # a detection that ended between the caller's look and this flight
    if cached is not None:
        return cached
    quick = replace(settings, timeout=min(settings.timeout, PROBE_TIMEOUT))
    try:
        findings, expires = detect(quick, kind).findings, float("inf")
    except Exception:  # noqa: BLE001 - unreachable now: remember briefly, try again later
        findings, expires = Findings(), time.monotonic() + RETRY_DETECTION_AFTER
    with _lazy_lock:
        _lazy[key] = (findings, expires)
    return findings
