"""The chaos oracle's own claims, checked without the plugin: a transparent mutation's bytes still
carry the clean answer (read back with h11, the HTTP/1.1 parser httpx uses, and the SSE
spec's event rules), a breaking one never delivers it whole, the same case gives the same
bytes every time, and the judge fails a call that breaks the oracle."""

from __future__ import annotations

import gzip
import json
import random
import re

import h11
import pytest

from tests.support.chaos import Case, Outcome, call_bound, judge
from tests.support.chaos_cases import API_KEY, KINDS, build_call
from tests.support.chaos_oracle import ORACLE, Limits, mutation
from tests.support.fake_server import Delay, Raw
from tests.support.plugin_process import SessionResult

LIMITS = Limits(2.0, call_bound(2.0, 1))
SEEDS = range(1, 25)


def _wire(case: Case) -> tuple[Raw, object]:
    call = build_call(case.kind, random.Random(case.seed), "chaos-1-")
    answer = call.answer({"encoding_format": "base64"})
    return mutation(case.mutation).apply(answer, random.Random(f"{case.seed}:{case.mutation}"), LIMITS), answer


def _read(raw: Raw) -> tuple[int | None, dict[str, str], bytes, bool]:
    """What a client reads: final status, headers, the (decoded) body and whether it ended."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="POST", target="/", headers=[("Host", "x"), ("Content-Length", "0")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"".join(p for p in raw.pieces if isinstance(p, bytes)))
    conn.receive_data(b"")  # then the connection closes (or stays silent)
    status, headers, body, complete = None, {}, b"", False
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            break
        if event in (h11.NEED_DATA, h11.PAUSED) or isinstance(event, h11.ConnectionClosed):
            break
        if isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode().lower(): v.decode() for k, v in event.headers}
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            complete = True
            break
    if complete and headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return status, headers, body, complete


def _sse_data(body: bytes) -> list[str]:
    """Event data per the SSE spec: lines end at CR, LF or CRLF; `data` fields join with LF;
    comments and other fields are skipped; a blank line dispatches; stop at [DONE]; a leading
    byte order mark is dropped."""
    out, data = [], []
    text = body.decode(errors="replace").removeprefix("\ufeff")
    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            if data:
                out.append("\n".join(data))
                if out[-1] == "[DONE]":
                    return out
            data = []
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    return out


def _clean(answer: object) -> object:
    if answer.audio is not None:
        return answer.audio
    if answer.stream:  # [DONE] aside: a stream may also end at its usage chunk (held-open)
        return [json.loads(json.dumps(p)) for p in answer.payloads if p != "[DONE]"]
    return answer.payloads[0]


def _delivered(answer: object, body: bytes) -> object:
    if answer.audio is not None:
        return body
    if answer.stream:
        events = [json.loads(d) for d in _sse_data(body) if d != "[DONE]"]
        # A Responses API stream is over at its end event (no [DONE]).
        ends = [i for i, e in enumerate(events) if e.get("type") in ("response.completed", "response.incomplete")]
        return events[: ends[0] + 1] if ends else events
    return json.loads(body)


def _without_unknown(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_unknown(v) for k, v in value.items() if not k.startswith("x_chaos_")}
    if isinstance(value, list):
        return [_without_unknown(v) for v in value]
    return value


TRANSPARENT_CASES = [
    Case(seed, kind, row.name)
    for row in ORACLE
    if row.expect is None and row.name != "null-optional"  # nulls change values on purpose
    for kind in sorted(row.kinds)
    for seed in SEEDS
]


@pytest.mark.parametrize("name", sorted({c.mutation for c in TRANSPARENT_CASES}))
def test_transparent_mutations_still_carry_the_clean_answer(name: str) -> None:
    for case in (c for c in TRANSPARENT_CASES if c.mutation == name):
        raw, answer = _wire(case)
        status, _headers, body, complete = _read(raw)
        assert (status, complete) == (200, True), case
        assert _without_unknown(_delivered(answer, body)) == _clean(answer), case


BREAKING_CUTS = [Case(seed, kind, name) for name in ("truncated", "reset", "stall") for kind in KINDS for seed in SEEDS]


@pytest.mark.parametrize("name", ["truncated", "reset", "stall"])
def test_breaking_cuts_never_deliver_the_whole_answer(name: str) -> None:
    for case in (c for c in BREAKING_CUTS if c.mutation == name):
        raw, answer = _wire(case)
        _status, _headers, body, complete = _read(raw)
        assert not complete, case
        if answer.stream:  # the finish event never arrives whole
            assert all('"finish_reason":"stop"' not in d for d in _sse_data(body)), case


def test_wrong_types_change_a_required_field() -> None:
    for kind in ("llm-stream", "llm-blocking", "text-embedding", "rerank", "speech2text"):
        for seed in SEEDS:
            raw, answer = _wire(Case(seed, kind, "wrong-type"))
            _status, _headers, body, complete = _read(raw)
            assert complete and _delivered(answer, body) != _clean(answer), (seed, kind)


def test_the_same_case_gives_the_same_bytes() -> None:
    for row in ORACLE:
        for kind in row.kinds:
            first, _ = _wire(Case(3, kind, row.name))
            again, _ = _wire(Case(3, kind, row.name))
            assert first.pieces == again.pieces, (kind, row.name)


def test_slow_drip_stays_within_the_timeout() -> None:
    for kind in KINDS:
        for seed in SEEDS:
            raw, _ = _wire(Case(seed, kind, "slow-drip"))
            assert sum(p.seconds for p in raw.pieces if isinstance(p, Delay)) < LIMITS.timeout


def _judged(case: Case, result: SessionResult) -> Outcome:
    return judge(case, build_call(case.kind, random.Random(case.seed), "chaos-1-"), result, LIMITS.bound)


def _result(*, text: str | None = None, error: dict | None = None, elapsed: float = 0.5) -> SessionResult:
    result = SessionResult(session_id="s", action="invoke_llm", request={}, ended=True, elapsed=elapsed)
    if text is not None:
        item = {"delta": {"message": {"content": text}, "finish_reason": "stop", "usage": {}}}
        result.stream.append(item)
        result.messages.append({"type": "stream", "data": item})
    if error is not None:
        result.error = error
        result.messages.append({"type": "error", "data": error})
    return result


def test_the_judge_fails_what_breaks_the_oracle() -> None:
    split, cut = Case(5, "llm-stream", "split"), Case(5, "llm-stream", "truncated")
    assert _judged(split, _result(text="not the answer")).problems
    unavailable = {"error_type": "InvokeServerUnavailableError", "message": "The stream ended early."}
    assert _judged(split, _result(error=unavailable)).problems  # transparent: no error allowed
    assert _judged(cut, _result(error=unavailable)).ok
    assert _judged(cut, _result(error=unavailable, elapsed=LIMITS.bound + 1)).problems  # too slow
    assert _judged(cut, _result(error={**unavailable, "error_type": "InvokeConnectionError"})).problems
    python = {**unavailable, "message": "AttributeError: 'list' object has no attribute 'get'"}
    assert _judged(cut, _result(error=python)).problems
    leaked = {**unavailable, "message": f"refused {API_KEY}"}
    assert _judged(cut, _result(error=leaked)).problems
    assert _judged(cut, _result(text="partial")).problems  # a breaking row must not succeed
