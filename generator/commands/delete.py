"""`catalog filter delete NAME`: remove a filter's directory from the catalog.

Only the metadata directory goes; binaries stay in the local store and in published releases.
In a pull request the removal is a change that reviewers see.
"""

from __future__ import annotations

from pathlib import Path

from generator.commands.common import load_one
from generator.files import remove_directory


def delete_filter(root: Path, wanted: str) -> str:
    """Remove the filter named (or uniquely prefixed by) `wanted`; return its name."""
    _, entry = load_one(root, wanted)
    remove_directory(entry.directory)
    return entry.name
