"""Texts -> embedding request batches, and answers -> vectors in input order. Pure."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from oai_bridge.errors import MalformedResponseError
from oai_bridge.settings import Settings
from oai_bridge.tokens import truncate_to_tokens

__all__ = ["EMPTY_TEXT_STAND_IN", "batches", "build_embedding_body", "parse_embeddings", "prepare_texts"]

# OpenAI, vLLM and SGLang reject empty strings; one space embeds as "nothing" everywhere.
EMPTY_TEXT_STAND_IN = " "


def prepare_texts(texts: Sequence[str], prefix: str, *, max_tokens: int | None = None) -> list[str]:
    """Apply the query/document prefix, replace empty or whitespace-only texts with a stand-in
    (never fail a whole job on one empty chunk), and cut texts to `max_tokens` (estimated)."""
    out = []
    for text in texts:
        text = prefix + text if text.strip() or prefix else EMPTY_TEXT_STAND_IN
        if max_tokens and len(text) > max_tokens:  # a text shorter than the limit in chars fits
            text = truncate_to_tokens(text, max_tokens)
        out.append(text)
    return out


def batches(texts: Sequence[str], size: int) -> Iterator[tuple[int, Sequence[str]]]:
    """(offset, slice) pairs of at most `size` texts."""
    for start in range(0, len(texts), size):
        yield start, texts[start : start + size]


def build_embedding_body(settings: Settings, texts: Sequence[str], *, encoding_format: str = "float") -> dict[str, Any]:
    body: dict[str, Any] = {"model": settings.endpoint_model, "input": list(texts), "encoding_format": encoding_format}
    if settings.dimensions:
        body["dimensions"] = settings.dimensions
    body.update(settings.extra_body)
    return body


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):  # base64 little-endian float32
        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if isinstance(value, list) and value and isinstance(value[0], list):
        raise MalformedResponseError(
            "the server returned one vector per token instead of one per text; start it with a pooling "
            "option (llama.cpp: --pooling mean)"
        )
    return value


def parse_embeddings(data: Any, expected: int) -> tuple[list[list[float]], int | None]:
    """Vectors in input order (by `index`, whatever order the server used) and prompt tokens if given."""
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), list):
        raise MalformedResponseError(f"the embedding response has no `data` list: {str(data)[:300]!r}")
    items = data["data"]
    if len(items) != expected:
        raise MalformedResponseError(f"the server returned {len(items)} embeddings for {expected} texts")
    vectors: list[list[float] | None] = [None] * expected
    for position, item in enumerate(items):
        index = item.get("index", position)
        if not isinstance(index, int) or not 0 <= index < expected or vectors[index] is not None:
            raise MalformedResponseError(f"the embedding response has an invalid or repeated index {index!r}")
        vectors[index] = _vector(item.get("embedding"))
    usage = data.get("usage")
    tokens = usage.get("prompt_tokens") or usage.get("total_tokens") if isinstance(usage, Mapping) else None
    return vectors, tokens if isinstance(tokens, int) else None  # type: ignore[return-value]
