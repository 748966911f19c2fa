"""Settings -> the rerank model schema Dify reads. Pure."""

from __future__ import annotations

from dify_plugin.entities import I18nObject
from dify_plugin.entities.model import AIModelEntity, FetchFrom, ModelFeature, ModelPropertyKey, ModelType

from oai_bridge.config.settings import Settings

__all__ = ["rerank_schema", "takes_images"]


def takes_images(settings: Settings) -> bool:
    """Whether the reranker was seen to take image documents at save (vLLM's Qwen3-VL shape)."""
    return settings.detected.feature("vision") is True


def rerank_schema(settings: Settings) -> AIModelEntity:
    """Dify offers image documents (multimodal rerank) only to models declaring `vision`."""
    ctx = settings.known_context_size
    return AIModelEntity(
        model=settings.model,
        label=I18nObject(en_US=settings.model),
        model_type=ModelType.RERANK,
        features=[ModelFeature.VISION] if takes_images(settings) else [],
        fetch_from=FetchFrom.CUSTOMIZABLE_MODEL,
        model_properties={ModelPropertyKey.CONTEXT_SIZE: ctx} if ctx else {},
        parameter_rules=[],
    )
