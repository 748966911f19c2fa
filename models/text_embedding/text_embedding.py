"""The text-embedding model class: settings -> batches -> pooled client -> vectors in order."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

from dify_plugin import TextEmbeddingModel
from dify_plugin.entities.model import AIModelEntity, EmbeddingInputType, ModelFeature
from dify_plugin.entities.model.text_embedding import (
    EmbeddingUsage,
    MultiModalContent,
    MultiModalEmbeddingResult,
    TextEmbeddingResult,
)
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from oai_bridge.embedder import embed_texts
from oai_bridge.embedding import prepare_texts
from oai_bridge.embeddings_multimodal import detect_form, embed_parts, takes_images
from oai_bridge.errors import to_invoke_error, translated_errors
from oai_bridge.probe import native_context, probe_endpoint, require_listed, save_findings
from oai_bridge.schema import ZERO_PRICE, embedding_schema, known_context_size
from oai_bridge.settings import Settings, SettingsError, parse_settings
from oai_bridge.tokens import estimate_text


def _parse(model: str, credentials: Mapping) -> Settings:
    with translated_errors():
        return parse_settings(model, credentials)


class BridgeTextEmbeddingModel(TextEmbeddingModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        texts: list[str],
        user: str | None = None,
        input_type: EmbeddingInputType = EmbeddingInputType.DOCUMENT,
    ) -> TextEmbeddingResult:
        del user
        settings = _parse(model, credentials)
        prefix = settings.query_prefix if input_type == EmbeddingInputType.QUERY else settings.document_prefix
        with translated_errors(url=settings.base_url, secrets=settings.secrets):
            vectors, tokens = embed_texts(
                settings, prepare_texts(texts, prefix, max_tokens=known_context_size(settings))
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
        settings = _parse(model, credentials)
        prefix = settings.query_prefix if input_type == EmbeddingInputType.QUERY else settings.document_prefix
        with translated_errors(url=settings.base_url, secrets=settings.secrets):
            vectors, tokens = embed_parts(settings, [(d.content_type.value, d.content) for d in documents], prefix)
        return MultiModalEmbeddingResult(model=model, embeddings=vectors, usage=self._usage(tokens))

    def _usage(self, tokens: int) -> EmbeddingUsage:
        # Self-hosted endpoints have no price list (and the SDK's lookup would rebuild the schema).
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

    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]
        """Embed one text for real; save the corrected base URL, the context size the server
        reports and the vector size (which sizes `max_chunks`) with the model."""
        try:
            settings = parse_settings(model, credentials)
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                probe = probe_endpoint(settings, capabilities=(), chat=False)
                require_listed(settings, probe)
                settings = replace(settings, base_url=probe.base_url)
                vectors, _ = embed_texts(settings, ["ping"])
                if probe.context_size is None:  # after the ping: Ollama lists only loaded models
                    probe.context_size = native_context(settings, probe.base_url)
                if settings.multimodal_input == "auto":
                    probe.extra["multimodal_input"] = detect_form(settings)
        except (SettingsError, InvokeError) as exc:
            raise CredentialsValidateFailedError(str(exc)) from None
        probe.dimensions = len(vectors[0])
        save_findings(credentials, probe)

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        settings = _parse(model, credentials)
        schema = embedding_schema(settings)
        if takes_images(settings):  # Dify offers images only to models declaring vision
            schema.features = [*(schema.features or []), ModelFeature.VISION]
        return schema

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
        return to_invoke_error(error)

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return {}  # unused: _transform_invoke_error is overridden
