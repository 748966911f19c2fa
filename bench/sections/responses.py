"""Section 10, row 10a: a Responses API stream through the stdio runtime against the same stream
over chat completions, in ONE plugin process (issue 22: plugin CPU per 1,000 events ≤ 1.5× the
chat path's, in the same run)."""

from __future__ import annotations

from bench.driver import check_session, llm_request, quiet_driver, validated
from bench.payloads import Scenario
from bench.procfs import proc_cpu
from bench.report import compare, judged, paired
from bench.sections import Context, log, rotated
from tests.support.plugin_process import PluginProcess


def run(ctx: Context) -> None:
    cfg, report = ctx.cfg, ctx.report
    # Ten times section 2's stream: the whole body arrives at once, so a stream costs the plugin
    # only tens of ms, and /proc's CPU figures come in 10 ms ticks.
    s = Scenario(cfg.stdio_deltas * 10)
    log(f"10. Responses vs chat completions: {cfg.stdio_reps} interleaved repetitions, {s.deltas:,} deltas each")
    base = {"base_url": ctx.server.base_url}
    with PluginProcess(root=ctx.target.root) as proc:
        proc.wait_heartbeat()
        creds = {
            "chat": validated(proc, s.model, {**base, "api_type": "chat_completions"}),
            "responses": validated(proc, s.model, {**base, "api_type": "responses"}),
        }
        cpu: dict[str, list[float]] = {name: [] for name in creds}
        for name, saved in creds.items():  # warm-up, and a check that each path reads the stream right
            for _ in range(2):
                check_session(llm_request(proc, s.model, saved), s, name)
        for rep in range(cfg.stdio_reps):
            for name in rotated(list(creds), rep):
                with quiet_driver(proc):
                    c0 = proc_cpu(proc.pid)
                    result = llm_request(proc, s.model, creds[name])
                    c1 = proc_cpu(proc.pid)
                check_session(result, s, name)
                cpu[name].append((c1 - c0) * 1e6 / s.deltas)
    report.raw["responses"] = cpu
    row = compare(
        "10a",
        f"Responses API stream (`api_type: responses`), {s.deltas:,} `output_text` deltas through stdio: "
        "plugin-process CPU ms per 1,000 events (floor column: the same stream over chat completions)",
        cpu["responses"],
        floor=cpu["chat"],
    )
    report.add(judged(row, "≤ 1.5× chat", paired(cpu["responses"], cpu["chat"]).median <= 1.5))
    report.notes.append(
        "Section 10: one plugin process, two saved models on the same loopback server, one speaking chat "
        "completions and one the Responses API (OpenAI's event sequence: `event:` + `data:` lines, one "
        "`response.output_text.delta` per token, closing events and `response.completed` with usage); "
        "repetitions interleaved, CPU from `/proc/<pid>/stat` as in section 2."
    )
