"""Base-URL normalisation: what users paste -> the API root the OpenAI client joins paths onto,
and the query string (Azure's `api-version`) that goes with every request."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "base_query",
    "display_url",
    "normalize_base_url",
    "pasted_responses_url",
    "secret_query_values",
    "with_query",
]

# Endpoint paths users paste by mistake (dify#2624: the path ended up doubled), one per line;
# longer paths first where one ends another (`/chat/completions` before `/completions`).
_ENDPOINT_SUFFIXES = (
    "/chat/completions",
    "/completions",
    "/responses",
    "/embeddings",
    "/models",
    "/audio/transcriptions",
    "/audio/translations",
    "/audio/speech",
    "/audio/voices",
    "/reranking",  # llama.cpp's alias
    "/rerank",
    "/score",
)
# Query parameters whose values are credentials (`?key=`, `?api_key=`, Azure Functions' `?code=`,
# a SAS `sig`): never shown in a message or a log line.
_SECRET_PARAM = re.compile(r"key|token|secret|sig|code|pass|auth", re.I)


def _split(url: str) -> tuple[str, str]:
    """(the URL without query or fragment, its query string)."""
    parts = urlsplit(url.strip())
    return urlunsplit(parts._replace(query="", fragment="")), parts.query


@lru_cache(maxsize=256)  # called for every request, with a handful of distinct URLs
def normalize_base_url(url: str) -> str:
    """Strip whitespace, the query string (see `base_query`), trailing slashes and a pasted
    endpoint path; keep everything else as typed.

    `http://h:11434/v1/` -> `http://h:11434/v1`; `http://h/v1/chat/completions` -> `http://h/v1`;
    `https://x/openai/deployments/d/?api-version=2024-10-21` -> `https://x/openai/deployments/d`.
    """
    url = _split(url)[0].strip().rstrip("/")
    lowered = url.lower()
    for suffix in _ENDPOINT_SUFFIXES:
        if lowered.endswith(suffix):
            url = url[: -len(suffix)].rstrip("/")
            break
    return url


def pasted_responses_url(url: str) -> bool:
    """Whether the Base URL as typed ends in `/responses` (a user pasting the Responses endpoint;
    a query string after it does not count)."""
    return _split(url)[0].strip().rstrip("/").lower().endswith("/responses")


def base_query(url: str) -> tuple[tuple[str, str], ...]:
    """The query string typed into the base URL, as (name, value) pairs in order: it is sent with
    every request (`https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21`)."""
    return tuple(parse_qsl(_split(url)[1], keep_blank_values=True))


def with_query(base: str, query: tuple[tuple[str, str], ...]) -> str:
    """`base` with `query` appended: the form a base URL is saved in."""
    return f"{base}?{urlencode(query)}" if query else base


def secret_query_values(query: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """Values of query parameters named like credentials (`key`, `token`, `sig`, `code`...)."""
    return tuple(value for name, value in query if value and _SECRET_PARAM.search(name))


def display_url(url: str) -> str:
    """`url` without user:password (a base URL may carry credentials) and with credential-like
    query values masked: safe for logs and messages."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])
    if parts.query and any(_SECRET_PARAM.search(name) for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        masked = [(name, "***" if _SECRET_PARAM.search(name) else value) for name, value in pairs]
        parts = parts._replace(query=urlencode(masked, safe="*"))
    return urlunsplit(parts)
