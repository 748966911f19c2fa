"""Run every benchmark side by side and print ONE markdown table: ``python -m bench.run [--quick]``.

``--write-docs`` also writes the table, the machine it ran on and the run's notes into
docs/performance.md (between the ``bench:begin``/``bench:end`` markers; the rest of the file is
kept). ``--json PATH`` keeps the raw per-repetition data. See bench/README.md for what each row
means.

This process never imports dify_plugin (it gevent-patches whatever imports it): in-process
contenders run in worker subprocesses, the stdio ones in ``python -m main`` subprocesses, and the
loopback server in its own process, so no CPU figure includes the server's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.config import Config, bench_models
from bench.docs import DOCS, render_docs_block, write_docs
from bench.loopback import BenchServer
from bench.plugins import REPO
from bench.report import Report, render_table
from bench.sections import (
    Context,
    audio,
    cold_start,
    concurrency,
    embeddings,
    knee,
    log,
    multimodal,
    rerank,
    responses,
    stdio,
    streaming_inproc,
)
from bench.targets import plugins

SECTIONS: dict[str, Callable[[Context], None]] = {
    "1": streaming_inproc.run,
    "2": stdio.run,
    "3": embeddings.run,
    "4": concurrency.run,
    "5": cold_start.run,
    "6": rerank.run,
    "7": multimodal.run,
    "8": audio.run,
    "9": knee.run,
    "10": responses.run,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about 2 minutes)")
    parser.add_argument("--write-docs", action="store_true", help="write the table into docs/performance.md")
    parser.add_argument("--json", type=Path, help="also write the raw per-repetition data here")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run (default: all)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--commit", help="measure this commit's plugin code (read with `git archive`)")
    which.add_argument("--plugin-root", type=Path, help="measure the plugin in this directory")
    return parser


def _run_sections(ctx: Context, only: set[str]) -> None:
    loads = []
    for key, run_section in SECTIONS.items():
        if key in only:
            before = os.getloadavg()[0]
            run_section(ctx)
            loads.append(f"{key}: {before:.1f} → {os.getloadavg()[0]:.1f}")
    ctx.report.notes.append(
        f"Machine load (1-minute load average, {os.cpu_count()} cores) at the start → end of each section: "
        f"{'; '.join(loads)}. The bench itself keeps at most about 2 busy; more means other work was "
        "running on the machine: the interleaved, paired ratios are meant to absorb it, the absolute times "
        "are not."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = set(args.only.split(","))
    cfg = Config.make(args.quick)
    report = Report()
    started = time.monotonic()
    server = BenchServer(bench_models(cfg))
    try:
        with plugins(args.commit, args.plugin_root) as plugs:
            log(f"plugin under test: {plugs.target.label} ({plugs.target.root})")
            _run_sections(Context(cfg, server, plugs, report), only)
    finally:
        server.close()
    elapsed = time.monotonic() - started
    table = render_table(report.rows)
    sys.stdout.write(table)
    sys.stdout.write("\n" + "\n".join(f"- {n}" for n in report.notes) + "\n")
    log(f"done in {elapsed:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"config": cfg.__dict__, "raw": report.raw}, indent=1), encoding="utf-8")
    if args.write_docs:
        if only != set(SECTIONS):
            log("--write-docs ignored: only a full set of sections is written to the docs")
        else:
            write_docs(render_docs_block(report, table, elapsed, cfg.quick, plugs.target))
            log(f"wrote {DOCS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
