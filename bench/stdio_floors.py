"""Model classes that answer without any HTTP, for the throwaway plugins ``stdio_rerank`` and
``stdio_embed`` (``bench/plugins.py``): what Dify's stdio runtime alone costs for the same calls
as rows 6a and 7a (rows 6b, 7b).

Importing this module imports dify_plugin, which gevent-monkey-patches the process.
"""

from __future__ import annotations

from decimal import Decimal

from dify_plugin import RerankModel, TextEmbeddingModel
from dify_plugin.entities.model.rerank import RerankDocument, RerankResult
from dify_plugin.entities.model.text_embedding import EmbeddingUsage, MultiModalEmbeddingResult

from bench.payloads import embedding_vectors, rerank_score

__all__ = ["StdioRerankModel", "StdioTextEmbeddingModel"]

_VECTORS = embedding_vectors(128)


class _NoServer:
    """Nothing to validate and no server errors to map."""

    def validate_credentials(self, model: str, credentials: dict) -> None:
        return None

    @property
    def _invoke_error_mapping(self) -> dict:
        return {}


class StdioRerankModel(_NoServer, RerankModel):
    """The documents ranked by the bench server's own score function."""

    def _invoke(self, model, credentials, query, docs, score_threshold=None, top_n=None, user=None) -> RerankResult:
        ranked = sorted(range(len(docs)), key=lambda i: rerank_score(docs[i]), reverse=True)
        return RerankResult(
            model=model, docs=[RerankDocument(index=i, text=docs[i], score=rerank_score(docs[i])) for i in ranked]
        )


class StdioTextEmbeddingModel(_NoServer, TextEmbeddingModel):
    """A 1,024-float vector per multimodal input (the size the bench server returns)."""

    def _invoke(self, model, credentials, texts, user=None, input_type=None):
        raise NotImplementedError

    def _invoke_multimodal(
        self, model, credentials, documents, user=None, input_type=None
    ) -> MultiModalEmbeddingResult:
        free = {"unit_price": Decimal(0), "price_unit": Decimal(0), "total_price": Decimal(0), "currency": "USD"}
        return MultiModalEmbeddingResult(
            model=model,
            embeddings=[_VECTORS[i % len(_VECTORS)] for i in range(len(documents))],
            usage=EmbeddingUsage(tokens=0, total_tokens=0, latency=0.0, **free),
        )

    def get_num_tokens(self, model: str, credentials: dict, texts: list[str]) -> list[int]:
        return [0 for _ in texts]
