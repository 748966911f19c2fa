"""The chaos harness's clean calls, one per model type: what Dify sends the plugin, the clean
answer a server gives, and the check that the plugin passed that answer on unchanged.

Everything is drawn from a seed (``random.Random``), so a case is rebuilt byte for byte from
``(seed, kind)``. The call's tag (``chaos-<n>-``) travels in the request's body (the prompt, a
text, the query, the audio's samples, the speech's input) so the loopback server knows which
case a request belongs to, whatever the path, the retry or the connection it came on.
"""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.plugin_process import SessionResult
from tests.support.responses_streams import text_events

__all__ = [
    "API_KEY",
    "HEADER_SECRET",
    "KINDS",
    "Call",
    "ServerAnswer",
    "build_call",
    "credentials",
]

# Distinctive secrets: neither may appear in any frame, log line or stderr line of the plugin.
API_KEY = "sk-chaos-KEY-7d1c9e04b2a65f38"
HEADER_SECRET = "hdr-chaos-SECRET-3f8a61d0c2"

KINDS = ("llm-stream", "llm-blocking", "text-embedding", "rerank", "speech2text", "tts", "llm-responses")

# Text with every UTF-8 length (1 to 4 bytes) so random split points land inside sequences.
_WORDS = (
    "the",
    "quick",
    "fox",
    "naïve",
    "café",
    "Grüße",
    "Ελλάδα",
    "привет",
    "世界",
    "東京",
    "한국어",
    "😀",
    "🎉🎉",
    '"quoted"',
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "{json}",
    "[1,2]",
    "data: x",
)


def phrase(rng: random.Random, low: int = 3, high: int = 12) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high)))


def credentials(base_url: str, timeout: float, retries: int, **extra: str) -> dict[str, str]:
    """The model form as a user fills it: the key and an extra header secret are always set."""
    return {
        "base_url": base_url,
        "api_key": API_KEY,
        "extra_headers": json.dumps({"X-Chaos-Secret": HEADER_SECRET}),
        "timeout": str(timeout),
        "max_retries": str(retries),
        **extra,
    }


@dataclass(frozen=True)
class ServerAnswer:
    """A clean answer: ``payloads`` are the SSE events' data (dicts, then ``"[DONE]"``) of a
    stream, else one JSON object; ``audio`` is a binary body instead. ``finish_index`` is the
    event whose loss must break a stream (the one with the finish reason)."""

    kind: str
    content_type: str
    payloads: tuple[Any, ...] = ()
    stream: bool = False
    audio: bytes | None = None
    finish_index: int = 0


@dataclass
class Call:
    """One model call of the harness: the request for the plugin, how the server answers it
    cleanly (from the request, e.g. the encoding it asked for), and the result check."""

    kind: str
    action: str
    data: dict[str, Any]
    answer: Callable[[dict[str, Any] | None], ServerAnswer]
    check: Callable[[SessionResult], list[str]]
    tag: str = ""
    extra_credentials: dict[str, str] = field(default_factory=dict)


def _llm_check(text: str, usage: tuple[int, int], *, stream: bool) -> Callable[[SessionResult], list[str]]:
    def check(result: SessionResult) -> list[str]:
        problems = []
        if result.text != text:
            problems.append(f"text {result.text!r} != clean {text!r}")
        # The SDK sends a blocking result as one chunk without a finish reason.
        if stream and result.finish_reason != "stop":
            problems.append(f"finish_reason {result.finish_reason!r} != 'stop'")
        got = result.usage or {}
        if (got.get("prompt_tokens"), got.get("completion_tokens")) != usage:
            problems.append(f"usage {got!r} != the server's {usage}")
        return problems

    return check


