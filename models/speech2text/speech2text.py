"""The speech-to-text model class: a thin adapter from Dify's calls to `oai_bridge.audio`
(settings -> format sniffed -> streamed multipart upload -> text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from dify_plugin import Speech2TextModel
from dify_plugin.entities.model import AIModelEntity

from oai_bridge.adapter.base import BridgeModel, settings_for, validate_and_save
from oai_bridge.audio.schemas import speech2text_schema
from oai_bridge.audio.transcribe import transcribe
from oai_bridge.errors.invoke import endpoint_errors


class BridgeSpeech2TextModel(BridgeModel, Speech2TextModel):
    def _invoke(self, model: str, credentials: dict, file: IO[bytes], user: str | None = None) -> str:
        del user
        settings = settings_for(model, credentials)
        with endpoint_errors(settings):
            return transcribe(settings, file)

    # Dify passes a dict and saves what validation writes into it (the findings); the SDK says Mapping.
    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]  # see above
        """Transcribe a half-second tone the plugin makes itself (nothing is downloaded); save
        the corrected base URL with the model."""
        validate_and_save(model, credentials, lambda settings: "speech2text")

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return speech2text_schema(settings_for(model, credentials))
