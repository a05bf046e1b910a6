"""`catalog filter view NAME`: one filter's metadata, with the facts git and the store add."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.binaries.store import BinaryStore
from generator.gitops.gitrepo import filter_history
from generator.metadata.errors import CatalogError
from generator.metadata.lookup import load_one


def view_filter(root: Path, wanted: str, store: BinaryStore) -> dict[str, Any]:
    """The filter's metadata as stored, plus `history` from git and which binaries are local."""
    _, entry = load_one(root, wanted)
    if entry.meta is None:
        lines = "\n".join(f.format() for f in entry.findings)
        raise CatalogError(f"filter '{entry.name}' does not load:\n{lines}")
    data = entry.meta.model_dump(mode="json", by_alias=True, exclude_none=True)
    history = filter_history(root, entry.name)
    data["history"] = {
        "first_commit": history.first_commit.isoformat() if history.first_commit else None,
        "last_commit": history.last_commit.isoformat() if history.last_commit else None,
    }
    data["latest"] = entry.meta.latest.version
    data["path"] = entry.display
    for version in data["versions"]:
        version["local"] = store.has(version["sha256"])
    return data