def _llm(rng: random.Random, tag: str, *, stream: bool) -> Call:
    text = phrase(rng)
    usage = (rng.randint(1, 500), rng.randint(1, 500))
    usage_obj = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    base = {"id": f"chatcmpl-{tag}", "created": 1700000000, "model": "chaos-model"}
    if stream:
        cuts = sorted(rng.sample(range(1, len(text)), min(rng.randint(1, 7), len(text) - 1)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        chunk = dict(base, object="chat.completion.chunk")
        events: list[Any] = [
            dict(chunk, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        ]
        events += [
            dict(chunk, choices=[{"index": 0, "delta": {"content": piece}, "finish_reason": None}]) for piece in pieces
        ]
        finish_index = len(events)
        events.append(dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        events.append(dict(chunk, choices=[], usage=usage_obj))
        events.append("[DONE]")
        answer = ServerAnswer("llm-stream", "text/event-stream", tuple(events), stream=True, finish_index=finish_index)
    else:
        body = dict(
            base,
            object="chat.completion",
            choices=[{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            usage=usage_obj,
        )
        answer = ServerAnswer("llm-blocking", "application/json", (body,))
    return Call(
        kind="llm-stream" if stream else "llm-blocking",
        action="invoke_llm",
        data={
            "model": "chaos-model",
            "model_type": "llm",
            "prompt_messages": [{"role": "user", "content": f"{tag} {phrase(rng, 1, 4)}"}],
            "model_parameters": {"max_tokens": 64},
            "stream": stream,
        },
        answer=lambda request: answer,
        check=_llm_check(text, usage, stream=stream),
    )


def _llm_responses(rng: random.Random, tag: str) -> Call:
    """A streamed Responses API answer (a model saved with `api_type: responses`), OpenAI's events
    as `responses_streams` writes them; the `event:` lines are the `sse-framing` mutation's."""
    text = phrase(rng)
    usage = (rng.randint(1, 500), rng.randint(1, 500))
    cuts = sorted(rng.sample(range(1, len(text)), min(rng.randint(1, 7), len(text) - 1)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    events = text_events("openai", pieces, usage=usage)
    payloads = tuple({"type": kind, "sequence_number": n, **fields} for n, (kind, fields) in enumerate(events))
    answer = ServerAnswer("llm-responses", "text/event-stream", payloads, stream=True, finish_index=len(payloads) - 1)
    return Call(
        kind="llm-responses",
        action="invoke_llm",
        data={
            "model": "chaos-model",
            "model_type": "llm",
            "prompt_messages": [{"role": "user", "content": f"{tag} {phrase(rng, 1, 4)}"}],
            "model_parameters": {"max_tokens": 64},
            "stream": True,
        },
        answer=lambda request: answer,
        check=_llm_check(text, usage, stream=True),
        extra_credentials={"api_type": "responses"},
    )


def _float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _embedding(rng: random.Random, tag: str) -> Call:
    texts = [f"{tag} {phrase(rng, 1, 5)}" for _ in range(rng.randint(1, 4))]
    dims = rng.randint(4, 16)
    # Multiples of 1/64 are exact in float32, so base64 and float answers give the same vectors.
    vectors = [[_float32(rng.randint(-64, 64) / 64) for _ in range(dims)] for _ in texts]
    tokens = rng.randint(1, 200)

    def answer(request: dict[str, Any] | None) -> ServerAnswer:
        as_base64 = (request or {}).get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if as_base64 else vec,
            }
            for i, vec in enumerate(vectors)
        ]
        body = {
            "object": "list",
            "data": data,
            "model": "chaos-embed",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return ServerAnswer("text-embedding", "application/json", (body,))

    def check(result: SessionResult) -> list[str]:
        got = result.result.get("embeddings")
        return [] if got == vectors else [f"embeddings {got!r} != clean {vectors!r}"]

    return Call(
        kind="text-embedding",
        action="invoke_text_embedding",
        data={"model": "chaos-embed", "model_type": "text-embedding", "texts": texts, "input_type": "document"},
        answer=answer,
        check=check,
    )


def _rerank(rng: random.Random, tag: str) -> Call:
    docs = [phrase(rng, 1, 6) for _ in range(rng.randint(2, 6))]
    scores = [n / 1024 for n in rng.sample(range(1, 1024), len(docs))]
    ranked = sorted(range(len(docs)), key=lambda i: -scores[i])
    body = {
        "id": f"rerank-{tag}",
        "model": "chaos-rerank",
        "usage": {"total_tokens": rng.randint(1, 300)},
        # No documents in the answer (TEI, Cohere by default): the index is the only link back.
        "results": [{"index": i, "relevance_score": scores[i]} for i in ranked],
    }
    expected = [{"index": i, "text": docs[i], "score": scores[i]} for i in ranked]

    def check(result: SessionResult) -> list[str]:
        got = result.result.get("docs")
        return [] if got == expected else [f"docs {got!r} != clean {expected!r}"]

    return Call(
        kind="rerank",
        action="invoke_rerank",
        data={
            "model": "chaos-rerank",
            "model_type": "rerank",
            "query": f"{tag} {phrase(rng, 1, 4)}",
            "docs": docs,
            "top_n": None,
            "score_threshold": None,
        },
        answer=lambda request: ServerAnswer("rerank", "application/json", (body,)),
        check=check,
        # The route saved at validation, so no call probes paths; scores as served.
        extra_credentials={
            "_detected_rerank_path": "/v1/rerank",
            "_detected_rerank_shape": "jina",
            "score_scale": "served",
        },
    )


def wav_with(tag: str, rng: random.Random) -> bytes:
    """A short 16 kHz mono WAV whose samples spell the tag (the server finds it in the upload)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(tag.encode() + bytes(rng.randrange(256) for _ in range(2 * rng.randint(200, 800))))
    return out.getvalue()


def _speech2text(rng: random.Random, tag: str) -> Call:
    text = phrase(rng)
    body = {"text": text, "usage": {"type": "duration", "seconds": rng.randint(1, 30)}}

    def check(result: SessionResult) -> list[str]:
        got = result.result.get("result")
        return [] if got == text.strip() else [f"transcript {got!r} != clean {text.strip()!r}"]

    return Call(
        kind="speech2text",
        action="invoke_speech2text",
        data={"model": "chaos-whisper", "model_type": "speech2text", "file": wav_with(tag, rng).hex()},
        answer=lambda request: ServerAnswer("speech2text", "application/json", (body,)),
        check=check,
    )


def _tts(rng: random.Random, tag: str) -> Call:
    # MP3-like bytes (an ID3 header, then noise): never mistaken for JSON, HTML or text.
    audio = b"ID3\x04\x00\x00" + bytes(rng.randrange(256) for _ in range(rng.randint(200, 6000)))

    def check(result: SessionResult) -> list[str]:
        got = b"".join(bytes.fromhex(item["result"]) for item in result.stream)
        if got == audio:
            return []
        differ = next(
            (i for i, (a, b) in enumerate(zip(got, audio, strict=False)) if a != b), min(len(got), len(audio))
        )
        return [f"audio of {len(got)} bytes != clean {len(audio)} bytes (first difference at byte {differ})"]

    return Call(
        kind="tts",
        action="invoke_tts",
        data={
            "model": "chaos-tts",
            "model_type": "tts",
            "tenant_id": "chaos",
            "content_text": f"{tag} {phrase(rng, 1, 5)}",
            "voice": "alloy",
        },
        answer=lambda request: ServerAnswer("tts", "audio/mpeg", audio=audio),
        check=check,
        extra_credentials={"tts_voices": "alloy"},
    )


_BUILDERS: dict[str, Callable[[random.Random, str], Call]] = {
    "llm-stream": lambda rng, tag: _llm(rng, tag, stream=True),
    "llm-blocking": lambda rng, tag: _llm(rng, tag, stream=False),
    "text-embedding": _embedding,
    "rerank": _rerank,
    "speech2text": _speech2text,
    "tts": _tts,
    "llm-responses": _llm_responses,
}


def build_call(kind: str, rng: random.Random, tag: str) -> Call:
    """The clean call of this kind, drawn from ``rng``, tagged ``tag``."""
    call = _BUILDERS[kind](rng, tag)
    call.tag = tag
    return call
