"""The text-to-speech model class: a thin adapter from Dify's calls to `oai_bridge.audio`
(settings -> voice checked -> parts synthesised concurrently -> audio pieces yielded in order
as they arrive)."""

from __future__ import annotations

from collections.abc import Generator, Mapping

from dify_plugin import TTSModel
from dify_plugin.entities.model import AIModelEntity

from oai_bridge.adapter.base import BridgeModel, settings_for, validate_and_save
from oai_bridge.audio.schemas import tts_schema
from oai_bridge.audio.speech import synthesize
from oai_bridge.audio.voices import choose_voice, voice_options
from oai_bridge.errors.invoke import endpoint_errors


class BridgeTTSModel(BridgeModel, TTSModel):
    def _invoke(
        self,
        model: str,
        tenant_id: str,
        credentials: dict,
        content_text: str,
        voice: str,
        user: str | None = None,
    ) -> Generator[bytes]:
        del tenant_id, user
        settings = settings_for(model, credentials)
        with endpoint_errors(settings):
            return synthesize(settings, content_text, choose_voice(settings, voice))

    def get_tts_model_voices(self, model: str, credentials: dict, language: str | None = None) -> list | None:
        del language  # servers do not say which language a voice speaks: offer all of them
        return voice_options(settings_for(model, credentials))

    # Dify passes a dict and saves what validation writes into it (the findings); the SDK says Mapping.
    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]  # see above
        """Find the base URL and the server's voices (unless the form names them), then speak a
        short sentence; save both with the model."""
        validate_and_save(model, credentials, lambda settings: "tts")

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return tts_schema(settings_for(model, credentials))
