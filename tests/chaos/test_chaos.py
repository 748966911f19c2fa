"""Chaos through Dify's stdio runtime: ONE plugin process (`python -m main`) takes seeded calls
of all five model types, 16 in flight, from a loopback server that mutates each clean answer
as `tests/support/chaos_oracle.ORACLE` says. Every call must give the clean answer (transparent
mutations) or the one error class of its row (breaking ones), end within its bound, and show
no secret; the process must live through all of it.

A failing case is printed as ``Case(seed=…, kind=…, mutation=…)``: add it to KEPT (with why) so
it is replayed on every run. Rows the plugin does not meet yet (`known_failing` in the oracle)
run as strict xfails: when their fix lands they XPASS, and the row's mark is removed.

`make soak` (bench/soak.py) runs the same harness for 20,000 calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.chaos import Case, ChaosServer, Outcome, Runner, call_bound, known_failing, pick
from tests.support.chaos_oracle import ORACLE, Limits
from tests.support.plugin_process import PluginProcess, plugin_root

pytestmark = pytest.mark.timeout(180)

TIMEOUT = 2.0
RETRIES = 1
IN_FLIGHT = 16
MIX_SEEDS = range(1, 201)
"""Drawn by `pick`: model type and mutation from the seed."""
PER_ROW = (1, 2)
"""Besides the mix, these seeds for every (model type, mutation) pair, so the whole table runs."""

# Cases that once failed or that pin a tricky corner; each replays on every run.
KEPT: tuple[tuple[Case, str], ...] = (
    (Case(1000, "llm-stream", "wrong-type"), "a bool in delta.content reached the user as AttributeError text"),
    (Case(1000, "llm-blocking", "wrong-type"), "an object as message.content was a silent empty success"),
    (Case(1010, "llm-blocking", "wrong-type"), "`message: null` was a silent empty success"),
    (Case(1002, "text-embedding", "wrong-type"), "an object as an embedding reached the user as pydantic's text"),
    (Case(1003, "llm-stream", "held-open"), "usage chunk, no [DONE], body held open: a timeout after the answer"),
    (Case(1006, "text-embedding", "closed-after"), "a connection closed after its answer, then reused"),
    (Case(7, "tts", "split"), "audio split across chunks"),
)


@dataclass
class Chaos:
    plugin: PluginProcess
    server: ChaosServer
    runner: Runner

    def run(self, cases: list[Case]) -> list[Outcome]:
        return self.runner.run(cases, in_flight=IN_FLIGHT)


@pytest.fixture(scope="module")
def chaos() -> Iterator[Chaos]:
    server = ChaosServer(Limits(TIMEOUT, call_bound(TIMEOUT, RETRIES)))
    try:
        with PluginProcess(root=plugin_root()) as plugin:
            yield Chaos(plugin, server, Runner(plugin, server, retries=RETRIES))
    finally:
        server.stop()


def _report(failures: list[Outcome]) -> str:
    lines = [f"{len(failures)} chaos case(s) failed; keep each as a regression case in KEPT:"]
    lines += [f"  {outcome}" for outcome in failures[:40]]
    return "\n".join(lines)


def _assert_invariants(chaos: Chaos) -> None:
    assert chaos.plugin.alive, f"the plugin process died\n{chaos.plugin.describe()}"
    assert chaos.runner.scan(forget=False) == 0, "the API key or the header secret is in the plugin's output"
    assert not chaos.plugin.noise, f"non-JSON lines on the protocol channel: {chaos.plugin.noise[:5]!r}"
    assert chaos.server.without_secrets == 0, "requests without the key and the header secret: the check is moot"
    assert chaos.server.unknown == 0, "requests the server could not match to a case"


def _pairs() -> list[tuple[str, str]]:
    return [(kind, row.name) for row in ORACLE for kind in sorted(row.kinds)]


def test_seeded_mix_matches_the_oracle(chaos: Chaos) -> None:
    cases = [pick(seed) for seed in MIX_SEEDS]
    cases += [Case(seed, kind, name) for (kind, name), seed in itertools.product(_pairs(), PER_ROW)]
    runnable = [case for case in cases if not known_failing(case)]
    outcomes = chaos.run(runnable)
    assert len(outcomes) == len(runnable)
    failures = [outcome for outcome in outcomes if not outcome.ok]
    assert not failures, _report(failures)
    _assert_invariants(chaos)


def _xfail_unless_met(case: Case) -> list[pytest.MarkDecorator]:
    reason = known_failing(case)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=str(case), marks=_xfail_unless_met(case)) for case, _why in KEPT]
)
def test_kept_case(chaos: Chaos, case: Case) -> None:
    failures = [outcome for outcome in chaos.run([case]) if not outcome.ok]
    assert not failures, _report(failures)
    _assert_invariants(chaos)


KNOWN_FAILING = sorted(
    {(kind, row.name, reason) for row in ORACLE for kind, reason in row.known_failing.items()},
)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param(kind, name, id=f"{kind}-{name}", marks=pytest.mark.xfail(strict=True, reason=reason))
        for kind, name, reason in KNOWN_FAILING
    ],
)
def test_known_failing_row(chaos: Chaos, kind: str, name: str) -> None:
    """A row not met yet: XPASS (strict: a failure of this test) once its fix has landed."""
    failures = [
        outcome for outcome in chaos.run([Case(seed, kind, name) for seed in range(1000, 1016)]) if not outcome.ok
    ]
    assert not failures, _report(failures)
    _assert_invariants(chaos)
