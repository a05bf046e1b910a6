"""Loading the catalog from disk: filter directories -> metadata models, with findings.

One broken filter never stops the others from loading: it is kept as an entry without metadata,
with the findings that say why, so `list` and `view` can still show everything else and name it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from generator.metadata import rules
from generator.metadata.cases import CASES_FILE, CasesFile
from generator.metadata.files import KIB, MIB, read_text
from generator.metadata.findings import Finding
from generator.metadata.model import CatalogSettings, FilterMeta, TeamsFile
from generator.metadata.proofs import PROOFS_FILE, Proofs
from generator.metadata.yamlfile import FieldPath, YamlDocument, format_path, json_type, read_yaml

FILTERS_DIR = Path("catalog") / "filters"
SETTINGS_FILE = Path("catalog") / "catalog.yaml"
TEAMS_FILE = Path("catalog") / "teams.yaml"
METADATA_FILE = "filter.yaml"
README_FILE = "README.md"
MAX_METADATA_BYTES = 256 * KIB
MAX_README_BYTES = 1 * MIB

if TYPE_CHECKING:
    from generator.perf.results import BenchFile

M = TypeVar("M", bound=BaseModel)


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

    def field_finding(self, rule: type[rules.Rule], path: FieldPath, message: str, *, key: bool = False) -> Finding:
        """A finding in this filter's `filter.yaml` at the field `path`."""
        return _field_finding(rule, self.metadata_display, self.document, path, message, key=key)

    def cases_finding(self, rule: type[rules.Rule], path: FieldPath, message: str) -> Finding:
        """A finding in this filter's `cases.yaml` at the field `path`."""
        return _field_finding(rule, self.cases_display, self.cases_document, path, message)


def _field_finding(
    rule: type[rules.Rule],
    display: str,
    document: YamlDocument | None,
    path: FieldPath,
    message: str,
    *,
    key: bool = False,
) -> Finding:
    position = document.position(path, key=key) if document else None
    return rule.at(display, message, field=format_path(path), position=position)


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


def load_catalog(root: Path, names: Iterable[str] | None = None) -> Catalog:
    """Load every filter (or only `names`) of the catalog at repository root `root`."""
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
        catalog.entries[name] = load_filter(root, name)
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


def load_filter(root: Path, name: str, directory: Path | None = None) -> FilterEntry:
    """Load one filter directory: its `filter.yaml` into the model, and its README.

    `directory` overrides where the files are read from (a staging copy), while findings still
    name the filter's place in the catalog.
    """
    directory = directory or root / FILTERS_DIR / name
    entry = FilterEntry(name=name, directory=directory, display=(FILTERS_DIR / name).as_posix())
    document, findings = read_yaml(directory / METADATA_FILE, entry.metadata_display, MAX_METADATA_BYTES)
    entry.findings += findings
    entry.document = document
    if document is not None and not findings:
        entry.meta, findings = validate_document(FilterMeta, document)
        entry.findings += findings
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
    # Imported here: generator.perf.results reads its file through this module's validate_document.
    from generator.perf.results import BENCH_FILE, load_bench

    entry.bench, findings = load_bench(directory, f"{entry.display}/{BENCH_FILE}")
    entry.findings += findings
    readme_display = f"{entry.display}/{README_FILE}"
    readme, readme_findings = read_text(directory / README_FILE, readme_display, MAX_README_BYTES)
    entry.readme = readme
    entry.findings += readme_findings
    return entry


def validate_document(model: type[M], document: YamlDocument) -> tuple[M | None, list[Finding]]:
    """The document's data as `model`, or None and a finding per problem, each at its field's line."""
    if not isinstance(document.data, dict):
        message = f"expected a mapping of fields, got {_type_name(document.data)}"
        return None, [rules.YamlSyntax.at(document.display, message, position=document.position(()))]
    try:
        return model.model_validate(document.data), []
    except ValidationError as err:
        return None, [_finding_from_error(model, document, error) for error in err.errors(include_url=False)]


def _finding_from_error(model: type[BaseModel], document: YamlDocument, error: Any) -> Finding:
    """Turn one pydantic error into a finding at the field's line, with expected and received."""
    loc: FieldPath = tuple(part for part in error["loc"] if isinstance(part, (str, int)))
    kind: str = error["type"]

    def at(rule: type[rules.Rule], message: str, *, key: bool = False) -> Finding:
        return _field_finding(rule, document.display, document, loc, message, key=key)

    rule = next((r for r in rules.all_rules() if r.id == kind), None)
    if rule is not None:
        return at(rule, error["msg"])
    if kind == "extra_forbidden":
        parent = _model_fields_at(model, loc[:-1])
        hint = f" (expected one of: {', '.join(parent)})" if parent else ""
        return at(rules.UnknownField, f"unknown field{hint}", key=True)
    if kind == "missing":
        return at(rules.MissingField, "required field is missing")
    return at(rules.InvalidValue, _expected_got(kind, error))


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
}


def _expected_got(kind: str, error: Any) -> str:
    value = error.get("input")
    ctx = error.get("ctx") or {}
    got = f"{_type_name(value)} {_short(value)}".strip()
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx.get('expected', '')}, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    if kind in ("string_too_long", "string_too_short"):
        limit = ctx.get("max_length", ctx.get("min_length"))
        side = "at most" if kind == "string_too_long" else "at least"
        return f"expected {side} {limit} characters, got {len(value) if isinstance(value, str) else got}"
    if kind == "string_pattern_mismatch":
        return f"expected text matching {ctx.get('pattern')}, got {_short(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{error['msg'].lower().replace('input should be', 'expected a value')}, got {_short(value)}"
    return f"{error['msg']}, got {got}"


_TYPE_WORDS = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
}


def _type_name(value: object) -> str:
    kind = json_type(value)
    return _TYPE_WORDS.get(kind, kind)


def _short(value: object) -> str:
    """The value as YAML would show it, shortened; collections are described by their type alone."""
    if isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _model_fields_at(root: type[BaseModel], path: FieldPath) -> list[str]:
    """The field names the model allows at `path` (to suggest them after an unknown field)."""
    model: Any = root
    for part in path:
        if isinstance(part, int):
            continue
        field_info = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field_info is None:
            return []
        model = _model_in(field_info.annotation)
        if model is None:
            return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_in(annotation: Any) -> Any:
    """The pydantic model class inside `annotation` (`X`, `X | None`, `list[X]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def find_repo_root(start: Path) -> Path:
    """The nearest directory at or above `start` that holds `catalog/`; `start` if there is none."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "catalog").is_dir():
            return candidate
    return start
