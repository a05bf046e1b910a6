"""`catalog validate [PATH...]`: every check, on the whole catalog or on some filters.

Cheap checks (files, YAML, the model, cross-field rules) run first for every filter; then each
version's binary is obtained and inspected. All findings are collected; the CLI fails once at the
end if any is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from generator.binaries.obtain import BinaryOptions, check_binaries
from generator.binaries.store import BinaryStore
from generator.envoy.locate import EnvoyMissing, find_envoy
from generator.gitops.gitrepo import GitError
from generator.gitops.gitrepo import changed_since as changed_since_ref
from generator.metadata import rules
from generator.metadata.checks import check_filter_files, check_metadata
from generator.metadata.errors import UsageError
from generator.metadata.files import list_tree
from generator.metadata.findings import Findings, Severity
from generator.metadata.layout import FILTERS_DIR
from generator.metadata.loader import FilterEntry, load_catalog
from generator.proof.prove import prove_version, report_findings

Progress = Callable[[str], None]  # called with what is being checked, as it starts


@dataclass
class ValidateReport:
    checked: list[str] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)


def filter_names_for_paths(root: Path, paths: Iterable[str]) -> list[str]:
    """Filter names for command-line paths: a filter's directory, a file in it, or a bare name."""
    filters_dir = (root / FILTERS_DIR).resolve()
    out = []
    for raw in paths:
        candidate = Path(raw)
        resolved = (candidate if candidate.is_absolute() else Path.cwd() / candidate).resolve()
        if resolved.is_relative_to(filters_dir) and resolved != filters_dir:
            out.append(resolved.relative_to(filters_dir).parts[0])
        elif resolved == filters_dir or resolved == root.resolve():
            out.extend(p.name for p in filters_dir.iterdir() if not p.name.startswith("."))
        elif (
            "/" not in raw
            and raw not in ("", ".", "..")
            and ((filters_dir / raw).exists() or (filters_dir / raw).is_symlink())
        ):
            out.append(raw)
        else:
            raise UsageError(f"PATH: '{raw}' is neither a filter name nor a path under {FILTERS_DIR}")
    return sorted(set(out))


def validate(
    root: Path,
    store: BinaryStore,
    paths: Iterable[str] = (),
    changed_since: str | None = None,
    binaries: BinaryOptions | None = None,
    progress: Progress | None = None,
    *,
    deep: bool = False,
) -> ValidateReport:
    """Check the catalog (or the filters named by `paths` / changed since a git ref).

    `binaries` says where binaries may come from; None checks metadata only. `deep` also proves
    the newest version of each filter without errors: sandbox, then its behaviour cases in Envoy.
    """
    wanted: set[str] | None = None
    paths = list(paths)
    if paths:
        wanted = set(filter_names_for_paths(root, paths))
    if changed_since is not None:
        try:
            change = changed_since_ref(root, changed_since)
        except GitError as err:
            raise UsageError(f"--changed-since: {err}") from None
        if not change.affects_all:
            wanted = set(change.filters) if wanted is None else wanted & change.filters
    catalog = load_catalog(root, wanted)
    report = ValidateReport()
    report.findings.extend(catalog.findings)
    clean: list[FilterEntry] = []  # filters without errors so far: the ones worth proving in Envoy
    for entry in catalog.entries.values():
        report.checked.append(entry.name)
        findings = entry.findings + check_metadata(entry, catalog.teams)
        findings += check_filter_files(entry.display, list_tree(entry.directory))
        if binaries is not None and entry.meta is not None:
            if progress is not None:
                progress(f"{entry.name}: binaries")
            findings += check_binaries(entry, store, binaries)
        report.findings.extend(findings)
        if entry.meta is not None and not any(f.severity is Severity.ERROR for f in findings):
            clean.append(entry)
    if deep and binaries is not None:
        _prove_newest(clean, report, store, binaries, progress)
    return report


def _prove_newest(
    entries: list[FilterEntry],
    report: ValidateReport,
    store: BinaryStore,
    binaries: BinaryOptions,
    progress: Progress | None,
) -> None:
    """Run the sandbox and the behaviour cases of the recommended version of each filter."""
    try:
        envoy = find_envoy()
    except EnvoyMissing as err:
        report.findings.add(rules.EnvoyUnavailable.at(FILTERS_DIR.as_posix(), f"behaviour cases not run: {err}"))
        return
    for entry in entries:
        assert entry.meta is not None
        if progress is not None:
            progress(f"{entry.name}: behaviour cases in Envoy {envoy.version}")
        index = entry.meta.versions.index(entry.meta.latest)  # the newest version that is not yanked
        run, _ = prove_version(entry, index, store, binaries, envoy)  # binary findings were reported above
        if run is not None:
            report.findings.extend(report_findings(entry, index, run))
