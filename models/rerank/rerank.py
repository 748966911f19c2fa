"""The rerank model class: a thin adapter from Dify's calls to `oai_bridge.rerank` (the server's
rerank path, detected at save; batches; ranked documents)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

from dify_plugin import RerankModel
from dify_plugin.entities.model import AIModelEntity
from dify_plugin.entities.model.rerank import MultiModalRerankResult, RerankDocument, RerankResult
from dify_plugin.entities.model.text_embedding import MultiModalContent, MultiModalContentType

from oai_bridge.adapter.base import BridgeModel, settings_for, validate_and_save
from oai_bridge.discovery.detect import lazy_detected
from oai_bridge.errors.invoke import endpoint_errors
from oai_bridge.rerank.run import rerank_documents
from oai_bridge.rerank.schema import rerank_schema
from oai_bridge.rerank.shapes import Document, document_part

logger = logging.getLogger(__name__)


class BridgeRerankModel(BridgeModel, RerankModel):
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
        settings = settings_for(model, credentials)
        with endpoint_errors(settings):
            if sent:  # a model saved without findings: its route, detected once per process
                settings = replace(settings, detected=lazy_detected(settings, "rerank"))
            ranked, tokens = rerank_documents(settings, query, sent, top_n=top_n, score_threshold=score_threshold)
        # RerankResult has no usage field (dify_plugin 0.10.2): the tokens go to the log.
        logger.debug("rerank of %d documents used %d tokens", len(sent), tokens)
        return [RerankDocument(index=index, text=texts[index], score=score) for index, score in ranked]

    # Dify passes a dict and saves what validation writes into it (the findings); the SDK says Mapping.
    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]  # see above
        """Rerank two documents for real; save the corrected base URL, the rerank path and shape
        that answered, whether its scores are logits and whether it takes images, with the model."""
        validate_and_save(model, credentials, lambda settings: "rerank")

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return rerank_schema(settings_for(model, credentials))
