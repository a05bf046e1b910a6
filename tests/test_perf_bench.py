"""`catalog filter bench` and `catalog bench compare`: the request chosen, the report, the record, and
real runs against Envoy under wrk and h2load (TLS), including an interrupted one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from generator.commands import bench
from generator.envoy.locate import Envoy
from generator.metadata import benchfile
from generator.metadata.loader import load_filter
from generator.perf.loadgen import Latency, LoadGenError, Request
from generator.perf.profile import Profile
from generator.perf.rounds import Progress, RequestRefused, RoundResult, RunPlan
from tests.conftest import CatalogBuilder, require

Cli = Callable[..., Result]

QUICK = "generator: wrk\nduration: 1\nwarmup: 0\nrounds: 2\nconnections: 4\n"
QUICK_H2_TLS = "generator: h2load\nprotocol: http2\ntls: true\nduration: 1\nwarmup: 0\nrounds: 2\nconnections: 4\n"
CASES = """\
cases:
- name: another configuration
  config: {header: x-other}
  requests:
  - headers: {x-key: other}
    expect: {status: 200}
- name: refused without a key
  requests:
  - expect: {status: 401}
- name: a known key passes
  requests:
  - path: /images/cat.png
    method: HEAD
    headers: {x-key: k1, x-trace: abc}
    expect: {status: 200}
"""


def write_profile(catalog: CatalogBuilder, name: str, text: str) -> None:
    directory = catalog.root / "catalog" / "profiles"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yaml").write_text(text)


@pytest.fixture
def benched(catalog: CatalogBuilder) -> CatalogBuilder:
    """Filter `a` (a WAT filter that lets everything through) and a quick profile."""
    catalog.add("a")
    write_profile(catalog, "quick", QUICK)
    return catalog


# --- the request ---------------------------------------------------------------------------------


def test_the_request_comes_from_the_first_passing_case_with_the_same_configuration(catalog: CatalogBuilder) -> None:
    (catalog.add("a") / "cases.yaml").write_text(CASES)
    entry = load_filter(catalog.root, "a")
    profile = Profile.model_validate({"request": {"headers": {"X-Trace": "bench", "x-extra": "1"}}})
    request = bench.bench_request(entry, profile, {"header": "x-test"})
    assert request == Request("HEAD", "/images/cat.png", (("x-key", "k1"), ("X-Trace", "bench"), ("x-extra", "1")))


def test_a_case_request_with_a_body_is_not_taken(catalog: CatalogBuilder) -> None:
    """The load generators cannot send a case's body, and without it the filter may refuse the request."""
    with_body = CASES.replace("    method: HEAD\n", "    method: POST\n    body: '{\"k\": 1}'\n")
    (catalog.add("a") / "cases.yaml").write_text(with_body)
    request = bench.bench_request(load_filter(catalog.root, "a"), Profile(), {"header": "x-test"})
    assert request.path != "/images/cat.png"


def test_without_a_fitting_case_the_profile_request_is_sent(catalog: CatalogBuilder) -> None:
    (catalog.add("a") / "cases.yaml").write_text(CASES)
    entry = load_filter(catalog.root, "a")
    shape = {"method": "POST", "path": "/upload", "body_bytes": 10}
    assert bench.bench_request(entry, Profile.model_validate({"request": shape}), {"header": "x-none"}) == Request(
        "POST", "/upload", (), 10
    )
    no_cases = Profile.model_validate({"request": {"from_cases": False}})
    assert bench.bench_request(entry, no_cases, {"header": "x-test"}) == Request()


# --- refusals before anything runs ---------------------------------------------------------------


def test_unknown_profile_is_a_usage_error(cli: Cli, benched: CatalogBuilder) -> None:
    result = cli("filter", "bench", "a", "--profile", "nope")
    assert result.exit_code == 2
    assert "no profile 'nope' in catalog/profiles/ (it has: quick)" in result.stderr


def test_a_broken_profile_shows_its_findings(cli: Cli, benched: CatalogBuilder) -> None:
    write_profile(benched, "bad", "generator: wrk\nrate: 100\n")
    result = cli("filter", "bench", "a", "--profile", "bad")
    assert result.exit_code == 1
    assert "profile 'bad' does not load" in result.stderr
    assert "catalog/profiles/bad.yaml:2:7: error: rate: wrk has no fixed-rate mode" in result.stderr


