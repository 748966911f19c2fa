"""Video parts in the form each server takes, through Dify's stdio runtime (`python -m main`):
vLLM's `video_url`, llama.cpp's llama-server `input_video` (raw base64), named at save from the
server's /models, or learned from the refusal a llama-server sends for a part type it does not
know."""

from __future__ import annotations

import json

import pytest

from tests.support.fake_server import RecordedRequest, Response, chat_chunk, sse_response

MP4_B64 = "AAAAIGZ0eXBpc29tAAACAGlzb21pc28yYXZjMW1wNDE="
VIDEO_PROMPT = [
    {
        "role": "user",
        "content": [
            {"type": "text", "data": "What happens in the clip?"},
            {"type": "video", "format": "mp4", "mime_type": "video/mp4", "base64_data": MP4_B64},
        ],
    }
]
# The real llama-server's answer to a content part type it does not know, byte for byte (what
# tests/peer's llama-server sends for one; its chat parser throws invalid_argument
# "unsupported content[].type" for any type but text, image_url, input_audio and input_video).
LLAMA_UNSUPPORTED_PART = Response(
    status=400,
    headers=[("Content-Type", "application/json; charset=utf-8")],
    body=b'{"error":{"code":400,"message":"unsupported content[].type","type":"invalid_request_error"}}',
)
LLAMA_KNOWN_PARTS = {"text", "image_url", "input_audio", "input_video"}
ANSWER = [chat_chunk("A cat", role="assistant"), chat_chunk(" jumps."), chat_chunk(finish_reason="stop")]


def video_chat(plugin, credentials: dict):
    return plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials=credentials,
        prompt_messages=VIDEO_PROMPT,
        model_parameters={"max_tokens": 8},
        stream=True,
    )


def parts(request: RecordedRequest) -> list[dict]:
    return [part for message in request.json["messages"] for part in message["content"] if isinstance(part, dict)]


def as_llama_server(request: RecordedRequest) -> Response:
    if any(part.get("type") not in LLAMA_KNOWN_PARTS for part in parts(request)):
        return LLAMA_UNSUPPORTED_PART
    return sse_response(ANSWER)


def test_a_refused_video_url_part_is_sent_again_as_input_video_and_remembered(plugin, fake_server):
    fake_server.always(as_llama_server, path="/v1/chat/completions")
    credentials = {"base_url": fake_server.base_url, "video": "on"}
    first = video_chat(plugin, credentials).raise_for_error()
    second = video_chat(plugin, credentials).raise_for_error()
    assert first.text == second.text == "A cat jumps."
    sent = [parts(request)[1] for request in fake_server.requests_to("/v1/chat/completions")]
    assert sent[0] == {"type": "video_url", "video_url": {"url": f"data:video/mp4;base64,{MP4_B64}"}}
    # Once refused, this endpoint gets llama.cpp's form, first time, for the life of the process.
    assert sent[1:] == [{"type": "input_video", "input_video": {"data": MP4_B64}}] * 2


def test_a_server_that_takes_video_url_gets_video_url(plugin, fake_server):
    fake_server.always(sse_response(ANSWER), path="/v1/chat/completions")
    result = video_chat(plugin, {"base_url": fake_server.base_url, "video": "on"}).raise_for_error()
    assert result.text == "A cat jumps."
    (request,) = fake_server.requests_to("/v1/chat/completions")
    assert parts(request)[1]["type"] == "video_url"


@pytest.mark.llama
@pytest.mark.timeout(300)
def test_llama_server_is_named_at_save_and_reads_the_part_as_a_video(plugin, llama_server):
    saved = plugin.invoke(
        "validate_model_credentials",
        model="tiny",
        credentials={"base_url": llama_server.base_url, "video": "on"},
        model_type="llm",
    ).result["credentials"]
    assert saved["_detected_server"] == "llama.cpp"
    result = video_chat(plugin, saved)
    # The tiny model has no multimodal projector: the server refuses the video as a video (and
    # would say "unsupported content[].type" for a part it could not read).
    assert result.error is not None
    assert "video input is not supported" in result.error["message"], json.dumps(result.error)
