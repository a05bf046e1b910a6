"""`catalog filter delete NAME`: remove a filter's directory from the catalog.

Only the metadata directory goes; binaries stay in the local store and in published releases.
In a pull request the removal is a change that reviewers see.
"""

from __future__ import annotations

from pathlib import Path

from generator.metadata.errors import UsageError
from generator.metadata.files import remove_directory
from generator.metadata.lookup import load_one


def delete_filter(root: Path, name: str) -> str:
    """Remove the filter called exactly `name` (a destructive command takes no prefixes)."""
    _, entry = load_one(root, name)
    if entry.name != name:
        raise UsageError(f"no filter named exactly '{name}'; did you mean '{entry.name}'? (delete needs the full name)")
    remove_directory(entry.directory)
    return entry.name
