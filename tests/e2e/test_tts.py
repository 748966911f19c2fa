"""Text-to-speech through Dify's stdio runtime against a loopback speech server that computes
each answer from the request (as Kokoro-FastAPI, Speaches, LocalAI and OpenAI answer
`/audio/speech`: the body is the audio, streamed): order of concurrently made parts, audio
passed on as it arrives, frame sizes, voices, validation and errors."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.fake_server import Response, headers_then_stall, json_response

pytestmark = pytest.mark.timeout(120)
CANARY = "sk-canary-5e1d"
FRAME_LIMIT = 5 * 1024 * 1024


def audio_for(text: str, size: int = 3000) -> bytes:
    seed = hashlib.sha256(text.encode()).digest()
    return (b"ID3\x04\x00" + seed * (size // 32 + 1))[:size]


@dataclass
class SpeechServer:
    delay: Callable[[str], float] = lambda text: 0.0
    """Seconds before the answer to this input starts."""
    size: Callable[[str], int] = lambda text: 3000
    tail_delay: float = 0.0
    """Seconds between the first 1000 bytes of each answer and the rest."""
    voices: Any = None
    """The GET /v1/audio/voices answer (None: 404, as on OpenAI)."""
    models: list[str] = field(default_factory=lambda: ["kokoro"])
    answer: Callable[[dict], tuple[int, str, bytes] | None] = lambda body: None
    """Override: (status, content type, body) for this request."""
    bodies: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    finished_at: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def send(self, status: int, content_type: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self.send(200, "application/json", json.dumps({"data": [{"id": m} for m in owner.models]}).encode())
                elif self.path == "/v1/audio/voices" and owner.voices is not None:
                    self.send(200, "application/json", json.dumps(owner.voices).encode())
                else:
                    self.send(404, "application/json", b'{"detail": "Not Found"}')

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    owner.bodies.append(body)
                    owner.headers.append(dict(self.headers))
                    owner.active += 1
                    owner.peak = max(owner.peak, owner.active)
                try:
                    self.speak(body)
                finally:
                    with lock:
                        owner.active -= 1

            def speak(self, body: dict) -> None:
                text = body["input"]
                time.sleep(owner.delay(text))
                special = owner.answer(body)
                if special is not None:
                    self.send(*special)
                    return
                data = audio_for(text, owner.size(text))
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start, end in ((0, 1000), (1000, len(data))):
                    piece = data[start:end]
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                    if start == 0 and owner.tail_delay:
                        time.sleep(owner.tail_delay)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                owner.finished_at[text] = time.monotonic()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def speech_server():
    made: list[SpeechServer] = []

    def make(**kwargs: Any) -> SpeechServer:
        made.append(SpeechServer(**kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


def tts(plugin, base_url, text, voice="af_heart", wait=60, **creds):
    return plugin.invoke(
        "invoke_tts",
        model="kokoro",
        model_type="tts",
        tenant_id="t",
        content_text=text,
        voice=voice,
        timeout=wait,
        credentials={"base_url": base_url, **creds},
    )


def audio_of(result) -> bytes:
    result.raise_for_error()
    return b"".join(bytes.fromhex(item["result"]) for item in result.stream)


SENTENCES = [f"Sentence number {i} is here to be spoken aloud." for i in range(12)]


def test_long_text_is_split_at_sentence_ends_and_parts_come_back_in_order(plugin, speech_server):
    # later parts answer first: the order must still be the text's order
    server = speech_server(delay=lambda text: 0.6 if "number 0 " in text else 0.0)
    text = " ".join(SENTENCES)
    result = tts(plugin, server.base_url, text, tts_max_chars="100", api_key=CANARY)
    inputs = [body["input"] for body in sorted(server.bodies, key=lambda b: text.index(b["input"]))]
    assert all(len(part) <= 100 and part.endswith(".") for part in inputs)
    assert " ".join(inputs) == text
    assert len(inputs) == 6
    assert audio_of(result) == b"".join(audio_for(part) for part in inputs)
    assert 2 <= server.peak <= 3  # concurrent, and bounded
    body = server.bodies[0]
    assert {k: body[k] for k in ("model", "voice", "response_format")} == {
        "model": "kokoro",
        "voice": "af_heart",
        "response_format": "mp3",
    }
    assert server.headers[0]["Authorization"] == f"Bearer {CANARY}"
    assert result.stream[0]["mime_type"] == "audio/mpeg"


def test_first_audio_reaches_dify_before_the_whole_text_is_synthesised(plugin, speech_server):
    server = speech_server(tail_delay=3.0)  # the slack below (2 s) outlasts a busy machine's stalls
    result = tts(plugin, server.base_url, "Hello there. How are you today?", tts_max_chars="20")
    assert audio_of(result) == audio_for("Hello there.") + audio_for("How are you today?")
    first_frame = result.sent_at + result.stream_times[0]
    assert first_frame < min(server.finished_at.values()) - 1.0


def test_no_frame_exceeds_the_daemon_limit(plugin, speech_server):
    size = 7 * 1024 * 1024
    server = speech_server(size=lambda text: size)
    result = tts(plugin, server.base_url, "A long recording.", wait=120)
    audio = audio_of(result)
    assert audio == audio_for("A long recording.", size)
    assert len(result.stream) >= 7
    assert max(len(json.dumps(item)) for item in result.stream) < FRAME_LIMIT // 2


@pytest.mark.parametrize(
    "voices",
    [
        ["af_heart", "am_adam", "bf_emma"],  # Kokoro-FastAPI: a list of names
        {"voices": ["af_heart", "am_adam", "bf_emma"]},
        {"voices": [{"id": "af_heart", "name": "Heart"}, {"id": "am_adam"}, {"name": "bf_emma"}]},  # Speaches
    ],
    ids=["list", "voices-strings", "voices-objects"],
)
def test_validation_discovers_voices_that_the_picker_offers(plugin, speech_server, voices):
    server = speech_server(voices=voices)
    answer = plugin.invoke(
        "validate_model_credentials", model="kokoro", model_type="tts", credentials={"base_url": server.base_url}
    ).result
    saved = answer["credentials"]
    assert server.bodies[-1]["voice"] == "af_heart"  # validation spoke with the first voice
    offered = plugin.invoke(
        "get_tts_model_voices", model="kokoro", model_type="tts", credentials=saved, language="en-US"
    ).result["voices"]
    assert [v["value"] for v in offered] == ["af_heart", "am_adam", "bf_emma"]
    result = tts(plugin, server.base_url, "Hi.", voice="nobody", **{k: v for k, v in saved.items() if k != "base_url"})
    assert result.error_type == "InvokeBadRequestError"
    assert "nobody" in result.error["message"] and "af_heart, am_adam, bf_emma" in result.error["message"]


def test_form_voices_win_and_the_first_is_the_default(plugin, speech_server):
    server = speech_server(voices=["x", "y"])
    creds = {"base_url": server.base_url, "tts_voices": "nova, alloy"}
    offered = plugin.invoke("get_tts_model_voices", model="kokoro", model_type="tts", credentials=creds, language=None)
    assert offered.result["voices"] == [{"name": "nova", "value": "nova"}, {"name": "alloy", "value": "alloy"}]
    audio_of(tts(plugin, server.base_url, "Hi.", voice="", tts_voices="nova, alloy"))
    assert server.bodies[-1]["voice"] == "nova"


def test_schema_declares_the_audio_type_voices_and_limit(plugin, speech_server):
    server = speech_server()
    creds = {"base_url": server.base_url, "tts_format": "opus", "tts_voices": "nova", "tts_max_chars": "2000"}
    schema = plugin.invoke("get_ai_model_schemas", model="kokoro", model_type="tts", credentials=creds).result[
        "model_schema"
    ]
    props = schema["model_properties"]
    assert schema["model_type"] == "tts"
    assert props["audio_type"] == "ogg" and props["word_limit"] == 2000 and props["default_voice"] == "nova"
    result = tts(plugin, server.base_url, "Hi.", tts_format="opus")
    assert server.bodies[-1]["response_format"] == "opus"
    assert result.stream[0]["mime_type"] == "audio/ogg"


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_text_is_a_bad_request(plugin, speech_server, text):
    server = speech_server()
    result = tts(plugin, server.base_url, text)
    assert result.error_type == "InvokeBadRequestError"
    assert server.bodies == []


@pytest.mark.parametrize(
    ("answer", "error_type"),
    [
        ((200, "application/json", b'{"audio": null}'), "InvokeServerUnavailableError"),
        ((200, "application/json", b'{"error": {"message": "voice not found", "code": 400}}'), "InvokeBadRequestError"),
        ((200, "audio/mpeg", b""), "InvokeServerUnavailableError"),
        ((400, "application/json", b'{"detail": "Voice af_x not found"}'), "InvokeBadRequestError"),
        ((401, "application/json", json.dumps({"error": f"bad key {CANARY}"}).encode()), "InvokeAuthorizationError"),
    ],
)
def test_answers_without_audio_get_the_right_error(plugin, speech_server, answer, error_type):
    server = speech_server(answer=lambda body: answer)
    result = tts(plugin, server.base_url, "Hi.", api_key=CANARY)
    assert result.error_type == error_type, result.error
    assert CANARY not in str(result.error)


def test_a_later_part_failing_ends_the_stream_with_an_error(plugin, speech_server):
    def fail(body: dict) -> tuple[int, str, bytes] | None:
        return (500, "application/json", b'{"error": "CUDA out of memory"}') if "Second" in body["input"] else None

    server = speech_server(answer=fail)
    result = tts(plugin, server.base_url, "First part. Second part.", tts_max_chars="12", max_retries="0")
    assert result.error_type == "InvokeServerUnavailableError"
    assert b"".join(bytes.fromhex(item["result"]) for item in result.stream) == audio_for("First part.")


def test_busy_server_is_retried_before_any_audio(plugin, fake_server):
    fake_server.add(json_response({"error": "busy"}, 503, headers=[("Retry-After", "0")]), path="/v1/audio/speech")
    fake_server.add(Response(200, [("Content-Type", "audio/wav")], b"RIFF....WAVE"), path="/v1/audio/speech")
    result = tts(plugin, fake_server.base_url, "Hi.", tts_format="wav")
    assert audio_of(result) == b"RIFF....WAVE"
    assert len(fake_server.requests_to("/v1/audio/speech")) == 2
    assert "authorization" not in fake_server.last.headers  # keyless: no Authorization header at all


def test_a_server_that_stops_sending_mid_audio_times_out_with_an_error(plugin, fake_server):
    # a pasted endpoint path in the base URL is ignored, as for the other model types
    fake_server.add(
        headers_then_stall(headers=[("Content-Type", "audio/mpeg")], first_pieces=[b"ID3\x04\x00first"]),
        path="/v1/audio/speech",
    )
    result = tts(plugin, fake_server.base_url + "/audio/speech", "Hi.", timeout="1")
    assert result.error_type == "InvokeConnectionError", result.error
    assert b"".join(bytes.fromhex(item["result"]) for item in result.stream) == b"ID3\x04\x00first"
