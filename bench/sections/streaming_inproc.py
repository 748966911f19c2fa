"""Section 1, rows 1a–1e: in-process streaming, every contender in one worker process
(``bench/inproc.py``), interleaved."""

from __future__ import annotations

from typing import Any

from bench.config import SHORT
from bench.payloads import Scenario
from bench.report import compare, judged, paired
from bench.sections import Context, log

CONTENDERS = ("raw", "sdk", "plugin")


def run(ctx: Context) -> None:
    cfg, server, report = ctx.cfg, ctx.server, ctx.report
    content, reasoning = cfg.inproc_content, cfg.inproc_reasoning
    log(f"1. in-process streaming: {cfg.inproc_reps} interleaved repetitions × 4 clients × 3 streams")
    s0 = server.cpu()
    scenarios = ",".join(s.model for s in (content, reasoning, SHORT))
    doc = ctx.target.run_worker(
        "bench.inproc",
        ["--base-url", server.base_url, "--scenarios", scenarios, "--reps", str(cfg.inproc_reps)],
    )
    report.raw["inproc"] = doc
    rows = doc["results"]
    bad = [r for r in rows if not r["ok"]]
    if bad:
        raise RuntimeError(f"wrong text from {sorted({(r['contender'], r['scenario']) for r in bad})}")

    def series(contender: str, s: Scenario, key: str, scale: float) -> list[float]:
        mine = [r for r in rows if (r["contender"], r["scenario"]) == (contender, s.model)]
        return [r[key] * scale for r in sorted(mine, key=lambda r: r["rep"])]

    def per_k(contender: str, s: Scenario) -> list[float]:
        return series(contender, s, "cpu", 1e6 / s.deltas)

    for key, s, label in (
        ("1a", content, f"In-process stream, {content.deltas:,} content deltas: client CPU ms per 1,000 chunks"),
        (
            "1c",
            reasoning,
            f"In-process stream, {reasoning.reasoning:,} reasoning + {reasoning.content:,} content deltas: "
            "CPU ms / 1,000",
        ),
    ):
        raw, sdk, plug = (per_k(c, s) for c in CONTENDERS)
        ok = paired(plug, raw).median <= 1.5 and paired(plug, sdk).median < 1.0
        report.add(judged(compare(key, label, plug, floor=raw, sdk=sdk), "≤ 1.5× floor and < SDK", ok))
        if key == "1a":
            raw, sdk, plug = (series(c, content, "ttfc", 1000) for c in CONTENDERS)
            report.add(compare("1b", "… time to first chunk, ms (same streams)", plug, floor=raw, sdk=sdk, digits=2))
    report.add(
        compare(
            "1d",
            "Reference floor: hand-rolled httpx + json.loads, content stream, CPU ms / 1,000 chunks",
            per_k("plugin", content),
            floor=per_k("minimal", content),
        )
    )
    raw, sdk, plug = (series(c, SHORT, "cpu", 1000) for c in CONTENDERS)
    report.add(
        compare(
            "1e",
            f"In-process stream of {SHORT.deltas} deltas: client CPU ms per request (fixed cost)",
            plug,
            floor=raw,
            sdk=sdk,
            digits=2,
        )
    )
    report.raw["server_cpu_inproc"] = server.cpu() - s0
    report.notes.append(
        f"Section 1: {cfg.inproc_reps} repetitions, order rotated each time; CPU is `time.process_time()` of the "
        f"worker process (gevent-patched, as in a plugin; `thread_time` agrees within "
        f"{_thread_agreement(rows):.1%}). The SDK baseline never called its tokenizer on these streams "
        f"({doc['baseline_tokenizer_calls']} calls): the server sends `usage`."
    )


def _thread_agreement(rows: list[dict[str, Any]]) -> float:
    diffs = [abs(r["cpu"] - r["thread_cpu"]) / r["cpu"] for r in rows if r["cpu"] > 0.01]
    return max(diffs) if diffs else 0.0
