"""The chaos harness's oracle: how a clean answer is mutated on the wire, and what each mutation
must give.

A *transparent* mutation changes only how a correct answer travels (framing, pieces, comments,
fields a reader must ignore); the plugin's result must equal the clean answer's. A *breaking*
mutation makes the answer unusable; the call must fail with the ONE InvokeError class named in
`ORACLE`, a message without Python exception wording, within the harness's time bound (a row
marked `recoverable` may instead give exactly the clean answer: a reader that recovers it is
right, a reader that returns anything else is not).

`ORACLE` is the table. A row's `known_failing` names the model types for which the plugin does
not meet it yet, and why (the branch that fixes it): such cases are left out of the seeded mix
and run as strict xfails, so a fix shows up as an XPASS and the row is flipped at merge.
"""

from __future__ import annotations

import gzip as _gzip
import itertools
import json
import random
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.chaos_cases import API_KEY, HEADER_SECRET, KINDS, ServerAnswer
from tests.support.fake_server import CLOSE, RESET, STALL, Delay, Piece, Raw

__all__ = ["ORACLE", "Limits", "Mutation", "mutation", "render_clean"]

SSE = frozenset({"llm-stream", "llm-responses"})
JSON_KINDS = frozenset({"llm-blocking", "text-embedding", "rerank", "speech2text"})
ALL = frozenset(KINDS)
TRANSPARENT = None

# Wording of Python's own exceptions, which must never reach a user.
PYTHON_WORDING = (
    "object has no attribute",
    "object is not",
    "not subscriptable",
    "KeyError",
    "TypeError",
    "IndexError",
    "AttributeError",
    "ValueError",
    "NoneType",
    "unhashable",
    "Traceback",
    "must be str, not",
    "argument must be",
    "ValidationError",
    "validation error for",
    "errors.pydantic.dev",
)


@dataclass(frozen=True)
class Limits:
    """The call's `timeout` (s) and the harness's bound on a whole call (s)."""

    timeout: float
    bound: float


# -- the clean answer as bytes -------------------------------------------------------------
def _json(obj: Any) -> bytes:
    # Like most servers: UTF-8 on the wire, not \\u escapes (so splits land inside sequences).
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def event_bytes(payload: Any) -> bytes:
    return b"data: " + (payload.encode() if isinstance(payload, str) else _json(payload)) + b"\n\n"


def _body(answer: ServerAnswer, payloads: Iterable[Any] | None = None) -> bytes:
    if answer.audio is not None:
        return answer.audio
    items = list(answer.payloads if payloads is None else payloads)
    return b"".join(event_bytes(p) for p in items) if answer.stream else _json(items[0])


def _end(answer: ServerAnswer) -> int:
    """Body offset before which any cut breaks the answer: a stream's finish event never
    arrives whole; any other body is cut short."""
    if answer.stream:
        return len(b"".join(event_bytes(p) for p in answer.payloads[: answer.finish_index]))
    return len(_body(answer))


def _head(answer: ServerAnswer, *, framing: str, length: int, encoding: str | None = None) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Type: {answer.content_type}"]
    if encoding:
        lines.append(f"Content-Encoding: {encoding}")
    lines.append("Transfer-Encoding: chunked" if framing == "chunked" else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _frame(pieces: Iterable[Piece], chunked: bool) -> list[Piece]:
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, bytes) and chunked:
            if piece:  # an empty chunk would end the body
                out.append(b"%X\r\n%s\r\n" % (len(piece), piece))
        else:
            out.append(piece)
    return out


def respond(
    answer: ServerAnswer,
    pieces: list[Piece],
    *,
    framing: str,
    length: int | None = None,
    encoding: str | None = None,
    before_end: Iterable[Piece] = (),
    stop: Piece | None = None,
) -> Raw:
    """The whole response: head, the body's pieces (one chunk each when chunked), then either
    ``before_end`` and the body's end (the connection stays open), or ``stop`` (RESET, CLOSE or
    STALL: the body never ends)."""
    total = sum(len(p) for p in pieces if isinstance(p, bytes)) if length is None else length
    out: list[Piece] = [_head(answer, framing=framing, length=total, encoding=encoding)]
    out += _frame(pieces, framing == "chunked")
    if stop is not None:
        return Raw([*out, stop])
    out += list(before_end)
    if framing == "chunked":
        out.append(b"0\r\n\r\n")
    return Raw(out, keep_alive=True)


