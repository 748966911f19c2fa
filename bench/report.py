"""The results of a run: paired ratios, one row per measurement, targets, and the markdown table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Ratio:
    """Median and range of per-repetition (paired, interleaved) ratios."""

    values: list[float]

    @property
    def median(self) -> float:
        return median(self.values)

    def text(self) -> str:
        if not self.values:
            return "—"
        if len(self.values) == 1:
            return f"{self.median:.2f}×"
        return f"{self.median:.2f}× [{min(self.values):.2f}–{max(self.values):.2f}]"


def paired(num: Sequence[float], den: Sequence[float]) -> Ratio:
    """Ratios of the same repetitions (so that drift on a noisy machine cancels out)."""
    return Ratio([a / b for a, b in zip(num, den, strict=True) if b])


def fnum(value: float, digits: int = 1) -> str:
    if value != value:  # NaN
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


@dataclass
class Row:
    key: str
    measurement: str
    floor: str = "—"
    sdk: str = "—"
    plugin: str = "—"
    vs_floor: str = "—"
    vs_sdk: str = "—"
    target: str = "info"
    result: str = ""


def compare(
    key: str,
    measurement: str,
    plugin: Sequence[float],
    *,
    floor: Sequence[float] = (),
    sdk: Sequence[float] = (),
    digits: int = 1,
) -> Row:
    """A row of medians, with the plugin's paired ratios to each column that was measured."""

    def cell(values: Sequence[float]) -> str:
        return fnum(median(values), digits) if values else "—"

    def ratio(den: Sequence[float]) -> str:
        return paired(plugin, den).text() if den else "—"

    return Row(key, measurement, cell(floor), cell(sdk), cell(plugin), ratio(floor), ratio(sdk))


def stdio_share_row(key: str, wall: dict[str, list[float]], what: str) -> Row:
    """Info row for a floor that never crosses Dify's stdio runtime (`wall["raw"]`): the plugin
    against that floor plus the stdio runtime alone (`wall["stdio"]`, a plugin whose class `what`
    without HTTP), paired repetition by repetition. Wall seconds in, ms shown."""
    both = [(r + s) * 1000 for r, s in zip(wall["raw"], wall["stdio"], strict=True)]
    row = compare(
        key,
        f"… the same, against the floor plus Dify's stdio runtime alone (SDK column: a plugin whose class {what} "
        "without HTTP, ms; floor column: their sum)",
        [w * 1000 for w in wall["plugin"]],
        floor=both,
    )
    row.sdk = fnum(median([s * 1000 for s in wall["stdio"]]), 1)
    return replace(row, target="info")


def judged(row: Row, target: str, ok: bool) -> Row:
    """The row with the issue's target for it, and whether the median ratios meet it."""
    return replace(row, target=target, result="**PASS**" if ok else "**FAIL**")


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)


HEADER = (
    "#",
    "Measurement",
    "Floor",
    "SDK baseline",
    "This plugin",
    "Plugin ÷ floor",
    "Plugin ÷ SDK",
    "Target",
    "Result",
)


def render_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 5 + ["---"] * 2) + "|"]
    for r in rows:
        cells = (r.key, r.measurement, r.floor, r.sdk, r.plugin, r.vs_floor, r.vs_sdk, r.target, r.result)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
