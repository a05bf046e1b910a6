"""`catalog schema [--check]`: the committed JSON Schemas, written from the models they describe.

`catalog/schema/filter.schema.json` (for editors of `filter.yaml`) comes from the metadata model,
`catalog/schema/index.schema.json` (for tools reading the site's `index.json`) from the site's
index model. A test and `make lint` check that the committed files are current.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generator.metadata.files import write_atomic
from generator.metadata.model import json_schema_text
from generator.site.index import index_json_schema_text

SCHEMA_DIR = Path("catalog") / "schema"
# Each committed schema, relative to the repository root, and the model that makes its text.
SCHEMAS: dict[Path, Callable[[], str]] = {
    SCHEMA_DIR / "filter.schema.json": json_schema_text,
    SCHEMA_DIR / "index.schema.json": index_json_schema_text,
}


def stale_schemas(root: Path) -> list[Path]:
    """The committed schemas (relative paths) whose text differs from what the models make now."""
    stale = []
    for relative, make_text in SCHEMAS.items():
        path = root / relative
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != make_text():
            stale.append(relative)
    return stale


def write_schemas(root: Path) -> list[Path]:
    """Write every stale schema; the ones written."""
    stale = stale_schemas(root)
    for relative in stale:
        write_atomic(root / relative, SCHEMAS[relative]())
    return stale
