"""`proofs.yaml`: one run per Envoy release and the sandbox's figures; records from before read as one run."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any, cast

from generator.metadata.proofs import Proofs, VersionProof
from generator.proof.prove import ProofReport, merged_proof
from generator.wasm.sandbox import SandboxReport

SHA = "a" * 64
OTHER = "b" * 64


def run(envoy: str, passed: bool = True, date: str = "2026-12-01") -> dict[str, Any]:
    return {
        "envoy": envoy,
        "runtime": "envoy.wasm.runtime.v8",
        "date": date,
        "cases": [{"name": "smoke", "passed": passed}],
    }


def test_a_record_from_before_the_matrix_reads_as_one_run() -> None:
    flat = {**run("1.40.0"), "sha256": SHA, "start_fuel": 10, "fuel_per_request": 7}
    proof = Proofs.model_validate({"versions": {"1.0.0": flat}}).versions["1.0.0"]
    assert [r.envoy for r in proof.runs] == ["1.40.0"]
    assert proof.sandbox is None  # the old figure was the last request's, not a steady state: not kept
    assert (proof.envoy, proof.runtime, proof.date, proof.passed) == (
        "1.40.0",
        "envoy.wasm.runtime.v8",
        "2026-12-01",
        True,
    )


def test_the_newest_envoy_is_the_one_shown_and_every_run_must_pass() -> None:
    proof = VersionProof.model_validate({"sha256": SHA, "runs": [run("1.38.2", passed=False), run("1.40.0")]})
    assert proof.envoy == "1.40.0"
    assert [r.envoy for r in proof.ordered_runs()] == ["1.40.0", "1.38.2"]
    assert not proof.passed


def report(sha256: str, envoy: str) -> ProofReport:
    sandbox = SandboxReport(ok=True, problem=None, phase=None, start_fuel=1, requests=(), logs=())
    return ProofReport("f", "1.0.0", sha256, cast(Any, SimpleNamespace(version=envoy)), sandbox, [])


def test_a_run_replaces_the_same_releases_and_keeps_the_others_for_the_same_binary() -> None:
    before = VersionProof.model_validate({"sha256": SHA, "runs": [run("1.40.0", passed=False), run("1.39.1")]})
    today = datetime.date(2026, 12, 6)
    after = merged_proof(before, report(SHA, "1.40.0"), today)
    assert sorted((r.envoy, r.date) for r in after.runs) == [("1.39.1", "2026-12-01"), ("1.40.0", "2026-12-06")]
    rebuilt = merged_proof(before, report(OTHER, "1.40.0"), today)
    assert [r.envoy for r in rebuilt.runs] == ["1.40.0"]  # another binary: the old runs proved nothing about it
