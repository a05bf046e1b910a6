"""Loading the catalog from disk: filter directories -> metadata models, with findings.

One broken filter never stops the others from loading: it is kept as an entry without metadata,
with the findings that say why, so `list` and `view` can still show everything else and name it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from generator import rules
from generator.files import KIB, MIB, read_text
from generator.findings import Finding
from generator.model import FilterMeta
from generator.yamlfile import FieldPath, YamlDocument, format_path, json_type, read_yaml

FILTERS_DIR = Path("catalog") / "filters"
METADATA_FILE = "filter.yaml"
README_FILE = "README.md"
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
    findings: list[Finding] = field(default_factory=list)

    @property
    def metadata_display(self) -> str:
        return f"{self.display}/{METADATA_FILE}"

    @property
    def broken(self) -> bool:
        return self.meta is None

    def field_finding(self, rule: type[rules.Rule], path: FieldPath, message: str, *, key: bool = False) -> Finding:
        """A finding in this filter's `filter.yaml` at the field `path`."""
        position = self.document.position(path, key=key) if self.document else None
        return rule.at(self.metadata_display, message, field=format_path(path), position=position)


@dataclass
class Catalog:
    """Every filter entry, by name, and findings about the catalog as a whole."""

    root: Path
    entries: dict[str, FilterEntry] = field(default_factory=dict)
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
        entry.meta = _validate_model(entry, document)
    readme_display = f"{entry.display}/{README_FILE}"
    readme, readme_findings = read_text(directory / README_FILE, readme_display, MAX_README_BYTES)
    entry.readme = readme
    entry.findings += readme_findings
    return entry


def _validate_model(entry: FilterEntry, document: YamlDocument) -> FilterMeta | None:
    if not isinstance(document.data, dict):
        entry.findings.append(
            rules.YamlSyntax.at(
                entry.metadata_display,
                f"expected a mapping of fields, got {_type_name(document.data)}",
                position=document.position(()),
            )
        )
        return None
    try:
        return FilterMeta.model_validate(document.data)
    except ValidationError as err:
        for error in err.errors(include_url=False):
            entry.findings.append(_finding_from_error(entry, error))
        return None


def _finding_from_error(entry: FilterEntry, error: Any) -> Finding:
    """Turn one pydantic error into a finding at the field's line, with expected and received."""
    loc: FieldPath = tuple(part for part in error["loc"] if isinstance(part, (str, int)))
    kind: str = error["type"]
    rule = next((r for r in rules.all_rules() if r.id == kind), None)
    if rule is not None:
        return entry.field_finding(rule, loc, error["msg"])
    if kind == "extra_forbidden":
        parent = _model_fields_at(loc[:-1])
        hint = f" (expected one of: {', '.join(parent)})" if parent else ""
        return entry.field_finding(rules.UnknownField, loc, f"unknown field{hint}", key=True)
    if kind == "missing":
        return entry.field_finding(rules.MissingField, loc, "required field is missing")
    return entry.field_finding(rules.InvalidValue, loc, _expected_got(kind, error))


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
    got = f"{_type_name(value)} {_short(value)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx.get('expected', '')}, got {_short(value)}"
    if kind in ("too_short", "too_long"):
        return f"{error['msg'].lower()}"
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
    if isinstance(value, (dict, list)):
        return ""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _model_fields_at(path: FieldPath) -> list[str]:
    """The field names the model allows at `path` (to suggest them after an unknown field)."""
    model: Any = FilterMeta
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
