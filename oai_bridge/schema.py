"""Settings -> the model schema Dify reads: features, properties and parameter rules.

`auto` capabilities resolve from what validation detected (saved with the credentials), else a
default that works on most servers.
"""

from __future__ import annotations

from dify_plugin.entities import I18nObject
from dify_plugin.entities.model import (
    AIModelEntity,
    FetchFrom,
    ModelFeature,
    ModelPropertyKey,
    ModelType,
    ParameterRule,
    ParameterType,
)

from oai_bridge.settings import DEFAULT_CONTEXT_SIZE, Settings, TriState

__all__ = ["capability", "context_size", "embedding_schema", "llm_schema"]

# What `auto` means until something was detected: tool calling is on (agents need it and most
# servers support it; a server that lacks it answers with a clear error), the rest off.
_AUTO_DEFAULTS = {"tool_calling": True, "vision": False, "structured_output": False, "thinking": True}


def capability(settings: Settings, name: str) -> bool:
    """Whether a tri-state capability is on: explicit setting, else detected, else the default."""
    value: TriState = getattr(settings, name)
    if value != "auto":
        return value == "on"
    detected = settings.detected.get(name)
    if isinstance(detected, bool):
        return detected
    if isinstance(detected, str) and detected in ("true", "false"):
        return detected == "true"
    return _AUTO_DEFAULTS[name]


def context_size(settings: Settings) -> int:
    if settings.context_size:
        return settings.context_size
    detected = settings.detected.get("context_size")
    try:
        return int(detected) if detected else DEFAULT_CONTEXT_SIZE
    except (TypeError, ValueError):
        return DEFAULT_CONTEXT_SIZE


def _label(text: str) -> I18nObject:
    return I18nObject(en_US=text)


def _parameter_rules(settings: Settings, ctx: int) -> list[ParameterRule]:
    max_tokens = settings.max_tokens or ctx
    rules = [
        ParameterRule(
            name="temperature",
            use_template="temperature",
            label=_label("Temperature"),
            type=ParameterType.FLOAT,
            min=0,
            max=2,
        ),
        ParameterRule(
            name="top_p", use_template="top_p", label=_label("Top P"), type=ParameterType.FLOAT, min=0, max=1
        ),
        ParameterRule(
            name="top_k",
            use_template="top_k",
            label=_label("Top K"),
            type=ParameterType.INT,
            min=1,
            max=1000,
            help=_label("Not part of OpenAI's API: vLLM, SGLang and llama.cpp honour it."),
        ),
        ParameterRule(
            name="presence_penalty",
            use_template="presence_penalty",
            label=_label("Presence penalty"),
            type=ParameterType.FLOAT,
            min=-2,
            max=2,
        ),
        ParameterRule(
            name="frequency_penalty",
            use_template="frequency_penalty",
            label=_label("Frequency penalty"),
            type=ParameterType.FLOAT,
            min=-2,
            max=2,
        ),
        ParameterRule(
            name="max_tokens",
            use_template="max_tokens",
            label=_label("Max tokens"),
            type=ParameterType.INT,
            min=1,
            max=max_tokens,
            default=min(512, max_tokens),
        ),
        ParameterRule(
            name="seed",
            label=_label("Seed"),
            type=ParameterType.INT,
            min=0,
            max=2**31 - 1,
            help=_label("Same seed and parameters give the same answer on servers that support it."),
        ),
    ]
    # Lower-case values on purpose: the SDK rewrites prompts for "JSON"/"XML" (its code-block mode).
    rules.append(
        ParameterRule(
            name="response_format",
            label=_label("Response format"),
            type=ParameterType.STRING,
            options=["text", "json_object", "json_schema"],
            help=_label("json_object or json_schema (with the JSON Schema parameter) constrain the output."),
        )
    )
    rules.append(
        ParameterRule(
            name="json_schema", use_template="json_schema", label=_label("JSON Schema"), type=ParameterType.TEXT
        )
    )
    return rules


def llm_schema(settings: Settings) -> AIModelEntity:
    features: list[ModelFeature] = []
    if capability(settings, "tool_calling"):
        features += [ModelFeature.TOOL_CALL, ModelFeature.MULTI_TOOL_CALL, ModelFeature.STREAM_TOOL_CALL]
    if capability(settings, "vision"):
        features += [ModelFeature.VISION]
    if capability(settings, "structured_output"):
        features += [ModelFeature.STRUCTURED_OUTPUT]
    if capability(settings, "thinking"):
        features += [ModelFeature.AGENT_THOUGHT]
    ctx = context_size(settings)
    return AIModelEntity(
        model=settings.model,
        label=_label(settings.model),
        model_type=ModelType.LLM,
        features=features,
        fetch_from=FetchFrom.CUSTOMIZABLE_MODEL,
        # `mode` is required by workflows ("model.mode Field required" reports with LM Studio).
        model_properties={ModelPropertyKey.MODE: settings.mode, ModelPropertyKey.CONTEXT_SIZE: ctx},
        parameter_rules=_parameter_rules(settings, ctx),
    )


def embedding_schema(settings: Settings) -> AIModelEntity:
    return AIModelEntity(
        model=settings.model,
        label=_label(settings.model),
        model_type=ModelType.TEXT_EMBEDDING,
        fetch_from=FetchFrom.CUSTOMIZABLE_MODEL,
        model_properties={
            ModelPropertyKey.CONTEXT_SIZE: context_size(settings),
            ModelPropertyKey.MAX_CHUNKS: settings.max_chunks,
        },
        parameter_rules=[],
    )
