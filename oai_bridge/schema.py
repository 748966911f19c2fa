"""Settings -> the model schema Dify reads: features, properties and parameter rules.

`auto` capabilities resolve from what validation detected (saved with the credentials), else a
default that works on most servers.
"""

from __future__ import annotations

from decimal import Decimal

from dify_plugin.entities import I18nObject
from dify_plugin.entities.model import (
    AIModelEntity,
    FetchFrom,
    ModelFeature,
    ModelPropertyKey,
    ModelType,
    ParameterRule,
    ParameterType,
    PriceInfo,
)

from oai_bridge.settings import DEFAULT_CONTEXT_SIZE, Settings, TriState

# Self-hosted endpoints have no price list.
ZERO_PRICE = PriceInfo(unit_price=Decimal(0), unit=Decimal(0), total_amount=Decimal(0), currency="USD")

__all__ = [
    "ZERO_PRICE",
    "capability",
    "context_size",
    "embedding_schema",
    "known_context_size",
    "llm_schema",
    "parameter_rules",
    "texts_per_call",
]

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
    return known_context_size(settings) or DEFAULT_CONTEXT_SIZE


def known_context_size(settings: Settings) -> int | None:
    """The context size when the form or detection gave one; None when only the default applies."""
    if settings.context_size:
        return settings.context_size
    detected = settings.detected.get("context_size")
    return int(detected) if str(detected or "").isdigit() else None


# Parameter labels and help in the four languages Dify shows (en_US, zh_Hans, ja_JP, pt_BR).
_TEXT: dict[str, tuple[str, str, str, str]] = {
    "Temperature": ("Temperature", "温度", "温度", "Temperatura"),
    "Top P": ("Top P", "Top P", "Top P", "Top P"),
    "Top K": ("Top K", "Top K", "Top K", "Top K"),
    "top_k help": (
        "Not part of OpenAI's API: vLLM, SGLang and llama.cpp honour it.",
        "不属于 OpenAI API：vLLM、SGLang 和 llama.cpp 支持。",
        "OpenAI API にはないパラメータです。vLLM、SGLang、llama.cpp が対応しています。",
        "Não faz parte da API da OpenAI: vLLM, SGLang e llama.cpp o respeitam.",
    ),
    "Presence penalty": ("Presence penalty", "存在惩罚", "存在ペナルティ", "Penalidade de presença"),
    "Frequency penalty": ("Frequency penalty", "频率惩罚", "頻度ペナルティ", "Penalidade de frequência"),
    "Max tokens": ("Max tokens", "最大 token 数", "最大トークン数", "Máximo de tokens"),
    "Seed": ("Seed", "随机种子", "シード", "Semente"),
    "seed help": (
        "Same seed and parameters give the same answer on servers that support it.",
        "在支持的服务器上，相同的种子和参数会得到相同的回答。",
        "対応サーバーでは、同じシードとパラメータで同じ回答になります。",
        "Mesma semente e parâmetros dão a mesma resposta nos servidores que suportam.",
    ),
    "Response format": ("Response format", "回复格式", "応答形式", "Formato da resposta"),
    "response_format help": (
        "json_object or json_schema (with the JSON Schema parameter) constrain the output.",
        "json_object 或 json_schema（配合 JSON Schema 参数）约束输出。",
        "json_object または json_schema（JSON Schema パラメータと併用）で出力を制約します。",
        "json_object ou json_schema (com o parâmetro JSON Schema) restringem a saída.",
    ),
    "JSON Schema": ("JSON Schema", "JSON Schema", "JSON スキーマ", "JSON Schema"),
}


def _text(key: str) -> I18nObject:
    en, zh, ja, pt = _TEXT[key]
    return I18nObject(en_US=en, zh_Hans=zh, ja_JP=ja, pt_BR=pt)


def _label(text: str) -> I18nObject:
    return I18nObject(en_US=text)


