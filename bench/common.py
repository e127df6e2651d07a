"""Shared helpers for benchmarks: timing, percentiles, the result table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass
class Result:
    """One line of the benchmark table: our figure beside the physical limit."""

    bench: str
    metric: str
    ours: float
    limit: float
    unit: str
    #: ratio wanted by the issue, e.g. 0.15 (ours/limit >= 0.15) or 2.0 (ours/limit <= 2)
    target: float
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.limit if self.limit else float("nan")

    @property
    def passed(self) -> bool:
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target


def percentile(samples: list[float], pct: float) -> float:
    """The *pct* percentile (0-100) of *samples* (inclusive method)."""
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=1000, method="inclusive")[int(pct * 10) - 1]


def timed_calls(fn: Callable[[], object], count: int) -> list[float]:
    """Call *fn* *count* times; return each call's duration in seconds."""
    out = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def print_table(results: Iterable[Result]) -> None:
    rows = list(results)
    header = (
        f"{'benchmark':<28} {'metric':<26} {'ours':>12} {'limit':>12} "
        f"{'ratio':>7} {'target':>8}  ok"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        sign = ">=" if r.higher_is_better else "<="
        print(
            f"{r.bench:<28} {r.metric:<26} {r.ours:>12.4g} {r.limit:>12.4g} "
            f"{r.ratio:>7.3f} {sign}{r.target:<6.3g}  {'yes' if r.passed else 'NO'}"
            + (f"  ({r.note})" if r.note else "")
        )
