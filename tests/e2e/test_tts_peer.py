"""Text-to-speech through Dify's stdio runtime against a real speech server: local-tts-studio
on Piper with the en_US-joe-medium voice (tests/peer/build_tts_peer.sh, tests/support/tts_peer.py).
Saving a TTS model, real WAV speech of a plausible length, long text split into several requests
whose audio arrives in the text's order, the voice picker when the server has no voice list, and
the errors a real server gives (its key, a format it cannot make).

What local-tts-studio 1.0.0 answers is pinned first, on the wire, so a version bump that changes
it fails there rather than as a puzzling plugin message."""

from __future__ import annotations

import io
import math
import struct
import wave

import httpx
import pytest

from tests.support.tts_peer import MODELS, SAMPLE_RATE, VOICE

pytestmark = [pytest.mark.llama, pytest.mark.timeout(300)]

WRONG_KEY = "sk-wrong-key-0123456789"
# Piper reads English at roughly 12-18 characters a second; generous bounds around that.
MIN_CHARS_PER_S, MAX_CHARS_PER_S = 5.0, 40.0


@pytest.fixture
def creds(tts_peer):
    return {"base_url": tts_peer.base_url, "api_key": tts_peer.api_key, "tts_format": "wav"}


def tts(plugin, text: str, credentials: dict, voice: str = "", wait: float = 240):
    return plugin.invoke(
        "invoke_tts",
        model=MODELS[0],
        model_type="tts",
        tenant_id="t",
        content_text=text,
        voice=voice,
        timeout=wait,
        credentials=credentials,
    )


def audio_of(result) -> bytes:
    result.raise_for_error()
    return b"".join(bytes.fromhex(item["result"]) for item in result.stream)


def split_wavs(data: bytes) -> list[bytes]:
    """The RIFF files one after the other in ``data`` (each part of a split text is one)."""
    files = []
    while data:
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:16]
        size = struct.unpack("<I", data[4:8])[0] + 8
        files.append(data[:size])
        data = data[size:]
    return files


def duration(wav_bytes: bytes) -> float:
    """Seconds of a mono 16-bit WAV at the voice's rate, checked to hold sound, not silence."""
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    assert rms > 300, f"near silence (rms {rms:.0f})"  # speech, normalised, is in the thousands
    return seconds


def plausible(text: str, seconds: float) -> bool:
    return len(text) / MAX_CHARS_PER_S <= seconds <= len(text) / MIN_CHARS_PER_S + 1.0


