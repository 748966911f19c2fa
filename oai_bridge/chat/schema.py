"""Settings -> the LLM schema Dify reads: features, properties and parameter rules."""

from __future__ import annotations

from dify_plugin.entities import I18nObject
from dify_plugin.entities.model import (
    AIModelEntity,
    ModelFeature,
    ModelPropertyKey,
    ModelType,
    ParameterRule,
    ParameterType,
)

from oai_bridge.config.settings import Settings
from oai_bridge.config.thinking import EFFORTS, ENABLE_THINKING, REASONING_EFFORT
from oai_bridge.config.websearch import (
    CONTEXT_SIZES,
    WEB_SEARCH,
    WEB_SEARCH_ALLOWED,
    WEB_SEARCH_BLOCKED,
    WEB_SEARCH_CONTEXT,
    WEB_SEARCH_COUNTRY,
)
from oai_bridge.entity import model_entity

__all__ = ["llm_schema", "parameter_rules"]

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
    # Labels as Dify's official OpenAI-compatible plugin shows them (apps exported from it carry
    # these parameters by name); the help says what they do here.
    "Thinking mode": ("Thinking mode", "思考模式", "思考モード", "Modo de raciocínio"),
    "enable_thinking help": (
        "Thinking on or off for this app, sent in the form the server honours. Unset: the model's "
        "Advanced: thinking setting.",
        "为此应用开启或关闭思考，以服务器认可的形式发送。未设置时使用模型的“高级：深度思考”设置。",
        "このアプリでの思考のオン／オフ。サーバーが受け付ける形式で送信します。未設定ならモデルの「詳細：思考」設定に従います。",
        "Raciocínio ligado ou desligado para este app, enviado na forma que o servidor aceita. Sem valor: a "
        "configuração Avançado: raciocínio do modelo.",
    ),
    "Reasoning effort": ("Reasoning effort", "推理工作", "推論の度合い", "Esforço de raciocínio"),
    "reasoning_effort help": (
        "How much the model reasons, for models that read reasoning_effort (OpenAI, gpt-oss, Ollama); "
        "none turns thinking off. Unset: the server's default.",
        "模型推理的程度，适用于读取 reasoning_effort 的模型（OpenAI、gpt-oss、Ollama）；none 关闭思考。"
        "未设置时使用服务器的默认值。",
        "reasoning_effort を読むモデル（OpenAI、gpt-oss、Ollama）での推論の量。none で思考をオフにします。"
        "未設定ならサーバーの既定値です。",
        "Quanto o modelo raciocina, para modelos que leem reasoning_effort (OpenAI, gpt-oss, Ollama); "
        "none desliga o raciocínio. Sem valor: o padrão do servidor.",
    ),
    # OpenAI's hosted web search (Responses API), named as in the official plugin.
    "Web search": ("Web search", "联网搜索", "ウェブ検索", "Pesquisa na web"),
    "web_search help": (
        "OpenAI's hosted web search tool (Responses API only); servers without it get the call without it.",
        "OpenAI 托管的联网搜索工具（仅 Responses API）；不支持的服务器会收到不含该工具的请求。",
        "OpenAI のホスト型ウェブ検索ツール（Responses API のみ）。対応しないサーバーにはツールなしで送ります。",
        "Ferramenta de pesquisa na web hospedada da OpenAI (só API Responses); servidores sem ela recebem a "
        "chamada sem ela.",
    ),
    "Allowed domains": (
        "Web search: allowed domains",
        "联网搜索：允许的域名",
        "ウェブ検索：許可するドメイン",
        "Pesquisa na web: domínios permitidos",
    ),
    "Blocked domains": (
        "Web search: blocked domains",
        "联网搜索：屏蔽的域名",
        "ウェブ検索：除外するドメイン",
        "Pesquisa na web: domínios bloqueados",
    ),
    "domains help": (
        "Comma-separated, e.g. openai.com, docs.dify.ai",
        "以逗号分隔，例如 openai.com, docs.dify.ai",
        "カンマ区切り（例：openai.com, docs.dify.ai）",
        "Separados por vírgula, ex. openai.com, docs.dify.ai",
    ),
    "Search context size": (
        "Web search: context size",
        "联网搜索：上下文大小",
        "ウェブ検索：コンテキストの量",
        "Pesquisa na web: tamanho do contexto",
    ),
    "User country": (
        "Web search: user country",
        "联网搜索：用户国家",
        "ウェブ検索：ユーザーの国",
        "Pesquisa na web: país do usuário",
    ),
    "country help": (
        "Two-letter country code that refines results, e.g. US",
        "用于优化结果的两位国家代码，例如 US",
        "結果を絞り込む 2 文字の国コード（例：US）",
        "Código de país de duas letras que refina os resultados, ex. US",
    ),
}


def _text(key: str) -> I18nObject:
    en, zh, ja, pt = _TEXT[key]
    return I18nObject(en_US=en, zh_Hans=zh, ja_JP=ja, pt_BR=pt)