def test_a_configuration_must_fit_the_schema(cli: Cli, benched: CatalogBuilder) -> None:
    result = cli("filter", "bench", "a", "--profile", "quick", "--config", '{"colour": "red"}')
    assert result.exit_code == 1
    assert "the configuration fails the schema of 'a'" in result.stderr


# --- the report, from rounds made up for the test ------------------------------------------------


def rounds_for(cpu: list[float], **changes: Any) -> list[RoundResult]:
    return [
        RoundResult(n, 30000.0 - 100 * c, Latency(0.2, 0.3, 0.6), c, 65.0, 30000, changes.get("problem"))
        for n, c in enumerate(cpu, start=1)
    ]


@pytest.fixture
def fake_rounds(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[RoundResult]]:
    """Replace the Envoy runs: each variant gets the rounds stored under the start of its label."""
    made: dict[str, list[RoundResult]] = {}

    def run_rounds(plan: RunPlan, workdir: Path, progress: Progress | None = None) -> dict[str, list[RoundResult]]:
        for step, variant in enumerate(plan.variants):
            if progress is not None:
                progress(step, len(plan.variants), variant.label)
        return {v.label: next(r for prefix, r in made.items() if v.label.startswith(prefix)) for v in plan.variants}

    monkeypatch.setattr(bench, "run_rounds", run_rounds)
    monkeypatch.setattr(bench, "find_envoy", lambda: Envoy("/bin/false", "1.40.0"))
    monkeypatch.setattr(bench.loadgen, "version", lambda generator: f"{generator} 4.1.0-3+b2")
    return made


def test_table_of_a_clear_overhead(cli: Cli, benched: CatalogBuilder, fake_rounds: dict[str, Any]) -> None:
    fake_rounds["without"] = rounds_for([16.0, 16.4, 15.9, 16.2, 16.1])
    fake_rounds["with"] = rounds_for([20.1, 20.5, 19.8, 20.3, 20.0])
    result = cli("filter", "bench", "a", "--profile", "quick", "--rounds", "5")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["METRIC", "without", "filter", "with", "a", "1.0.0", "with", "/", "without"]
    cpu = next(line for line in lines if line.strip().startswith("CPU per request"))
    assert "16.1 (15.9..16.4)" in cpu
    assert "20.1 (19.8..20.5)" in cpu
    assert f"{(20.1 / 16.1 - 1) * 100:+.1f}% (p=0.0079)" in cpu
    memory = next(line for line in lines if line.strip().startswith("memory RSS"))
    assert "within noise (p=1)" in memory
    assert "with a 1.0.0 costs 24.8% more CPU per request than without filter (p=0.0079)" in result.stdout
    assert "profile quick: wrk 4.1.0-3+b2, http1.1, 4 connections, 5 rounds; Envoy 1.40.0" in result.stderr


def test_an_overhead_inside_the_noise_is_not_a_percentage(
    cli: Cli, benched: CatalogBuilder, fake_rounds: dict[str, Any]
) -> None:
    fake_rounds["without"] = rounds_for([20.1, 21.8, 19.2, 20.9, 22.4, 19.8])
    fake_rounds["with"] = rounds_for([20.7, 19.6, 21.9, 22.8, 20.3, 21.1])
    result = cli("filter", "bench", "a", "--profile", "quick", "--rounds", "6")
    assert result.exit_code == 0, result.stderr
    cpu = next(line for line in result.stdout.splitlines() if line.strip().startswith("CPU per request"))
    assert "within noise (p=0.59)" in cpu
    assert "%" not in cpu.split("within noise")[0].split(")")[-1]
    assert "with a 1.0.0 vs without filter: CPU per request within noise (p=0.59)" in result.stdout
    assert "telling a 5% difference apart takes about" in result.stdout


