"""Runs a Dify embedding call against the endpoint: server batches in parallel (bounded),
base64 transfer with a remembered fall-back to floats, and batches the server finds too large
split in half until they fit. Vectors always come back in input order."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from oai_bridge import compat
from oai_bridge import lazy_openai as openai
from oai_bridge.discovery import normalize_base_url
from oai_bridge.embedding import batches, build_embedding_body, parse_embeddings
from oai_bridge.errors import TextTooLongError
from oai_bridge.http import post_json
from oai_bridge.settings import Settings
from oai_bridge.tokens import estimate_text

__all__ = ["MAX_PARALLEL_BATCHES", "embed_texts"]

# Server batches in flight at once for one Dify call (under gevent these are greenlets).
MAX_PARALLEL_BATCHES = 4
# How servers say a batch is too big: TEI 413/422 "batch size", llama.cpp 500 "input (N tokens)
# is too large to process. increase the physical batch size" (L#7389), vLLM/OpenAI "too many inputs".
_TOO_LARGE = ("too large", "too many", "batch size", "physical batch", "payload too large", "maximum context length")


def _too_large(exc: openai.APIStatusError) -> bool:
    if exc.status_code == 413:
        return True
    if exc.status_code not in (400, 422, 500):
        return False
    text = str(exc.body).lower()
    return any(marker in text for marker in _TOO_LARGE)


def _post_batch(settings: Settings, texts: Sequence[str]) -> tuple[list[list[float]], int]:
    body = build_embedding_body(settings, texts, encoding_format="base64")
    data = post_json(settings, "/embeddings", body)
    vectors, tokens = parse_embeddings(data, len(texts))
    if data["data"] and not isinstance(data["data"][0].get("embedding"), str):
        # Asked for base64, got floats (llama-cpp-python ignores it): stop asking.
        compat.learn(normalize_base_url(settings.base_url), compat.FLOAT_ENCODING)
    return vectors, tokens if tokens is not None else sum(estimate_text(t) for t in texts)


def _embed_batch(settings: Settings, texts: Sequence[str], offset: int) -> tuple[list[list[float]], int]:
    """One server batch; halves it while the server says it is too large."""
    try:
        return _post_batch(settings, texts)
    except openai.APIStatusError as exc:
        if not _too_large(exc):
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
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_BATCHES, len(parts))) as pool:
        results = list(pool.map(lambda part: _embed_batch(settings, part[1], part[0]), parts))
    vectors = [vector for batch_vectors, _ in results for vector in batch_vectors]
    return vectors, sum(tokens for _, tokens in results)
