"""Section 4, rows 4a–4c: many concurrent streams through ONE plugin process, paced like a real
model and then unpaced (saturation)."""

from __future__ import annotations

from typing import Any

from bench.config import WARMUP
from bench.driver import check_session, plugin_and_sdk, quiet_driver, start_llm_requests
from bench.payloads import Scenario
from bench.procfs import proc_cpu
from bench.report import compare, fnum, judged, median, paired
from bench.sections import Context, log, rotated
from tests.support.plugin_process import PluginProcess


def _concurrent(proc: PluginProcess, creds: dict[str, Any], s: Scenario, streams: int) -> tuple[float, float]:
    """Aggregate deltas/s of `streams` concurrent requests (first send -> last end) and the
    plugin process's CPU over that time, in cores."""
    with quiet_driver(proc):
        c0 = proc_cpu(proc.pid)
        pending = start_llm_requests(proc, s.model, creds, streams)
        results = [p.wait(timeout=300) for p in pending]
        c1 = proc_cpu(proc.pid)
    for result in results:
        check_session(result, s, "plugin")
    start = min(r.sent_at for r in results)
    end = max(r.sent_at + (r.elapsed or 0) for r in results)
    return streams * s.deltas / (end - start), (c1 - c0) / (end - start)


def run(ctx: Context) -> None:
    cfg, report = ctx.cfg, ctx.report
    paced, unpaced = cfg.paced, cfg.unpaced
    n = cfg.conc_streams
    log(
        f"4. concurrency: {n} streams of {paced.deltas} deltas every {cfg.conc_interval_ms:g} ms through one plugin "
        f"process vs one stream alone, {cfg.conc_reps} interleaved repetitions × 2 plugins; then {n} unpaced streams"
    )
    keys = ("single", "many", "cores", "sat_single", "sat_many", "sat_cores")
    data: dict[str, dict[str, list[float]]] = {}
    with plugin_and_sdk(ctx.server, ctx.target.root, ctx.plugins.sdk_root, paced.model) as running:
        for name, (proc, creds) in running.items():
            data[name] = {key: [] for key in keys}
            _concurrent(proc, creds, WARMUP, n)  # opens the pooled connections
        names = list(running)
        for rep in range(cfg.conc_reps):
            for name in rotated(names, rep):
                for phase in rotated(["single", "many"], rep):
                    rate, cores = _concurrent(*running[name], paced, 1 if phase == "single" else n)
                    data[name][phase].append(rate)
                    if phase == "many":
                        data[name]["cores"].append(cores)
        # Saturation: unpaced streams show how much one process can push and whether it holds up
        # under concurrency. Information only.
        for rep in range(cfg.sat_reps):
            for name in rotated(names, rep):
                data[name]["sat_single"].append(_concurrent(*running[name], unpaced, 1)[0])
                rate, cores = _concurrent(*running[name], unpaced, n)
                data[name]["sat_many"].append(rate)
                data[name]["sat_cores"].append(cores)
    report.raw["concurrency"] = data
    p, b = data["plugin"], data["sdk"]
    floor = [x * n for x in p["single"]]
    ratio = paired(p["many"], floor)
    row = compare(
        "4a",
        f"{n} concurrent streams through ONE plugin process ({paced.deltas} deltas each, one every "
        f"{cfg.conc_interval_ms:g} ms): aggregate chunks/s (floor: {n} × one stream alone; SDK column: the "
        f"OAICompat plugin under the same load, whose own ratio is "
        f"{paired(b['many'], [x * n for x in b['single']]).text()})",
        p["many"],
        floor=floor,
        sdk=b["many"],
        digits=0,
    )
    row.floor = f"{n} × {fnum(median(p['single']), 1)} = {row.floor}"
    report.add(judged(row, "≥ 0.8× floor", ratio.median >= 0.8))
    per_k = {name: [c * 1e6 / r for c, r in zip(d["cores"], d["many"], strict=True)] for name, d in data.items()}
    report.add(
        compare(
            "4b",
            f"… plugin-process CPU ms per 1,000 chunks while the {n} paced streams ran (each chunk arrives on "
            "its own, as from a real model)",
            per_k["plugin"],
            sdk=per_k["sdk"],
        ),
        compare(
            "4c",
            f"… saturation, info: {n} unpaced streams of {unpaced.deltas:,} deltas, aggregate chunks/s (floor: one "
            f"unpaced stream alone; the SDK plugin's own ratio is {paired(b['sat_many'], b['sat_single']).text()})",
            p["sat_many"],
            floor=p["sat_single"],
            sdk=b["sat_many"],
            digits=0,
        ),
    )
    report.notes.append(
        f"Section 4: plugin process CPU while {n} paced streams ran: {median(p['cores']):.0%} of one core (SDK "
        f"plugin {median(b['cores']):.0%}); with {n} unpaced streams {median(p['sat_cores']):.0%} (SDK plugin "
        f"{median(b['sat_cores']):.0%}). The benchmark's frame reader keeps no history and runs with its GC "
        "paused during each timed phase."
    )
