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
from generator.metadata.proofs import HEADER, PROOFS_FILE, CaseProof, Proofs, VersionProof
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

    def proof(self, today: datetime.date) -> VersionProof:
        return VersionProof(
            sha256=self.sha256,
            envoy=self.envoy.version,
            runtime=WASM_RUNTIME,
            date=today.isoformat(),
            cases=[CaseProof(name=r.name, passed=r.passed) for r in self.results],
            start_fuel=self.sandbox.start_fuel if self.sandbox.ok else None,
            fuel_per_request=self.sandbox.fuel_per_request if self.sandbox.ok else None,
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
    sandbox = run_sandbox(
        data, plugin_config_text(default).encode("utf-8"), plugin_name=meta.name, root_id=meta.envoy.root_id or ""
    )
    with tempfile.TemporaryDirectory(prefix=f"catalog-test-{entry.name}-") as tmp:
        wasm_path = Path(tmp) / f"{entry.name}-{version.version}.wasm"
        wasm_path.write_bytes(data)
        results = run_cases(envoy, meta, entry.cases, wasm_path, version.sha256, version.kind, Path(tmp), progress)
    sha256 = hashlib.sha256(data).hexdigest()
    return ProofReport(entry.name, version.version, sha256, envoy, sandbox, results, findings), findings


def record_proof(entry: FilterEntry, report: ProofReport, today: datetime.date) -> None:
    """Write the version's proof into `proofs.yaml`, keeping the other versions' proofs."""
    versions = dict(entry.proofs.versions)
    versions[report.version] = report.proof(today)
    proofs = Proofs(versions=dict(sorted(versions.items(), key=lambda item: semver.Version.parse(item[0]))))
    text = HEADER + yaml.safe_dump(proofs.model_dump(mode="json", exclude_none=True), sort_keys=False)
    write_atomic(entry.directory / PROOFS_FILE, text)


def report_findings(entry: FilterEntry, index: int, report: ProofReport) -> list[Finding]:
    """The run as findings: a failed case at its place in cases.yaml, the smoke case at the version."""
    findings: list[Finding] = []
    if not report.sandbox.ok:
        message = f"sandbox, {report.sandbox.phase}: {report.sandbox.problem}"
        findings.append(entry.field_finding(rules.SandboxProblem, ("versions", index), message))
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
