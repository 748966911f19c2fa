"""The speech-to-text model class: settings -> format sniffed -> streamed multipart upload -> text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from io import BytesIO
from typing import IO

from dify_plugin import Speech2TextModel
from dify_plugin.entities.model import AIModelEntity
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from oai_bridge.audio.schemas import speech2text_schema
from oai_bridge.audio.transcribe import tone_clip, transcribe
from oai_bridge.errors import to_invoke_error, translated_errors
from oai_bridge.probe import probe_endpoint, require_listed, save_findings
from oai_bridge.settings import Settings, SettingsError, parse_settings


def _parse(model: str, credentials: Mapping) -> Settings:
    with translated_errors():
        return parse_settings(model, credentials)


class BridgeSpeech2TextModel(Speech2TextModel):
    def _invoke(self, model: str, credentials: dict, file: IO[bytes], user: str | None = None) -> str:
        del user
        settings = _parse(model, credentials)
        with translated_errors(url=settings.base_url, secrets=settings.secrets):
            return transcribe(settings, file)

    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]
        """Transcribe a half-second tone the plugin makes itself (nothing is downloaded); save
        the corrected base URL with the model."""
        try:
            settings = parse_settings(model, credentials)
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                probe = probe_endpoint(settings, capabilities=(), chat=False)
                require_listed(settings, probe)
                transcribe(replace(settings, base_url=probe.base_url), BytesIO(tone_clip()))
        except (SettingsError, InvokeError) as exc:
            raise CredentialsValidateFailedError(str(exc)) from None
        save_findings(credentials, probe)

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return speech2text_schema(_parse(model, credentials))

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
        return to_invoke_error(error)

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return {}  # unused: _transform_invoke_error is overridden
