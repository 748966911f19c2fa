"""The chaos harness: seeded model calls of all five types through ONE plugin process over
stdio, many in flight, against a loopback server that answers each with its clean answer
mutated as `chaos_oracle.ORACLE` says, and a judge of every call against the oracle and the
invariants (the call ends within its bound, no secret in any frame, log line or stderr line,
the process never dies).

A case is ``(seed, kind, mutation)``: the call's content comes from ``Random(seed)``, the
mutation's choices from ``Random(f"{seed}:{mutation}")`` (the same bytes on every attempt), so
a failing case printed as ``Case(seed=…, kind=…, mutation=…)`` replays exactly. `pick(seed)`
draws the kind and the mutation from the seed alone, for seeded mixes.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from tests.support.chaos_cases import API_KEY, HEADER_SECRET, KINDS, Call, build_call, credentials
from tests.support.chaos_oracle import ORACLE, PYTHON_WORDING, Limits, mutation
from tests.support.fake_server import FakeServer, Raw, RecordedRequest
from tests.support.plugin_process import PendingSession, PluginProcess, SessionResult

__all__ = ["Case", "ChaosServer", "Outcome", "Runner", "call_bound", "judge", "known_failing", "pick"]

SECRETS = (API_KEY.encode(), HEADER_SECRET.encode())
_TAG = re.compile(rb"chaos-\d+-")
HANG_GRACE = 10.0
"""Seconds past its bound after which a call is given up as a hang (and no longer waited for)."""


def call_bound(timeout: float, retries: int) -> float:
    """What any call may take: every attempt's `timeout`, the longest backoff between them
    (0.5 s doubling, capped at 8 s, at most +25% jitter: transport/retry.py's policy) and 2 s."""
    backoff = sum(min(0.5 * 2**i, 8.0) * 1.25 for i in range(retries))
    return timeout * (retries + 1) + backoff + 2.0


@dataclass(frozen=True)
class Case:
    seed: int
    kind: str
    mutation: str

    def __str__(self) -> str:
        return f"Case(seed={self.seed}, kind={self.kind!r}, mutation={self.mutation!r})"


def pick(seed: int) -> Case:
    """The case a seed stands for in a seeded mix: a model type, then one of its mutations."""
    rng = random.Random(f"pick:{seed}")
    kind = rng.choice(KINDS)
    return Case(seed, kind, rng.choice([m.name for m in ORACLE if kind in m.kinds]))


def known_failing(case: Case) -> str | None:
    """Why the plugin does not meet the oracle for this case yet (None: it must)."""
    return mutation(case.mutation).known_failing.get(case.kind)


class ChaosServer:
    """A loopback server (`FakeServer`) that finds each request's case by its tag and answers
    with the case's clean answer, mutated. ``/models`` always answers cleanly."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.fake = FakeServer()
        self.fake.always(self._answer)
        self._live: dict[bytes, tuple[Case, Call]] = {}
        self._lock = threading.Lock()
        self.requests = 0
        self.without_secrets = 0
        """Requests that did not carry the key and the header secret (the leak check would be moot)."""
        self.unknown = 0

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    def add(self, tag: str, case: Case, call: Call) -> None:
        with self._lock:
            self._live[tag.encode()] = (case, call)

    def remove(self, tag: str) -> None:
        with self._lock:
            self._live.pop(tag.encode(), None)

    def stop(self) -> None:
        self.fake.stop()

    def _answer(self, request: RecordedRequest) -> Raw:
        with self._lock:
            self.requests += 1
            if (
                request.headers.get("authorization") != f"Bearer {API_KEY}"
                or request.headers.get("x-chaos-secret") != HEADER_SECRET
            ):
                self.without_secrets += 1
        with self.fake._lock:  # keep no history: a soak sends tens of thousands of requests
            self.fake.requests.clear()
        if request.method == "GET" and request.path.endswith("/models"):
            models = ["chaos-model", "chaos-embed", "chaos-rerank", "chaos-whisper", "chaos-tts"]
            return _json_raw({"object": "list", "data": [{"id": m, "object": "model"} for m in models]})
        match = _TAG.search(request.body)
        with self._lock:
            entry = self._live.get(match.group(0)) if match else None
            if entry is None:
                self.unknown += 1
        if entry is None:
            return _json_raw({"error": {"message": f"no chaos case for {request.target}"}}, status=418)
        case, call = entry
        answer = call.answer(request.json)
        return mutation(case.mutation).apply(answer, random.Random(f"{case.seed}:{case.mutation}"), self.limits)


def _json_raw(obj: object, status: int = 200) -> Raw:
    body = json.dumps(obj).encode()
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return Raw([head.encode() + body], keep_alive=True)


@dataclass
class Outcome:
    case: Case
    problems: list[str] = field(default_factory=list)
    elapsed: float | None = None
    error_type: str | None = None
    hang: bool = False
    late: bool = False
    """Ended, but past the bound."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        took = "never ended" if self.elapsed is None else f"{self.elapsed:.2f} s"
        return f"{self.case} ({took}): " + "; ".join(self.problems)


def judge(case: Case, call: Call, result: SessionResult, bound: float) -> Outcome:
    """One ended call against its oracle row and the invariants (its bound, no secret shown)."""
    row = mutation(case.mutation)
    outcome = Outcome(case, elapsed=result.elapsed, error_type=result.error_type)
    if result.elapsed is not None and result.elapsed > bound:
        outcome.late = True
        outcome.problems.append(f"ended after {result.elapsed:.2f} s, past the bound of {bound:.2f} s")
    if result.protocol_errors:
        outcome.problems.append(f"request rejected: {result.protocol_errors!r}")
    message = (result.error or {}).get("message", "")
    if row.expect is None:
        if result.error is not None:
            outcome.problems.append(f"{result.error_type}: {message}")
        else:
            outcome.problems += _check(call, result)
    elif result.error is None:
        if not row.recoverable:
            outcome.problems.append(f"succeeded; {row.expect} expected")
        elif wrong := _check(call, result):
            outcome.problems.append(f"neither {row.expect} nor the clean answer: " + "; ".join(wrong))
    else:
        if result.error_type != row.expect:
            outcome.problems.append(f"{result.error_type} ({message}); {row.expect} expected")
        wording = [w for w in PYTHON_WORDING if w in message]
        if wording:
            outcome.problems.append(f"Python exception wording {wording} in: {message}")
    shown = json.dumps(result.messages).encode()
    if any(secret in shown for secret in SECRETS):
        outcome.problems.append("a secret is in the session's frames")
    return outcome


def _check(call: Call, result: SessionResult) -> list[str]:
    try:
        return call.check(result)
    except AssertionError as exc:  # e.g. not exactly one result frame
        return [str(exc)[:500]]


@dataclass
class _InFlight:
    case: Case
    call: Call
    pending: PendingSession
    started: float


class Runner:
    """Runs cases through one plugin process against one `ChaosServer` and judges each."""

    def __init__(self, plugin: PluginProcess, server: ChaosServer, *, retries: int) -> None:
        self.plugin = plugin
        self.server = server
        self.retries = retries
        self.bound = server.limits.bound
        self._numbers = itertools.count(1)
        self.leaks = 0
        self._stdout_leaks = 0
        self.dead = False
        self._scanned_tail = b""

    def credentials(self, call: Call) -> dict[str, str]:
        return credentials(self.server.base_url, self.server.limits.timeout, self.retries, **call.extra_credentials)

    def _start(self, case: Case) -> _InFlight:
        tag = f"chaos-{next(self._numbers)}-"
        call = build_call(case.kind, random.Random(case.seed), tag)
        self.server.add(tag, case, call)
        request = PluginProcess.model_request(call.action, credentials=self.credentials(call), **call.data)
        return _InFlight(case, call, self.plugin.start_request(call.action, request), time.monotonic())

    def _finish(self, flight: _InFlight) -> None:
        self.server.remove(flight.call.tag)
        with self.plugin._cond:  # PluginProcess keeps every session: drop the finished one
            self.plugin._sessions.pop(flight.pending.session_id, None)

    def scan(self, *, forget: bool) -> int:
        """Secrets in everything the plugin wrote (stdout frames and log lines, stderr); with
        ``forget`` the frames kept so far are dropped after the scan (a long run would grow
        without end) and later scans add to the count."""
        with self.plugin._cond:
            data = self._scanned_tail + bytes(self.plugin._stdout_raw)
            if forget:
                del self.plugin._stdout_raw[:]
                self.plugin.frames.clear()
                self.plugin.logs.clear()
                self.plugin.heartbeats.clear()
            stderr = bytes(self.plugin._stderr_raw)
        found = sum(data.count(s) for s in SECRETS)
        if forget:  # keep a secret's length, in case one straddles two scans
            found -= sum(self._scanned_tail.count(s) for s in SECRETS)
            self._scanned_tail = data[-64:]
            self._stdout_leaks += found
        else:
            self._stdout_leaks = found
        self.leaks = self._stdout_leaks + sum(stderr.count(s) for s in SECRETS)
        return self.leaks

    def run(
        self,
        cases: Iterable[Case],
        *,
        in_flight: int,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Keep ``in_flight`` calls going until ``cases`` run out; every call is judged as it ends."""
        outcomes: list[Outcome] = []
        todo: Iterator[Case] = iter(cases)
        flying: list[_InFlight] = []
        exhausted = False
        while flying or not exhausted:
            while not exhausted and len(flying) < in_flight and not self.dead:
                case = next(todo, None)
                if case is None:
                    exhausted = True
                else:
                    flying.append(self._start(case))
            if self.dead:
                break
            still: list[_InFlight] = []
            now = time.monotonic()
            for flight in flying:
                if flight.pending.done():
                    outcome = judge(flight.case, flight.call, flight.pending.result, self.bound)
                elif now - flight.started > self.bound + HANG_GRACE:
                    outcome = Outcome(flight.case, [f"no end within {self.bound + HANG_GRACE:.1f} s"], hang=True)
                else:
                    still.append(flight)
                    continue
                self._finish(flight)
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
            flying = still
            if not self.plugin.alive:
                self.dead = True
                for flight in flying:
                    outcomes.append(Outcome(flight.case, ["the plugin process died"]))
                break
            time.sleep(0.005)
        return outcomes
