"""Section 5, rows 5a–5d: cold start of ``python -m main`` to its first heartbeat and to the first
answer, vs a minimal SDK plugin and the OAICompat plugin."""

from __future__ import annotations

from pathlib import Path

from bench.config import SHORT
from bench.driver import check_session, credentials, llm_request, quiet_driver
from bench.procfs import proc_mem_mb
from bench.report import compare, judged, paired
from bench.sections import Context, log, rotated
from tests.support.plugin_process import PluginProcess


def _launch(ctx: Context, name: str, root: Path) -> dict[str, float]:
    with PluginProcess(root=root) as proc:
        out = {"hb": proc.wait_heartbeat(timeout=60) * 1000, "hwm": proc_mem_mb(proc.pid, "VmHWM")}
        if name != "minimal":  # the minimal plugin's classes cannot answer
            # A request sent the moment the heartbeat arrives: whatever start-up work was
            # deferred past the heartbeat shows here.
            with quiet_driver(proc):
                result = llm_request(proc, SHORT.model, credentials(name, ctx.server))
            check_session(result, SHORT, name)
            out["first"] = (result.sent_at - proc.started_at + result.stream_times[0]) * 1000
            out["hwm_after"] = proc_mem_mb(proc.pid, "VmHWM")
        return out


def run(ctx: Context) -> None:
    cfg, report, plugins = ctx.cfg, ctx.report, ctx.plugins
    kinds = [("plugin", plugins.target.root), ("minimal", plugins.minimal_root), ("sdk", plugins.sdk_root)]
    log(f"5. cold start: {cfg.cold_reps} interleaved launches of each of {len(kinds)} plugins")
    keys = ("hb", "hwm", "first", "hwm_after")
    data: dict[str, dict[str, list[float]]] = {k: {key: [] for key in keys} for k, _ in kinds}
    for name, root in kinds:  # byte-compile once, outside the measurement
        _launch(ctx, name, root)
    for rep in range(cfg.cold_reps):
        for name, root in rotated(kinds, rep):
            for key, value in _launch(ctx, name, root).items():
                data[name][key].append(value)
    report.raw["cold_start"] = data
    p, m, s = data["plugin"], data["minimal"], data["sdk"]
    row = compare(
        "5a",
        "Cold start: launch of `python -m main` → first heartbeat, ms (floor: minimal SDK plugin; "
        "SDK column: the OAICompat plugin)",
        p["hb"],
        floor=m["hb"],
        sdk=s["hb"],
        digits=0,
    )
    report.add(
        judged(row, "≤ 1.3× floor", paired(p["hb"], m["hb"]).median <= 1.3),
        compare("5b", "… peak RSS at first heartbeat (VmHWM), MB", p["hwm"], floor=m["hwm"], sdk=s["hwm"], digits=0),
        compare(
            "5c",
            f"… launch → first text chunk of a {SHORT.deltas}-delta stream requested the moment the first heartbeat "
            "arrives, ms (start-up work deferred past the heartbeat shows here; the minimal plugin cannot answer)",
            p["first"],
            sdk=s["first"],
            digits=0,
        ),
        compare(
            "5d",
            "… peak RSS after that first request (VmHWM), MB",
            p["hwm_after"],
            floor=m["hwm"],
            sdk=s["hwm_after"],
            digits=0,
        ),
    )
