"""`catalog filter test NAME[@VERSION]`: prove a version in the sandbox and in a real Envoy.

The work is `generator.proof.prove`'s; this module picks the filter and version, finds Envoy, and
records the proof in `proofs.yaml` when asked and every case passed.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

from generator.binaries.obtain import BinaryOptions
from generator.binaries.store import BinaryStore
from generator.envoy.locate import EnvoyMissing, find_envoy
from generator.metadata.errors import CatalogError
from generator.metadata.findings import Severity
from generator.metadata.lookup import load_one, pick_version, require_loaded, split_spec
from generator.proof.in_envoy import CaseResult
from generator.proof.prove import ProofReport, prove_version, record_proof


def prove_filter(
    root: Path,
    store: BinaryStore,
    spec: str,
    options: BinaryOptions,
    *,
    record: bool = False,
    progress: Callable[[CaseResult], None] | None = None,
) -> ProofReport:
    """`catalog filter test`: run one version; with `record`, write its proof when every case passed."""
    name, version = split_spec(spec)
    _, entry = load_one(root, name)
    require_loaded(entry)
    errors = [f for f in entry.findings if f.severity is Severity.ERROR]
    if errors:
        raise CatalogError("\n".join(f.format() for f in errors))
    index, _ = pick_version(entry, version)
    try:
        envoy = find_envoy()
    except EnvoyMissing as err:
        raise CatalogError(str(err)) from None
    report, findings = prove_version(entry, index, store, options, envoy, progress)
    if report is None:
        raise CatalogError("\n".join(f.format() for f in findings) or f"no binary for {spec}")
    if record and report.passed:
        record_proof(entry, report, datetime.datetime.now(datetime.UTC).date())
    return report
