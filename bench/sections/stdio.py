"""Section 2, rows 2a–2c: the same kind of stream end to end through the stdio runtime, this
plugin's ``python -m main`` vs the OAICompat plugin's."""

from __future__ import annotations

from bench.driver import check_session, llm_request, plugin_and_sdk, quiet_driver
from bench.procfs import proc_cpu
from bench.report import compare
from bench.sections import Context, log, rotated


def run(ctx: Context) -> None:
    cfg, report = ctx.cfg, ctx.report
    s = cfg.stdio
    log(f"2. stdio runtime: {cfg.stdio_reps} interleaved repetitions × 2 plugins, {s.deltas:,} deltas each")
    data: dict[str, dict[str, list[float]]] = {}
    with plugin_and_sdk(ctx.server, ctx.target.root, ctx.plugins.sdk_root, s.model) as running:
        for name, (proc, creds) in running.items():
            for _ in range(2):
                check_session(llm_request(proc, s.model, creds), s, name)
            data[name] = {"cpu": [], "ttff": [], "fps": [], "elapsed": []}
        for rep in range(cfg.stdio_reps):
            for name in rotated(list(running), rep):
                proc, creds = running[name]
                with quiet_driver(proc):
                    c0 = proc_cpu(proc.pid)
                    result = llm_request(proc, s.model, creds)
                    c1 = proc_cpu(proc.pid)
                check_session(result, s, name)
                assert result.elapsed is not None
                d = data[name]
                d["cpu"].append((c1 - c0) * 1e6 / s.deltas)
                d["ttff"].append(result.stream_times[0] * 1000)
                d["fps"].append(len(result.stream) / result.elapsed)
                d["elapsed"].append(result.elapsed)
    report.raw["stdio"] = data
    p, b = data["plugin"], data["sdk"]
    report.add(
        compare(
            "2a",
            f"stdio (`python -m main`), {s.deltas:,} deltas: plugin-process CPU ms per 1,000 chunks",
            p["cpu"],
            sdk=b["cpu"],
        ),
        compare("2b", "… time to first frame, ms", p["ttff"], sdk=b["ttff"], digits=2),
        compare("2c", "… frames per second (send → end)", p["fps"], sdk=b["fps"], digits=0),
    )
    report.notes.append(
        "Section 2: CPU from `/proc/<pid>/stat` (utime+stime, 1/100 s ticks) of the plugin process around each "
        "request; an idle plugin process uses none. The SDK column is `OAICompatLargeLanguageModel` in a "
        "throwaway plugin with this repository's manifest and provider YAML (bench/plugins.py)."
    )
