"""Summaries of rounds, and `bench.yaml`: written atomically, merged by version and profile, loaded back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.metadata import benchfile
from generator.metadata.benchfile import BenchFile, BenchResult, Machine, RecordedRequest
from generator.perf import results
from generator.perf.loadgen import Latency
from generator.perf.rounds import RoundResult

DISPLAY = "catalog/filters/a/bench.yaml"


def round_(number: int, cpu: float, *, rps: float = 30000.0, problem: str | None = None) -> RoundResult:
    return RoundResult(number, rps, Latency(0.2, 0.3, 0.5), cpu, 65.0, int(rps), problem)


WITHOUT = [round_(n, cpu) for n, cpu in enumerate([16.0, 16.4, 15.9, 16.2, 16.1], start=1)]
WITH = [round_(n, cpu, rps=25000.0) for n, cpu in enumerate([20.1, 20.5, 19.8, 20.3, 20.0], start=1)]


def result(**changes: Any) -> BenchResult:
    without, with_filter = results.summarise(WITHOUT), results.summarise(WITH)
    fields: dict[str, Any] = {
        "date": "2025-11-22",
        "envoy": "1.40.0",
        "generator": "wrk 4.1.0-3+b2",
        "machine": Machine(cpu="Intel(R) Xeon(R) Processor", cores=2, kernel="6.1.0"),
        "profile": {"generator": "wrk", "duration": 5},
        "request": RecordedRequest(method="GET", path="/", header_names=["x-api-key"]),
        "config": {"name": "x-served-by", "value": "edge-1"},
        "rounds": 5,
        "without": without,
        "with_filter": with_filter,
        "overhead": results.overheads(WITHOUT, WITH),
    }
    fields.update(changes)
    return BenchResult(**fields)


def test_summary_leaves_invalid_rounds_out() -> None:
    rounds = [*WITHOUT, round_(6, 99.0, problem="12 non-2xx responses (12 4xx)")]
    summary = results.summarise(rounds)
    assert (summary.valid_rounds, summary.invalid_rounds) == (5, 1)
    cpu = summary.metrics.cpu_us_per_request
    assert cpu is not None
    assert (cpu.median, cpu.min, cpu.max) == (16.1, 15.9, 16.4)
    assert summary.metrics.latency_p99_ms is not None
    assert summary.metrics.latency_p99_ms.median == 0.5


def test_no_valid_round_no_metrics() -> None:
    summary = results.summarise([round_(1, 10.0, problem="no request completed")])
    assert summary.valid_rounds == 0
    assert summary.metrics.rps is None


def test_overheads_ratio_and_significance() -> None:
    overhead = results.overheads(WITHOUT, WITH)
    cpu = overhead.cpu_us_per_request
    assert cpu is not None
    assert cpu.ratio == pytest.approx(20.1 / 16.1, rel=1e-4)
    assert cpu.significant
    assert cpu.p_value == pytest.approx(0.00794, rel=1e-2)
    memory = overhead.rss_mib
    assert memory is not None
    assert (memory.ratio, memory.significant) == (1.0, False)  # identical rounds: within noise


def test_record_writes_a_generated_file_that_loads_back(tmp_path: Path) -> None:
    results.record(tmp_path, DISPLAY, "1.0.0", "default", result())
    text = (tmp_path / "bench.yaml").read_text()
    assert text.startswith(benchfile.HEADER)
    data = yaml.safe_load(text)
    entry = data["versions"]["1.0.0"]["default"]
    assert list(entry) == [
        "date", "envoy", "generator", "machine", "profile", "request", "config", "rounds", "without", "with",
        "overhead",
    ]  # fmt: skip
    assert entry["with"]["metrics"]["cpu_us_per_request"] == {"median": 20.1, "min": 19.8, "max": 20.5}
    assert entry["overhead"]["cpu_us_per_request"]["significant"] is True
    loaded, findings = benchfile.load_bench(tmp_path, DISPLAY)
    assert findings == []
    assert loaded.versions["1.0.0"]["default"] == result()


def test_record_keeps_other_versions_and_profiles_in_order(tmp_path: Path) -> None:
    results.record(tmp_path, DISPLAY, "1.10.0", "default", result())
    results.record(tmp_path, DISPLAY, "1.2.0", "h2-tls", result(generator="h2load 1.52.0"))
    results.record(tmp_path, DISPLAY, "1.2.0", "default", result())
    results.record(tmp_path, DISPLAY, "1.10.0", "default", result(date="2025-11-23"))
    loaded, _ = benchfile.load_bench(tmp_path, DISPLAY)
    assert list(loaded.versions) == ["1.2.0", "1.10.0"]
    assert list(loaded.versions["1.2.0"]) == ["default", "h2-tls"]
    assert loaded.versions["1.10.0"]["default"].date == "2025-11-23"


def test_a_broken_bench_file_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "bench.yaml").write_text("versions:\n  1.0.0: [not, a, mapping]\n")
    with pytest.raises(ValueError, match=r"catalog/filters/a/bench.yaml:2:\d+: error: versions.1.0.0"):
        results.record(tmp_path, DISPLAY, "1.0.0", "default", result())
    assert (tmp_path / "bench.yaml").read_text() == "versions:\n  1.0.0: [not, a, mapping]\n"


def test_no_bench_file_is_an_empty_one(tmp_path: Path) -> None:
    assert benchfile.load_bench(tmp_path, DISPLAY) == (BenchFile(), [])


def test_machine_description() -> None:
    machine = results.machine()
    assert machine.cores >= 1
    assert machine.kernel
    assert machine.cpu


def test_significant_digits() -> None:
    assert results.significant_digits(0.44999999999999996) == 0.45
    assert results.significant_digits(44399.17) == 44399.0
    assert results.significant_digits(16.525232267239048) == 16.525


@pytest.mark.parametrize(
    ("key_line", "fragment"),
    [("  latest:", "'latest' is not a semantic version"), ("    Default Profile:", "versions.1.0.0.Default Profile")],
)
def test_bench_file_keys_are_versions_and_profile_names(tmp_path: Path, key_line: str, fragment: str) -> None:
    """A hand-edited key must fail `catalog validate`, not the site build that sorts versions."""
    text = "versions:\n  1.0.0:\n    default: {}\n"
    text = text.replace("  1.0.0:", key_line) if key_line.startswith("  l") else text.replace("    default:", key_line)
    (tmp_path / "bench.yaml").write_text(text)
    loaded, findings = benchfile.load_bench(tmp_path, "bench.yaml")
    assert loaded.versions == {}
    assert any(fragment in f.format() for f in findings), [f.format() for f in findings]
