"""The text-embedding model class: settings -> batches -> pooled client -> vectors in order."""

from __future__ import annotations

from collections.abc import Mapping

from dify_plugin import TextEmbeddingModel
from dify_plugin.entities.model import AIModelEntity, EmbeddingInputType, PriceType
from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from oai_bridge.embedder import embed_texts
from oai_bridge.embedding import prepare_texts
from oai_bridge.errors import to_invoke_error, translated_errors
from oai_bridge.schema import embedding_schema, known_context_size
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
        return TextEmbeddingResult(model=model, embeddings=vectors, usage=self._usage(model, credentials, tokens))

    def _usage(self, model: str, credentials: dict, tokens: int) -> EmbeddingUsage:
        price = self.get_price(model=model, credentials=credentials, price_type=PriceType.INPUT, tokens=tokens)
        return EmbeddingUsage(
            tokens=tokens,
            total_tokens=tokens,
            unit_price=price.unit_price,
            price_unit=price.unit,
            total_price=price.total_amount,
            currency=price.currency,
            latency=0.0,
        )

    def get_num_tokens(self, model: str, credentials: dict, texts: list[str]) -> list[int]:
        return [estimate_text(text) for text in texts]

    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]
        try:
            settings = parse_settings(model, credentials)
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                vectors, _ = embed_texts(settings, ["ping"])
            # Saved with the model (Dify keeps what validation returns): sizes max_chunks.
            credentials["_detected_dimensions"] = str(len(vectors[0]))
        except (SettingsError, InvokeError) as exc:
            raise CredentialsValidateFailedError(str(exc)) from None

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return embedding_schema(_parse(model, credentials))

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
        return to_invoke_error(error)

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return {}  # unused: _transform_invoke_error is overridden
