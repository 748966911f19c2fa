"""What an endpoint supports, found with a few small requests: the base URL (a missing /v1),
the models it lists, the context size it reports, and the capabilities left on `auto`.

Used when a model is saved (validation writes the findings into the credentials, which Dify
keeps), lazily once per process when a Dify version did not keep them, and by the doctor CLI.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import httpx

from oai_bridge import lazy_openai as openai
from oai_bridge.discovery import normalize_base_url
from oai_bridge.errors import ModelNotFoundError
from oai_bridge.http import DISCOVERY_TIMEOUT, get_client, open_response, post_json, release
from oai_bridge.settings import DETECTED_PREFIX, Settings
from oai_bridge.sse import iter_lines, iter_sse_data

__all__ = [
    "CAPABILITIES",
    "Probe",
    "auto_capabilities",
    "detected_credentials",
    "find_base_url",
    "lazy_detected",
    "native_context",
    "probe_endpoint",
    "require_listed",
    "save_findings",
]

# Tri-state settings probed when left on auto.
CAPABILITIES = ("tool_calling", "structured_output", "vision")
PROBE_TIMEOUT = 30.0
# 1x1 transparent PNG: the smallest image every vision server accepts.
# 1x1 transparent PNG: the smallest image every vision server accepts.
_PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def _png_with_comment(png: bytes, size: int) -> bytes:
    """The same image with a `size`-byte tEXt chunk after IHDR: identical pixels, bigger file."""
    data = b"Comment\x00" + b"x" * size
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


_PNG = _data_uri(_PNG_BYTES)
_PNG_PADDED = _data_uri(_png_with_comment(_PNG_BYTES, 2048))
# A server that reads an image as text pays for every byte of the data URI (~700 more tokens for
# the padded copy); a vision model pays for pixels, which are the same in both images.
_TEXT_READ_IMAGE_TOKENS = 200
_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current time",
        "parameters": {"type": "object", "properties": {}},
    },
}
_PROBE_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "probe", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}},
}


@dataclass
class Probe:
    """What probing found. None means "could not tell"."""

    base_url: str
    models: list[str] | None = None
    context_size: int | None = None
    capabilities: dict[str, bool] = field(default_factory=dict)
    streamed_usage: bool | None = None
    reasoning_seen: bool = False
    dimensions: int | None = None
    """Vector size of an embedding model (sizes the calls Dify makes)."""
    notes: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    """Other detected values by name (rerank path and score scale, multimodal input form)."""


def _get_models(settings: Settings, base_url: str) -> tuple[int, Any]:
    """(status, JSON body or None) of GET {base_url}/models."""
    client = get_client(replace(settings, base_url=base_url))
    try:
        response = client.get("/models", cast_to=httpx.Response, options={"timeout": DISCOVERY_TIMEOUT})
    except openai.APIStatusError as exc:
        return exc.status_code, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def find_base_url(settings: Settings) -> tuple[str, Any]:
    """The API root to use and its /models answer. A base URL without /v1 whose /models is 404
    while /v1/models answers is corrected (Ollama's "404 page not found", llmcord#56)."""
    base = normalize_base_url(settings.base_url)
    status, data = _get_models(settings, base)
    if status == 404 and not base.endswith("/v1"):
        status_v1, data_v1 = _get_models(settings, base + "/v1")
        if status_v1 == 200:
            return base + "/v1", data_v1
    return base, data if status == 200 else None


def _model_cards(data: Any) -> list[Mapping[str, Any]]:
    items = data.get("data") if isinstance(data, Mapping) else None
    return [item for item in items or () if isinstance(item, Mapping) and isinstance(item.get("id"), str)]


def context_from_card(card: Mapping[str, Any]) -> int | None:
    """The context size a model card reports: vLLM/SGLang `max_model_len`, OpenRouter and LM Studio
    `context_length`/`max_context_length`, llama.cpp `meta.n_ctx` (per slot) or `meta.n_ctx_train`."""
    meta = card.get("meta") if isinstance(card.get("meta"), Mapping) else {}
    for value in (
        card.get("max_model_len"),
        card.get("context_length"),
        card.get("max_context_length"),
        meta.get("n_ctx"),
        meta.get("n_ctx_train"),
    ):
        if isinstance(value, int) and value > 0:
            return value
    return None


def _get_json(settings: Settings, url: str) -> Any:
    """GET an absolute URL on the server (native APIs beside /v1); None on any failure."""
    client = get_client(settings)
    try:
        return client.get(url, cast_to=httpx.Response, options={"timeout": DISCOVERY_TIMEOUT}).json()
    except (openai.APIError, httpx.HTTPError, ValueError):
        return None


def native_context(settings: Settings, base_url: str) -> int | None:
    """The context a server really uses, from its native API, when /v1/models does not say:
    LM Studio `/api/v0/models` (`loaded_context_length`, else `max_context_length`) and Ollama
    `/api/ps` (`context_length` of the loaded model; Ollama silently truncates to it)."""
    root = base_url.removesuffix("/v1")
    model = settings.endpoint_model
    lmstudio = _get_json(settings, f"{root}/api/v0/models")
    for card in _model_cards(lmstudio):
        if card["id"] == model:
            for key in ("loaded_context_length", "max_context_length"):
                if isinstance(card.get(key), int) and card[key] > 0:
                    return card[key]
    ollama = _get_json(settings, f"{root}/api/ps")
    for loaded in (ollama or {}).get("models") or () if isinstance(ollama, Mapping) else ():
        if isinstance(loaded, Mapping) and model in (loaded.get("name"), loaded.get("model")):
            value = loaded.get("context_length")
            if isinstance(value, int) and value > 0:
                return value
    return None


def _chat(settings: Settings, **fields: Any) -> dict[str, Any]:
    body = {
        "model": settings.endpoint_model,
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
        **fields,
    }
    return post_json(settings, "/chat/completions", body)


# Words by which a server says it lacks a feature even when it answers 5xx (llama.cpp without
# --jinja: 500 "tools param requires --jinja flag"; llama-cpp-python: 500 for validation errors).
_UNSUPPORTED = ("support", "jinja", "not implemented", "not enabled", "requires", "validation error")


def _accepted(call: Callable[[], object]) -> bool | None:
    """True if the server answered 2xx (and the call did not return False), False if it refused
    the feature, None if it could not tell (unreachable, rate limited, overloaded: never saved
    as "off")."""
    try:
        verdict = call()
    except openai.APIStatusError as exc:
        status = exc.status_code
        if 400 <= status < 500 and status not in (408, 429):
            return False
        text = str(exc.body).lower()
        return False if status == 500 and any(word in text for word in _UNSUPPORTED) else None
    except (openai.APIError, httpx.HTTPError, ValueError):
        return None
    return verdict is not False


def _streamed_usage(settings: Settings) -> bool | None:
    body = {
        "model": settings.endpoint_model,
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    try:
        response = open_response(settings, "/chat/completions", body)
    except (openai.APIError, httpx.HTTPError):
        return None
    lines = iter_lines(response.iter_text())
    try:
        return any('"usage"' in data and json.loads(data).get("usage") for data in iter_sse_data(lines))
    except (ValueError, httpx.HTTPError):
        return None
    finally:
        release(response, lines)


def _image_prompt_tokens(settings: Settings, uri: str) -> int | None:
    content = [{"type": "text", "text": "ping"}, {"type": "image_url", "image_url": {"url": uri}}]
    answer = _chat(settings, messages=[{"role": "user", "content": content}])
    usage = answer.get("usage") if isinstance(answer, Mapping) else None
    tokens = usage.get("prompt_tokens") if isinstance(usage, Mapping) else None
    return tokens if isinstance(tokens, int) else None


def _sees_images(settings: Settings) -> bool:
    """Whether the model takes images as images. Accepting an image part is not enough: some
    servers (llama-cpp-python without a vision handler) turn it into prompt text, and Dify would
    then send users' pictures as thousands of tokens of base64."""
    small = _image_prompt_tokens(settings, _PNG)
    padded = _image_prompt_tokens(settings, _PNG_PADDED)
    if small is None or padded is None:
        return True  # no usage reported: accepting the image is all that can be known
    return padded - small < _TEXT_READ_IMAGE_TOKENS


_PROBES: dict[str, Callable[[Settings], Callable[[], object]]] = {
    "tool_calling": lambda s: lambda: _chat(s, tools=[_PROBE_TOOL]),
    "structured_output": lambda s: lambda: _chat(s, response_format=_PROBE_SCHEMA),
    "vision": lambda s: lambda: _sees_images(s),
}


def probe_endpoint(settings: Settings, *, capabilities: tuple[str, ...] = CAPABILITIES, chat: bool = True) -> Probe:
    """Probe the endpoint. Raises whatever the plain ping raises (the caller maps it);
    capability probes only ever answer True/False/None."""
    base, models_data = find_base_url(settings)
    probe = Probe(base_url=base)
    if base != normalize_base_url(settings.base_url):
        probe.notes.append(f"base URL corrected to {base} (the server answers under /v1)")
    # The ping gets the user's timeout (a model may load on first use); probes a short one.
    settings = replace(settings, base_url=base, max_retries=0)
    quick = replace(settings, timeout=min(settings.timeout, PROBE_TIMEOUT))
    cards = _model_cards(models_data)
    if cards:
        probe.models = [card["id"] for card in cards]
        card = next((c for c in cards if c["id"] == settings.endpoint_model), None)
        probe.context_size = context_from_card(card) if card else None
    if not chat:
        return probe
    answer = _chat(settings, max_tokens=5)  # the plain request must work: errors propagate
    message = ((answer.get("choices") or [{}])[0] or {}).get("message") or {}
    probe.reasoning_seen = bool(
        message.get("reasoning_content") or message.get("reasoning") or "</think>" in (message.get("content") or "")
    )
    if probe.context_size is None:  # after the ping: Ollama lists only loaded models in /api/ps
        probe.context_size = native_context(quick, base)
    jobs: dict[str, Callable[[], bool | None]] = {
        name: partial(_accepted, _PROBES[name](quick)) for name in capabilities
    }
    jobs["streamed_usage"] = partial(_streamed_usage, quick)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        results = {name: future.result() for name, future in futures.items()}
    probe.streamed_usage = results.pop("streamed_usage")
    probe.capabilities = {name: value for name, value in results.items() if value is not None}
    return probe


def auto_capabilities(settings: Settings) -> tuple[str, ...]:
    """The capabilities to probe: those left on auto (an explicit on/off always wins)."""
    return tuple(name for name in CAPABILITIES if getattr(settings, name) == "auto")


def require_listed(settings: Settings, probe: Probe) -> None:
    """When the server lists its models, the configured one must be among them."""
    if probe.models and settings.endpoint_model not in probe.models:
        raise ModelNotFoundError(settings.endpoint_model, probe.models)


def detected_credentials(probe: Probe) -> dict[str, str]:
    """Findings as credential entries (strings, as Dify's form stores them)."""
    found = {f"{DETECTED_PREFIX}{name}": "true" if value else "false" for name, value in probe.capabilities.items()}
    if probe.context_size:
        found[f"{DETECTED_PREFIX}context_size"] = str(probe.context_size)
    if probe.reasoning_seen:
        found[f"{DETECTED_PREFIX}thinking"] = "true"
    if probe.dimensions:
        found[f"{DETECTED_PREFIX}dimensions"] = str(probe.dimensions)
    found.update({f"{DETECTED_PREFIX}{name}": value for name, value in probe.extra.items()})
    return found


def save_findings(credentials: dict[str, Any], probe: Probe) -> None:
    """Write what probing found into the credentials being validated: Dify saves what validation
    returns, so later calls and the model schema use it without probing again."""
    if probe.base_url != normalize_base_url(str(credentials.get("base_url", ""))):
        credentials["base_url"] = probe.base_url
    credentials.update(detected_credentials(probe))


_lazy_lock = threading.Lock()
# (base URL, model, key) -> (values, time they stop being valid)
_lazy: dict[tuple[str, str, str | None], tuple[dict[str, Any], float]] = {}
# An endpoint that is down is asked again after this long, not on every schema request.
RETRY_DETECTION_AFTER = 60.0


def lazy_detected(settings: Settings) -> dict[str, Any]:
    """Detected values for a model saved without them (a Dify version that did not keep what
    validation returned): probed once per process, with short timeouts, and cached; {} while
    the endpoint is unreachable (asked again after RETRY_DETECTION_AFTER seconds)."""
    if settings.detected or all(getattr(settings, name) != "auto" for name in CAPABILITIES):
        return dict(settings.detected)
    key = (normalize_base_url(settings.base_url), settings.endpoint_model, settings.api_key)
    now = time.monotonic()
    with _lazy_lock:
        cached = _lazy.get(key)
        if cached and cached[1] > now:
            return cached[0]
    quick = replace(settings, timeout=min(settings.timeout, PROBE_TIMEOUT))
    try:
        probe = probe_endpoint(quick, capabilities=auto_capabilities(settings), chat=settings.mode == "chat")
    except Exception:  # noqa: BLE001 - unreachable now: remember briefly, try again later
        values: dict[str, Any] = {}
        expires = now + RETRY_DETECTION_AFTER
    else:
        values = {name[len(DETECTED_PREFIX) :]: value for name, value in detected_credentials(probe).items()}
        expires = float("inf")
    with _lazy_lock:
        _lazy[key] = (values, expires)
    return values
