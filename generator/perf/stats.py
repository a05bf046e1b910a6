"""Summaries of benchmark rounds, and whether two sets of rounds really differ.

Each variant (Envoy without the filter, with it) is measured in several rounds; a metric's value is
the median over rounds, shown with its spread (min..max). Whether a difference is real is decided
by the Mann-Whitney U test: it asks how often a random relabelling of the rounds would separate the
two variants at least as well as the measured rounds do. It assumes nothing about the shape of the
noise, one stray round (a neighbour's burst of work on a shared machine) cannot make a difference
look real, and for small numbers of rounds the probability is computed exactly. A difference is
reported only when that probability (p) is below `ALPHA`; otherwise it is "within noise".

Because the test is exact, it has a floor: with n rounds of each variant the smallest possible p is
2 / C(2n, n), so at least `MIN_ROUNDS` rounds of each are needed before any difference can be
called real. `rounds_needed` estimates, from the measured noise, how many rounds a given difference
needs (Noether's formula for this test).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05  # two-sided significance level
POWER = 0.8  # the chance of detecting a real difference that `rounds_needed` aims for
MIN_ROUNDS = 4  # 4 + 4 rounds: smallest possible p = 2/70 < ALPHA; 3 + 3 cannot reach it (2/20)
_EXACT_LIMIT = 24  # rounds in total up to which p is computed exactly (else the normal approximation)


@dataclass(frozen=True)
class Summary:
    """The median of a metric over rounds, and its range."""

    median: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values))


def relative_sd(values: Sequence[float]) -> float | None:
    """The rounds' standard deviation relative to their mean (None with fewer than two rounds)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean else None


def pooled_relative_sd(groups: Sequence[Sequence[float]]) -> float | None:
    """The noise of one round, from several variants' rounds: the root mean of their relative variances."""
    variances = [sd**2 for sd in (relative_sd(group) for group in groups) if sd is not None]
    return math.sqrt(statistics.fmean(variances)) if variances else None


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test that `a` and `b` come from the same distribution.

    Exact (every relabelling counted, ties given their mid-rank) up to `_EXACT_LIMIT` values in
    total; beyond that the normal approximation with the tie correction.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0
    doubled = _doubled_ranks([*a, *b])  # ranks times two: mid-ranks of ties stay integers
    observed = sum(doubled[:n1])
    centre = n1 * (n1 + n2 + 1)  # twice the expected rank sum of `a`
    if n1 + n2 <= _EXACT_LIMIT:
        counts = _rank_sum_counts(doubled, n1)
        extreme = sum(count for total, count in counts.items() if abs(total - centre) >= abs(observed - centre))
        return min(1.0, extreme / math.comb(n1 + n2, n1))
    n = n1 + n2
    ties = _tie_sizes(doubled)
    variance = n1 * n2 / 12 * ((n + 1) - sum(t**3 - t for t in ties) / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    u = (observed - centre) / 2  # the rank sum's distance from its expectation
    z = max(0.0, abs(u) - 0.5) / math.sqrt(variance)
    return min(1.0, 2 * (1 - statistics.NormalDist().cdf(z)))


def _doubled_ranks(values: Sequence[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = start + end + 2  # (start + 1 + end + 1): twice the mid-rank
        start = end + 1
    return ranks


def _tie_sizes(doubled: Sequence[int]) -> list[int]:
    sizes: dict[int, int] = {}
    for rank in doubled:
        sizes[rank] = sizes.get(rank, 0) + 1
    return [size for size in sizes.values() if size > 1]


def _rank_sum_counts(doubled: Sequence[int], size: int) -> dict[int, int]:
    """How many subsets of `size` ranks have each (doubled) rank sum: the exact null distribution."""
    ways: list[dict[int, int]] = [{0: 1}] + [{} for _ in range(size)]
    for rank in doubled:
        for k in range(size, 0, -1):
            target = ways[k]
            for total, count in ways[k - 1].items():
                target[total + rank] = target.get(total + rank, 0) + count
    return ways[size]


@dataclass(frozen=True)
class Comparison:
    """One metric of `other` against `reference`: the ratio of medians and whether it is real."""

    ratio: float
    p_value: float
    significant: bool

    @property
    def change(self) -> float:
        """The ratio as a relative change: 0.12 for 12 % more."""
        return self.ratio - 1

    def text(self) -> str:
        """`+12.3%` when the difference is real, `within noise` when it is not."""
        if not self.significant:
            return "within noise"
        return f"{self.change * 100:+.1f}%"


def compare(reference: Sequence[float], other: Sequence[float]) -> Comparison | None:
    """`other` against `reference`; None when either has no rounds or the reference's median is 0."""
    if not reference or not other:
        return None
    base = statistics.median(reference)
    if base == 0:
        return None
    p_value = mann_whitney_p(reference, other)
    return Comparison(statistics.median(other) / base, p_value, p_value < ALPHA)


def rounds_needed(noise: float, difference: float, *, alpha: float = ALPHA, power: float = POWER) -> int:
    """Rounds of each variant needed to detect a relative `difference` with a relative round noise `noise`.

    Noether's sample size for the Mann-Whitney test, with normally distributed rounds: the chance
    that a round of the costlier variant exceeds one of the other is q = Φ(difference / (noise·√2)),
    and each variant needs (z[1-alpha/2] + z[power])² / (6 (q - 1/2)²) rounds; never fewer than
    `MIN_ROUNDS`, below which no difference can be significant. An approximation: it errs on the
    high side (by a round or two) when the noise is far below the difference.
    """
    if difference <= 0:
        raise ValueError("difference must be positive")
    if noise <= 0:
        return MIN_ROUNDS
    normal = statistics.NormalDist()
    q = normal.cdf(difference / (noise * math.sqrt(2)))
    z = normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)
    return max(MIN_ROUNDS, math.ceil(z**2 / (6 * (q - 0.5) ** 2)))
