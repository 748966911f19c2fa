"""The rerank model class: settings -> the server's rerank path (detected) -> batches -> ranked docs."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

from dify_plugin import RerankModel
from dify_plugin.entities.model import AIModelEntity
from dify_plugin.entities.model.rerank import MultiModalRerankResult, RerankDocument, RerankResult
from dify_plugin.entities.model.text_embedding import MultiModalContent, MultiModalContentType
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from oai_bridge.errors import to_invoke_error, translated_errors
from oai_bridge.probe import probe_endpoint, require_listed, save_findings
from oai_bridge.rerank.run import detect_route, rerank_documents, route_findings, takes_image_documents
from oai_bridge.rerank.schema import rerank_schema
from oai_bridge.rerank.shapes import Document, document_part
from oai_bridge.settings import Settings, SettingsError, parse_settings

logger = logging.getLogger(__name__)


def _parse(model: str, credentials: Mapping) -> Settings:
    with translated_errors():
        return parse_settings(model, credentials)


class BridgeRerankModel(RerankModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        query: str,
        docs: list[str],
        score_threshold: float | None = None,
        top_n: int | None = None,
        user: str | None = None,
    ) -> RerankResult:
        del user
        ranked = self._rank(model, credentials, query, docs, docs, score_threshold, top_n)
        return RerankResult(model=model, docs=ranked)

    def _invoke_multimodal(
        self,
        model: str,
        credentials: dict,
        query: MultiModalContent,
        docs: Sequence[MultiModalContent],
        score_threshold: float | None = None,
        top_n: int | None = None,
        user: str | None = None,
    ) -> MultiModalRerankResult:
        del user
        sent = [document_part(d.content, image=d.content_type == MultiModalContentType.IMAGE) for d in docs]
        asked = document_part(query.content, image=query.content_type == MultiModalContentType.IMAGE)
        texts = [d.content for d in docs]
        ranked = self._rank(model, credentials, asked, sent, texts, score_threshold, top_n)
        return MultiModalRerankResult(model=model, docs=ranked)

    def _rank(
        self,
        model: str,
        credentials: Mapping,
        query: Document,
        sent: Sequence[Document],
        texts: Sequence[str],
        score_threshold: float | None,
        top_n: int | None,
    ) -> list[RerankDocument]:
        """The text of each result is always Dify's own `texts[index]`, whatever the server echoes."""
        settings = _parse(model, credentials)
        with translated_errors(url=settings.base_url, secrets=settings.secrets):
            ranked, tokens = rerank_documents(settings, query, sent, top_n=top_n, score_threshold=score_threshold)
        # RerankResult has no usage field (dify_plugin 0.10.2): the tokens go to the log.
        logger.debug("rerank of %d documents used %d tokens", len(sent), tokens)
        return [RerankDocument(index=index, text=texts[index], score=score) for index, score in ranked]

    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]
        """Rerank two documents for real; save the corrected base URL, the rerank path and shape
        that answered, and whether its scores are logits, with the model."""
        try:
            settings = parse_settings(model, credentials)
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                probe = probe_endpoint(settings, capabilities=(), chat=False)
                require_listed(settings, probe)
                settings = replace(settings, base_url=probe.base_url)
                route, scores = detect_route(settings)
                images = takes_image_documents(settings, route)
        except (SettingsError, InvokeError) as exc:
            raise CredentialsValidateFailedError(str(exc)) from None
        probe.extra.update(route_findings(route, scores, images=images))
        save_findings(credentials, probe)

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return rerank_schema(_parse(model, credentials))

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
        return to_invoke_error(error)

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return {}  # unused: _transform_invoke_error is overridden
