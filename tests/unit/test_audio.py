"""The pure parts of oai_bridge.audio: format sniffing, sentence splitting, piece sizes, voice
lists, transcript answers and the audio settings."""

from __future__ import annotations

import io
import wave

import pytest
from dify_plugin.errors.model import InvokeBadRequestError, InvokeError, InvokeServerUnavailableError

from oai_bridge.audio.formats import sniff
from oai_bridge.audio.speech import MAX_PIECE, pieces, split_text
from oai_bridge.audio.transcribe import read_transcript, tone_clip, upload_format
from oai_bridge.audio.voices import choose_voice, known_voices, parse_voices, saved_form, voice_options
from oai_bridge.config.settings import SettingsError, parse_settings
from oai_bridge.errors.invoke import to_invoke_error
from oai_bridge.errors.kinds import MalformedResponseError, UnsendableInputError


@pytest.mark.parametrize(
    ("head", "extension"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"ID3\x03\x00", "mp3"),
        (b"\xff\xfb\x90\x64", "mp3"),  # MPEG-1 layer III frame
        (b"\xff\xf3\x48\xc4", "mp3"),  # MPEG-2 layer III frame
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", "aac"),  # ADTS
        (b"OggS\x00\x02", "ogg"),
        (b"fLaC\x00", "flac"),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00", "m4a"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "webm"),
    ],
)
def test_sniff_knows_the_formats_speech_servers_read(head, extension):
    found = sniff(head)
    assert found is not None and found.extension == extension


@pytest.mark.parametrize(
    "head",
    [b"", b"hello", b"%PDF-1.7", b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"\xff\xff\xff\xff", b"\xff\xeb\x90\x64"],
)
def test_sniff_refuses_what_is_not_audio(head):
    assert sniff(head) is None


def test_the_tone_clip_is_a_half_second_wav():
    clip = tone_clip()
    with wave.open(io.BytesIO(clip)) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(0.5)
    assert upload_format(io.BytesIO(clip))[0].extension == "wav"


def test_upload_format_leaves_the_file_at_its_start():
    file = io.BytesIO(b"fLaC" + b"\x00" * 100)
    file.seek(50)
    assert upload_format(file)[1] == 104
    assert file.tell() == 0
    with pytest.raises(UnsendableInputError, match="empty") as refused:
        upload_format(io.BytesIO())
    assert isinstance(to_invoke_error(refused.value), InvokeBadRequestError)


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        ("One. Two. Three.", 100, ["One. Two. Three."]),
        ("One. Two. Three.", 9, ["One. Two.", "Three."]),
        ("Pi is 3.14 today. Yes!", 18, ["Pi is 3.14 today.", "Yes!"]),  # no cut inside a number
        ("你好。今天天气很好。我们走吧！", 10, ["你好。今天天气很好。", "我们走吧！"]),
        ('He said "stop." Then left.', 16, ['He said "stop."', "Then left."]),
        ("no sentence end at all here", 10, ["no", "sentence", "end at all", "here"]),
        ("abcdefghijklmnop", 5, ["abcde", "fghij", "klmno", "p"]),
        ("Line one\nLine two", 12, ["Line one", "Line two"]),
        ("   ", 10, []),
    ],
)
def test_split_text_cuts_at_sentence_ends_within_the_limit(text, limit, parts):
    assert split_text(text, limit) == parts
    assert all(len(part) <= limit for part in split_text(text, limit))


def test_pieces_never_exceed_the_frame_budget():
    chunk = bytes(3 * MAX_PIECE + 5)
    sizes = [len(p) for p in pieces(chunk)]
    assert sizes == [MAX_PIECE] * 3 + [5]
    assert 2 * MAX_PIECE + 1024 < 5 * 1024 * 1024  # hex doubles a piece; the daemon allows 5 MiB per frame


@pytest.mark.parametrize(
    ("data", "voices"),
    [
        (["a", "b", "a"], [("a", "a"), ("b", "b")]),
        ({"voices": ["a", " b "]}, [("a", "a"), ("b", "b")]),
        (
            {"voices": [{"id": "a", "name": "Alpha"}, {"name": "b"}, {"voice_id": "c"}, 3]},
            [("a", "Alpha"), ("b", "b"), ("c", "c")],
        ),
        ({"data": [{"id": "a"}]}, [("a", "a")]),
        ({"detail": "Not Found"}, []),
        ("nope", []),
    ],
)
def test_parse_voices_reads_every_list_shape(data, voices):
    assert parse_voices(data) == voices


