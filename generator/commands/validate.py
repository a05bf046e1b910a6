"""`catalog validate [PATH...]`: every check, on the whole catalog or on some filters.

Cheap checks (files, YAML, the model, cross-field rules) run first for every filter; then each
version's binary is obtained and inspected. All findings are collected; the CLI fails once at the
end if any is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from generator.binaries import BinaryOptions, check_binaries
from generator.checks import check_metadata
from generator.commands.common import UsageError
from generator.findings import Findings
from generator.gitrepo import GitError, changed_filters
from generator.loader import FILTERS_DIR, load_catalog
from generator.store import BinaryStore

Progress = Callable[[str], None]  # called with each filter's name as its binaries are checked


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
        elif (filters_dir / raw).exists() or (filters_dir / raw).is_symlink():
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
) -> ValidateReport:
    """Check the catalog (or the filters named by `paths` / changed since a git ref).

    `binaries` says where binaries may come from; None checks metadata only.
    """
    wanted: set[str] | None = None
    paths = list(paths)
    if paths:
        wanted = set(filter_names_for_paths(root, paths))
    if changed_since is not None:
        try:
            changed = changed_filters(root, changed_since)
        except GitError as err:
            raise UsageError(f"--changed-since: {err}") from None
        wanted = changed if wanted is None else wanted & changed
    catalog = load_catalog(root, wanted)
    report = ValidateReport()
    report.findings.extend(catalog.findings)
    for entry in catalog.entries.values():
        report.checked.append(entry.name)
        report.findings.extend(entry.findings)
        report.findings.extend(check_metadata(entry))
    if binaries is not None:
        for entry in catalog.loaded():
            if progress is not None:
                progress(entry.name)
            report.findings.extend(check_binaries(entry, store, binaries))
    return report
