"""What several commands share: errors with exit codes, finding a filter by name, reading a config."""

from __future__ import annotations

import json
from pathlib import Path

import semver

from generator.metadata.checks import check_metadata
from generator.metadata.files import MIB, read_user_file
from generator.metadata.findings import Finding, Severity
from generator.metadata.loader import Catalog, FilterEntry, load_catalog, load_filter, load_teams
from generator.metadata.model import Version
from generator.metadata.rules import MissingSource


class CommandError(Exception):
    """The command cannot do what was asked. Exit status 1 (2 for usage errors)."""

    exit_code = 1


class UsageError(CommandError):
    """An argument is wrong: unknown name, ambiguous prefix, malformed value. Exit status 2."""

    exit_code = 2


class FindingsError(CommandError):
    """Refused for reasons that are findings; the CLI prints the headline, then each finding."""

    def __init__(self, headline: str, findings: list[Finding]) -> None:
        super().__init__(headline)
        self.findings = findings


def staged_errors(root: Path, name: str, staging: Path) -> list[Finding]:
    """The errors the staged directory would have as filter `name` (a missing source is allowed:
    a freshly imported local file has none yet)."""
    entry = load_filter(root, name, directory=staging)
    teams, _ = load_teams(root)
    findings = entry.findings + check_metadata(entry, teams)
    return [f for f in findings if f.severity is Severity.ERROR and f.rule is not MissingSource]


def resolve_name(catalog: Catalog, wanted: str) -> FilterEntry:
    """The filter called `wanted`, or the only one whose name starts with it."""
    if wanted in catalog.entries:
        return catalog.entries[wanted]
    candidates = sorted(name for name in catalog.entries if name.startswith(wanted))
    if len(candidates) == 1:
        return catalog.entries[candidates[0]]
    if not candidates:
        raise UsageError(f"no filter named '{wanted}' (see `catalog filter list`)")
    raise UsageError(f"'{wanted}' is ambiguous; it matches: {', '.join(candidates)}")


def load_one(root: Path, wanted: str) -> tuple[Catalog, FilterEntry]:
    catalog = load_catalog(root)
    return catalog, resolve_name(catalog, wanted)


def require_loaded(entry: FilterEntry) -> None:
    """Refuse to change a filter whose metadata does not load; say where to look."""
    if entry.broken:
        lines = "\n".join(f.format() for f in entry.findings)
        raise CommandError(f"{entry.metadata_display} does not load; fix it first:\n{lines}")


def parse_config(value: str) -> object:
    """A plugin configuration from `--config`: a path to a JSON file, or JSON text."""
    if not value.strip():
        raise UsageError("--config: expected JSON text or a JSON file, got an empty string")
    path = Path(value)
    if not value.lstrip().startswith(("{", "[", '"')) and path.is_file():
        data, findings = read_user_file(path, 1 * MIB)
        if data is None:
            raise FindingsError("--config: the file cannot be read", findings)
        text, source = data.decode("utf-8", "replace"), str(path)
    else:
        text, source = value, "--config"
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise UsageError(f"{source}:{err.lineno}:{err.colno}: expected JSON, got: {err.msg}") from None
    except ValueError as err:
        raise UsageError(f"{source}: expected JSON numbers, got {err}") from None


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} (not part of JSON)")


def split_spec(spec: str) -> tuple[str, str | None]:
    """`name@1.2.0` -> ("name", "1.2.0"); `name` -> ("name", None)."""
    name, _, version = spec.partition("@")
    if "@" in spec and not semver.Version.is_valid(version):
        raise UsageError(f"NAME[@VERSION]: '{version}' is not a semantic version (expected e.g. 1.2.0)")
    return name, version or None


def pick_version(entry: FilterEntry, version: str | None) -> tuple[int, Version]:
    """The requested version, or the latest one that is not yanked."""
    assert entry.meta is not None
    if version is None:
        latest = entry.meta.latest
        return entry.meta.versions.index(latest), latest
    for index, candidate in enumerate(entry.meta.versions):
        if candidate.version == version:
            return index, candidate
    known = ", ".join(v.version for v in entry.meta.versions)
    raise UsageError(f"filter '{entry.name}' has no version {version} (it has: {known})")