def _split(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """``data`` in up to ``count + 1`` pieces at random offsets, one of them inside a UTF-8
    sequence when there is one."""
    if len(data) < 2:
        return [data]
    cuts = set(rng.sample(range(1, len(data)), min(count, len(data) - 1)))
    inside = [i for i in range(1, len(data)) if 0x80 <= data[i] < 0xC0]
    if inside:
        cuts.add(rng.choice(inside))
    edges = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _framing(answer: ServerAnswer, rng: random.Random) -> str:
    return rng.choice(("chunked", "length"))


def _paced(pieces: list[bytes], delays: Iterable[float]) -> list[Piece]:
    out: list[Piece] = []
    for piece, delay in zip(pieces, delays, strict=True):
        if out and delay:
            out.append(Delay(delay))
        out.append(piece)
    return out


def render_clean(answer: ServerAnswer, rng: random.Random) -> Raw:
    """The clean answer in one piece."""
    body = _body(answer)
    return respond(answer, [body], framing=_framing(answer, rng))


# -- payload-level edits ---------------------------------------------------------------------
Path = tuple[str, ...]


def _targets(obj: Any, path: Path) -> list[dict]:
    """The dicts at ``path`` ("*" = every list element)."""
    found = [obj]
    for step in path:
        nxt = []
        for item in found:
            if step == "*" and isinstance(item, list):
                nxt.extend(item)
            elif isinstance(item, dict) and step in item:
                nxt.append(item[step])
        found = nxt
    return [item for item in found if isinstance(item, dict)]


def _copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


# Optional fields a reader must accept as null (absent_only: only where the field is absent,
# so a value the clean result depends on is never nulled).
NULLABLE: Mapping[str, tuple[tuple[Path, str, bool], ...]] = {
    "llm-stream": (
        ((), "system_fingerprint", False),
        ((), "id", False),
        ((), "created", False),
        ((), "usage", True),
        (("choices", "*"), "logprobs", False),
        (("choices", "*", "delta"), "tool_calls", False),
        (("choices", "*", "delta"), "reasoning_content", False),
        (("choices", "*", "delta"), "refusal", False),
        (("choices", "*", "delta"), "function_call", False),
    ),
    "llm-responses": (
        ((), "sequence_number", False),
        ((), "obfuscation", False),
        ((), "logprobs", False),
        (("response",), "incomplete_details", False),
        (("response",), "tool_choice", False),
        (("item",), "status", False),
    ),
    "llm-blocking": (
        ((), "system_fingerprint", False),
        ((), "id", False),
        ((), "service_tier", False),
        (("choices", "*"), "logprobs", False),
        (("choices", "*", "message"), "tool_calls", False),
        (("choices", "*", "message"), "reasoning_content", False),
        (("choices", "*", "message"), "refusal", False),
        (("choices", "*", "message"), "function_call", False),
        (("choices", "*", "message"), "audio", False),
    ),
    "text-embedding": (
        ((), "object", False),
        ((), "model", False),
        (("data", "*"), "object", False),
    ),
    "rerank": (
        ((), "id", False),
        ((), "model", False),
        ((), "usage", False),
        ((), "meta", False),
        (("results", "*"), "document", False),
    ),
    "speech2text": (
        ((), "usage", False),
        ((), "language", False),
        ((), "duration", False),
        ((), "segments", False),
        ((), "logprobs", False),
    ),
}

# Required fields and values of a wrong JSON type for them (null included). Content gets no
# object: one object is read as one typed part, and a part of an unknown type is skipped.
_NOT_TEXT: tuple[Any, ...] = (True, 12.5, None)
WRONG_TYPES: Mapping[str, tuple[tuple[Path, str, tuple[Any, ...]], ...]] = {
    "llm-stream": (
        ((), "choices", ({"index": 0}, "choices", 7)),
        (("choices", "*"), "delta", ("text", ["delta"], 5)),
        (("choices", "*", "delta"), "content", _NOT_TEXT[:2]),  # null: a delta without text
    ),
    # A delta of another type (null: a delta without text, no error). A wrong `response` object in the
    # end event loses the server's usage silently: not in the table yet.
    "llm-responses": (((), "delta", (True, 12.5, ["delta"], {"text": "x"})),),
    "llm-blocking": (
        ((), "choices", ({"index": 0}, "choices", 7, None)),
        (("choices", "*"), "message", ("text", ["message"], 5, None)),
        (("choices", "*", "message"), "content", _NOT_TEXT[:2]),  # null: an empty answer
    ),
    "text-embedding": (
        ((), "data", ({"0": []}, "data", 5, None)),
        (("data", "*"), "embedding", ({"values": [1.0]}, True, 5, None)),
    ),
    "rerank": (
        ((), "results", ({"0": {}}, "results", 5)),
        (("results", "*"), "index", ("first", {"i": 0}, None)),
        (("results", "*"), "relevance_score", ("high", {"value": 0.5}, [0.5], None)),
    ),
    "speech2text": (((), "text", (42, ["text"], {"text": "x"}, *_NOT_TEXT)),),
}


def _with_unknown_fields(obj: Any, rng: random.Random, top: bool = True) -> Any:
    values = (
        "ünknown ✓",
        {"nested": [1, "二", None]},
        [{"a": 1}],
        12.5,
        None,
        True,
    )
    if isinstance(obj, dict):
        out = {k: _with_unknown_fields(v, rng, top=False) for k, v in obj.items()}
        if top or rng.random() < 0.5:
            out[f"x_chaos_{rng.randint(0, 999)}"] = rng.choice(values)
        return out
    if isinstance(obj, list):
        return [_with_unknown_fields(v, rng, top=False) for v in obj]
    return obj


# -- mutations ---------------------------------------------------------------------------------
Apply = Callable[[ServerAnswer, random.Random, Limits], Raw]


@dataclass(frozen=True)
class Mutation:
    name: str
    kinds: frozenset[str]
    expect: str | None
    """None: the result must equal the clean answer; else the one InvokeError class it must give."""
    what: str
    apply: Apply
    recoverable: bool = False
    """A breaking row whose answer a reader may also recover: then the result must equal the clean one."""
    known_failing: Mapping[str, str] = field(default_factory=dict)
    """Model type -> why the plugin does not meet the row yet (the branch that fixes it)."""


def _split_anywhere(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    pieces = _split(_body(answer), rng, rng.randint(1, 12))
    # Pauses of a few ms so the pieces leave as separate TCP segments.
    return respond(answer, _paced(pieces, (0.002 for _ in pieces)), framing=_framing(answer, rng))


_COMMENTS = (b": keep-alive\n\n", b":\n\n", b": OPENROUTER PROCESSING\n\n", b": ping - 2026-01-01 00:00:00\r\n\r\n")


def _keepalive_comments(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    blocks: list[bytes] = []
    for payload in answer.payloads:
        while rng.random() < 0.4:
            blocks.append(rng.choice(_COMMENTS))
        blocks.append(event_bytes(payload))
    return respond(answer, _split(b"".join(blocks), rng, rng.randint(0, 6)), framing="chunked")


def _unknown_fields(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    payloads = [p if isinstance(p, str) else _with_unknown_fields(p, rng) for p in answer.payloads]
    return respond(answer, _split(_body(answer, payloads), rng, rng.randint(0, 4)), framing=_framing(answer, rng))


def _nulls(kind: str) -> Apply:
    def apply(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
        table = NULLABLE[kind]
        chosen = rng.sample(table, rng.randint(1, len(table)))
        payloads = []
        for payload in answer.payloads:
            if isinstance(payload, str):
                payloads.append(payload)
                continue
            payload = _copy(payload)
            for path, key, absent_only in chosen:
                for target in _targets(payload, path):
                    if not (absent_only and key in target):
                        target[key] = None
            payloads.append(payload)
        return respond(answer, [_body(answer, payloads)], framing=_framing(answer, rng))

    return apply


def _gzipped(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    if answer.stream:  # one flush per event, so a client can read each event as it comes
        packer = zlib.compressobj(wbits=31)
        pieces = [packer.compress(event_bytes(p)) + packer.flush(zlib.Z_SYNC_FLUSH) for p in answer.payloads]
        pieces.append(packer.flush())
    else:
        pieces = _split(_gzip.compress(_body(answer), mtime=0), rng, rng.randint(0, 4))
    return respond(answer, pieces, framing=_framing(answer, rng), encoding="gzip")


def _events_after_end(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    late = [
        {"choices": [{"index": 0, "delta": {"content": " AFTER THE END"}, "finish_reason": None}]},
        {"choices": [], "usage": {"prompt_tokens": 999, "completion_tokens": 999, "total_tokens": 1998}},
        {"error": {"message": "an error after the end", "code": 500}},
        "[DONE]",
    ]
    if answer.kind == "llm-responses":  # the Responses API's stream is over at its end event
        usage = {"input_tokens": 999, "output_tokens": 999, "total_tokens": 1998}
        late = [
            {"type": "response.output_text.delta", "item_id": "msg_late", "delta": " AFTER THE END"},
            {"type": "response.completed", "response": {"status": "completed", "output": [], "usage": usage}},
            {"type": "error", "code": "server_error", "message": "an error after the end"},
        ]
    extra = rng.sample(late, rng.randint(1, len(late)))
    return respond(answer, [_body(answer), *(event_bytes(p) for p in extra)], framing="chunked")


def _slow_drip(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    pieces = _split(_body(answer), rng, rng.randint(2, 9))
    # Within the timeout: each pause well under it, all of them together too.
    each = min(0.4 * limits.timeout, 0.5 * limits.timeout / len(pieces))
    return respond(answer, _paced(pieces, (rng.uniform(0, each) for _ in pieces)), framing=_framing(answer, rng))


def _sse_event_any(payload: Any, rng: random.Random) -> bytes:
    """One event in any form the SSE spec reads the same: CR, LF or CRLF line ends, `data:`
    with or without its space, the JSON over several `data:` lines (joined with a newline,
    which JSON ignores), and `event:`, `id:` and `retry:` fields."""
    end = rng.choice((b"\n", b"\r\n", b"\r"))
    space = rng.choice((b" ", b""))
    if isinstance(payload, str):
        lines = [payload.encode()]
    else:
        lines = json.dumps(payload, ensure_ascii=False, indent=rng.choice((None, 1))).encode().split(b"\n")
    fields = [b"data:" + space + line for line in lines]
    if rng.random() < 0.3:
        fields.insert(0, b"event: message")
    if rng.random() < 0.3:
        fields.insert(rng.randint(0, len(fields)), b"id: %d" % rng.randint(0, 99))
    if rng.random() < 0.2:
        fields.insert(0, b"retry: 3000")
    return end.join(fields) + end + end


def _sse_framing(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    blocks = [_sse_event_any(p, rng) for p in answer.payloads]
    if rng.random() < 0.3:  # a UTF-8 byte order mark, which the spec says to skip
        blocks.insert(0, b"\xef\xbb\xbf")
    return respond(answer, _split(b"".join(blocks), rng, rng.randint(0, 6)), framing="chunked")


def _close_delimited(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    """No Content-Length and no chunks: the body ends when the server closes (HTTP/1.0 style)."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {answer.content_type}\r\nConnection: close\r\n\r\n".encode()
    return Raw([head, *_split(_body(answer), rng, rng.randint(0, 4)), CLOSE])


def _informational(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    """A 103 Early Hints (CDNs send them) or a 100 Continue before the answer."""
    hint = rng.choice(
        (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", b"HTTP/1.1 100 Continue\r\n\r\n")
    )
    clean = respond(answer, [_body(answer)], framing=_framing(answer, rng))
    return Raw([hint, *clean.pieces], keep_alive=True)


def _closed_after(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    """The clean answer, then the server closes the connection without having said so (as
    servers do at their keep-alive timeout): the connection must not be used again. (Closing
    some milliseconds later instead lets another call's request reach the closing socket; the
    plugin sends such a request again at once on a new connection, `transport.reuse`; the
    deterministic form of that case is in tests/e2e/test_resilience.py.)"""
    clean = respond(answer, [_body(answer)], framing=_framing(answer, rng))
    return Raw([*clean.pieces, CLOSE])


def _echo(status: int) -> Apply:
    """An error answer that repeats the request's secrets, as some proxies and servers do."""

    def apply(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
        echoed = rng.choice(
            (
                f"Incorrect API key provided: {API_KEY}",
                f"bad request headers: {{'authorization': 'Bearer {API_KEY}', 'x-chaos-secret': '{HEADER_SECRET}'}}",
                f"upstream refused X-Chaos-Secret={HEADER_SECRET} and key {API_KEY[:8]}…{API_KEY}",
            )
        )
        error = {"error": {"message": echoed, "type": "chaos_error", "code": status}}
        if answer.stream and rng.random() < 0.5:  # inside a 200 stream, as vLLM and LiteLLM report errors
            return respond(answer, [event_bytes(error)], framing="chunked")
        return _error_answer(status, _json(error), "application/json")

    return apply


def _error_answer(status: int, body: bytes, content_type: str, *headers: str) -> Raw:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n" + "".join(h + "\r\n" for h in headers)
    return Raw([(head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body], keep_alive=True)


def _proxy_page(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    """A gateway's HTML error page (nginx, Cloudflare) on every attempt."""
    status = rng.choice((502, 503, 504))
    page = f"<html><head><title>{status} Bad Gateway</title></head><body><center><h1>{status}</h1></center>"
    return _error_answer(status, (page + "<hr><center>nginx</center></body></html>").encode(), "text/html")


def _rate_limited(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    """429 on every attempt, asking for a wait within the timeout or far past it."""
    after = rng.choice(("0", "1", "120", "Wed, 21 Oct 2099 07:28:00 GMT"))
    body = _json({"error": {"message": "Rate limit reached for requests", "type": "requests", "code": 429}})
    return _error_answer(429, body, "application/json", f"Retry-After: {after}")


def _busy_waiting(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    """Longer than the timeout before the answer, with something every fraction of it: SSE
    comments before a stream (OpenRouter while the model is busy), whitespace before JSON."""
    filler = rng.choice(_COMMENTS) if answer.stream else rng.choice((b" ", b"\n", b"\r\n"))
    gap = rng.uniform(0.15, 0.3) * limits.timeout
    pieces: list[Piece] = []
    for _ in range(int(1.2 * limits.timeout / gap) + 1):
        pieces += [filler, Delay(gap)]
    return respond(answer, [*pieces, _body(answer)], framing="chunked")


def _held_open(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    payloads = list(answer.payloads)
    if rng.random() < 0.5 and payloads[-1] == "[DONE]":  # the usage chunk after the finish also ends a stream
        payloads = payloads[:-1]
    # Longer than the whole call may take: an answer that waits for the body's end breaks the bound.
    hold = limits.bound + 2
    return respond(answer, [_body(answer, payloads)], framing="chunked", before_end=[Delay(hold)])


def _cut(answer: ServerAnswer, rng: random.Random) -> tuple[bytes, int]:
    body = _body(answer)
    return body, rng.randrange(0, _end(answer))


def _truncated(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    body, cut = _cut(answer, rng)
    framing = _framing(answer, rng)
    pieces = _split(body[:cut], rng, rng.randint(0, 3)) if cut else []
    return respond(answer, pieces, framing=framing, length=len(body), stop=CLOSE)


def _reset(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    body, cut = _cut(answer, rng)
    framing = _framing(answer, rng)
    if rng.random() < 0.2:  # inside the status line and headers
        head = _head(answer, framing=framing, length=len(body))
        return Raw([head[: rng.randrange(0, len(head))], RESET])
    return respond(answer, [body[:cut]], framing=framing, length=len(body), stop=RESET)


def _stall(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
    body, cut = _cut(answer, rng)
    where = rng.choice(("before the head", "after the head", "in the body"))
    if where == "before the head":
        return Raw([STALL])
    return respond(answer, [body[:cut]] if where == "in the body" else [], framing="chunked", stop=STALL)


def _wrong_type(kind: str) -> Apply:
    def apply(answer: ServerAnswer, rng: random.Random, limits: Limits) -> Raw:
        payloads = [p if isinstance(p, str) else _copy(p) for p in answer.payloads]
        # In a stream: one event up to the finish (each of them carries the answer).
        index = rng.randint(0, answer.finish_index) if answer.stream else 0
        candidates = [
            (target, key, values)
            for path, key, values in WRONG_TYPES[kind]
            for target in _targets(payloads[index], path)
            if key in target
        ]
        if not candidates:  # an event without such a field (a Responses stream's lifecycle events)
            candidates = [
                (target, key, values)
                for payload in payloads[: answer.finish_index + 1]
                for path, key, values in WRONG_TYPES[kind]
                for target in _targets(payload, path)
                if key in target
            ]
        target, key, values = rng.choice(candidates)
        target[key] = _copy(rng.choice(values))
        return respond(answer, _split(_body(answer, payloads), rng, rng.randint(0, 3)), framing=_framing(answer, rng))

    return apply


def _per_kind(make: Callable[[str], Apply], kinds: Iterable[str]) -> Apply:
    table = {kind: make(kind) for kind in kinds}
    return lambda answer, rng, limits: table[answer.kind](answer, rng, limits)


ORACLE: tuple[Mutation, ...] = (
    # -- transparent: the result equals the clean answer --------------------------------------
    Mutation("split", ALL, TRANSPARENT, "2-13 pieces split anywhere (in UTF-8, in JSON)", _split_anywhere),
    Mutation("keepalive", SSE, TRANSPARENT, "SSE comments (keep-alive, pings)", _keepalive_comments),
    Mutation("unknown-fields", SSE | JSON_KINDS, TRANSPARENT, "fields no reader knows, at any depth", _unknown_fields),
    Mutation(
        "null-optional",
        SSE | JSON_KINDS,
        TRANSPARENT,
        "`null` in optional fields",
        _per_kind(_nulls, SSE | JSON_KINDS),
    ),
    Mutation(
        "sse-framing",
        SSE,
        TRANSPARENT,
        "CR/CRLF line ends, `data:` unspaced or split over lines, id/event/retry",
        _sse_framing,
    ),
    Mutation("close-delimited", ALL, TRANSPARENT, "no length, no chunks: the body ends at the close", _close_delimited),
    Mutation("informational", ALL, TRANSPARENT, "a 103 Early Hints or 100 Continue before the answer", _informational),
    Mutation(
        "closed-after", ALL, TRANSPARENT, "the server closes the connection right after the answer", _closed_after
    ),
    Mutation("gzip", ALL, TRANSPARENT, "Content-Encoding: gzip (a stream flushed per event)", _gzipped),
    Mutation(
        "after-end",
        SSE,
        TRANSPARENT,
        "more events after [DONE] or the end event (text, usage, an error)",
        _events_after_end,
    ),
    Mutation(
        "busy-waiting",
        SSE | JSON_KINDS,
        TRANSPARENT,
        "1.2 x timeout of SSE comments or whitespace, one every 0.15-0.3 x timeout, then the answer",
        _busy_waiting,
    ),
    Mutation("slow-drip", ALL, TRANSPARENT, "pieces with pauses, all within the timeout", _slow_drip),
    Mutation(
        "held-open",
        SSE,
        TRANSPARENT,
        "body held open after [DONE] (or after the usage chunk) past the call's bound",
        _held_open,
    ),
    # -- breaking: one error class each ------------------------------------------------------------
    Mutation(
        "truncated",
        ALL,
        "InvokeServerUnavailableError",
        "the body ends (FIN) before the answer's end",
        _truncated,
    ),
    Mutation(
        "reset",
        ALL,
        "InvokeServerUnavailableError",
        "TCP reset at a random offset (in the head or before the answer's end)",
        _reset,
    ),
    Mutation(
        "wrong-type",
        SSE | JSON_KINDS,
        "InvokeServerUnavailableError",
        "a required field of a wrong JSON type (or null)",
        _per_kind(_wrong_type, SSE | JSON_KINDS),
        recoverable=True,  # e.g. a rerank result's missing index is the one index left
    ),
    Mutation(
        "echo-401",
        ALL,
        "InvokeAuthorizationError",
        "401 whose message repeats the API key and the header secret (in a 200 stream: its error event)",
        _echo(401),
    ),
    Mutation(
        "echo-500",
        ALL,
        "InvokeServerUnavailableError",
        "500 whose message repeats the API key and the header secret (in a 200 stream: its error event)",
        _echo(500),
    ),
    Mutation(
        "proxy-page",
        ALL,
        "InvokeServerUnavailableError",
        "a gateway's HTML 502/503/504 page on every attempt",
        _proxy_page,
    ),
    Mutation(
        "rate-limited",
        ALL,
        "InvokeRateLimitError",
        "429 on every attempt, Retry-After within the timeout or far past it",
        _rate_limited,
    ),
    Mutation(
        "stall",
        ALL,
        "InvokeConnectionError",
        "no byte for longer than the timeout (before the head, after it, or mid-body)",
        _stall,
    ),
)

_BY_NAME = {m.name: m for m in ORACLE}


def mutation(name: str) -> Mutation:
    return _BY_NAME[name]
