"""How servers word their errors: the one place that turns any error body into text, and every
table of phrases the plugin recognises in it (quirks doc §3, §5–§7).

Each table is data read by one rule elsewhere; a new server's wording is a line here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BATCH_TOO_LARGE",
    "CONTEXT_OVERFLOW",
    "DEPLOYMENT_NOT_FOUND",
    "FEATURE_UNSUPPORTED",
    "KEY_REFUSALS",
    "MODEL_NOT_FOUND",
    "RERANK_PAIR_TOO_LONG",
    "RESPONSE_ERROR_CODES",
    "SERVER_FAULT",
    "STATED_INPUT_TOKENS",
    "STATED_TOKEN_LIMIT",
    "UPLOAD_TOO_LARGE",
    "VALIDATION_ERROR",
    "body_text",
    "error_type",
    "is_deployment_not_found",
    "looks_like_html",
    "mentions",
]

# The prompt did not fit the model's context.
CONTEXT_OVERFLOW = (
    "maximum context length",  # vLLM, OpenAI
    "longer than the model's context length",  # SGLang "The input (N tokens) is longer than …"
    "exceed_context_size_error",  # llama.cpp
    "exceeds the available context size",  # llama.cpp message text
    "context_length_exceeded",  # OpenAI code, OpenRouter
    "must be <=",  # TGI 422 "`inputs` tokens + `max_new_tokens` must be <= N"
    "trying to keep the first",  # LM Studio
    "context window",
    "too many tokens",
    "prompt is too long",
)
# The server does not know the model name (vLLM 404 "The model `x` does not exist.", Ollama 404
# "model 'x' not found", LiteLLM 400 "Invalid model name passed in model=x").
MODEL_NOT_FOUND = re.compile(
    r"model\s+[`\"']?[^`\"'\s]+[`\"']?\s+(?:does not exist|not found)|no such model|unknown model"
    r"|invalid model name",
    re.I,
)
# Azure OpenAI's 404 for a deployment name in the base URL that does not exist (code
# `DeploymentNotFound`, "The API deployment for this resource does not exist. If you created the
# deployment within the last 5 minutes, please wait a moment and try again.").
DEPLOYMENT_NOT_FOUND = ("deploymentnotfound", "deployment for this resource does not exist")
# pydantic's "7 validation errors: …": llama-cpp-python answers request validation with 500.
VALIDATION_ERROR = re.compile(r"\b\d+ validation errors?\b", re.I)
# A batch of inputs is too big: TEI 413/422 "batch size", llama.cpp 500 "input (N tokens) is too
# large to process. increase the physical batch size" (L#7389), vLLM/OpenAI "too many inputs".
BATCH_TOO_LARGE = (
    "too large",
    "too many",
    "batch size",
    "physical batch",
    "payload too large",
    "maximum context length",
)
# One (query, document) pair is too long for a reranker (checked before BATCH_TOO_LARGE, which
# shares "maximum context length"): vLLM/Jina context wording, llama.cpp 500 "input is too large to
# process. increase the physical batch size" for a pair larger than -ub, pydantic "must be <=".
RERANK_PAIR_TOO_LONG = (
    "maximum context length",
    "context length",
    "context size",
    "too long",
    "physical batch",
    "must be <=",
    "exceed",
    "must have less than",  # TEI 413 "`inputs` must have less than 512 tokens. Given: 1000"
)
# The token limit a server states when it refuses a (query, document) pair as too long, first
# group: llama.cpp's physical batch ("input (1005 tokens) is too large to process. increase the
# physical batch size (current batch size: 512)"), vLLM's "This model's maximum context length is
# 512 tokens. However, you requested …", TEI's "`inputs` must have less than 512 tokens".
STATED_TOKEN_LIMIT = (
    re.compile(r"current batch size:?\s*(\d+)", re.I),
    re.compile(r"maximum context length is (\d+)", re.I),
    re.compile(r"must have less than (\d+) tokens", re.I),
)
# The tokens the server counted in the input it refused, in the same three servers' words.
STATED_INPUT_TOKENS = (
    re.compile(r"input \((\d+) tokens\)", re.I),
    re.compile(r"you requested (\d+) tokens", re.I),
    re.compile(r"tokens\. Given: (\d+)", re.I),
)
# Servers that refuse a key with another status than 401/403, known by the `type` of their error
# body: that type -> what it means.
KEY_REFUSALS: Mapping[str, str] = {
    # LiteLLM proxy without a database: every key but its master_key -> 400 "No connected db."
    "no_db_connection": (
        "this looks like a LiteLLM proxy without a database, which accepts only its master_key. "
        "Enter that key, or a virtual key once the proxy has a database (its DATABASE_URL)"
    ),
}
# A server that lacks a feature may say so with 5xx (llama.cpp without --jinja: 500 "tools param
# requires --jinja flag"; llama-cpp-python: 500 for validation errors).
FEATURE_UNSUPPORTED = ("support", "jinja", "not implemented", "not enabled", "requires", "validation error")
# An error inside a 200 stream that is the server's fault whatever status it carries: vLLM reports
# a dead engine or exhausted GPU memory with `code: 400` (quirks doc §1).
SERVER_FAULT = (
    "enginedeaderror",
    "engine dead",
    "engine core",
    "out of memory",
    "cuda error",
    "cuda out",
    "internal server error",
    "internalservererror",
    "worker died",
    "worker crashed",
    "background loop",
    "server_error",
    "segmentation fault",
)
# The `code` of a Responses API error (`response.failed`'s `error`, an `error` event), as OpenAI's
# reference lists them -> whose fault it is: "server", "rate" (limited) or "request". Other codes
# fall through to the wording and status rules.
RESPONSE_ERROR_CODES: Mapping[str, str] = {
    "server_error": "server",
    "vector_store_timeout": "server",
    "rate_limit_exceeded": "rate",
    **dict.fromkeys(
        (
            "invalid_prompt",
            "invalid_image",
            "invalid_image_format",
            "invalid_base64_image",
            "invalid_image_url",
            "image_too_large",
            "image_too_small",
            "image_parse_error",
            "image_content_policy_violation",
            "invalid_image_mode",
            "image_file_too_large",
            "unsupported_image_media_type",
            "empty_image_file",
            "failed_to_download_image",
            "image_file_not_found",
        ),
        "request",
    ),
}

# --- audio ---
# An upload over a size limit: always a 413, and a 400 with these words (a server or proxy that
# does not use 413), e.g. "Maximum content size limit (26214400) exceeded".
UPLOAD_TOO_LARGE = (
    "content size limit",
    "file too large",
    "file is too large",
    "maximum file size",
    "request entity too large",
    "payload too large",
    "max_upload_size",
)


def mentions(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether `text` contains any of `phrases` (lower-case)."""
    lowered = text.lower()
    return any(phrase in lowered for phrase in phrases)


