"""Finding what a user named: a filter by name or unique prefix, a version by number or the latest."""

from __future__ import annotations

from pathlib import Path

import semver

from generator.metadata.errors import CatalogError, UsageError
from generator.metadata.loader import Catalog, FilterEntry, load_catalog
from generator.metadata.model import Version


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
        raise CatalogError(f"{entry.metadata_display} does not load; fix it first:\n{lines}")


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
