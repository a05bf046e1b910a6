"""`catalog filter clone NAME NEW-NAME`: start a new filter from an existing one.

The clone gets every file of the original, its own name, the owners given (or the original's),
and `cloned_from` recording the original's name and latest version.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from generator import names, yamledit
from generator.commands.common import CommandError, FindingsError, UsageError, load_one, require_loaded, staged_errors
from generator.files import staged_directory, write_atomic
from generator.loader import FILTERS_DIR, METADATA_FILE
from generator.model import fields_after


def clone_filter(root: Path, wanted: str, new_name: str, owners: tuple[str, ...] = ()) -> str:
    """Copy filter `wanted` to `new_name`; return the original's name."""
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
        raise CommandError(f"filter '{new_name}' already exists")
    text = (entry.directory / METADATA_FILE).read_text(encoding="utf-8")
    text = yamledit.set_value(text, ("name",), new_name)
    if owners:
        text = yamledit.set_value(text, ("owners",), list(owners))
    origin = {"name": entry.meta.name, "version": entry.meta.latest.version}
    text = yamledit.set_value(text, ("cloned_from",), origin, insert_before=fields_after("cloned_from"))
    with staged_directory(target) as staging:
        _copy_regular_files(entry.directory, staging)
        write_atomic(staging / METADATA_FILE, text)
        errors = staged_errors(root, new_name, staging)
        if errors:
            raise FindingsError("the clone would be invalid", errors)
    return entry.name


def _copy_regular_files(source: Path, target: Path) -> None:
    """Copy the tree, refusing symlinks and special files (they could point outside the catalog)."""
    for dirpath, dirnames, filenames in os.walk(source):
        rel = Path(dirpath).relative_to(source)
        for name in dirnames + filenames:
            mode = os.lstat(Path(dirpath) / name).st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise CommandError(
                    f"{source / rel / name}: error: expected a regular file, got a symlink or special file [CAT005]"
                )
        (target / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            shutil.copy2(Path(dirpath) / name, target / rel / name)
