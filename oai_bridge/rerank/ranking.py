"""Scores -> the documents Dify gets: scale, sort, cut to top_n, then the threshold. Pure.

Scores are never min-max normalised (one document, or equal scores, would all become 0 and any
threshold would drop them: dify-official-plugins #1159). Servers that return raw logits
(llama.cpp, some vLLM setups) can be mapped to 0-1 by a sigmoid, which keeps the order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

from oai_bridge.config.settings import Settings

__all__ = ["LOGITS", "PROBABILITIES", "looks_like_logits", "rank", "sigmoid", "uses_sigmoid"]

# Values of the detected `rerank_scores`.
LOGITS = "logits"
PROBABILITIES = "probabilities"


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)  # no overflow for very negative logits
    return z / (1.0 + z)


def looks_like_logits(scores: Iterable[float]) -> bool:
    """A score outside [0, 1] can only be a raw logit (or another unbounded scale)."""
    return any(not 0.0 <= s <= 1.0 for s in scores)


def uses_sigmoid(settings: Settings, detected: str | None = None) -> bool:
    """The form's choice, or on `auto` a sigmoid exactly when logits were detected (`detected`,
    else the saved `rerank_scores`)."""
    if settings.score_scale != "auto":
        return settings.score_scale == "sigmoid"
    found = detected if detected is not None else settings.detected.value("rerank_scores")
    return found == LOGITS


def rank(
    scored: Iterable[tuple[int, float]],
    *,
    top_n: int | None = None,
    score_threshold: float | None = None,
    scale: Literal["served", "sigmoid"] = "served",
) -> list[tuple[int, float]]:
    """(index, score) best first (ties by index), cut to `top_n`, then `score_threshold` applied
    to the scores the user sees."""
    pairs = [(index, sigmoid(score) if scale == "sigmoid" else score) for index, score in scored]
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    if top_n is not None and top_n > 0:
        pairs = pairs[:top_n]
    if score_threshold is not None:
        pairs = [pair for pair in pairs if pair[1] >= score_threshold]
    return pairs
