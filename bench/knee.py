"""The knee of one plugin process: ``python -m bench.knee [--levels 20,40,...] [--commit REV]``.

N concurrent streams, each paced at 100 tokens/s (one server event per token, one HTTP chunk per
event, as from a real model), through ONE plugin process on Dify's stdio runtime (as rows 4a-4c),
with N raised level by level until the delivered rate falls below 95% of the offered rate. The
plugin under test and the SDK's generic class (`OAICompatLargeLanguageModel` in a throwaway plugin,
`bench/plugins.py`) are measured in the same run, alternating at every level.

The delivered rate is counted in a window in which every stream is being offered tokens (from
half a second after the last request was sent to just before the first stream's last token): the
tokens that reached Dify inside it (a frame may carry several; counted from its text) over its
length, against N × 100 tokens/s offered. A process that keeps up delivers 100%; one that falls
behind delivers what it can. The knee is the largest level still at >= 95%. Also reported: frames
per token over the whole run (Dify chunks with text / server events with text), the plugin
process's CPU (cores), the end lag, and its RSS growth per open stream (peak VmRSS during the level
over the idle VmRSS before the ramp, divided by N). The loopback server's and this driver's
CPU are printed too: a level where either is near one core measures them, not the plugin.

Stand-alone (it does not import bench.run); loopback only; a few minutes at most.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from bench.payloads import Scenario, content_piece, expected_content
from bench.plugins import REPO, make_plugin
from tests.support.plugin_process import PluginProcess, SessionResult

PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOKENS_PER_S = 100  # per stream
THRESHOLD = 0.95
SETTLE = 0.5  # seconds after the last request before the measuring window opens
DEFAULT_LEVELS = "20,40,60,80,120,160,240,320,480"
_SDK_MAIN = """\
from dify_plugin import DifyPluginEnv, Plugin

plugin = Plugin(DifyPluginEnv())

if __name__ == "__main__":
    plugin.run()
"""


def log(msg: str) -> None:
    sys.stderr.write(f"[knee {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def proc_cpu(pid: int) -> float:
    """utime + stime of a whole process, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def forget(proc: PluginProcess) -> None:
    """Drop the frames and finished sessions `PluginProcess` keeps (results already read)."""
    with proc._cond:
        proc.frames.clear()
        del proc._stdout_raw[:]
        proc._sessions = {sid: p for sid, p in proc._sessions.items() if not p.done()}