def parameter_rules(settings: Settings, *, max_tokens: int | None) -> list[ParameterRule]:
    """The LLM parameters Dify may send. `max_tokens` bounds the max_tokens parameter (None: no
    bound; the server enforces its own)."""
    rules = [
        ParameterRule(
            name="temperature",
            use_template="temperature",
            label=_text("Temperature"),
            type=ParameterType.FLOAT,
            min=0,
            max=2,
        ),
        ParameterRule(name="top_p", use_template="top_p", label=_text("Top P"), type=ParameterType.FLOAT, min=0, max=1),
        ParameterRule(
            name="top_k",
            use_template="top_k",
            label=_text("Top K"),
            type=ParameterType.INT,
            min=1,
            max=1000,
            help=_text("top_k help"),
        ),
        ParameterRule(
            name="presence_penalty",
            use_template="presence_penalty",
            label=_text("Presence penalty"),
            type=ParameterType.FLOAT,
            min=-2,
            max=2,
        ),
        ParameterRule(
            name="frequency_penalty",
            use_template="frequency_penalty",
            label=_text("Frequency penalty"),
            type=ParameterType.FLOAT,
            min=-2,
            max=2,
        ),
        ParameterRule(
            name="max_tokens",
            use_template="max_tokens",
            label=_text("Max tokens"),
            type=ParameterType.INT,
            min=1,
            max=max_tokens,
            default=min(512, max_tokens or 512),
        ),
        ParameterRule(
            name="seed",
            label=_text("Seed"),
            type=ParameterType.INT,
            min=0,
            max=2**31 - 1,
            help=_text("seed help"),
        ),
    ]
    # Lower-case values on purpose: the SDK rewrites prompts for "JSON"/"XML" (its code-block mode).
    rules.append(
        ParameterRule(
            name="response_format",
            label=_text("Response format"),
            type=ParameterType.STRING,
            options=["text", "json_object", "json_schema"],
            help=_text("response_format help"),
        )
    )
    rules.append(
        ParameterRule(
            name="json_schema", use_template="json_schema", label=_text("JSON Schema"), type=ParameterType.TEXT
        )
    )
    return rules


def llm_schema(settings: Settings) -> AIModelEntity:
    features: list[ModelFeature] = []
    chat = settings.mode == "chat"  # /completions takes a prompt: no tools, images or response formats
    if chat and capability(settings, "tool_calling"):
        features += [ModelFeature.TOOL_CALL, ModelFeature.MULTI_TOOL_CALL, ModelFeature.STREAM_TOOL_CALL]
    if chat and capability(settings, "vision"):
        features += [ModelFeature.VISION]
    if chat and capability(settings, "structured_output"):
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
        parameter_rules=parameter_rules(settings, max_tokens=settings.max_tokens or ctx),
    )


# One Dify call's vectors travel back in one stdout frame, and the daemon kills a plugin whose
# line exceeds 5 MiB: keep frames well below it. A float costs up to ~24 bytes as JSON.
FRAME_BUDGET = 3 * 1024 * 1024
JSON_BYTES_PER_FLOAT = 24
# Vector size assumed until one is known (form `dimensions`, or detected at validation).
ASSUMED_DIMENSIONS = 4096
MAX_BATCHES_PER_CALL = 4


def texts_per_call(settings: Settings) -> int:
    """Texts Dify may send in one call: several server batches, capped by the frame budget."""
    detected = settings.detected.get("dimensions")
    dims = settings.dimensions or (int(detected) if str(detected or "").isdigit() else ASSUMED_DIMENSIONS)
    by_frame = FRAME_BUDGET // (dims * JSON_BYTES_PER_FLOAT)
    return max(1, min(settings.max_chunks * MAX_BATCHES_PER_CALL, by_frame))


def embedding_schema(settings: Settings) -> AIModelEntity:
    return AIModelEntity(
        model=settings.model,
        label=_label(settings.model),
        model_type=ModelType.TEXT_EMBEDDING,
        fetch_from=FetchFrom.CUSTOMIZABLE_MODEL,
        model_properties={
            ModelPropertyKey.CONTEXT_SIZE: context_size(settings),
            ModelPropertyKey.MAX_CHUNKS: texts_per_call(settings),
        },
        parameter_rules=[],
    )
