"""Runs a Dify rerank call against the endpoint: the server's rerank path (found at save by the
"rerank" ping in `discovery.detect`, which calls `detect_route` here), documents in server-sized
batches sent concurrently and merged back by their original indices, batches the server refuses
as too large split in half (and the size it took remembered), and documents too long for the
model truncated (`rerank.fit`: by the server where it can, else cut by the plugin) or, when
nothing fits, named.

Only `oai_bridge.transport.send.post_json` talks to the server (keyless endpoints get no
Authorization header there, for every request).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

from oai_bridge.config.settings import Settings
from oai_bridge.config.urls import display_url, normalize_base_url
from oai_bridge.errors.kinds import (
    ConnectionDroppedError,
    ConnectionFailedError,
    EndpointMissingError,
    MalformedResponseError,
    ServerStatusError,
    TextTooLongError,
    UnsendableInputError,
)
from oai_bridge.errors.wording import BATCH_TOO_LARGE, RERANK_PAIR_TOO_LONG, body_text, mentions
from oai_bridge.rerank.fit import Fit, fitted, next_fit
from oai_bridge.rerank.ranking import LOGITS, PROBABILITIES, looks_like_logits, rank, uses_sigmoid
from oai_bridge.rerank.shapes import SHAPES, Document, Shape, build_body, document_part, parse_scores, parse_tokens
from oai_bridge.tokens import estimate_text
from oai_bridge.transport.send import post_json

__all__ = [
    "DEFAULT_BATCH",
    "MAX_PARALLEL_BATCHES",
    "Route",
    "candidate_routes",
    "detect_route",
    "rerank_documents",
    "route_findings",
    "server_root",
    "takes_image_documents",
]

logger = logging.getLogger(__name__)

# Documents per request until the server says less (TEI's MAX_CLIENT_BATCH_SIZE default).
DEFAULT_BATCH = 32
MAX_PARALLEL_BATCHES = 4
# The pair sent at save: one relevant document and one not, so a logit server shows a negative score.
PROBE_QUERY = "What is the capital of France?"
PROBE_DOCUMENTS = ("Paris is the capital of France.", "Bananas are yellow.")
# 1x1 PNG (the same one vision detection uses).
PROBE_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
# Empty strings are refused by several servers; the text Dify gets back is always its own.
EMPTY_DOCUMENT_STAND_IN = " "


@dataclass(frozen=True)
class Route:
    """Where and how the server reranks: `path` from the server root (e.g. `/v1/rerank`)."""

    path: str
    shape: Shape


def server_root(settings: Settings) -> str:
    """The base URL without a trailing API version (`/v1`, `/v2`): rerank paths live on both sides."""
    return re.sub(r"/v\d+$", "", normalize_base_url(settings.base_url))


def candidate_routes(settings: Settings) -> list[Route]:
    """Where servers rerank, most likely first: the base URL's own `/rerank`, `/v1/rerank`, the
    root `/rerank` (vLLM's Jina shape, else TEI's `texts`), Cohere's `/v2/rerank`, vLLM's `/score`."""
    base = normalize_base_url(settings.base_url)
    root = server_root(settings)
    prefix = base[len(root) :]  # "/v1", "/v2" or ""
    paths = [f"{prefix}/rerank", "/v1/rerank", "/rerank", "/v2/rerank", "/score", "/v1/score"]
    routes: list[Route] = []
    for path in dict.fromkeys(paths):
        if path.endswith("/score"):
            routes.append(Route(path, "score"))
        else:
            routes.append(Route(path, "jina"))
            if path == "/rerank":
                routes.append(Route(path, "tei"))
    return routes


def _post(settings: Settings, route: Route, body: dict[str, Any], *, probe: bool = False) -> Any:
    """`probe`: the request tries whether the route exists (a 404 that does not name the model is
    then a missing path, not explained with the server's model list: the search goes on)."""
    return post_json(settings, server_root(settings) + route.path, body, probe=probe)


def detect_route(settings: Settings) -> tuple[Route, list[float]]:
    """Try the candidate routes with a small probe; the first that answers scores is the route,
    with the scores it gave. Paths that do not exist (404, 405, 501) or refuse the body's shape (400,
    422, an unreadable answer) are passed over; anything else (auth, server down, a refusal that
    names the model) is raised."""
    settings = replace(settings, max_retries=0)
    refusal: BaseException | None = None
    missing = True
    for route in candidate_routes(settings):
        body = build_body(route.shape, settings.endpoint_model, PROBE_QUERY, PROBE_DOCUMENTS)
        try:
            pairs = parse_scores(_post(settings, route, body, probe=True), PROBE_DOCUMENTS)
        except ServerStatusError as exc:
            if exc.status in (404, 405, 501):  # 501: llama-server without --reranking
                continue
            if exc.status not in (400, 422):
                raise
            refusal = refusal or exc
        except (MalformedResponseError, ValueError) as exc:
            refusal = refusal or exc
        else:
            if pairs:
                return route, [score for _, score in pairs]
            missing = False
    if refusal is not None:
        raise refusal
    tried = ", ".join(dict.fromkeys(server_root(settings) + r.path for r in candidate_routes(settings)))
    state = "answered without scores" if not missing else "is not served"
    raise EndpointMissingError(
        f"No rerank endpoint found: {tried} {state}. Serve a reranker model there (vLLM: a reranker "
        "such as BAAI/bge-reranker-v2-m3; llama.cpp: --reranking; TEI: a reranker model) and check the base URL."
    )


def takes_image_documents(settings: Settings, route: Route) -> bool:
    """Whether the route scores an image document (vLLM multimodal rerankers such as
    Qwen3-VL-Reranker); any refusal or failure means no."""
    if route.shape != "jina":
        return False
    documents = [PROBE_DOCUMENTS[0], document_part(PROBE_IMAGE, image=True)]
    body = build_body(route.shape, settings.endpoint_model, PROBE_QUERY, documents)
    try:
        return len(parse_scores(_post(replace(settings, max_retries=0), route, body, probe=True), documents)) == 2
    except (ServerStatusError, ConnectionFailedError, ConnectionDroppedError, ValueError):
        return False


def route_findings(route: Route, scores: Sequence[float]) -> dict[str, str]:
    """Detected values to save with the model (`Detection.values`, saved as `_detected_<name>`);
    whether image documents work is the `vision` feature."""
    return {
        "rerank_path": route.path,
        "rerank_shape": route.shape,
        "rerank_scores": LOGITS if looks_like_logits(scores) else PROBABILITIES,
    }


_lock = threading.Lock()
# Documents per request a server was found to take (split on "too large", remembered).
_batch_limits: dict[tuple[str, str], int] = {}
# How over-long documents were made to fit on a route (`rerank.fit`), remembered so later calls
# do not pay the refusals again.
_fits: dict[tuple[str, str], Fit] = {}


def _route(settings: Settings) -> tuple[Route, str]:
    """The route and score scale saved with the model (or detected lazily by the caller); without
    them (an endpoint unreachable at lazy detection) detected here, so the real error is raised."""
    path, shape = settings.detected.value("rerank_path"), settings.detected.value("rerank_shape")
    if path and shape in SHAPES:
        return Route(path, shape), settings.detected.value("rerank_scores") or PROBABILITIES
    route, scores = detect_route(settings)
    return route, route_findings(route, scores)["rerank_scores"]


def _kind_of_refusal(exc: ServerStatusError) -> str | None:
    """ "batch" (too many documents in one request), "context" (a document too long), or None."""
    if exc.status not in (400, 413, 422, 500):
        return None
    text = body_text(exc.body)
    if mentions(text, RERANK_PAIR_TOO_LONG):  # TEI words both with 413
        return "context"
    return "batch" if exc.status == 413 or mentions(text, BATCH_TOO_LARGE) else None


def _estimate(query: Document, documents: Sequence[Document]) -> int:
    """Tokens of the (query, document) pairs a cross-encoder reads; images are not counted."""
    query_tokens = estimate_text(query) if isinstance(query, str) else 0
    return sum(query_tokens + (estimate_text(d) if isinstance(d, str) else 0) for d in documents)


@dataclass(frozen=True)
class _Batch:
    """What one server batch gave: (index, score) pairs, tokens used, documents cut to fit."""

    pairs: list[tuple[int, float]]
    tokens: int
    cut: int = 0

    def __add__(self, other: _Batch) -> _Batch:
        return _Batch(self.pairs + other.pairs, self.tokens + other.tokens, self.cut + other.cut)


def _score_batch(
    settings: Settings,
    route: Route,
    query: Document,
    documents: Sequence[Document],
    offset: int,
    top_n: int | None,
    fit: Fit,
) -> _Batch:
    """One server batch, made to fit while the server finds a document too long, split in half
    while it finds the batch too large."""
    sent, cut = fitted(fit, query, documents)
    body = build_body(
        route.shape, settings.endpoint_model, query, sent, top_n=top_n, extra=settings.extra_body, truncate=fit.server
    )
    key = (server_root(settings) + route.path, settings.endpoint_model)
    try:
        data = _post(settings, route, body)
    except ServerStatusError as exc:
        kind = _kind_of_refusal(exc)
        if kind is None:
            raise
        refusal = body_text(exc.body)
        if kind == "context":
            better = next_fit(fit, route.shape, refusal, settings.known_context_size, query, documents)
            if better is not None:
                return _score_batch(settings, route, query, documents, offset, top_n, better)
        if len(documents) == 1:
            raise TextTooLongError(
                f"document #{offset + 1} ({len(str(documents[0]))} characters) is too long for the rerank "
                "model's context, and neither the server nor a cut made it fit; lower the knowledge base's "
                f"chunk size or raise the server's context size. The server said: {refusal[:300]}"
            ) from None
        if kind == "batch":
            with _lock:
                _batch_limits[key] = min(_batch_limits.get(key, DEFAULT_BATCH), len(documents) // 2)
        half = len(documents) // 2
        left = _score_batch(settings, route, query, documents[:half], offset, top_n, fit)
        return left + _score_batch(settings, route, query, documents[half:], offset + half, top_n, fit)
    if fit != Fit():
        with _lock:
            _fits[key] = fit
    pairs = [(offset + index, score) for index, score in parse_scores(data, sent)]
    tokens = parse_tokens(data)
    return _Batch(pairs, tokens if tokens is not None else _estimate(query, sent), cut)


def rerank_documents(
    settings: Settings,
    query: Document,
    documents: Sequence[Document],
    *,
    top_n: int | None = None,
    score_threshold: float | None = None,
) -> tuple[list[tuple[int, float]], int]:
    """(index into `documents`, score) best first, cut to `top_n`, scores scaled as the user chose
    and `score_threshold` applied last; and the tokens used (the server's, else estimated).
    An empty list makes no request."""
    if not documents:
        return [], 0
    if isinstance(query, str) and not query.strip():
        raise UnsendableInputError("The rerank query is empty.")
    route, scores = _route(settings)
    if route.shape != "jina" and not all(isinstance(d, str) for d in (query, *documents)):
        raise UnsendableInputError(
            f"The server's rerank endpoint ({route.path}, {route.shape} shape) takes text only; "
            "image documents need a multimodal reranker served by vLLM (e.g. Qwen3-VL-Reranker)."
        )
    sent = [d if not isinstance(d, str) or d.strip() else EMPTY_DOCUMENT_STAND_IN for d in documents]
    key = (server_root(settings) + route.path, settings.endpoint_model)
    with _lock:
        size = max(1, _batch_limits.get(key, DEFAULT_BATCH))
        fit = _fits.get(key, Fit())
    parts = [(start, sent[start : start + size]) for start in range(0, len(sent), size)]

    def run(part: tuple[int, Sequence[Document]]) -> _Batch:
        return _score_batch(settings, route, query, part[1], part[0], top_n, fit)

    if len(parts) == 1:
        results = [run(parts[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_BATCHES, len(parts))) as pool:
            results = list(pool.map(run, parts))
    total = sum(results[1:], results[0])
    with _lock:
        learned = _fits.get(key, fit)
    if total.cut:
        logger.warning(
            "rerank: %d of %d documents are longer than %s takes (%s tokens a query-document pair): "
            "each was scored on its beginning",
            total.cut,
            len(documents),
            display_url(key[0]),
            learned.limit,
        )
    elif learned.server and not fit.server:
        logger.warning(
            "rerank: a document is longer than %s takes: the server truncates documents from now on",
            display_url(key[0]),
        )
    scale: Literal["sigmoid", "served"] = "sigmoid" if uses_sigmoid(settings, scores) else "served"
    return rank(total.pairs, top_n=top_n, score_threshold=score_threshold, scale=scale), total.tokens