def _detail_text(item: Any) -> str:
    """One FastAPI/Mistral validation item, naming the field: `body.stream_options: Extra inputs…`."""
    if not isinstance(item, Mapping):
        return str(item)
    text = str(item.get("msg") or item.get("message") or item)
    loc = item.get("loc")
    return f"{'.'.join(map(str, loc))}: {text}" if isinstance(loc, list) and loc else text


def body_text(body: Any) -> str:
    """The human part of any error body a server sends (quirks doc §7): `{"error": {...}}`,
    `{"error": "…"}`, `{"object": "error", "message": …}`, FastAPI/Mistral `{"detail": [...]}`,
    or plain text. '' when there is none."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return body_text(error) or json.dumps(error, ensure_ascii=False)
        if isinstance(error, str) and error:
            return error
        for key in ("message", "detail", "msg", "error_message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, Mapping) and (inner := body_text(value)):
                return inner  # Mistral nests {"detail": [...]} inside "message"
            if isinstance(value, list | Mapping) and value:
                items = value if isinstance(value, list) else [value]
                return "; ".join(_detail_text(item) for item in items)
        return ""
    if isinstance(body, str):
        return body
    return ""


def error_type(body: Any) -> str:
    """The `type` of an error body (inside `error` or at the top), lower-cased; '' if none."""
    error = body.get("error") if isinstance(body, Mapping) else None
    for source in (error, body):
        kind = source.get("type") if isinstance(source, Mapping) else None
        if isinstance(kind, str):
            return kind.lower()
    return ""


def is_deployment_not_found(body: Any) -> bool:
    """Whether an error body is Azure's "deployment does not exist" (by its code or its words)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    return mentions(f"{code if isinstance(code, str) else ''} {body_text(body)}", DEPLOYMENT_NOT_FOUND)


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body")) or "<title>" in head