# -- what the server itself answers ------------------------------------------------------------
def test_server_speaks_wav_with_its_own_voice_and_has_no_voice_list(tts_peer):
    headers = {"Authorization": f"Bearer {tts_peer.api_key}"}
    base = tts_peer.base_url
    models = httpx.get(base + "/models", headers=headers, trust_env=False).json()
    assert [m["id"] for m in models["data"]] == list(MODELS)
    body = {"model": "anything", "voice": "nobody", "input": "Hello there."}
    speech = httpx.post(base + "/audio/speech", json=body, headers=headers, timeout=120, trust_env=False)
    assert speech.status_code == 200, speech.text
    assert speech.headers["content-type"] == "audio/wav" and speech.headers["x-voice-key"] == VOICE
    assert plausible("Hello there.", duration(speech.content))
    # compressed formats need ffmpeg, which the peer never has (PATH = its venv's bin)
    mp3 = httpx.post(
        base + "/audio/speech", json={**body, "response_format": "mp3"}, headers=headers, timeout=60, trust_env=False
    )
    assert mp3.status_code == 400 and mp3.json()["error"]["code"] == "unsupported_response_format"
    wrong = httpx.post(
        base + "/audio/speech", json=body, headers={"Authorization": f"Bearer {WRONG_KEY}"}, trust_env=False
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    # no voice list: the path falls through to the web UI, a 200 HTML page
    voices = httpx.get(base + "/audio/voices", headers=headers, trust_env=False)
    assert voices.status_code == 200 and voices.headers["content-type"].startswith("text/html")


# -- through the plugin ------------------------------------------------------------------------------
def test_validation_saves_the_model_and_the_picker_offers_the_default_voice(plugin, tts_peer, creds):
    answer = plugin.invoke("validate_model_credentials", model=MODELS[0], model_type="tts", credentials=creds)
    saved = answer.result["credentials"]
    assert not saved.get("_detected_voices")  # the HTML page at /audio/voices is not a voice list
    offered = plugin.invoke(
        "get_tts_model_voices", model=MODELS[0], model_type="tts", credentials=saved, language="en-US"
    ).result["voices"]
    assert offered == [{"name": "alloy", "value": "alloy"}]
    schema = plugin.invoke("get_ai_model_schemas", model=MODELS[0], model_type="tts", credentials=saved).result[
        "model_schema"
    ]
    assert schema["model_properties"]["audio_type"] == "wav"


def test_invoke_tts_returns_real_wav_speech(plugin, tts_peer, creds):
    text = "The quick brown fox jumps over the lazy dog."
    result = tts(plugin, text, creds, voice="alloy")
    wavs = split_wavs(audio_of(result))
    assert len(wavs) == 1
    assert plausible(text, duration(wavs[0]))
    assert result.stream[0]["mime_type"] == "audio/wav"


def test_long_text_is_split_into_requests_whose_audio_comes_back_in_order(plugin, tts_peer, creds):
    short = "Yes."
    long = "This sentence is much longer than the short one, so that its audio lasts several seconds."
    parts = [long, short, long, short, long, short]  # at this limit no two sentences share a part
    result = tts(plugin, " ".join(parts), {**creds, "tts_max_chars": str(len(long))})
    wavs = split_wavs(audio_of(result))
    assert len(wavs) == len(parts)  # one request, one RIFF file per part
    seconds = [duration(w) for w in wavs]
    assert all(plausible(text, s) for text, s in zip(parts, seconds, strict=True)), seconds
    # the order of the text: every long part's audio is longer than every short part's
    longest_short = max(s for text, s in zip(parts, seconds, strict=True) if text == short)
    shortest_long = min(s for text, s in zip(parts, seconds, strict=True) if text == long)
    assert longest_short * 2 < shortest_long, seconds
    assert [s > longest_short for s in seconds] == [text == long for text in parts]


def test_form_voices_are_offered_and_sent(plugin, tts_peer, creds):
    named = {**creds, "tts_voices": f"{VOICE}, other"}
    offered = plugin.invoke(
        "get_tts_model_voices", model=MODELS[0], model_type="tts", credentials=named, language=None
    ).result["voices"]
    assert [v["value"] for v in offered] == [VOICE, "other"]
    assert duration(split_wavs(audio_of(tts(plugin, "Hi there.", named)))[0]) > 0
    unknown = tts(plugin, "Hi there.", named, voice="nobody")
    assert unknown.error_type == "InvokeBadRequestError" and VOICE in unknown.error["message"]


def test_the_default_mp3_format_fails_validation_with_the_servers_reason(plugin, tts_peer, creds):
    mp3 = {k: v for k, v in creds.items() if k != "tts_format"}  # the form's default: mp3
    saved = plugin.invoke("validate_model_credentials", model=MODELS[0], model_type="tts", credentials=mp3)
    assert saved.error_type == "CredentialsValidateFailedError", saved.error
    assert "ffmpeg" in saved.error["message"], saved.error


def test_a_wrong_key_is_an_authorization_error(plugin, tts_peer, creds):
    saved = plugin.invoke(
        "validate_model_credentials", model=MODELS[0], model_type="tts", credentials={**creds, "api_key": WRONG_KEY}
    )
    assert saved.error_type == "CredentialsValidateFailedError", saved.error
    result = tts(plugin, "Hi.", {**creds, "api_key": WRONG_KEY})
    assert result.error_type == "InvokeAuthorizationError", result.error
    assert WRONG_KEY not in str(result.error)


def test_no_key_says_that_no_key_was_sent(plugin, tts_peer, creds):
    """The real server needs a key: without one, the plugin sends no Authorization header and says
    so, as it does for the other model types."""
    keyless = {**creds, "api_key": ""}
    result = tts(plugin, "Hi.", keyless)
    assert result.error_type == "InvokeAuthorizationError", result.error
    assert "No API key was sent" in result.error["message"]
    saved = plugin.invoke("validate_model_credentials", model=MODELS[0], model_type="tts", credentials=keyless)
    assert saved.error_type == "CredentialsValidateFailedError", saved.error
    assert "No API key was sent" in saved.error["message"]
