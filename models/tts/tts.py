"""The text-to-speech model class: settings -> voice checked -> parts synthesised concurrently ->
audio pieces yielded in order as they arrive."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

from dify_plugin import TTSModel
from dify_plugin.entities.model import AIModelEntity
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from oai_bridge.audio.schemas import tts_schema
from oai_bridge.audio.speech import synthesize
from oai_bridge.audio.voices import choose_voice, discover_voices, saved_form, voice_options
from oai_bridge.errors import to_invoke_error, translated_errors
from oai_bridge.probe import probe_endpoint, require_listed, save_findings
from oai_bridge.settings import DETECTED_PREFIX, Settings, SettingsError, parse_settings

VALIDATION_TEXT = "Hello."


def _parse(model: str, credentials: Mapping) -> Settings:
    with translated_errors():
        return parse_settings(model, credentials)


class BridgeTTSModel(TTSModel):
    def _invoke(
        self,
        model: str,
        tenant_id: str,
        credentials: dict,
        content_text: str,
        voice: str,
        user: str | None = None,
    ) -> Iterator[bytes]:
        del tenant_id, user
        settings = _parse(model, credentials)
        with translated_errors(url=settings.base_url, secrets=settings.secrets):
            return synthesize(settings, content_text, choose_voice(settings, voice))

    def get_tts_model_voices(self, model: str, credentials: dict, language: str | None = None) -> list | None:
        del language  # servers do not say which language a voice speaks: offer all of them
        return voice_options(_parse(model, credentials))

    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]
        """Find the base URL and the server's voices (unless the form names them), then speak a
        short sentence; save both with the model."""
        try:
            settings = parse_settings(model, credentials)
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                probe = probe_endpoint(settings, capabilities=(), chat=False)
                require_listed(settings, probe)
                settings = replace(settings, base_url=probe.base_url)
                found = [] if settings.tts_voices else discover_voices(settings)
                if found:
                    settings = replace(settings, detected={**settings.detected, "voices": saved_form(found)})
                audio = b"".join(synthesize(settings, VALIDATION_TEXT, choose_voice(settings, None)))
        except (SettingsError, InvokeError) as exc:
            raise CredentialsValidateFailedError(str(exc)) from None
        if not audio:
            raise CredentialsValidateFailedError("The speech server answered without any audio.")
        save_findings(credentials, probe)
        if found:
            credentials[f"{DETECTED_PREFIX}voices"] = saved_form(found)

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return tts_schema(_parse(model, credentials))

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
        return to_invoke_error(error)

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return {}  # unused: _transform_invoke_error is overridden
