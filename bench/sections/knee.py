"""Section 9, rows 9a–9c: the knee of ONE plugin process (issue 15.1).

N concurrent streams, each paced at 100 tokens/s (one server event per token, one HTTP chunk per
event, as from a real model), through one plugin process on the stdio runtime (as section 4), N
raised level by level until the delivered rate falls below 95% of the offered rate. This plugin and
the SDK's generic class (``OAICompatLargeLanguageModel`` in a throwaway plugin) are measured in the
same run, their order rotating at every level.

The delivered rate is counted in a window in which every stream is being offered tokens (from
half a second after the last request was sent to just before the first stream's last token): the
tokens that reached the driver inside it (a frame may carry several: counted from its text) over
its length, against N × 100 tokens/s offered. The knee is the last level before the first one
below 95%. At that level: frames per token (session frames with text / server events with text)
and RSS growth per open stream (peak VmRSS during the level over the idle VmRSS after the warm-up,
divided by N).
"""

from __future__ import annotations

import os
import sys
import time
from bisect import bisect_right
from dataclasses import asdict, dataclass
from itertools import accumulate
from typing import Any

from bench.config import WARMUP
from bench.driver import check_session, plugin_and_sdk, quiet_driver, start_llm_requests
from bench.payloads import Scenario, content_piece
from bench.procfs import proc_cpu, proc_mem_mb
from bench.report import Row, compare, fnum, judged
from bench.sections import Context, log, rotated
from tests.support.plugin_process import PluginProcess, SessionResult

THRESHOLD = 0.95
SETTLE = 0.5
"""Seconds after the last request was sent before the measuring window opens."""
KNEE_RATIO = 2.5
"""Target: this plugin's knee at least this many times the SDK class's."""
RSS_PER_STREAM_KB = 100
"""Target: RSS growth per open stream at the knee."""


@dataclass
class Level:
    streams: int
    offered: float
    """Tokens/s, all streams together."""
    delivered: float
    frames_per_token: float
    rss_per_stream_kb: float
    cores: float
    """The plugin process's CPU over the level, in cores."""
    server_cores: float
    driver_cores: float
    """The loopback server's and this driver's: near one core, they, not the plugin, were measured."""

    @property
    def ratio(self) -> float:
        return self.delivered / self.offered


def _rss_kb(pid: int) -> float:
    return proc_mem_mb(pid, "VmRSS") * 1024


def _token_times(result: SessionResult, cum: list[int]) -> list[tuple[float, int]]:
    """(absolute time, tokens delivered so far) at each frame with text; `cum` are the cumulative
    character counts of the stream's tokens."""
    out = []
    chars = 0
    for t, frame in zip(result.stream_times, result.stream, strict=True):
        if isinstance(frame, dict) and "delta" in frame:
            text = frame["delta"]["message"].get("content")
            if text:
                chars += len(text)
                out.append((result.sent_at + t, bisect_right(cum, chars)))
    return out


def _tokens_at(times: list[tuple[float, int]], when: float) -> int:
    k = bisect_right(times, (when, sys.maxsize))
    return times[k - 1][1] if k else 0


def _level(
    ctx: Context, name: str, proc: PluginProcess, creds: dict[str, Any], s: Scenario, n: int, idle_kb: float
) -> Level:
    """Run `n` concurrent streams of `s` and measure what reached the driver."""
    me = os.getpid()
    with quiet_driver(proc):
        c0, s0, d0, t0 = proc_cpu(proc.pid), ctx.server.cpu(), proc_cpu(me), time.monotonic()
        pending = start_llm_requests(proc, s.model, creds, n)
        peak = 0.0
        while not all(p.done() for p in pending):
            peak = max(peak, _rss_kb(proc.pid))
            time.sleep(0.05)
        results = [p.wait(timeout=300) for p in pending]
        c1, s1, d1, t1 = proc_cpu(proc.pid), ctx.server.cpu(), proc_cpu(me), time.monotonic()
    for result in results:
        check_session(result, s, name)
    cum = list(accumulate(len(content_piece(i)) for i in range(s.content)))
    start = max(r.sent_at for r in results) + SETTLE
    end = min(r.sent_at for r in results) + s.deltas * s.interval_ms / 1000 - 0.1
    if end - start < 1.0:
        raise RuntimeError(f"{s.deltas} tokens per stream leave no measuring window at {n} streams")
    delivered = frames = 0
    for result in results:
        times = _token_times(result, cum)
        frames += len(times)
        delivered += _tokens_at(times, end) - _tokens_at(times, start)
    wall = t1 - t0
    return Level(
        streams=n,
        offered=n * 1000 / s.interval_ms,
        delivered=delivered / (end - start),
        frames_per_token=frames / (n * s.deltas),
        rss_per_stream_kb=max(peak - idle_kb, 0) / n,
        cores=(c1 - c0) / wall,
        server_cores=(s1 - s0) / wall,
        driver_cores=(d1 - d0) / wall,
    )


def _knee(levels: list[Level]) -> Level | None:
    """The last level before the first one below the threshold (None if the first is)."""
    best = None
    for level in levels:
        if level.ratio < THRESHOLD:
            break
        best = level
    return best


