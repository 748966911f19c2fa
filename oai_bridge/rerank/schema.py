"""Settings -> the rerank model schema Dify reads. Pure."""

from __future__ import annotations

from dify_plugin.entities.model import AIModelEntity, ModelFeature, ModelPropertyKey, ModelType

from oai_bridge.config.settings import Settings
from oai_bridge.entity import model_entity

__all__ = ["rerank_schema", "takes_images"]


def takes_images(settings: Settings) -> bool:
    """Whether the reranker takes image documents (vLLM's Qwen3-VL shape): the form's On/Off, else
    what the probe at save found."""
    if settings.rerank_images != "auto":
        return settings.rerank_images == "on"
    return settings.detected.feature("vision") is True


def rerank_schema(settings: Settings) -> AIModelEntity:
    """Dify offers image documents (multimodal rerank) only to models declaring `vision`."""
    ctx = settings.known_context_size
    properties = {ModelPropertyKey.CONTEXT_SIZE: ctx} if ctx else {}
    return model_entity(
        settings, ModelType.RERANK, properties, features=[ModelFeature.VISION] if takes_images(settings) else []
    )