def test_json_and_record(cli: Cli, benched: CatalogBuilder, fake_rounds: dict[str, Any]) -> None:
    fake_rounds["without"] = rounds_for([16.0, 16.4, 15.9, 16.2, 16.1])
    fake_rounds["with"] = rounds_for([20.1, 20.5, 19.8, 20.3, 20.0])
    result = cli("filter", "bench", "a", "--profile", "quick", "--rounds", "5", "--record", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [v["label"] for v in report["variants"]] == ["without filter", "with a 1.0.0"]
    assert report["variants"][1]["config"] == {"header": "x-test"}
    assert report["variants"][1]["metrics"]["cpu_us_per_request"] == {"median": 20.1, "min": 19.8, "max": 20.5}
    assert report["variants"][1]["rounds"][0]["cpu_us_per_request"] == 20.1
    assert report["comparisons"][0]["overhead"]["cpu_us_per_request"]["significant"] is True
    assert report["recorded"] is True
    assert "recorded in catalog/filters/a/bench.yaml" in result.stderr
    recorded = yaml.safe_load((benched.directory("a") / "bench.yaml").read_text())
    entry = recorded["versions"]["1.0.0"]["quick"]
    assert entry["rounds"] == 5
    assert entry["profile"]["generator"] == "wrk"
    assert entry["with"]["valid_rounds"] == 5
    assert entry["overhead"]["cpu_us_per_request"]["ratio"] == pytest.approx(20.1 / 16.1, rel=1e-4)


def test_invalid_rounds_are_reported_and_not_recorded(
    cli: Cli, benched: CatalogBuilder, fake_rounds: dict[str, Any]
) -> None:
    fake_rounds["without"] = rounds_for([16.0, 16.4])
    fake_rounds["with"] = rounds_for([20.1, 20.5], problem="30000 non-2xx responses (30000 4xx)")
    result = cli("filter", "bench", "a", "--profile", "quick", "--record")
    assert result.exit_code == 1
    assert "with a 1.0.0, round 1: invalid: 30000 non-2xx responses (30000 4xx)" in result.stderr
    assert "not recorded: 2 round(s) were invalid" in result.stderr
    assert "with a 1.0.0 vs without filter: no valid rounds to compare" in result.stdout
    assert not (benched.directory("a") / "bench.yaml").exists()


def test_a_filter_refusing_every_request_stops_the_run(
    cli: Cli, benched: CatalogBuilder, monkeypatch: pytest.MonkeyPatch, fake_rounds: dict[str, Any]
) -> None:
    def refuse(plan: RunPlan, workdir: Path, progress: Progress | None = None) -> dict[str, list[RoundResult]]:
        raise RequestRefused(plan.variants[1].label, "41210 non-2xx responses (41210 4xx)")

    monkeypatch.setattr(bench, "run_rounds", refuse)
    result = cli("filter", "bench", "a", "--profile", "quick")
    assert result.exit_code == 1
    assert (
        "with a 1.0.0 answered none of the benchmark's requests with a 2xx (41210 non-2xx responses (41210 4xx)) "
        "for GET / without headers: give it a request it lets through" in result.stderr
    )


def test_a_generator_failing_in_the_first_round_stops_the_run(
    cli: Cli, benched: CatalogBuilder, monkeypatch: pytest.MonkeyPatch, fake_rounds: dict[str, Any]
) -> None:
    def fail(plan: RunPlan, workdir: Path, progress: Progress | None = None) -> dict[str, list[RoundResult]]:
        raise LoadGenError("wrk exited with status 1: invalid -- timeout")

    monkeypatch.setattr(bench, "run_rounds", fail)
    result = cli("filter", "bench", "a", "--profile", "quick")
    assert result.exit_code == 1
    assert "the load generator cannot run profile 'quick': wrk exited with status 1" in result.stderr


def test_compare_two_versions(cli: Cli, benched: CatalogBuilder, fake_rounds: dict[str, Any]) -> None:
    fake_rounds["no filter"] = rounds_for([16.0, 16.4, 15.9, 16.2])
    fake_rounds["A:"] = rounds_for([18.1, 18.5, 17.8, 18.3])
    fake_rounds["B:"] = rounds_for([18.2, 18.0, 18.6, 17.9])
    result = cli("bench", "compare", "a@1.0.0", "a", "--profile", "quick", "--rounds", "4")
    assert result.exit_code == 0, result.stderr
    header = result.stdout.splitlines()[0]
    for column in ("no filter", "A: a 1.0.0", "B: a 1.0.0", "A / no filter", "B / no filter", "B / A"):
        assert column in header
    assert "B: a 1.0.0 vs A: a 1.0.0: CPU per request within noise" in result.stdout
    assert "A: a 1.0.0 costs 13.0% more CPU per request than no filter (p=0.029)" in result.stdout


# --- real runs -----------------------------------------------------------------------------------


def need(generator: str) -> None:
    """A missing load generator skips a test locally and fails it under CI."""
    require(None if shutil.which(generator) else f"{generator} is not installed (make setup installs it)")


@pytest.mark.slow
@pytest.mark.envoy
def test_bench_with_wrk_end_to_end(cli: Cli, benched: CatalogBuilder, envoy: Envoy) -> None:
    need("wrk")
    result = cli("filter", "bench", "a", "--profile", "quick", "--record", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["generator"].startswith("wrk ")
    assert report["envoy"] == envoy.version
    for variant in report["variants"]:
        assert variant["valid_rounds"] == 2, variant["rounds"]
        metrics = variant["metrics"]
        assert metrics["rps"]["min"] > 100
        assert 0 < metrics["cpu_us_per_request"]["min"] < 10_000
        assert 0 < metrics["latency_p50_ms"]["median"] <= metrics["latency_p99_ms"]["median"] < 1000
        assert 10 < metrics["rss_mib"]["median"] < 2000
    # The wasm VM costs memory: Envoy with the filter holds more than without.
    assert report["variants"][1]["metrics"]["rss_mib"]["median"] > report["variants"][0]["metrics"]["rss_mib"]["median"]
    loaded, findings = benchfile.load_bench(benched.directory("a"), "bench.yaml")
    assert findings == []
    recorded = loaded.versions["1.0.0"]["quick"]
    assert recorded.envoy == envoy.version
    assert recorded.with_filter.valid_rounds == 2
    assert recorded.overhead.cpu_us_per_request is not None
    assert not recorded.overhead.cpu_us_per_request.significant  # 2 rounds never are


@pytest.mark.slow
@pytest.mark.envoy
def test_bench_with_h2load_over_tls(cli: Cli, benched: CatalogBuilder, envoy: Envoy) -> None:
    need("h2load")
    write_profile(benched, "quick-h2-tls", QUICK_H2_TLS)
    result = cli("filter", "bench", "a", "--profile", "quick-h2-tls", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["generator"].startswith("h2load ")
    assert report["settings"]["tls"] is True
    for variant in report["variants"]:
        assert variant["valid_rounds"] == 2, variant["rounds"]
        assert variant["metrics"]["rps"]["min"] > 100
        assert variant["metrics"]["cpu_us_per_request"]["min"] > 0
        assert variant["metrics"]["latency_p90_ms"]["median"] > 0


def _children(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found[int(entry.name)] = name
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _as_at_a_terminal() -> None:
    """In the bench's process: SIGINT at its default, as a shell leaves it for a foreground command.

    A non-interactive shell starts background jobs with SIGINT ignored, and Python keeps an ignored
    SIGINT ignored; the test suite run in the background (`make test &`) would otherwise hand that
    on to the bench, which then never sees the Ctrl-C this test sends.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.envoy
@pytest.mark.parametrize("running", [{"envoy"}, {"envoy", "wrk"}], ids=["envoy-starting", "under-load"])
def test_an_interrupted_bench_stops_at_once_and_leaves_nothing_behind(
    benched: CatalogBuilder, envoy: Envoy, tmp_path: Path, running: set[str]
) -> None:
    need("wrk")
    write_profile(benched, "long", "generator: wrk\nduration: 20\nwarmup: 0\nrounds: 3\nconnections: 2\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "--root", str(benched.root), "filter", "bench", "a", "--profile", "long",
         "--record"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
        preexec_fn=_as_at_a_terminal,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # how long the bench takes to get there: the machine's load
        children: dict[int, str] = {}
        while time.monotonic() < deadline and not running <= set(children.values()):
            time.sleep(0.02)
            children.update(_children(process.pid))
        assert running <= set(children.values()), children
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        stopped = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    # About a second: the load generator is killed, Envoy stopped. Not the 20 s the round would run.
    assert stopped < 5, f"the bench took {stopped:.1f} s to stop after Ctrl-C"
    assert "interrupted: Envoy and the load generator are stopped; nothing was written" in stderr
    assert [pid for pid in children if _alive(pid)] == []
    assert not (benched.directory("a") / "bench.yaml").exists()
    assert list(temp.iterdir()) == []
