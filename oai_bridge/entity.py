"""The parts of a model schema (Dify's `AIModelEntity`) every model type shares: a customizable
model named as the user typed it. Each model type's `schema` module adds what is its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dify_plugin.entities import I18nObject
from dify_plugin.entities.model import AIModelEntity, FetchFrom, ModelFeature, ModelType, ParameterRule

from oai_bridge.config.settings import Settings

__all__ = ["model_entity"]


def model_entity(
    settings: Settings,
    model_type: ModelType,
    properties: Mapping[Any, Any],
    *,
    features: Sequence[ModelFeature] = (),
    rules: Sequence[ParameterRule] = (),
) -> AIModelEntity:
    return AIModelEntity(
        model=settings.model,
        label=I18nObject(en_US=settings.model),
        model_type=model_type,
        features=list(features),
        fetch_from=FetchFrom.CUSTOMIZABLE_MODEL,
        model_properties=dict(properties),
        parameter_rules=list(rules),
    )
