"""Where a streamed chunk's CPU goes: ``python -m bench.profile_stream [--contender plugin|sdk|raw]``.

Starts the loopback server, warms the contender up, then runs it under cProfile on a stream of
``--deltas`` content deltas ``--runs`` times and prints the functions with the most own time, in
microseconds per chunk. Run it from the plugin's root (or with ``--plugin-root``-style cwd and
``PYTHONPATH`` pointing at this repository, as bench.run does for its workers).
"""

from __future__ import annotations

# dify_plugin first: it gevent-patches the process, as in a plugin.
import dify_plugin  # noqa: F401  # isort: skip

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import time

from bench.inproc import CONTENDERS
from bench.payloads import scenario_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", default="plugin", choices=sorted(CONTENDERS))
    parser.add_argument("--deltas", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reasoning", action="store_true", help="3/4 of the deltas as reasoning_content")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    n = args.deltas
    model = scenario_model(n // 4, n - n // 4) if args.reasoning else scenario_model(n)
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.server", "--models", model], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        run = CONTENDERS[args.contender](f"http://127.0.0.1:{port}/v1")
        for _ in range(3):
            run(model, [])
        profiler = cProfile.Profile()
        c0 = time.process_time()
        profiler.enable()
        for _ in range(args.runs):
            run(model, [])
        profiler.disable()
        cpu = time.process_time() - c0
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)

    chunks = n * args.runs
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    sys.stdout.write(
        f"{args.contender}: {cpu * 1e6 / chunks:.1f} µs CPU per chunk under cProfile "
        f"({args.runs} runs × {n} deltas; profiling inflates every figure, compare them with each other)\n"
    )
    sys.stdout.write(f"{'own µs/chunk':>12} {'cum µs/chunk':>12} {'calls/chunk':>11}  function\n")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[: args.top]  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in rows:
        where = filename.split("site-packages/")[-1]
        sys.stdout.write(
            f"{tottime * 1e6 / chunks:12.2f} {cumtime * 1e6 / chunks:12.2f} {ncalls / chunks:11.2f}  "
            f"{name} ({where}:{line})\n"
        )


if __name__ == "__main__":
    main()
