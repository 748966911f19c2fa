"""Rerank request bodies per server shape, and answers of any shape -> (index, score) pairs. Pure.

Shapes (what a path takes):
    jina   `{model, query, documents, top_n?}`: vLLM /rerank and /v1/rerank, llama.cpp, LocalAI,
           Xinference, SGLang, Jina; the same body on /v2/rerank is Cohere's
    tei    `{query, texts, raw_scores, return_text, truncate}`: Hugging Face TEI's root /rerank
    score  `{model, text_1, text_2}`: vLLM /score
Answers: `results`, `data` or a bare list; the score from `relevance_score` or `score`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

from oai_bridge.embeddings.media import image_uri
from oai_bridge.errors.kinds import MalformedResponseError

__all__ = [
    "SERVER_TRUNCATION",
    "SHAPES",
    "Document",
    "Shape",
    "build_body",
    "document_part",
    "parse_scores",
    "parse_tokens",
]

Shape = Literal["jina", "tei", "score"]
SHAPES: tuple[Shape, ...] = ("jina", "tei", "score")
# How the server of a shape is asked to cut a document longer than its model takes, and whether
# that goes with every request. TEI's shape is TEI's own: always. `truncate_prompt_tokens` (-1: to
# the model's context) is vLLM's, for its Jina and score shapes: sent only once a document was
# refused as too long, since other servers of the Jina shape may refuse a field they do not know
# (then it is dropped by name, `dialects.learned`, and the plugin cuts instead).
SERVER_TRUNCATION: Mapping[Shape, tuple[Mapping[str, Any], bool]] = MappingProxyType(
    {
        "tei": (MappingProxyType({"truncate": True}), True),
        "jina": (MappingProxyType({"truncate_prompt_tokens": -1}), False),
        "score": (MappingProxyType({"truncate_prompt_tokens": -1}), False),
    }
)
# A document as sent: a string, or vLLM's multimodal `{"content": [parts]}` (Qwen3-VL reranker).
Document = str | dict[str, Any]


def document_part(content: str, *, image: bool) -> Document:
    """One query or document in the shape vLLM's multimodal rerank takes."""
    if not image:
        return content
    return {"content": [{"type": "image_url", "image_url": {"url": image_uri(content)}}]}


def build_body(
    shape: Shape,
    model: str,
    query: Document,
    documents: Sequence[Document],
    *,
    top_n: int | None = None,
    extra: Mapping[str, Any] | None = None,
    truncate: bool = False,
) -> dict[str, Any]:
    """The request body for `shape`. `top_n` is sent only when given (servers differ on what a
    missing or 0 `top_n` means, and the plugin cuts locally anyway); `truncate` asks the server
    to cut over-long documents itself (`SERVER_TRUNCATION`)."""
    if shape == "tei":
        body: dict[str, Any] = {"query": query, "texts": list(documents), "raw_scores": False, "return_text": False}
    elif shape == "score":
        body = {"model": model, "text_1": query, "text_2": list(documents)}
    else:
        body = {"model": model, "query": query, "documents": list(documents)}
        if top_n is not None:
            body["top_n"] = min(top_n, len(documents))
    fields, always = SERVER_TRUNCATION[shape]
    if always or truncate:
        body.update(fields)
    body.update(extra or {})
    return body


def _items(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping):
        for key in ("results", "data"):
            if isinstance(data.get(key), list):
                return data[key]
    raise MalformedResponseError(f"the rerank answer has no `results`, `data` or list: {str(data)[:300]!r}")


def _score(item: Mapping[str, Any]) -> float:
    for key in ("relevance_score", "score"):
        value = item.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    raise MalformedResponseError(f"a rerank result has no `relevance_score` or `score`: {str(item)[:200]!r}")


def _document_text(item: Mapping[str, Any]) -> str | None:
    document = item.get("document")
    if isinstance(document, Mapping):
        document = document.get("text")
    return document if isinstance(document, str) else item.get("text") if isinstance(item.get("text"), str) else None


def parse_scores(data: Any, documents: Sequence[Document]) -> list[tuple[int, float]]:
    """(index into `documents`, score) per result, in the server's order. A result without an
    `index` (SGLang) is matched by the document text it carries, else by its position."""
    items = _items(data)
    count = len(documents)
    taken: set[int] = set()
    pairs = []
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise MalformedResponseError(f"a rerank result is not an object: {str(item)[:200]!r}")
        score = _score(item)
        index = item.get("index")
        if index is None:
            text = _document_text(item)
            index = next((i for i, d in enumerate(documents) if d == text and i not in taken), position)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count or index in taken:
            raise MalformedResponseError(f"a rerank result has an invalid or repeated index {index!r}")
        taken.add(index)
        pairs.append((index, score))
    return pairs


def parse_tokens(data: Any) -> int | None:
    """Tokens the server reports: `usage.total_tokens`/`prompt_tokens` (vLLM, Jina, llama.cpp) or
    Xinference/Cohere-style `meta.tokens.input_tokens`; None when it reports none."""
    if not isinstance(data, Mapping):
        return None
    usage = data.get("usage")
    if isinstance(usage, Mapping):
        for key in ("total_tokens", "prompt_tokens"):
            if isinstance(usage.get(key), int):
                return usage[key]
    meta = data.get("meta")
    tokens = meta.get("tokens") if isinstance(meta, Mapping) else None
    value = tokens.get("input_tokens") if isinstance(tokens, Mapping) else None
    if isinstance(value, int | float) and math.isfinite(value):  # JSON as Python reads it has NaN
        return int(value)
    return None
