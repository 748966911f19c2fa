"""The text-embedding model class: a thin adapter from Dify's calls to `oai_bridge.embeddings`."""

from __future__ import annotations

import time
from collections.abc import Mapping

from dify_plugin import TextEmbeddingModel
from dify_plugin.entities.model import AIModelEntity, EmbeddingInputType
from dify_plugin.entities.model.text_embedding import (
    EmbeddingUsage,
    MultiModalContent,
    MultiModalEmbeddingResult,
    TextEmbeddingResult,
)

from oai_bridge.adapter.base import ZERO_PRICE, BridgeModel, settings_for, validate_and_save
from oai_bridge.embeddings.embed import embed_texts, prepare_texts
from oai_bridge.embeddings.multimodal import embed_parts
from oai_bridge.embeddings.schema import embedding_schema
from oai_bridge.errors.invoke import endpoint_errors
from oai_bridge.tokens import estimate_text


class BridgeTextEmbeddingModel(BridgeModel, TextEmbeddingModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        texts: list[str],
        user: str | None = None,
        input_type: EmbeddingInputType = EmbeddingInputType.DOCUMENT,
    ) -> TextEmbeddingResult:
        del user
        settings = settings_for(model, credentials)
        prefix = settings.query_prefix if input_type == EmbeddingInputType.QUERY else settings.document_prefix
        with endpoint_errors(settings):
            vectors, tokens = embed_texts(
                settings, prepare_texts(texts, prefix, max_tokens=settings.known_context_size)
            )
        return TextEmbeddingResult(model=model, embeddings=vectors, usage=self._usage(tokens))

    def _invoke_multimodal(
        self,
        model: str,
        credentials: dict,
        documents: list[MultiModalContent],
        user: str | None = None,
        input_type: EmbeddingInputType = EmbeddingInputType.DOCUMENT,
    ) -> MultiModalEmbeddingResult:
        del user
        settings = settings_for(model, credentials)
        prefix = settings.query_prefix if input_type == EmbeddingInputType.QUERY else settings.document_prefix
        with endpoint_errors(settings):
            vectors, tokens = embed_parts(settings, [(d.content_type.value, d.content) for d in documents], prefix)
        return MultiModalEmbeddingResult(model=model, embeddings=vectors, usage=self._usage(tokens))

    def _usage(self, tokens: int) -> EmbeddingUsage:
        return EmbeddingUsage(
            tokens=tokens,
            total_tokens=tokens,
            unit_price=ZERO_PRICE.unit_price,
            price_unit=ZERO_PRICE.unit,
            total_price=ZERO_PRICE.total_amount,
            currency=ZERO_PRICE.currency,
            latency=time.perf_counter() - self.started_at if self.started_at else 0.0,
        )

    def get_num_tokens(self, model: str, credentials: dict, texts: list[str]) -> list[int]:
        return [estimate_text(text) for text in texts]

    # Dify passes a dict and saves what validation writes into it (the findings); the SDK says Mapping.
    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]  # see above
        """Embed one text for real; save the corrected base URL, the context size the server
        reports, the vector size (which sizes `max_chunks`) and the image form it takes."""
        validate_and_save(model, credentials, lambda settings: "embedding")

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return embedding_schema(settings_for(model, credentials))
