"""`catalog filter clone NAME NEW-NAME`: start a new filter from an existing one.

The clone gets every file of the original, its own name, the owners given (or the original's),
and `cloned_from` recording the original's name and latest version.
"""

from __future__ import annotations

from pathlib import Path

from generator.commands.common import dropped_comments, staged_errors
from generator.metadata import names, yamledit
from generator.metadata.errors import CatalogError, FindingsError, UsageError
from generator.metadata.files import NotRegular, copy_regular_tree, staged_directory, write_atomic
from generator.metadata.layout import FILTERS_DIR, METADATA_FILE
from generator.metadata.lookup import load_one, require_loaded
from generator.metadata.model import fields_after


def clone_filter(root: Path, wanted: str, new_name: str, owners: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """Copy filter `wanted` to `new_name`; the original's name, and warnings about comments that went."""
    _, entry = load_one(root, wanted)
    require_loaded(entry)
    assert entry.meta is not None
    try:
        names.check_name(new_name)
    except names.NameProblem as problem:
        raise UsageError(f"NEW-NAME: {problem}") from None
    for owner in owners:
        if not names.is_owner_handle(owner):
            raise UsageError(f"--owner: expected '@user' or '@org/team', got '{owner}'")
    target = root / FILTERS_DIR / new_name
    if target.exists() or target.is_symlink():
        raise CatalogError(f"filter '{new_name}' already exists")
    text = (entry.directory / METADATA_FILE).read_text(encoding="utf-8")
    display = entry.metadata_display
    edits: dict[str, yamledit.Edited] = {}
    edits["name"] = edited = yamledit.set_value(text, ("name",), new_name, display=display)
    if owners:
        edits["owners"] = edited = yamledit.set_value(edited.text, ("owners",), list(owners), display=display)
    origin = {"name": entry.meta.name, "version": entry.meta.latest.version}
    after = fields_after("cloned_from")
    edits["cloned_from"] = edited = yamledit.set_value(
        edited.text, ("cloned_from",), origin, insert_before=after, display=display
    )
    text = edited.text
    with staged_directory(target) as staging:
        try:
            copy_regular_tree(entry.directory, staging)
        except NotRegular as err:
            raise CatalogError(f"{entry.display}/{err} [CAT005]") from None
        write_atomic(staging / METADATA_FILE, text)
        errors = staged_errors(root, new_name, staging)
        if errors:
            raise FindingsError("the clone would be invalid", errors)
    return entry.name, dropped_comments(f"{FILTERS_DIR.as_posix()}/{new_name}/{METADATA_FILE}", edits)
