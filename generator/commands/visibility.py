"""`catalog filter publish / unpublish / unlist NAME`: who can see a filter on the site.

public: listed and searchable; unlisted: has a page but appears in no list, search or index;
private: not rendered at all. Only `filter.yaml` changes; released binaries are never touched.
"""

from __future__ import annotations

from pathlib import Path

from generator.metadata import yamledit
from generator.metadata.files import write_atomic
from generator.metadata.layout import METADATA_FILE
from generator.metadata.lookup import load_one, require_loaded
from generator.metadata.model import fields_after
from generator.metadata.vocabulary import Visibility


def set_visibility(root: Path, wanted: str, visibility: Visibility) -> tuple[str, str]:
    """Set the filter's visibility; return (name, previous visibility)."""
    _, entry = load_one(root, wanted)
    require_loaded(entry)
    assert entry.meta is not None
    previous = entry.meta.visibility
    if previous != visibility:
        path = entry.directory / METADATA_FILE
        text = path.read_text(encoding="utf-8")
        edited = yamledit.set_value(
            text, ("visibility",), visibility, insert_before=fields_after("visibility"), display=entry.metadata_display
        )
        write_atomic(path, edited.text)
    return entry.name, previous
