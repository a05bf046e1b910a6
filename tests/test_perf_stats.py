"""The statistics of benchmark rounds: spreads, the Mann-Whitney test, the noise verdict, rounds needed."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from generator.perf import stats


def test_spread_is_median_and_range() -> None:
    assert stats.Summary.of([3.0, 1.0, 2.0, 10.0]) == stats.Summary(2.5, 1.0, 10.0)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # Completely separated: only 2 of the C(10, 5) = 252 relabellings are as extreme.
        ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], 2 / 252),
        ([6, 7, 8, 9, 10], [1, 2, 3, 4, 5], 2 / 252),
        ([1, 2, 3, 4], [5, 6, 7, 8], 2 / 70),
        # Three rounds each can never be significant: the floor is 2 / 20.
        ([1, 2, 3], [4, 5, 6], 2 / 20),
        ([1, 2, 3], [1, 2, 3], 1.0),
    ],
)
def test_exact_p_values(a: list[float], b: list[float], expected: float) -> None:
    assert stats.mann_whitney_p(a, b) == pytest.approx(expected)


def test_ties_match_a_brute_force_permutation_test() -> None:
    a, b = [1.0, 2.0, 2.0, 3.0, 5.0], [2.0, 3.0, 3.0, 4.0, 6.0]
    pooled = a + b

    def rank_sum(indices: tuple[int, ...]) -> float:
        ordered = sorted(pooled)
        ranks = {v: (ordered.index(v) + 1 + len(ordered) - ordered[::-1].index(v)) / 2 for v in pooled}
        return sum(ranks[pooled[i]] for i in indices)

    centre = len(a) * (len(pooled) + 1) / 2
    observed = abs(rank_sum(tuple(range(len(a)))) - centre)
    splits = list(itertools.combinations(range(len(pooled)), len(a)))
    extreme = sum(1 for split in splits if abs(rank_sum(split) - centre) >= observed - 1e-9)
    assert stats.mann_whitney_p(a, b) == pytest.approx(extreme / len(splits))


def test_large_samples_use_the_normal_approximation() -> None:
    rng = random.Random(7)
    same = [rng.gauss(100, 5) for _ in range(30)], [rng.gauss(100, 5) for _ in range(30)]
    shifted = [rng.gauss(100, 5) for _ in range(30)], [rng.gauss(110, 5) for _ in range(30)]
    assert stats.mann_whitney_p(*same) > 0.05
    assert stats.mann_whitney_p(*shifted) < 0.001


def test_a_difference_inside_the_noise_is_within_noise() -> None:
    # CPU µs per request over 6 rounds on a noisy machine: the filter's +2 % is smaller than the
    # rounds' own scatter (about ±6 %), and the rounds interleave.
    without = [20.1, 21.8, 19.2, 20.9, 22.4, 19.8]
    with_filter = [20.7, 19.6, 21.9, 22.8, 20.3, 21.1]
    comparison = stats.compare(without, with_filter)
    assert comparison is not None
    assert comparison.ratio == pytest.approx(20.9 / 20.5)
    assert not comparison.significant
    assert comparison.p_value > stats.ALPHA
    assert comparison.text() == "within noise"


def test_a_clear_difference_is_significant() -> None:
    without = [20.1, 20.4, 19.9, 20.2, 20.0, 20.3]
    with_filter = [23.9, 24.3, 24.0, 24.6, 23.8, 24.1]
    comparison = stats.compare(without, with_filter)
    assert comparison is not None
    assert comparison.significant
    assert comparison.p_value == pytest.approx(2 / math.comb(12, 6))
    assert comparison.text() == f"{(24.05 / 20.15 - 1) * 100:+.1f}%"


def test_fewer_rounds_than_the_minimum_are_never_significant() -> None:
    comparison = stats.compare([10.0, 10.1, 10.2], [50.0, 51.0, 52.0])
    assert comparison is not None
    assert not comparison.significant


def test_no_rounds_no_comparison() -> None:
    assert stats.compare([], [1.0]) is None
    assert stats.compare([0.0, 0.0], [1.0, 1.0]) is None


def test_relative_noise() -> None:
    assert stats.relative_sd([10.0]) is None
    assert stats.relative_sd([9.0, 11.0]) == pytest.approx(math.sqrt(2) / 10)
    assert stats.pooled_relative_sd([[9.0, 11.0], [18.0, 22.0]]) == pytest.approx(math.sqrt(2) / 10)


def test_rounds_needed_grows_with_the_noise() -> None:
    # Far less noise than difference: the formula's floor (it errs high there; 4 would do).
    assert stats.rounds_needed(0.001, 0.05) == 6
    assert stats.rounds_needed(0, 0.05) == stats.MIN_ROUNDS
    assert stats.rounds_needed(0.05, 0.05) == 20
    assert stats.rounds_needed(0.10, 0.05) > stats.rounds_needed(0.05, 0.05)
    with pytest.raises(ValueError, match="positive"):
        stats.rounds_needed(0.05, 0)


def test_rounds_needed_gives_the_promised_power() -> None:
    """Simulated rounds with the estimated count detect the difference about 80 % of the time."""
    rng = random.Random(3)
    noise, difference = 0.05, 0.05
    n = stats.rounds_needed(noise, difference)
    trials = 300
    detected = 0
    for _ in range(trials):
        a = [rng.gauss(1, noise) for _ in range(n)]
        b = [rng.gauss(1 + difference, noise) for _ in range(n)]
        comparison = stats.compare(a, b)
        detected += bool(comparison and comparison.significant)
    assert 0.7 <= detected / trials <= 0.92
