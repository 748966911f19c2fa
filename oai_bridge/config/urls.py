"""Base-URL normalisation: what users paste -> the API root the OpenAI client joins paths onto."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["display_url", "normalize_base_url", "pasted_responses_url"]

# Endpoint paths users paste by mistake (dify#2624: the path ended up doubled).
_ENDPOINT_SUFFIXES = (
    "/chat/completions",
    "/completions",
    "/responses",
    "/embeddings",
    "/models",
    "/audio/transcriptions",
    "/audio/speech",
    "/audio/voices",
)


def normalize_base_url(url: str) -> str:
    """Strip whitespace, trailing slashes and a pasted endpoint path; keep everything else as typed.

    `http://h:11434/v1/` -> `http://h:11434/v1`; `http://h/v1/chat/completions` -> `http://h/v1`.
    """
    url = url.strip().rstrip("/")
    lowered = url.lower()
    for suffix in _ENDPOINT_SUFFIXES:
        if lowered.endswith(suffix):
            url = url[: -len(suffix)].rstrip("/")
            break
    return url


def pasted_responses_url(url: str) -> bool:
    """Whether the Base URL as typed ends in `/responses` (a user pasting the Responses endpoint)."""
    return url.strip().rstrip("/").lower().endswith("/responses")


def display_url(url: str) -> str:
    """`url` without user:password (a base URL may carry credentials): safe for logs and messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
