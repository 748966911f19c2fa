"""What the loopback server sends, pre-rendered once, and what a correct client gets out of it.

Stdlib only: imported by the server process and by the workers (to check their output).

Chat scenarios are named by the model id the client asks for, e.g. ``bench-c2000-r0-i0``:
``c`` content deltas, ``r`` reasoning deltas sent before them (``reasoning_content``, vLLM/DeepSeek
style), ``i`` milliseconds between deltas (0 = the whole body is written at once).
"""

from __future__ import annotations

import base64
import json
import random
import re
import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "EMBEDDING_DIM",
    "Scenario",
    "chat_events",
    "chunked",
    "embedding_texts",
    "expected_content",
    "expected_reasoning",
    "png_data_uris",
    "rerank_score",
    "responses_answer",
    "responses_events",
    "scenario_model",
]

# A few characters per delta, like real tokens; no `<`, so no `<think>` tag can start by accident.
_WORDS = (
    " the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", ".", " It",
    " was", " not", " very", " far", ",", " and", " then", " it", " ran", " back", " home", "!",
    " Data", " flows", " through", " 42", " pipes", ";", " each", " one", " is", " small", "\n",
)  # fmt: skip
_THOUGHTS = (
    " Let", " me", " think", " about", " this", ".", " The", " user", " wants", " a", " short",
    " answer", ",", " so", " I", " should", " be", " brief", " and", " precise", ".", "\n",
)  # fmt: skip

