"""Loading the catalog from disk: filter directories -> metadata models, with findings.

One broken filter never stops the others from loading: it is kept as an entry without metadata,
with the findings that say why, so `list` and `view` can still show everything else and name it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from generator.metadata import rules
from generator.metadata.benchfile import BENCH_FILE, BenchFile, load_bench
from generator.metadata.cases import CASES_FILE, CasesFile
from generator.metadata.documents import field_finding, validate_document
from generator.metadata.files import KIB, MIB, read_text
from generator.metadata.findings import Finding, Rule
from generator.metadata.layout import FILTERS_DIR, METADATA_FILE, README_FILE, SETTINGS_FILE, TEAMS_FILE
from generator.metadata.model import CatalogSettings, FilterMeta, TeamsFile
from generator.metadata.proofs import PROOFS_FILE, Proofs
from generator.metadata.yamlfile import FieldPath, YamlDocument, read_yaml

MAX_METADATA_BYTES = 256 * KIB
MAX_README_BYTES = 1 * MIB


@dataclass
class FilterEntry:
    """One directory under `catalog/filters/`: its metadata if it loaded, and what was found."""

    name: str
    directory: Path
    display: str  # the directory, relative to the repository root, as findings show it
    meta: FilterMeta | None = None
    document: YamlDocument | None = None
    readme: str | None = None
    cases: CasesFile | None = None  # None when there is no cases.yaml, or it does not load
    cases_document: YamlDocument | None = None
    proofs: Proofs = field(default_factory=Proofs)
    bench: BenchFile | None = None  # bench.yaml, when there is one and it loads
    findings: list[Finding] = field(default_factory=list)

    @property
    def metadata_display(self) -> str:
        return f"{self.display}/{METADATA_FILE}"

    @property
    def cases_display(self) -> str:
        return f"{self.display}/{CASES_FILE}"

    @property
    def broken(self) -> bool:
        return self.meta is None

    def field_finding(self, rule: type[Rule], path: FieldPath, message: str, *, key: bool = False) -> Finding:
        """A finding in this filter's `filter.yaml` at the field `path`."""
        return field_finding(rule, self.metadata_display, self.document, path, message, key=key)

    def cases_finding(self, rule: type[Rule], path: FieldPath, message: str) -> Finding:
        """A finding in this filter's `cases.yaml` at the field `path`."""
        return field_finding(rule, self.cases_display, self.cases_document, path, message)


@dataclass
class Catalog:
    """Every filter entry, by name, the catalog-wide settings, and findings about the whole."""

    root: Path
    entries: dict[str, FilterEntry] = field(default_factory=dict)
    settings: CatalogSettings | None = None
    teams: TeamsFile | None = None  # None when the catalog has no teams file (then team owners are not checked)
    findings: list[Finding] = field(default_factory=list)

    @property
    def filters_dir(self) -> Path:
        return self.root / FILTERS_DIR

    def loaded(self) -> list[FilterEntry]:
        return [e for e in self.entries.values() if not e.broken]

    def broken(self) -> list[FilterEntry]:
        return [e for e in self.entries.values() if e.broken]


def load_catalog(root: Path, names: Iterable[str] | None = None, *, metadata_only: bool = False) -> Catalog:
    """Load every filter (or only `names`) of the catalog at repository root `root`.

    With `metadata_only`, each filter's `filter.yaml` alone (see `load_filter`).
    """
    catalog = Catalog(root=root)
    catalog.settings, catalog.findings = load_settings(root)
    catalog.teams, teams_findings = load_teams(root)
    catalog.findings += teams_findings
    filters_dir = catalog.filters_dir
    if names is not None:
        wanted = sorted(set(names))
    else:
        wanted = sorted(os.listdir(filters_dir)) if filters_dir.is_dir() else []
    for name in wanted:
        if name.startswith("."):
            continue
        path = filters_dir / name
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_symlink() or not path.is_dir():
            catalog.findings.append(
                rules.StrayEntry.at(
                    (FILTERS_DIR / name).as_posix(),
                    "expected a filter directory, got " + ("a symlink" if path.is_symlink() else "a file"),
                )
            )
            continue
        catalog.entries[name] = load_filter(root, name, metadata_only=metadata_only)
    return catalog


def load_settings(root: Path) -> tuple[CatalogSettings | None, list[Finding]]:
    """`catalog/catalog.yaml`, the catalog-wide settings."""
    display = SETTINGS_FILE.as_posix()
    document, findings = read_yaml(root / SETTINGS_FILE, display, MAX_METADATA_BYTES)
    if document is None or findings:
        return None, findings
    return validate_document(CatalogSettings, document)


def load_teams(root: Path) -> tuple[TeamsFile | None, list[Finding]]:
    """`catalog/teams.yaml`: the teams owners may name, and the maintainers. (None, []) when absent."""
    display = TEAMS_FILE.as_posix()
    if not (root / TEAMS_FILE).exists() and not (root / TEAMS_FILE).is_symlink():
        return None, []
    document, findings = read_yaml(root / TEAMS_FILE, display, MAX_METADATA_BYTES)
    if document is None or findings:
        return None, findings
    return validate_document(TeamsFile, document)


def load_filter(root: Path, name: str, directory: Path | None = None, *, metadata_only: bool = False) -> FilterEntry:
    """Load one filter directory: its `filter.yaml` into the model, its cases, proofs, bench and README.

    `directory` overrides where the files are read from (a staging copy), while findings still
    name the filter's place in the catalog. With `metadata_only`, only `filter.yaml` is read (what
    a listing shows); the other files are left unread, not reported.
    """
    directory = directory or root / FILTERS_DIR / name
    entry = FilterEntry(name=name, directory=directory, display=(FILTERS_DIR / name).as_posix())
    document, findings = read_yaml(directory / METADATA_FILE, entry.metadata_display, MAX_METADATA_BYTES)
    entry.findings += findings
    entry.document = document
    if document is not None and not findings:
        entry.meta, findings = validate_document(FilterMeta, document)
        entry.findings += findings
    if metadata_only:
        return entry
    cases_path = directory / CASES_FILE
    if cases_path.exists() or cases_path.is_symlink():
        cases_document, findings = read_yaml(cases_path, entry.cases_display, MAX_METADATA_BYTES)
        entry.findings += findings
        entry.cases_document = cases_document
        if cases_document is not None and not findings:
            entry.cases, findings = validate_document(CasesFile, cases_document)
            entry.findings += findings
    proofs_path = directory / PROOFS_FILE
    if proofs_path.exists() or proofs_path.is_symlink():
        proofs_display = f"{entry.display}/{PROOFS_FILE}"
        proofs_document, findings = read_yaml(proofs_path, proofs_display, MAX_METADATA_BYTES)
        entry.findings += findings
        if proofs_document is not None and not findings:
            proofs, findings = validate_document(Proofs, proofs_document)
            entry.findings += findings
            entry.proofs = proofs or Proofs()
    entry.bench, findings = load_bench(directory, f"{entry.display}/{BENCH_FILE}")
    entry.findings += findings
    readme_display = f"{entry.display}/{README_FILE}"
    readme, readme_findings = read_text(directory / README_FILE, readme_display, MAX_README_BYTES)
    entry.readme = readme
    entry.findings += readme_findings
    return entry
