"""Where the API is and what it says about a model: the base URL (a missing /v1 corrected), the
models it lists, and the context size from the model card or the server's native API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from oai_bridge.config.settings import Settings
from oai_bridge.config.urls import normalize_base_url
from oai_bridge.transport.send import get_json, model_cards

__all__ = ["context_from_card", "find_base_url", "native_context", "server_kind"]

# `owned_by` in a /models card -> the server kind (a key of `dialects.dialect.KNOWN_SERVERS`).
_OWNERS = {"llamacpp": "llama.cpp"}


def find_base_url(settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    """The API root to use and the model cards its /models lists. A base URL without /v1 whose
    /models is 404 while /v1/models answers is corrected (Ollama's "404 page not found", llmcord#56)."""
    base = normalize_base_url(settings.base_url)
    status, data = get_json(settings, "/models")
    if status == 404 and not base.endswith("/v1"):
        status_v1, data_v1 = get_json(settings, "/models", base_url=base + "/v1")
        if status_v1 == 200:
            return base + "/v1", model_cards(data_v1)
    return base, model_cards(data) if status == 200 else []


def server_kind(cards: list[dict[str, Any]]) -> str | None:
    """The kind of server whose /models listed `cards`, when its cards tell (llama-server's say
    `owned_by: llamacpp`). An `owned_by` of another type tells nothing (the list never fails a save)."""
    owners = (card.get("owned_by") for card in cards)
    return next((_OWNERS[owner] for owner in owners if isinstance(owner, str) and owner in _OWNERS), None)


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


def native_context(settings: Settings, base_url: str) -> int | None:
    """The context a server really uses, from its native API, when /v1/models does not say:
    LM Studio `/api/v0/models` (`loaded_context_length`, else `max_context_length`) and Ollama
    `/api/ps` (`context_length` of the loaded model; Ollama silently truncates to it)."""
    root = base_url.removesuffix("/v1")
    settings = replace(settings, base_url=base_url)
    model = settings.endpoint_model
    _, lmstudio = get_json(settings, f"{root}/api/v0/models")
    for card in model_cards(lmstudio):
        if card["id"] == model:
            for key in ("loaded_context_length", "max_context_length"):
                if isinstance(card.get(key), int) and card[key] > 0:
                    return card[key]
    _, ollama = get_json(settings, f"{root}/api/ps")
    loaded_models = ollama.get("models") if isinstance(ollama, Mapping) else None
    for loaded in loaded_models if isinstance(loaded_models, list) else ():
        if isinstance(loaded, Mapping) and model in (loaded.get("name"), loaded.get("model")):
            value = loaded.get("context_length")
            if isinstance(value, int) and value > 0:
                return value
    return None