class Server:
    """The loopback server (`bench.server`) in its own process."""

    def __init__(self, models: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            [PY, "-m", "bench.server", "--models", ",".join(models)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"bench server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def credentials(name: str, base_url: str) -> dict:
    if name == "plugin":
        return {"base_url": base_url}
    return {
        "endpoint_url": base_url,
        "mode": "chat",
        "context_size": "4096",
        "max_tokens_to_sample": "4096",
        "stream_mode_delimiter": "\\n\\n",
        "function_calling_type": "no_call",
    }


def validated(proc: PluginProcess, model: str, creds: dict) -> dict:
    """What Dify stores when the model is saved."""
    result = proc.invoke("validate_model_credentials", model=model, credentials=dict(creds), timeout=120)
    return dict(result.result.get("credentials") or creds)


@dataclass
class Level:
    streams: int
    offered: float
    delivered: float
    frames_per_token: float
    cores: float
    rss_per_stream_kb: float
    server_cores: float
    driver_cores: float
    lag_ms: float
    """Median over streams of when the last token reached Dify after the request, minus the time
    the model takes to send them: the backlog at the end (plus the request's own latency)."""

    @property
    def ratio(self) -> float:
        return self.delivered / self.offered


@dataclass
class Contender:
    name: str
    proc: PluginProcess
    creds: dict = field(default_factory=dict)
    idle_rss_kb: int = 0
    levels: list[Level] = field(default_factory=list)
    done: bool = False


def token_times(result: SessionResult, cum: list[int]) -> list[tuple[float, int]]:
    """(absolute time, tokens delivered so far) at each text frame; `cum` are the cumulative
    character counts of the stream's tokens (a frame may carry several)."""
    out = []
    chars = 0
    for t, s in zip(result.stream_times, result.stream, strict=True):
        if isinstance(s, dict) and "delta" in s:
            text = s["delta"]["message"].get("content")
            if text:
                chars += len(text)
                out.append((result.sent_at + t, bisect_right(cum, chars)))
    return out


def tokens_at(times: list[tuple[float, int]], when: float) -> int:
    k = bisect_right(times, (when, sys.maxsize))
    return times[k - 1][1] if k else 0


def run_level(c: Contender, s: Scenario, n: int, server: Server) -> Level | None:
    proc = c.proc
    me = os.getpid()
    gc.collect()
    gc.disable()  # this process is the daemon's stand-in: no GC pause while frames are read
    try:
        c0, s0, d0, t0 = proc_cpu(proc.pid), proc_cpu(server.proc.pid), proc_cpu(me), time.monotonic()
        pending = [
            proc.start_invoke(
                "invoke_llm", model=s.model, credentials=c.creds, prompt_messages=[{"role": "user", "content": "Go."}]
            )
            for _ in range(n)
        ]
        peak = 0
        while not all(p.done() for p in pending):
            peak = max(peak, rss_kb(proc.pid))
            time.sleep(0.05)
        results = [p.wait(timeout=300) for p in pending]
        c1, s1, d1, t1 = proc_cpu(proc.pid), proc_cpu(server.proc.pid), proc_cpu(me), time.monotonic()
    finally:
        gc.enable()
        forget(proc)
    if not s.interval_ms:  # the warm-up: nothing to measure
        return None
    expected = expected_content(s)
    cum = list(accumulate(len(content_piece(i)) for i in range(s.content)))
    interval = s.interval_ms / 1000
    # The window in which every stream is being offered tokens: from a settle time after the last
    # request was sent to just before the first stream's server sends its last token.
    start = max(r.sent_at for r in results) + SETTLE
    end = min(r.sent_at for r in results) + s.deltas * interval - 0.1
    if end - start < 1.0:
        raise SystemExit(f"--tokens {s.deltas} is too short for a measuring window at {n} streams")
    delivered = 0
    frames = 0
    lags = []
    for result in results:
        result.raise_for_error()
        if result.text != expected:
            raise RuntimeError(f"{c.name}: wrong text ({len(result.text)} characters)")
        times = token_times(result, cum)
        frames += len(times)
        delivered += tokens_at(times, end) - tokens_at(times, start)
        lags.append(times[-1][0] - result.sent_at - s.deltas * interval)
    lags.sort()
    wall = t1 - t0
    return Level(
        streams=n,
        offered=n * TOKENS_PER_S,
        delivered=delivered / (end - start),
        frames_per_token=frames / (n * s.deltas),
        cores=(c1 - c0) / wall,
        rss_per_stream_kb=max(peak - c.idle_rss_kb, 0) / n,
        server_cores=(s1 - s0) / wall,
        driver_cores=(d1 - d0) / wall,
        lag_ms=lags[len(lags) // 2] * 1000,
    )


@contextlib.contextmanager
def plugin_roots(commit: str | None) -> Iterator[tuple[Path, Path, str]]:
    with tempfile.TemporaryDirectory(prefix="oaib-knee-") as tmp:
        root, label = REPO, "this checkout"
        if commit:
            rev = subprocess.run(
                ["git", "rev-parse", "--short", commit], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout.strip()
            root = Path(tmp) / "plugin"
            root.mkdir()
            archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
            label = f"commit {rev}"
        sdk = make_plugin(Path(tmp) / "sdk_llm", "sdk_llm", root)
        # This plugin's main.py warms up its own package (`oai_bridge`), which the SDK plugin lacks.
        (sdk / "main.py").write_text(_SDK_MAIN, encoding="utf-8")
        yield root, sdk, label


def knee(levels: list[Level]) -> int:
    best = 0
    for level in levels:
        if level.ratio < THRESHOLD:
            break
        best = level.streams
    return best


def render(contenders: list[Contender], label: str) -> str:
    out = [
        f"Plugin under test: {label}. {TOKENS_PER_S} tokens/s per stream, one server event per token; "
        f"knee = most streams still delivered at ≥ {THRESHOLD:.0%} of the offered rate.",
        "",
        "| contender | streams | offered tok/s | delivered tok/s | delivered/offered | frames/token | end lag ms "
        "(median) | plugin CPU (cores) | RSS per stream KB | server / driver CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in contenders:
        for lv in c.levels:
            out.append(
                f"| {c.name} | {lv.streams} | {lv.offered:,.0f} | {lv.delivered:,.0f} | {lv.ratio:.1%} | "
                f"{lv.frames_per_token:.2f} | {lv.lag_ms:,.0f} | {lv.cores:.2f} | {lv.rss_per_stream_kb:,.0f} | "
                f"{lv.server_cores:.2f} / {lv.driver_cores:.2f} |"
            )
    knees = {c.name: knee(c.levels) for c in contenders}
    out += ["", "| contender | knee (streams) | tokens/s at the knee |", "|---|---:|---:|"]
    for c in contenders:
        tested = c.levels[-1].streams if c.levels and c.levels[-1].ratio >= THRESHOLD else None
        note = f" (no knee up to {tested}: raise --levels)" if tested else ""
        out.append(f"| {c.name} | {knees[c.name]}{note} | {knees[c.name] * TOKENS_PER_S:,} |")
    if knees.get("sdk"):
        out.append("")
        out.append(f"Knee ratio plugin / SDK class: {knees['plugin'] / knees['sdk']:.2f}× (target ≥ 2.5×)")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default=DEFAULT_LEVELS, help=f"stream counts to try (default {DEFAULT_LEVELS})")
    parser.add_argument("--tokens", type=int, default=400, help="tokens per stream (default 400: 4 s at 100/s)")
    parser.add_argument("--commit", help="measure this commit's plugin code (read with `git archive`)")
    parser.add_argument("--only", choices=("plugin", "sdk"), help="one contender only")
    parser.add_argument("--past-knee", type=int, default=1, help="levels to run after the first one below 95%%")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    s = Scenario(args.tokens, 0, 1000 / TOKENS_PER_S)
    started = time.monotonic()
    server = Server([s.model, Scenario(20).model])
    try:
        with plugin_roots(args.commit) as (root, sdk_root, label), contextlib.ExitStack() as stack:
            names = [args.only] if args.only else ["plugin", "sdk"]
            contenders = []
            for name in names:
                proc = stack.enter_context(PluginProcess(root=root if name == "plugin" else sdk_root))
                proc.wait_heartbeat()
                c = Contender(name, proc)
                c.creds = validated(proc, s.model, credentials(name, server.base_url))
                contenders.append(c)
            for c in contenders:  # warm up: imports, pooled connections
                run_level(c, Scenario(20), 20, server)
                c.idle_rss_kb = rss_kb(c.proc.pid)
            past = dict.fromkeys(names, 0)
            for i, n in enumerate(levels):
                active = [c for c in contenders if not c.done]
                if not active:
                    break
                for c in active if i % 2 == 0 else active[::-1]:
                    level = run_level(c, s, n, server)
                    assert level is not None
                    c.levels.append(level)
                    log(
                        f"{c.name:6} {n:4} streams: {level.ratio:6.1%} of offered, {level.frames_per_token:.2f} "
                        f"frames/token, plugin {level.cores:.2f} cores, server {level.server_cores:.2f}, "
                        f"driver {level.driver_cores:.2f}"
                    )
                    if level.ratio < THRESHOLD:
                        past[c.name] += 1
                        c.done = past[c.name] > args.past_knee - 1
    finally:
        server.close()
    sys.stdout.write(render(contenders, label))
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