EMBEDDING_DIM = 1024
_CREATED = 1767225600
_SCENARIO = re.compile(r"^bench-c(\d+)-r(\d+)-i(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Scenario:
    content: int
    reasoning: int = 0
    interval_ms: float = 0.0

    @property
    def model(self) -> str:
        return scenario_model(self.content, self.reasoning, self.interval_ms)

    @property
    def deltas(self) -> int:
        """Server deltas that carry text: the denominator of every per-chunk figure."""
        return self.content + self.reasoning

    @classmethod
    def parse(cls, model: str) -> Scenario | None:
        m = _SCENARIO.match(model)
        if not m:
            return None
        return cls(int(m.group(1)), int(m.group(2)), float(m.group(3)))


def scenario_model(content: int, reasoning: int = 0, interval_ms: float = 0.0) -> str:
    return f"bench-c{content}-r{reasoning}-i{interval_ms:g}"


def content_piece(i: int) -> str:
    return _WORDS[i % len(_WORDS)]


def reasoning_piece(i: int) -> str:
    return _THOUGHTS[i % len(_THOUGHTS)]


def expected_content(s: Scenario) -> str:
    return "".join(content_piece(i) for i in range(s.content))


def expected_reasoning(s: Scenario) -> str:
    return "".join(reasoning_piece(i) for i in range(s.reasoning))


def _event(obj: dict | str) -> bytes:
    text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def _typed(kind: str, number: int, fields: dict) -> bytes:
    data = json.dumps({"type": kind, "sequence_number": number, **fields}, separators=(",", ":"), ensure_ascii=False)
    return f"event: {kind}\ndata: {data}\n\n".encode()


def responses_answer(s: Scenario, status: str = "completed") -> dict:
    """The whole Responses API answer of a scenario (the final event's `response`, and the
    blocking answer)."""
    text = expected_content(s)
    output = []
    if s.reasoning:
        summary = [{"type": "summary_text", "text": expected_reasoning(s)}]
        output.append({"id": "rs_bench", "type": "reasoning", "summary": summary})
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    output.append({"id": "msg_bench", "type": "message", "status": "completed", "role": "assistant", "content": [part]})
    usage = {"input_tokens": 12, "output_tokens": s.deltas, "total_tokens": 12 + s.deltas}
    return {
        "id": "resp_bench0123456789abcdef",
        "object": "response",
        "created_at": _CREATED,
        "status": status,
        "model": s.model,
        "output": output,
        "usage": usage,
    }


def responses_events(s: Scenario) -> list[bytes]:
    """The SSE events of one streamed Responses API answer, as OpenAI documents them: created,
    in_progress, the reasoning summary deltas, the message item, one `response.output_text.delta`
    per token, the closing events and `response.completed` with usage (no `[DONE]`)."""
    shell = {**responses_answer(s, "in_progress"), "output": [], "usage": None}
    events = [("response.created", {"response": shell}), ("response.in_progress", {"response": shell})]
    index = 0
    if s.reasoning:
        events.append(
            (
                "response.output_item.added",
                {"output_index": 0, "item": {"id": "rs_bench", "type": "reasoning", "summary": []}},
            )
        )
        events += [
            (
                "response.reasoning_summary_text.delta",
                {"item_id": "rs_bench", "output_index": 0, "summary_index": 0, "delta": reasoning_piece(i)},
            )
            for i in range(s.reasoning)
        ]
        index = 1
    item = {"id": "msg_bench", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    events.append(("response.output_item.added", {"output_index": index, "item": item}))
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    events.append(
        (
            "response.content_part.added",
            {"item_id": "msg_bench", "output_index": index, "content_index": 0, "part": part},
        )
    )
    events += [
        (
            "response.output_text.delta",
            {
                "item_id": "msg_bench",
                "output_index": index,
                "content_index": 0,
                "delta": content_piece(i),
                "logprobs": [],
            },
        )
        for i in range(s.content)
    ]
    final = responses_answer(s)
    text = expected_content(s)
    events.append(
        (
            "response.output_text.done",
            {"item_id": "msg_bench", "output_index": index, "content_index": 0, "text": text, "logprobs": []},
        )
    )
    events.append(("response.output_item.done", {"output_index": index, "item": final["output"][-1]}))
    events.append(("response.completed", {"response": final}))
    return [_typed(kind, number, fields) for number, (kind, fields) in enumerate(events)]


def chat_events(s: Scenario) -> list[bytes]:
    """The SSE events of one streamed chat completion, vLLM-shaped: a role chunk, the deltas,
    a finish chunk, a usage-only chunk (`choices: []`) and `[DONE]`."""
    model = s.model

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {
            "id": "chatcmpl-bench0123456789abcdef",
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    events = [_event(chunk({"role": "assistant", "content": ""}))]
    events += [_event(chunk({"reasoning_content": reasoning_piece(i)})) for i in range(s.reasoning)]
    events += [_event(chunk({"content": content_piece(i)})) for i in range(s.content)]
    events.append(_event(chunk({}, "stop")))
    usage = {"prompt_tokens": 12, "completion_tokens": s.deltas, "total_tokens": 12 + s.deltas}
    events.append(
        _event(
            {
                "id": "chatcmpl-bench0123456789abcdef",
                "object": "chat.completion.chunk",
                "created": _CREATED,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    )
    events.append(_event("[DONE]"))
    return events


def chunked(piece: bytes) -> bytes:
    """One HTTP/1.1 chunk (uvicorn, as used by vLLM and SGLang, sends one per SSE event)."""
    return b"%x\r\n%s\r\n" % (len(piece), piece)


def embedding_texts(n: int, length: int = 500, seed: int = 7) -> list[str]:
    """`n` distinct English-like texts of about `length` characters."""
    rng = random.Random(seed)
    words = [w.strip() for w in _WORDS + _THOUGHTS if w.strip().isalnum()]
    out = []
    for i in range(n):
        parts = [f"Document {i}:"]
        size = len(parts[0])
        while size < length:
            w = rng.choice(words)
            parts.append(w)
            size += len(w) + 1
        out.append(" ".join(parts))
    return out


def embedding_vectors(count: int = 64, dim: int = EMBEDDING_DIM, seed: int = 11) -> list[list[float]]:
    """`count` random-ish unit-scale vectors, served round-robin."""
    rng = random.Random(seed)
    return [[rng.gauss(0.0, 0.05) for _ in range(dim)] for _ in range(count)]


def vector_json(vector: list[float]) -> bytes:
    """Floats as servers print them: shortest round-trip repr (about 20 characters each)."""
    return json.dumps(vector, separators=(",", ":")).encode()


def vector_base64(vector: list[float]) -> bytes:
    return b'"' + base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)) + b'"'


_DOC_HEAD = re.compile(r"^Document (\d+):")


def rerank_score(document: str) -> float:
    """The loopback reranker's score of a text document: a fixed pseudo-random function of the
    number in its ``Document <n>:`` head (`embedding_texts`), 0 without one; distinct for n < 10,007."""
    m = _DOC_HEAD.match(document)
    return ((int(m.group(1)) * 7919) % 10007) / 10007 if m else 0.0


def png_data_uris(n: int, size: int = 16) -> list[str]:
    """`n` distinct small RGB PNGs (`size` × `size`, one flat colour each) as data URIs."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    out = []
    for i in range(n):
        pixel = bytes(((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
        raw = b"".join(b"\x00" + pixel * size for _ in range(size))
        png = (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b"")
        )
        out.append("data:image/png;base64," + base64.b64encode(png).decode())
    return out
