"""How much each section measures (full run or ``--quick``), and the chat models that asks for."""

from __future__ import annotations

from dataclasses import dataclass

from bench.payloads import Scenario

EMBED_MODEL = "bench-embed"
RERANK_MODEL = "bench-rerank"


@dataclass(frozen=True)
class Config:
    quick: bool
    inproc_reps: int
    stdio_deltas: int
    stdio_reps: int
    embed_texts: int
    embed_reps: int
    embed_raw_float: bool
    conc_deltas: int
    conc_reps: int
    sat_deltas: int
    sat_reps: int
    cold_reps: int
    rerank_reps: int
    mm_reps: int
    audio_reps: int
    stt_reps: int
    inproc_deltas: int = 2000
    rerank_docs: int = 1000
    mm_images: int = 100
    conc_streams: int = 50
    conc_interval_ms: float = 10.0
    knee_levels: tuple[int, ...] = (20, 40, 60, 80, 100, 120, 140, 160, 200, 240, 320, 480)
    """Section 9: the numbers of concurrent streams tried, in order, until one is below 95%."""
    knee_tokens: int = 400
    """Section 9: tokens per stream (4 s at 100/s); the measuring window is about 0.6 s shorter."""

    @classmethod
    def make(cls, quick: bool) -> Config:
        if quick:
            return cls(
                quick=True, inproc_reps=7, stdio_deltas=2000, stdio_reps=3, embed_texts=10_000, embed_reps=1,
                embed_raw_float=False, conc_deltas=200, conc_reps=1, sat_deltas=1000, sat_reps=1, cold_reps=3,
                rerank_reps=5, mm_reps=5, audio_reps=5, stt_reps=2, knee_levels=(20, 40, 80, 120, 160, 240),
                knee_tokens=250,
            )  # fmt: skip
        return cls(
            quick=False, inproc_reps=21, stdio_deltas=5000, stdio_reps=9, embed_texts=10_000, embed_reps=3,
            embed_raw_float=True, conc_deltas=500, conc_reps=3, sat_deltas=1000, sat_reps=3, cold_reps=9,
            rerank_reps=15, mm_reps=15, audio_reps=15, stt_reps=3,
        )  # fmt: skip

    @property
    def inproc_content(self) -> Scenario:
        return Scenario(self.inproc_deltas)

    @property
    def inproc_reasoning(self) -> Scenario:
        """A quarter of the deltas as content, after the rest as reasoning."""
        n = self.inproc_deltas
        return Scenario(n // 4, n - n // 4)

    @property
    def stdio(self) -> Scenario:
        return Scenario(self.stdio_deltas)

    @property
    def paced(self) -> Scenario:
        return Scenario(self.conc_deltas, 0, self.conc_interval_ms)

    @property
    def unpaced(self) -> Scenario:
        return Scenario(self.sat_deltas)

    @property
    def knee(self) -> Scenario:
        """Section 9: one stream, paced like 4a (100 tokens/s)."""
        return Scenario(self.knee_tokens, 0, self.conc_interval_ms)


SHORT = Scenario(10)
"""The fixed-cost stream (row 1e) and the first request after a cold start (row 5c)."""
WARMUP = Scenario(20)
"""Opens the pooled connections before section 4."""


def bench_models(cfg: Config) -> list[str]:
    """Every model id the run asks for (the server lists them on GET /models)."""
    chats = (cfg.inproc_content, cfg.inproc_reasoning, SHORT, WARMUP, cfg.stdio, cfg.paced, cfg.unpaced, cfg.knee)
    return [*(s.model for s in chats), EMBED_MODEL, RERANK_MODEL]