# name -> (label key, type, min, max, help key or None, use_template): every parameter Dify may send
# (the SDK drops any parameter without a rule). Templates only where Dify has one.
_RULES: dict[str, tuple[str, ParameterType, float | None, float | None, str | None, bool]] = {
    "temperature": ("Temperature", ParameterType.FLOAT, 0, 2, None, True),
    "top_p": ("Top P", ParameterType.FLOAT, 0, 1, None, True),
    "top_k": ("Top K", ParameterType.INT, 1, 1000, "top_k help", True),
    "presence_penalty": ("Presence penalty", ParameterType.FLOAT, -2, 2, None, True),
    "frequency_penalty": ("Frequency penalty", ParameterType.FLOAT, -2, 2, None, True),
    "max_tokens": ("Max tokens", ParameterType.INT, 1, None, None, True),
    "seed": ("Seed", ParameterType.INT, 0, 2**31 - 1, "seed help", False),
    "response_format": ("Response format", ParameterType.STRING, None, None, "response_format help", False),
    "json_schema": ("JSON Schema", ParameterType.TEXT, None, None, None, True),
}


# What the Responses API has no field or input part for: not offered for a model on it.
_NOT_IN_RESPONSES = frozenset({"top_k", "presence_penalty", "frequency_penalty", "seed", "audio", "video"})


def parameter_rules(settings: Settings, *, max_tokens: int | None) -> list[ParameterRule]:
    """The LLM parameters Dify may send. `max_tokens` bounds the max_tokens parameter (None: no
    bound; the server enforces its own)."""
    rules = []
    responses = settings.responses_api
    for name, (label, kind, low, high, help_key, template) in _RULES.items():
        if responses and name in _NOT_IN_RESPONSES:
            continue
        rule = ParameterRule(
            name=name,
            use_template=name if template else None,
            label=_text(label),
            type=kind,
            min=low,
            max=max_tokens if name == "max_tokens" else high,
            help=_text(help_key) if help_key else None,
        )
        rules.append(rule)
    by_name = {rule.name: rule for rule in rules}
    by_name["max_tokens"].default = min(512, max_tokens or 512)
    # Lower-case values on purpose: the SDK rewrites prompts for "JSON"/"XML" (its code-block mode).
    by_name["response_format"].options = ["text", "json_object", "json_schema"]
    if settings.mode == "chat" and settings.thinking != "off":
        rules += _thinking_rules()
    if responses:
        rules += _web_search_rules()
    return rules


def _web_search_rules() -> list[ParameterRule]:
    """OpenAI's hosted web search (`config.websearch`), off unless an app turns it on."""
    text = ParameterType.STRING
    return [
        ParameterRule(
            name=WEB_SEARCH, label=_text("Web search"), type=ParameterType.BOOLEAN, help=_text("web_search help")
        ),
        ParameterRule(name=WEB_SEARCH_ALLOWED, label=_text("Allowed domains"), type=text, help=_text("domains help")),
        ParameterRule(name=WEB_SEARCH_BLOCKED, label=_text("Blocked domains"), type=text, help=_text("domains help")),
        ParameterRule(
            name=WEB_SEARCH_CONTEXT, label=_text("Search context size"), type=text, options=list(CONTEXT_SIZES)
        ),
        ParameterRule(name=WEB_SEARCH_COUNTRY, label=_text("User country"), type=text, help=_text("country help")),
    ]


def _thinking_rules() -> list[ParameterRule]:
    """The per-app thinking choice (`config.thinking`), unset by default: unset is the form's value.
    Not on a model whose form says Off (it never thinks), nor in completion mode (no chat template
    to switch)."""
    return [
        ParameterRule(
            name=ENABLE_THINKING,
            label=_text("Thinking mode"),
            type=ParameterType.BOOLEAN,
            help=_text("enable_thinking help"),
            required=False,
        ),
        ParameterRule(
            name=REASONING_EFFORT,
            label=_text("Reasoning effort"),
            type=ParameterType.STRING,
            help=_text("reasoning_effort help"),
            required=False,
            options=list(EFFORTS),
        ),
    ]


# Capability -> the features Dify reads from the schema (it offers a file type only when declared).
_FEATURES: dict[str, tuple[ModelFeature, ...]] = {
    "tool_calling": (ModelFeature.TOOL_CALL, ModelFeature.MULTI_TOOL_CALL, ModelFeature.STREAM_TOOL_CALL),
    "vision": (ModelFeature.VISION,),
    "audio": (ModelFeature.AUDIO,),
    "video": (ModelFeature.VIDEO,),
    "document": (ModelFeature.DOCUMENT,),
    "structured_output": (ModelFeature.STRUCTURED_OUTPUT,),
    "thinking": (ModelFeature.AGENT_THOUGHT,),
}


def llm_schema(settings: Settings) -> AIModelEntity:
    features: list[ModelFeature] = []
    chat = settings.mode == "chat"  # /completions takes a prompt: no tools, files or response formats
    for name, declared in _FEATURES.items():
        if settings.responses_api and name in _NOT_IN_RESPONSES:
            continue
        if (chat or name == "thinking") and settings.capability(name):
            features += declared
    ctx = settings.effective_context_size
    # `mode` is required by workflows ("model.mode Field required" reports with LM Studio).
    return model_entity(
        settings,
        ModelType.LLM,
        {ModelPropertyKey.MODE: settings.mode, ModelPropertyKey.CONTEXT_SIZE: ctx},
        features=features,
        rules=parameter_rules(settings, max_tokens=settings.max_tokens or ctx),
    )
