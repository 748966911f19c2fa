"""Section 2, rows 2a–2c: the same kind of stream end to end through the stdio runtime, this
plugin's ``python -m main`` vs the OAICompat plugin's."""

from __future__ import annotations

from bench.driver import check_session, llm_request, plugin_and_sdk, quiet_driver
from bench.procfs import proc_cpu
from bench.report import compare, median
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
            data[name] = {"cpu": [], "ttff": [], "chunks_per_s": [], "frames": [], "elapsed": []}
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
                # Every server chunk arrived (checked above); a frame may carry several when the plugin
                # is behind, so frames per second would reward falling behind.
                d["chunks_per_s"].append(s.deltas / result.elapsed)
                d["frames"].append(len(result.stream))
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
        compare(
            "2c",
            "… chunks (tokens) delivered per second, send → end (a frame may carry several)",
            p["chunks_per_s"],
            sdk=b["chunks_per_s"],
            digits=0,
        ),
    )
    report.notes.append(
        "Section 2: CPU from `/proc/<pid>/stat` (utime+stime, 1/100 s ticks) of the plugin process around each "
        "request; an idle plugin process uses none. The SDK column is `OAICompatLargeLanguageModel` in a "
        "throwaway plugin with this repository's manifest and provider YAML (bench/plugins.py). Row 2c counts "
        "the server's chunks, all delivered; session frames (all kinds) per chunk: plugin "
        f"{median(p['frames']) / s.deltas:.2f}, SDK plugin {median(b['frames']) / s.deltas:.2f}."
    )
