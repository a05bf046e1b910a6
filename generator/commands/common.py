"""What several commands share: errors with exit codes, finding a filter by name, reading a config."""

from __future__ import annotations

import json
from pathlib import Path

from generator.files import MIB, read_text
from generator.loader import Catalog, FilterEntry, load_catalog


class CommandError(Exception):
    """The command cannot do what was asked. Exit status 1 (2 for usage errors)."""

    exit_code = 1


class UsageError(CommandError):
    """An argument is wrong: unknown name, ambiguous prefix, malformed value. Exit status 2."""

    exit_code = 2


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
    path = Path(value)
    if not value.lstrip().startswith(("{", "[", '"')) and path.exists():
        text, findings = read_text(path, value, 1 * MIB)
        if text is None:
            raise UsageError("; ".join(f.format() for f in findings))
        source = str(path)
    else:
        text, source = value, "--config"
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"{source}:{err.lineno}:{err.colno}: error: expected JSON, got: {err.msg}") from None
