"""Request fields strict servers reject, learned at run time and remembered per endpoint.

By default the plugin sends only what OpenAI defines or the user set. A few of those still
upset some servers: Mistral answers 422 `extra_forbidden` for any field it does not know,
Groq 400s on `user`/`logit_bias`, old vLLM on `stream_options` (quirks doc §5), and LM Studio
and llama-cpp-python reject `content: null` on assistant tool-call turns (§3), llama.cpp's
llama-server refuses a `video_url` part (it takes `input_video`). When a 4xx/5xx
names one of these, the call is retried once without it, and the endpoint is remembered for
the life of the process so later calls skip the failed attempt.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from oai_bridge.config.urls import display_url
from oai_bridge.dialects.dialect import with_video_parts

__all__ = [
    "DROPPABLE_FIELDS",
    "FLOAT_ENCODING",
    "MAX_FALLBACKS",
    "REASONING",
    "REASONING_SUMMARY",
    "THINKING_FIELDS",
    "WEB_SEARCH",
    "adapt",
    "fallback",
    "forget_all",
    "learn",
]

logger = logging.getLogger(__name__)

# Top-level optional fields that may be dropped when a server rejects them by name.
DROPPABLE_FIELDS = (
    "stream_options",
    "chat_template_kwargs",
    "enable_thinking",  # before `thinking`: a refusal naming it also contains that word
    "thinking",
    "reasoning_effort",
    "parallel_tool_calls",
    "user",
    "seed",
    "top_k",
    "logit_bias",
    "truncate_prompt_tokens",  # vLLM's, asked of a rerank server after a too-long refusal
)
# Fields that carry the thinking setting (the form's or an app's own choice): shedding one is
# logged with what it carried, once per endpoint and value, so no choice is dropped unsaid.
THINKING_FIELDS = ("chat_template_kwargs", "enable_thinking", "thinking", "reasoning_effort", "reasoning")
# How many rejected fields one call may shed (each costs one round trip, once per endpoint).
MAX_FALLBACKS = 4
# The Responses API's `reasoning` object: its `summary` alone, or the whole field (a model or
# server without reasoning controls: OpenAI's gpt-4o, older vLLM).
REASONING_SUMMARY = "reasoning.summary"
REASONING = "reasoning"
# OpenAI's hosted `web_search` tool in a Responses body: servers without it refuse the request.
WEB_SEARCH = "web_search"
NULL_CONTENT = "null_content"
FLOAT_ENCODING = "float_encoding"
COMPLETION_TOKENS = "max_completion_tokens"
INPUT_VIDEO = "input_video"

_lock = threading.Lock()
_learned: dict[str, frozenset[str]] = {}
_said: set[tuple[str, str, str]] = set()


def _without_null_content(body: dict[str, Any]) -> dict[str, Any] | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(
        m.get("role") == "assistant" and m.get("content") is None for m in messages
    ):
        return None
    return {
        **body,
        "messages": [
            {**m, "content": ""} if m.get("role") == "assistant" and m.get("content") is None else m for m in messages
        ],
    }


def _drop(field: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    def apply(body: dict[str, Any]) -> dict[str, Any] | None:
        if field not in body:
            return None
        return {key: value for key, value in body.items() if key != field}

    return apply


def _without_summary(body: dict[str, Any]) -> dict[str, Any] | None:
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict) or "summary" not in reasoning:
        return None
    rest = {key: value for key, value in reasoning.items() if key != "summary"}
    out = {key: value for key, value in body.items() if key != "reasoning"}
    if rest:
        out["reasoning"] = rest
    return out


def _without_web_search(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools")
    if not isinstance(tools, list) or not any(isinstance(t, dict) and t.get("type") == WEB_SEARCH for t in tools):
        return None
    rest = [tool for tool in tools if not (isinstance(tool, dict) and tool.get("type") == WEB_SEARCH)]
    out = {key: value for key, value in body.items() if key != "tools"}
    if rest:
        out["tools"] = rest
    return out


def _float_encoding(body: dict[str, Any]) -> dict[str, Any] | None:
    # Ollama and llama.cpp accept only float or base64; others (LocalAI, TEI, proxies) float only.
    if body.get("encoding_format") in (None, "float"):
        return None
    return {**body, "encoding_format": "float"}


def _completion_tokens(body: dict[str, Any]) -> dict[str, Any] | None:
    # OpenAI's o-series and newer models reject max_tokens and name max_completion_tokens instead.
    if "max_tokens" not in body:
        return None
    renamed = {key: value for key, value in body.items() if key != "max_tokens"}
    renamed["max_completion_tokens"] = body["max_tokens"]
    return renamed


def _input_video(body: dict[str, Any]) -> dict[str, Any] | None:
    # llama-server answers 400 "unsupported content[].type" to a part type it does not know.
    return with_video_parts(body, "input_video")


_FIXES: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    **{field: _drop(field) for field in DROPPABLE_FIELDS},
    REASONING_SUMMARY: _without_summary,
    REASONING: _drop("reasoning"),
    WEB_SEARCH: _without_web_search,
    NULL_CONTENT: _without_null_content,
    FLOAT_ENCODING: _float_encoding,
    COMPLETION_TOKENS: _completion_tokens,
    INPUT_VIDEO: _input_video,
}


def adapt(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """Apply what this endpoint is known to reject (a no-op for almost every endpoint)."""
    learned = _learned.get(endpoint)
    if not learned:
        return body
    for name in learned:
        _say_dropped(endpoint, name, body)
        body = _FIXES[name](body) or body
    return body


def _say_dropped(endpoint: str, name: str, body: dict[str, Any]) -> bool:
    """Log, once per endpoint and value, that a thinking setting is left out; False if `name` is
    not one (or the body does not carry it)."""
    if name not in THINKING_FIELDS or name not in body:
        return False
    carried = json.dumps(body[name], sort_keys=True, default=str)[:200]
    with _lock:
        if (endpoint, name, carried) in _said:
            return True
        _said.add((endpoint, name, carried))
    logger.info(
        "%s: the server refused `%s`: the thinking setting it carried (%s) is left out until the plugin restarts",
        display_url(endpoint),
        name,
        carried,
    )
    return True


def _names_in(error_text: str) -> list[str]:
    lowered = error_text.lower()
    names = [field for field in DROPPABLE_FIELDS if field in lowered]
    if "enable_thinking" in names and lowered.count("thinking") == lowered.count("enable_thinking"):
        names.remove("thinking")  # only named as part of `enable_thinking`
    if "summary" in lowered:
        names.append(REASONING_SUMMARY)  # the summary first: the rest of `reasoning` may be fine
    elif "reasoning" in lowered.replace("reasoning_effort", "").replace("reasoning_content", ""):
        names.append(REASONING)
    if WEB_SEARCH in lowered:
        names.append(WEB_SEARCH)
    if "max_completion_tokens" in lowered:
        names.append(COMPLETION_TOKENS)
    if "encoding_format" in lowered or "base64" in lowered:
        names.append(FLOAT_ENCODING)
    if "content" in lowered and any(word in lowered for word in ("null", "none", "string", "str ")):
        names.append(NULL_CONTENT)
    if "unsupported content[].type" in lowered:
        names.append(INPUT_VIDEO)
    return names


def learn(endpoint: str, name: str, body: dict[str, Any] | None = None) -> None:
    """Remember a fix for an endpoint (also one found by other means, e.g. a server that ignores
    base64 and sends floats). Logged once: it explains an extra round trip in the server's log;
    a shed thinking field (in `body`, the request refused) is named with the setting it carried."""
    with _lock:
        known = _learned.get(endpoint, frozenset())
        if name in known:
            return
        _learned[endpoint] = known | {name}
    if body is None or not _say_dropped(endpoint, name, body):
        logger.info("%s: adapting requests for this server (%s) until the plugin restarts", display_url(endpoint), name)


def fallback(endpoint: str, body: dict[str, Any], status: int, error_body: object) -> dict[str, Any] | None:
    """A body without the field the server's error names, remembering it; None if nothing applies."""
    if status not in (400, 422, 500):
        return None
    text = error_body if isinstance(error_body, str) else json.dumps(error_body, default=str)
    fixed = None
    for name in _names_in(text):  # a validation error may name several fields at once: shed all
        current = fixed or body
        candidate = _FIXES[name](current)
        if candidate is not None:
            learn(endpoint, name, current)
            fixed = candidate
    return fixed


def forget_all() -> None:
    """Forget everything learned (tests)."""
    with _lock:
        _learned.clear()
        _said.clear()
