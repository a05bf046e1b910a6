"""Proving one version of a filter: its binary checked, run in the sandbox, and its cases in Envoy.

Used by `catalog filter test` and `catalog validate --deep`; the result becomes terminal output,
findings, and (when asked) the version's entry in `proofs.yaml`.
"""

from __future__ import annotations

import datetime
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import semver
import yaml

from generator.binaries.obtain import BinaryOptions, check_version_binary, obtain
from generator.binaries.store import BinaryStore
from generator.envoy.config import plugin_config_text
from generator.envoy.locate import WASM_RUNTIME, Envoy
from generator.metadata import rules
from generator.metadata.files import write_atomic
from generator.metadata.findings import Finding, Severity
from generator.metadata.loader import FilterEntry
from generator.metadata.proofs import HEADER, PROOFS_FILE, CaseProof, EnvoyRun, Proofs, SandboxProof, VersionProof
from generator.proof.in_envoy import CaseResult, run_cases
from generator.wasm.sandbox import SandboxReport, run_sandbox


@dataclass
class ProofReport:
    """Everything one run found out about one version."""

    name: str
    version: str
    sha256: str  # of the binary that ran
    envoy: Envoy
    sandbox: SandboxReport
    results: list[CaseResult]
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.sandbox.ok
            and all(result.passed for result in self.results)
            and not any(f.severity is Severity.ERROR for f in self.findings)
        )

    def run(self, today: datetime.date) -> EnvoyRun:
        """This run's cases in its Envoy."""
        cases = [CaseProof(name=r.name, passed=r.passed) for r in self.results]
        return EnvoyRun(envoy=self.envoy.version, runtime=WASM_RUNTIME, date=today.isoformat(), cases=cases)

    def sandbox_proof(self) -> SandboxProof | None:
        sandbox = self.sandbox
        if not sandbox.ok or sandbox.fuel_per_request is None or sandbox.fuel_range is None:
            return None
        assert sandbox.first_request_fuel is not None
        assert sandbox.memory_growth_per_request is not None
        return SandboxProof(
            start_fuel=sandbox.start_fuel,
            first_request_fuel=sandbox.first_request_fuel,
            fuel_per_request=sandbox.fuel_per_request,
            fuel_min=sandbox.fuel_range[0],
            fuel_max=sandbox.fuel_range[1],
            requests=len(sandbox.requests),
            memory_growth_per_request=round(sandbox.memory_growth_per_request, 1),
        )


def prove_version(
    entry: FilterEntry,
    index: int,
    store: BinaryStore,
    options: BinaryOptions,
    envoy: Envoy,
    progress: Callable[[CaseResult], None] | None = None,
) -> tuple[ProofReport | None, list[Finding]]:
    """Obtain, check, sandbox and run the cases of version `index` of a loaded filter.

    Returns None (and the findings that say why) when the binary cannot be had.
    """
    assert entry.meta is not None
    meta = entry.meta
    version = meta.versions[index]
    newest = index == len(meta.versions) - 1
    data, findings = obtain(entry, index, version, store, options, is_newest=newest)
    if data is None:
        return None, findings
    findings += check_version_binary(entry, index, version, data)
    default = meta.config.examples[0].value
    services = {
        cluster.name: (cluster.response.status, dict(cluster.response.headers), cluster.response.body.encode("utf-8"))
        for cluster in (entry.cases.clusters if entry.cases else [])
    }
    sandbox = run_sandbox(
        data,
        plugin_config_text(default).encode("utf-8"),
        plugin_name=meta.name,
        root_id=meta.envoy.root_id or "",
        services=services,
    )
    with tempfile.TemporaryDirectory(prefix=f"catalog-test-{entry.name}-") as tmp:
        wasm_path = Path(tmp) / f"{entry.name}-{version.version}.wasm"
        wasm_path.write_bytes(data)
        results = run_cases(envoy, meta, entry.cases, wasm_path, version.sha256, version.kind, Path(tmp), progress)
    sha256 = hashlib.sha256(data).hexdigest()
    return ProofReport(entry.name, version.version, sha256, envoy, sandbox, results, findings), findings


def merged_proof(previous: VersionProof | None, report: ProofReport, today: datetime.date) -> VersionProof:
    """The version's proof after this run: its run replaces the one in the same Envoy release; the
    runs in other releases are kept if they proved the same binary."""
    kept = [
        run
        for run in (previous.runs if previous is not None and previous.sha256 == report.sha256 else [])
        if run.envoy != report.envoy.version
    ]
    return VersionProof(sha256=report.sha256, sandbox=report.sandbox_proof(), runs=[report.run(today), *kept])


def record_proof(entry: FilterEntry, report: ProofReport, today: datetime.date) -> None:
    """Write the version's proof into `proofs.yaml`, keeping the other versions' proofs."""
    versions = dict(entry.proofs.versions)
    proof = merged_proof(versions.get(report.version), report, today)
    versions[report.version] = proof.model_copy(update={"runs": proof.ordered_runs()})
    proofs = Proofs(versions=dict(sorted(versions.items(), key=lambda item: semver.Version.parse(item[0]))))
    text = HEADER + yaml.safe_dump(proofs.model_dump(mode="json", exclude_none=True), sort_keys=False)
    write_atomic(entry.directory / PROOFS_FILE, text)


def report_findings(entry: FilterEntry, index: int, report: ProofReport) -> list[Finding]:
    """The run as findings: a failed case at its place in cases.yaml, the smoke case at the version."""
    findings: list[Finding] = []
    if not report.sandbox.ok:
        message = f"sandbox: {report.sandbox.problem}"  # the problem names the callback and the request
        findings.append(entry.field_finding(rules.SandboxProblem, ("versions", index), message))
    for cluster in report.sandbox.undeclared_clusters:
        message = (
            f"the filter calls out to cluster '{cluster}', which cases.yaml does not declare: add it under "
            "clusters: (name, and what its stand-in answers) so the cases can run"
        )
        if entry.cases is not None:
            findings.append(entry.cases_finding(rules.UndeclaredCluster, (), message))
        else:
            findings.append(entry.field_finding(rules.UndeclaredCluster, ("versions", index), message))
    declared = {case.name: i for i, case in enumerate(entry.cases.cases)} if entry.cases else {}
    for result in report.results:
        if result.passed:
            continue
        refused = result.failures == ["Envoy refused to load the filter"]
        rule = rules.EnvoyRefused if refused else rules.CaseFailed
        # One line, as every finding is; Envoy's own lines follow after " | ".
        detail = " | ".join([*result.failures, *(f"envoy: {line}" for line in result.log)])
        message = f"case '{result.name}' in Envoy {report.envoy.version}: {detail}"
        if result.name in declared:
            findings.append(entry.cases_finding(rule, ("cases", declared[result.name]), message))
        else:
            findings.append(entry.field_finding(rule, ("versions", index), message))
    return findings
