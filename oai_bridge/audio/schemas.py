"""Settings -> the speech-to-text and text-to-speech model schemas Dify reads."""

from __future__ import annotations

from dify_plugin.entities.model import AIModelEntity, ModelPropertyKey, ModelType

from oai_bridge.audio.speech import WORKERS
from oai_bridge.audio.transcribe import OPENAI_LIMIT_MB
from oai_bridge.audio.voices import voice_options
from oai_bridge.config.settings import Settings
from oai_bridge.entity import model_entity

__all__ = ["AUDIO_TYPES", "speech2text_schema", "tts_schema"]

# response_format -> Dify's audio type (Dify derives the MIME type from it; OpenAI's opus is Ogg).
AUDIO_TYPES = {"mp3": "mp3", "wav": "wav", "opus": "ogg", "flac": "flac", "aac": "aac", "pcm": "pcm"}
UPLOAD_EXTENSIONS = "mp3,mp4,mpeg,mpga,m4a,wav,webm,flac,ogg,opus,aac"


def speech2text_schema(settings: Settings) -> AIModelEntity:
    properties = {
        ModelPropertyKey.FILE_UPLOAD_LIMIT: OPENAI_LIMIT_MB,
        ModelPropertyKey.SUPPORTED_FILE_EXTENSIONS: UPLOAD_EXTENSIONS,
    }
    return model_entity(settings, ModelType.SPEECH2TEXT, properties)


def tts_schema(settings: Settings) -> AIModelEntity:
    options = voice_options(settings)
    properties = {
        ModelPropertyKey.DEFAULT_VOICE: options[0]["value"],
        ModelPropertyKey.VOICES: [{"mode": o["value"], "name": o["name"], "language": []} for o in options],
        ModelPropertyKey.WORD_LIMIT: settings.tts_max_chars,
        ModelPropertyKey.AUDIO_TYPE: AUDIO_TYPES[settings.tts_format],
        ModelPropertyKey.MAX_WORKERS: WORKERS,
    }
    return model_entity(settings, ModelType.TTS, properties)