def _rows(data: dict[str, list[Level]], lowest: int, rate: float) -> list[Row]:
    knees = {name: _knee(levels) for name, levels in data.items()}
    count = {name: k.streams if k else 0 for name, k in knees.items()}
    # Never below the threshold: the knee is at least the highest level tried.
    open_ended = {name for name, levels in data.items() if levels[-1].ratio >= THRESHOLD}
    p, b = count["plugin"], count["sdk"]
    row = compare(
        "9a",
        f"knee: concurrent {rate:g} tok/s streams one plugin process sustains at ≥ {THRESHOLD:.0%} of the offered "
        "tokens/s",
        [p],
        sdk=[b],
        digits=0,
    )
    row.plugin = f"≥ {p}" if "plugin" in open_ended else row.plugin if p else f"< {lowest}"
    row.sdk = f"≥ {b}" if "sdk" in open_ended else row.sdk if b else f"< {lowest}"
    if "sdk" in open_ended:  # the SDK class's knee is unknown: no verdict beyond an upper bound
        ok = False
        row.vs_sdk = f"≤ {p / b:.2f}×"
    elif b:
        ok = p / b >= KNEE_RATIO
        row.vs_sdk = f"≥ {p / b:.2f}×" if "plugin" in open_ended else row.vs_sdk
    else:  # the SDK class fell short at the lowest level: its knee is below it
        ok = p / lowest >= KNEE_RATIO
        row.vs_sdk = f"> {p / lowest:.2f}×" if p else "—"
    rows = [judged(row, f"≥ {KNEE_RATIO:g}× SDK", ok)]
    for key, what, attr, digits in (
        ("9b", "… frames per token at each one's knee", "frames_per_token", 2),
        ("9c", "… RSS growth per open stream at each one's knee, KB", "rss_per_stream_kb", 0),
    ):
        values = {name: [getattr(k, attr)] if k else [] for name, k in knees.items()}
        r = compare(key, what, values["plugin"], digits=digits)
        r.sdk = fnum(values["sdk"][0], digits) if values["sdk"] else "—"
        rows.append(r)
    rss = knees["plugin"].rss_per_stream_kb if knees["plugin"] else float("nan")
    rows[2] = judged(rows[2], f"≤ {RSS_PER_STREAM_KB} KB", rss <= RSS_PER_STREAM_KB)
    return rows


def run(ctx: Context) -> None:
    cfg, report = ctx.cfg, ctx.report
    s = cfg.knee
    log(
        f"9. knee: streams of {s.deltas} tokens at {1000 / s.interval_ms:g}/s through one plugin process, "
        f"{', '.join(map(str, cfg.knee_levels))} at a time until < {THRESHOLD:.0%} delivered × 2 plugins"
    )
    data: dict[str, list[Level]] = {}
    with plugin_and_sdk(ctx.server, ctx.target.root, ctx.plugins.sdk_root, s.model) as running:
        idle: dict[str, float] = {}
        for name, (proc, creds) in running.items():
            with quiet_driver(proc):  # imports, pooled connections
                for result in [p.wait(timeout=300) for p in start_llm_requests(proc, WARMUP.model, creds, 20)]:
                    check_session(result, WARMUP, name)
            idle[name] = _rss_kb(proc.pid)
            data[name] = []
        active = list(running)
        for i, n in enumerate(cfg.knee_levels):
            for name in rotated(active, i):
                level = _level(ctx, name, *running[name], s, n, idle[name])
                data[name].append(level)
                log(
                    f"   {name:6} {n:4} streams: {level.ratio:6.1%} delivered, "
                    f"{level.frames_per_token:.2f} frames/token, {level.rss_per_stream_kb:.0f} KB/stream, "
                    f"plugin {level.cores:.2f} cores, server {level.server_cores:.2f}, driver {level.driver_cores:.2f}"
                )
                if level.ratio < THRESHOLD:
                    active.remove(name)
            if not active:
                break
    report.raw["knee"] = {name: [asdict(lv) for lv in levels] for name, levels in data.items()}
    report.add(*_rows(data, cfg.knee_levels[0], 1000 / s.interval_ms))
    per_level = "; ".join(
        f"{name}: " + ", ".join(f"{lv.streams} → {lv.ratio:.0%} ({lv.cores:.2f} cores)" for lv in levels)
        for name, levels in data.items()
    )
    levels = [lv for name_levels in data.values() for lv in name_levels]
    server, driver = max(lv.server_cores for lv in levels), max(lv.driver_cores for lv in levels)
    report.notes.append(
        f"Section 9: streams of {s.deltas} tokens at {1000 / s.interval_ms:g} tokens/s, delivered/offered (plugin "
        f"process CPU) per level: {per_level}. Delivered tokens are counted from the frames' text in a window "
        "where every stream is being offered; the knee is the last level before the first below "
        f"{THRESHOLD:.0%} (`≥ N`: none fell short up to N). The loopback server and this driver used at most "
        f"{server:.2f} and {driver:.2f} cores at one level: near one core, they, not "
        "the plugin, would be what was measured."
    )
