"""One module per measured section of the table; each has ``run(ctx)``, which adds its rows and
notes to ``ctx.report``.

| Section | Module | Rows |
|---|---|---|
| 1 | ``streaming_inproc`` | 1a–1e |
| 2 | ``stdio`` | 2a–2c |
| 3 | ``embeddings`` | 3a–3c |
| 4 | ``concurrency`` | 4a–4c |
| 5 | ``cold_start`` | 5a–5d |
| 6 | ``rerank`` | 6a |
| 7 | ``multimodal`` | 7a |
| 8 | ``audio`` | 8a–8b |
| 9 | ``knee`` | 9a–9c |
| 10 | ``responses`` | 10a |
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.config import Config
from bench.loopback import BenchServer
from bench.report import Report
from bench.targets import Plugins, Target


@dataclass(frozen=True)
class Context:
    """What every section gets: the run's sizes, the loopback server, the plugins, the report."""

    cfg: Config
    server: BenchServer
    plugins: Plugins
    report: Report

    @property
    def target(self) -> Target:
        return self.plugins.target


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def rotated[T](items: Sequence[T], k: int) -> list[T]:
    """The interleaving order of repetition `k`: rotate so that no contender always goes first."""
    k %= len(items)
    return [*items[k:], *items[:k]]
