"""Benchmark results: rounds summarised into the model of `bench.yaml`, and recorded into it.

The model of the file (`generator.metadata.benchfile`) sits with the other catalog files, since
the loader and the site read it; here the rounds of a run become its entries (medians, ranges, and
overheads with their significance from `generator.perf.stats`), and `record` writes them.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path

import semver
import yaml

from generator.metadata.benchfile import (
    BENCH_FILE,
    HEADER,
    METRICS,
    BenchFile,
    BenchResult,
    Machine,
    Metrics,
    Overhead,
    Overheads,
    Spread,
    VariantResult,
    load_bench,
)
from generator.metadata.files import write_atomic
from generator.perf import stats
from generator.perf.rounds import RoundResult


def significant_digits(value: float, digits: int = 5) -> float:
    """`value` rounded to `digits` significant digits: what a recorded figure can claim."""
    return float(f"{value:.{digits}g}")


def summarise(rounds: Sequence[RoundResult]) -> VariantResult:
    """The valid rounds' medians and ranges; invalid rounds are only counted."""
    valid = [r for r in rounds if r.valid]
    spreads = {}
    for metric in METRICS:
        values = metric_values(valid, metric)
        if values:
            summary = stats.Summary.of(values)
            spreads[metric] = Spread(
                median=significant_digits(summary.median),
                min=significant_digits(summary.min),
                max=significant_digits(summary.max),
            )
    return VariantResult(valid_rounds=len(valid), invalid_rounds=len(rounds) - len(valid), metrics=Metrics(**spreads))


def metric_values(rounds: Sequence[RoundResult], metric: str) -> list[float]:
    """One metric's value in each valid round that measured it."""
    values: list[float] = []
    for r in rounds:
        if not r.valid:
            continue
        if metric.startswith("latency_"):
            if r.latency is not None:
                values.append(getattr(r.latency, metric.removeprefix("latency_").removesuffix("_ms")))
        else:
            values.append(getattr(r, metric))
    return values


def overheads(reference: Sequence[RoundResult], other: Sequence[RoundResult]) -> Overheads:
    """Every metric of `other` against `reference`, with its significance."""
    found = {}
    for metric in METRICS:
        comparison = stats.compare(metric_values(reference, metric), metric_values(other, metric))
        if comparison is not None:
            found[metric] = Overhead(
                ratio=significant_digits(comparison.ratio),
                p_value=significant_digits(comparison.p_value, 3),
                significant=comparison.significant,
            )
    return Overheads(**found)


def machine() -> Machine:
    """This machine: CPU model, usable cores, kernel release."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    model = value.strip()
                    break
    except OSError:
        pass
    return Machine(cpu=model, cores=len(os.sched_getaffinity(0)), kernel=platform.release())


def record(directory: Path, display: str, version: str, profile: str, result: BenchResult) -> None:
    """Write `result` into the filter's `bench.yaml`, keeping every other version's and profile's.

    A `bench.yaml` that does not load is not overwritten: the findings say why (ValueError).
    """
    current, findings = load_bench(directory, display)
    if findings:
        raise ValueError("\n".join(f.format() for f in findings))
    versions = {v: dict(by_profile) for v, by_profile in current.versions.items()}
    versions.setdefault(version, {})[profile] = result
    ordered = {v: dict(sorted(versions[v].items())) for v in sorted(versions, key=lambda v: semver.Version.parse(v))}
    data = BenchFile(versions=ordered).model_dump(mode="json", by_alias=True, exclude_none=True)
    write_atomic(directory / BENCH_FILE, HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
