"""Reading untrusted catalog files safely, and writing files so that nothing is half-written.

Reading refuses symlinks and special files, caps the size before reading, and decodes UTF-8
strictly. Writing goes to a temporary file in the same directory and is renamed into place, so a
reader (or a crash) never sees a partial file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from generator.metadata.findings import Finding, Position
from generator.metadata.rules import Encoding, FileTooLarge, MissingFile, NotRegularFile

KIB = 1024
MIB = 1024 * KIB


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Temporary files and directories are created private (0600 / 0700); what they become must get the
# permissions an ordinary file or directory would have, or the file it replaces had.
_UMASK = _umask()
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK


def check_regular_file(path: Path, display: str, *, required: bool = True) -> list[Finding]:
    """Findings if `path` is not a plain regular file (a symlink, a directory, a device...)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        if required:
            return [MissingFile.at(display, "file is missing")]
        return []
    if stat.S_ISLNK(info.st_mode):
        return [NotRegularFile.at(display, "expected a regular file, got a symlink")]
    if not stat.S_ISREG(info.st_mode):
        return [NotRegularFile.at(display, f"expected a regular file, got {_kind(info.st_mode)}")]
    return []


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device or special file"


def read_bytes(path: Path, display: str, max_bytes: int) -> tuple[bytes | None, list[Finding]]:
    """The file's bytes, or None with findings when it is not a regular file or over `max_bytes`."""
    findings = check_regular_file(path, display)
    if findings:
        return None, findings
    # Open without following a symlink swapped in after the check above.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        return None, [
            FileTooLarge.at(
                display,
                f"expected at most {_size(max_bytes)}, got {_size(path.stat().st_size)}",
            )
        ]
    return data, []


def read_user_file(path: Path, max_bytes: int) -> tuple[bytes | None, list[Finding]]:
    """A file named on the command line: the user's own, so a symlink is followed (build outputs
    often are symlinks). Files inside the catalog are read with `read_bytes`, which refuses them."""
    return read_bytes(path.resolve(), str(path), max_bytes)


def read_text(path: Path, display: str, max_bytes: int) -> tuple[str | None, list[Finding]]:
    """The file's text (strict UTF-8), or None with findings."""
    data, findings = read_bytes(path, display, max_bytes)
    if data is None:
        return None, findings
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n") + 1
        col = err.start - (before.rfind(b"\n") + 1) + 1
        return None, [
            Encoding.at(
                display,
                f"expected UTF-8 text, got byte 0x{data[err.start]:02x}",
                position=Position(line, col),
            )
        ]


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    if n >= KIB:
        return f"{n / KIB:.1f} KiB"
    return f"{n} bytes"


def write_atomic(path: Path, data: bytes | str, *, replace: bool = True) -> None:
    """Write `data` to `path` through a temporary file and a rename: complete, or not at all.

    With `replace=False` the file must not exist: a hard link takes the name, which fails with
    FileExistsError if a file appeared meanwhile, where a rename would silently replace it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def staged_copy(target: Path) -> Iterator[Path]:
    """A copy of the directory `target` to change; it replaces `target` only if the block finishes.

    The swap is two renames (old aside, new in place), then the old copy is removed, so a failure
    at any point leaves either the old directory or the new one, never a mixture.
    """
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".new"))
    aside = staging.with_suffix(".old")
    try:
        shutil.copytree(target, staging, symlinks=True, dirs_exist_ok=True)
        os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
        yield staging
        os.rename(target, aside)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(aside, target)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def remove_directory(target: Path) -> None:
    """Remove `target`: renamed aside first, so it disappears at once and never half-deleted."""
    aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".del"))
    os.rename(target, aside / target.name)
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """A fresh directory beside `target` that replaces it only if the block finishes.

    The block fills the staging directory; on success it is renamed to `target` (which must not
    exist), on any error it is removed and `target` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".new"))
    try:
        os.chmod(staging, DIR_MODE)
        yield staging
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class NotRegular(ValueError):
    """A tree holds a symlink or special file; `relative` is its path inside the tree."""

    def __init__(self, relative: Path) -> None:
        super().__init__(f"{relative}: expected a regular file, got a symlink or special file")
        self.relative = relative


def copy_regular_tree(source: Path, target: Path, *, skip: frozenset[str] = frozenset()) -> None:
    """Copy a tree of directories and regular files; a symlink or special file raises NotRegular
    (it could point outside the catalog). Directories named in `skip` are left out."""
    for dirpath, dirnames, filenames in os.walk(source):
        rel = Path(dirpath).relative_to(source)
        (target / rel).mkdir(parents=True, exist_ok=True)
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in dirnames + filenames:
            mode = os.lstat(Path(dirpath) / name).st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise NotRegular(rel / name)
        for name in filenames:
            shutil.copyfile(Path(dirpath) / name, target / rel / name)


EntryKind = Literal["file", "symlink", "submodule", "other"]


@dataclass(frozen=True)
class TreeEntry:
    """One thing in a directory tree, as a work tree or a git commit has it."""

    path: str  # relative to the tree's top, with '/'
    kind: EntryKind  # a regular file, a symlink, a submodule (or another repository's .git), or else
    size: int = 0  # bytes of a regular file


def list_tree(top: Path) -> list[TreeEntry]:
    """Every file-like thing under `top` (directories themselves are not listed), without following
    symlinks. A directory holding `.git` (`top` itself included) is listed once, as a submodule,
    and not descended into."""
    entries: list[TreeEntry] = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        relative = PurePosixPath(here.relative_to(top).as_posix())
        if ".git" in dirnames or ".git" in filenames:
            entries.append(TreeEntry(relative.as_posix(), "submodule"))
            dirnames.clear()
            continue
        for name in sorted(dirnames):
            if os.path.islink(here / name):  # os.walk lists a symlink to a directory among the directories
                entries.append(TreeEntry((relative / name).as_posix(), "symlink"))
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(here / d))
        for name in sorted(filenames):
            info = os.lstat(here / name)
            kind: EntryKind = (
                "symlink" if stat.S_ISLNK(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"
            )
            entries.append(TreeEntry((relative / name).as_posix(), kind, info.st_size if kind == "file" else 0))
    return entries