def test_saved_voices_round_trip_and_unknown_voices_are_refused():
    pairs = [("af_heart", "Heart"), ("am_adam", "am_adam")]
    settings = parse_settings("m", {"base_url": "http://h/v1", "_detected_voices": saved_form(pairs)})
    assert known_voices(settings) == pairs
    assert choose_voice(settings, "") == "af_heart"
    assert choose_voice(settings, "am_adam") == "am_adam"
    with pytest.raises(UnsendableInputError, match="af_heart, am_adam") as refused:
        choose_voice(settings, "alloy")
    assert isinstance(to_invoke_error(refused.value), InvokeBadRequestError)
    assert voice_options(settings) == [{"name": "Heart", "value": "af_heart"}, {"name": "am_adam", "value": "am_adam"}]
    unlisted = parse_settings("m", {"base_url": "http://h/v1"})  # OpenAI has no voice list
    assert choose_voice(unlisted, "anything") == "anything"
    assert voice_options(unlisted) == [{"name": "alloy", "value": "alloy"}]


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        ("application/json", b'{"text": " hi "}', "hi"),
        ("application/json", b'{"task": "transcribe", "text": "hi", "segments": []}', "hi"),
        ("text/plain; charset=utf-8", b"hi\n", "hi"),
        ("text/html; charset=utf-8", b" hi\n", "hi"),  # whisper.cpp's text answers
        ("", b'{"text": "hi"}', "hi"),
        ("application/json", b'{"text": ""}', ""),  # silence
    ],
)
def test_read_transcript_reads_every_answer_shape(content_type, body, text):
    assert read_transcript(content_type, body) == text


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"segments": []}', MalformedResponseError),
        (b"[1, 2]", MalformedResponseError),
        (b"{not json", MalformedResponseError),
        (b'{"error": "failed to read audio"}', InvokeServerUnavailableError),
        (b'{"error": {"message": "bad", "code": 400}}', InvokeBadRequestError),
    ],
)
def test_read_transcript_refuses_what_is_not_a_transcript(body, error):
    with pytest.raises(Exception) as info:
        read_transcript("application/json", body)
    # An error body is the plugin's ReportedError; the boundary shows Dify its class.
    shown = to_invoke_error(info.value) if issubclass(error, InvokeError) else info.value
    assert isinstance(shown, error)


def test_audio_settings():
    settings = parse_settings(
        "m",
        {
            "base_url": "http://h/v1",
            "stt_language": " PT ",
            "stt_prompt": " Names: Ana. ",
            "tts_voices": "nova, ,alloy",
            "tts_format": "FLAC",
            "tts_max_chars": "1000",
        },
    )
    assert (settings.stt_language, settings.stt_prompt) == ("pt", "Names: Ana.")
    assert (settings.tts_voices, settings.tts_format, settings.tts_max_chars) == (("nova", "alloy"), "flac", 1000)
    defaults = parse_settings("m", {"base_url": "http://h/v1"})
    assert (defaults.stt_language, defaults.tts_format, defaults.tts_max_chars) == ("", "mp3", 4096)


@pytest.mark.parametrize(("key", "value"), [("stt_language", "english"), ("tts_format", "ogg"), ("tts_max_chars", "0")])
def test_bad_audio_settings_name_the_field(key, value):
    with pytest.raises(SettingsError, match=key):
        parse_settings("m", {"base_url": "http://h/v1", key: value})


class _CountingFile(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.reads.append(len(chunk))
        return chunk


def test_the_upload_is_streamed_from_the_file_not_read_whole(fake_server):
    from oai_bridge.audio.transcribe import transcribe
    from tests.support.fake_server import json_response

    fake_server.add(json_response({"text": "ok"}), path="/v1/audio/transcriptions")
    audio = tone_clip(seconds=20)  # 640 kB
    file = _CountingFile(audio)
    settings = parse_settings("whisper-1", {"base_url": fake_server.base_url})
    assert transcribe(settings, file) == "ok"
    assert audio in fake_server.last.body
    assert max(file.reads) <= 64 * 1024 < len(audio)  # httpx's chunks: never the whole file at once
