"""A Dify embedding call against the endpoint: texts -> request batches (prefixes, empty texts,
estimated truncation), server batches in parallel (bounded), base64 transfer with a remembered
fall-back to floats, batches the server finds too large split in half until they fit, and
vectors back in input order."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from oai_bridge.config.settings import Settings
from oai_bridge.config.urls import normalize_base_url
from oai_bridge.dialects import learned
from oai_bridge.errors.kinds import HTTPStatusError, MalformedResponseError, TextTooLongError, UnreadableAnswerError
from oai_bridge.errors.shape import items, obj
from oai_bridge.errors.wording import BATCH_TOO_LARGE, body_text, mentions
from oai_bridge.tokens import estimate_text, truncate_to_tokens
from oai_bridge.transport.send import post_json

__all__ = [
    "EMPTY_TEXT_STAND_IN",
    "PARALLEL_BATCHES",
    "batches",
    "build_embedding_body",
    "embed_texts",
    "parse_embeddings",
    "prepare_texts",
    "too_large",
]

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


_NUMBERS = frozenset({float, int})


def _vector(value: Any, where: str) -> list[float]:
    if isinstance(value, str):  # base64 little-endian float32
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raw = b"?"  # not base64 at all: refused below like a cut-off vector
        if len(raw) % 4:  # float32s: 4 bytes each
            raise UnreadableAnswerError(value, "a vector (base64)", where)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    vector = items(value, where)
    if vector and isinstance(vector[0], list):
        raise MalformedResponseError(
            "the server returned one vector per token instead of one per text; start it with a pooling "
            "option (llama.cpp: --pooling mean)"
        )
    if not set(map(type, vector)) <= _NUMBERS:  # one pass in C; the culprit is looked for only then
        position, culprit = next((i, x) for i, x in enumerate(vector) if type(x) not in _NUMBERS)
        raise UnreadableAnswerError(culprit, "a number", f"{where}[{position}]")
    return vector


def parse_embeddings(data: Any, expected: int) -> tuple[list[list[float]], int | None]:
    """Vectors in input order (by `index`, whatever order the server used) and prompt tokens if given."""
    if not isinstance(data, Mapping) or "data" not in data:
        raise MalformedResponseError(f"the embedding response has no `data` list: {str(data)[:300]!r}")
    entries = items(data["data"], "data")
    if len(entries) != expected:
        raise MalformedResponseError(f"the server returned {len(entries)} embeddings for {expected} texts")
    vectors: list[list[float] | None] = [None] * expected
    for position, item in enumerate(entries):
        item = obj(item, f"data[{position}]")
        index = item.get("index", position)
        if not isinstance(index, int) or not 0 <= index < expected or vectors[index] is not None:
            raise MalformedResponseError(f"the embedding response has an invalid or repeated index {index!r}")
        vectors[index] = _vector(item.get("embedding"), f"data[{position}].embedding")
    usage = data.get("usage")
    tokens = usage.get("prompt_tokens") or usage.get("total_tokens") if isinstance(usage, Mapping) else None
    return vectors, tokens if isinstance(tokens, int) else None  # type: ignore[return-value]


# Server batches in flight at once for one Dify call (under gevent these are greenlets); the
# schema sizes Dify's calls to this many batches.
PARALLEL_BATCHES = 4


def too_large(exc: HTTPStatusError) -> bool:
    """Whether the server refused a request for carrying too many or too long inputs."""
    if exc.status == 413:
        return True
    return exc.status in (400, 422, 500) and mentions(body_text(exc.body), BATCH_TOO_LARGE)


def _post_batch(settings: Settings, texts: Sequence[str]) -> tuple[list[list[float]], int]:
    body = build_embedding_body(settings, texts, encoding_format="base64")
    data = post_json(settings, "/embeddings", body)
    vectors, tokens = parse_embeddings(data, len(texts))
    if data["data"] and not isinstance(data["data"][0].get("embedding"), str):
        # Asked for base64, got floats (llama-cpp-python ignores it): stop asking.
        learned.learn(normalize_base_url(settings.base_url), learned.FLOAT_ENCODING)
    return vectors, tokens if tokens is not None else sum(estimate_text(t) for t in texts)


def _embed_batch(settings: Settings, texts: Sequence[str], offset: int) -> tuple[list[list[float]], int]:
    """One server batch; halves it while the server says it is too large."""
    try:
        return _post_batch(settings, texts)
    except HTTPStatusError as exc:
        if not too_large(exc):
            raise
        if len(texts) == 1:
            raise TextTooLongError(
                f"text #{offset + 1} ({len(texts[0])} characters) is too long for the server's embedding "
                "input; lower the knowledge base's chunk size or raise the server's batch/context size"
            ) from exc
    half = len(texts) // 2
    left_vectors, left_tokens = _embed_batch(settings, texts[:half], offset)
    right_vectors, right_tokens = _embed_batch(settings, texts[half:], offset + half)
    return left_vectors + right_vectors, left_tokens + right_tokens


def embed_texts(settings: Settings, texts: Sequence[str]) -> tuple[list[list[float]], int]:
    """Vectors for `texts` in order, and the tokens used (from the server, else estimated)."""
    parts = list(batches(texts, settings.max_chunks))
    if len(parts) == 1:
        return _embed_batch(settings, parts[0][1], 0)
    with ThreadPoolExecutor(max_workers=min(PARALLEL_BATCHES, len(parts))) as pool:
        results = list(pool.map(lambda part: _embed_batch(settings, part[1], part[0]), parts))
    vectors = [vector for batch_vectors, _ in results for vector in batch_vectors]
    return vectors, sum(tokens for _, tokens in results)
