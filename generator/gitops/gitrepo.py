"""What git knows about the catalog: which filters changed, when a filter was added or updated,
and what the catalog's files were at a commit.

Dates are never typed by hand into metadata; they come from the commits that touched a filter's
directory. `catalog review` and `catalog release plan` read commits rather than the work tree,
through `resolve_commit`, `merge_base`, `changed_paths`, `export_paths` and `catalog_files_at`.
Only this module imports GitPython: the git package is untyped, so git objects are `Any` here and
never leave the module.

Paths are bytes to git. They are read with `-z` (git would otherwise quote non-ASCII names) and
decoded with `surrogateescape`, so a name that is not UTF-8 comes out as it is rather than failing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import git

from generator.metadata.files import EntryKind, TreeEntry
from generator.metadata.layout import FILTERS_DIR, METADATA_FILE, SETTINGS_FILE
from generator.metadata.model import SEMVER_PATTERN
from generator.metadata.text import printable


class GitError(Exception):
    """Git could not answer: not a repository, a bad or unknown ref, or a failed git command.

    The message says which; the subclasses let a command pick its exit status.
    """


class NotARepository(GitError):
    """The directory is not a git repository (`{root} is not a git repository`)."""


class BadRef(GitError):
    """A ref refused before git sees it: empty, or option-like (`--output=x` would be an option)."""


class UnknownRef(GitError):
    """A ref that names no commit (`unknown git ref 'x'`)."""


@dataclass(frozen=True)
class FilterHistory:
    """When a filter first appeared in, and last changed in, the repository's history.

    `versions` holds, for each version string, the committer date of the earliest commit whose
    filter.yaml added a line declaring it in the `versions:` list (a version removed and re-added
    keeps its first date).
    """

    first_commit: datetime | None
    last_commit: datetime | None
    versions: Mapping[str, datetime] = field(default_factory=dict, hash=False)


def _repo(root: Path) -> Any:
    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise NotARepository(f"{root} is not a git repository") from None


@contextmanager
def _open(root: Path) -> Iterator[Any]:
    """The repository at `root`, closed afterwards (with its git processes); a failed git command is a GitError."""
    with _repo(root) as repo:
        try:
            yield repo
        except git.CommandError as err:
            raise GitError(f"git failed: {printable(str(err.stderr).strip())}") from None


def _check_ref(ref: str) -> None:
    if not ref:
        raise BadRef("expected a git ref, got ''")
    if ref.startswith("-"):
        raise BadRef(f"expected a git ref, got an option-like '{printable(ref)}'")


def _resolve(repo: Any, ref: str) -> str:
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")).strip()
    except git.GitCommandError as err:
        if err.status == 128:  # fatal: not about the ref, git refused the repository (e.g. its owner)
            complaint = str(err.stderr).strip().removeprefix("stderr:").strip(" '\n")
            raise GitError(f"git failed: {printable(complaint)}") from None
        raise UnknownRef(f"unknown git ref '{printable(ref)}'") from None


def _merge_base(repo: Any, one: str, other: str) -> str | None:
    bases = repo.merge_base(one, other)
    return str(bases[0].hexsha) if bases else None


def _decode(output: Any) -> str:
    # Paths are bytes to git: keep any that are not UTF-8 as they are rather than fail.
    return bytes(output).decode("utf-8", "surrogateescape")


def _path_list(output: Any) -> list[str]:
    """The paths of a git command run with `-z`."""
    return [path for path in _decode(output).split("\0") if path]


def _limited(repo: Any, limit: int, *args: str) -> list[str]:
    """The NUL-separated output of git `args`, read until more than `limit` items have come (then
    git is stopped: a hostile tree can hold millions of entries). GitError when git fails."""
    process = repo.git.execute(["git", *args], as_process=True)
    items: list[str] = []
    pending = b""
    try:
        while len(items) <= limit:
            chunk = process.proc.stdout.read(1 << 16)
            if not chunk:
                break
            *done, pending = (pending + chunk).split(b"\0")
            items += [_decode(item) for item in done if item]
        else:
            process.proc.kill()  # enough: the caller only needs to know there are more
        status = process.proc.wait()
        if status != 0 and len(items) <= limit:
            stderr = process.proc.stderr.read().decode("utf-8", "replace").strip()
            raise GitError(f"git failed: {printable(stderr)}")
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()
    return items[: limit + 1]


def _diff_paths(repo: Any, *revisions: str) -> list[str]:
    """`git diff --name-only` between the revisions (one: against the work tree), from the top."""
    return _path_list(
        repo.git.diff("--name-only", "-z", "--no-renames", "--no-relative", *revisions, "--", stdout_as_string=False)
    )


@dataclass(frozen=True)
class Change:
    """What differs from a ref: the filters touched, and whether anything else that checks them did."""

    filters: frozenset[str]
    affects_all: bool  # the generator, the schema or catalog settings changed: every filter needs checking


# What every filter's checks depend on: the catalog's settings, the generator, its dependencies.
_AFFECTS_ALL_DIRECTORIES = ("catalog", "generator")
_AFFECTS_ALL_FILES = ("pyproject.toml", "constraints.txt")


def changed_since(root: Path, ref: str) -> Change:
    """What differs between `ref` (its merge base with HEAD) and the work tree.

    Uncommitted and untracked files count, so a contributor sees the same set that CI will.
    """
    _check_ref(ref)
    with _open(root) as repo:
        base = _merge_base(repo, _resolve(repo, ref), "HEAD")
        if base is None:
            raise GitError(f"'{printable(ref)}' has no common history with HEAD")
        changed = _diff_paths(repo, base)
        changed += _path_list(repo.git.ls_files("--others", "--exclude-standard", "-z", stdout_as_string=False))
    filters: set[str] = set()
    affects_all = False
    for path in changed:
        if (name := _filter_name(path)) is not None:
            filters.add(name)
        elif PurePosixPath(path).parts[0] in _AFFECTS_ALL_DIRECTORIES or path in _AFFECTS_ALL_FILES:
            affects_all = True
    return Change(frozenset(filters), affects_all)


# --- commits and the files in them ---------------------------------------------------------------


def resolve_commit(root: Path, ref: str) -> str:
    """The full SHA of the commit `ref` names (a branch, a tag, a SHA, `HEAD~1`, ...).

    Raises NotARepository, BadRef (empty or option-like, refused before git sees it) or UnknownRef.
    """
    _check_ref(ref)
    with _open(root) as repo:
        return _resolve(repo, ref)


# Where published versions are: the default branch, as the clone knows it.
_DEFAULT_BRANCHES = ("refs/remotes/origin/HEAD", "refs/remotes/origin/main", "refs/heads/main", "refs/heads/master")


def default_branch(root: Path) -> str | None:
    """The ref of the default branch (origin's HEAD, else main or master); None outside git or without one."""
    try:
        with _open(root) as repo:
            for ref in _DEFAULT_BRANCHES:
                try:
                    repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
                except git.GitCommandError:
                    continue
                return ref
    except NotARepository:
        return None
    return None


def merge_base(root: Path, one: str, other: str) -> str | None:
    """The best common ancestor of two commits, as `git merge-base` picks it; None without common history."""
    with _open(root) as repo:
        return _merge_base(repo, one, other)


def commits_touching(root: Path, path: str, *, limit: int = 200) -> list[str]:
    """The commits that changed `path` (a file or a directory), newest first, at most `limit`."""
    with _open(root) as repo:
        return _limited(repo, limit - 1, "log", "-z", "--format=%H", "--full-history", "--no-renames", "--", path)


class TooManyPaths(GitError):
    """More paths differ than a review reads."""


def changed_paths(root: Path, old: str, new: str, *, limit: int = 20_000) -> list[str]:
    """The paths, from the repository's top, that differ between commits `old` and `new`.

    A rename counts as a removal and an addition, so both directories involved are seen. More than
    `limit` paths raise TooManyPaths (git is stopped there).
    """
    with _open(root) as repo:
        paths = _limited(repo, limit, "diff", "--name-only", "-z", "--no-renames", "--no-relative", old, new, "--")
    if len(paths) > limit:
        raise TooManyPaths(f"more than {limit} paths differ between {old[:12]} and {new[:12]}")
    return paths


# Tree entry modes: the type bits, a symbolic link's type, and a regular file's two modes.
_TYPE_MASK = 0o170000
_LINK_MODE = 0o120000
_GITLINK_MODE = 0o160000  # a submodule: a commit of another repository
_REGULAR_MODES = (0o100644, 0o100755)


def export_paths(root: Path, commit: str, paths: Iterable[str], target: Path, *, max_bytes: int) -> None:
    """Write the files at `commit` under each of `paths` (a file or a directory) into `target`.

    Paths the commit lacks are skipped. Symlinks are written as symlinks, so a reader that refuses
    them in a checkout refuses them here too; submodules are not written, nor files larger than
    `max_bytes` (`tree_entries` lists them, so a check can refuse them without reading them).
    """
    with _open(root) as repo:
        tree = repo.commit(commit).tree
        for path in paths:
            try:
                item = tree / path
            except KeyError:
                continue
            for blob in item.traverse() if item.type == "tree" else [item]:
                if blob.type == "blob" and int(blob.size) <= max_bytes:
                    _write_blob(blob, target)


def tree_entries(root: Path, commit: str, path: str, *, limit: int = 1000) -> list[TreeEntry]:
    """What the directory `path` holds at `commit`, as `generator.metadata.files.list_tree` lists a
    work tree: regular files with their sizes, symlinks, submodules (no content is read). At most
    `limit` + 1 entries are listed, so a caller sees that there are more than `limit`."""
    _check_ref(commit)
    with _open(root) as repo:
        lines = _limited(repo, limit, "ls-tree", "-r", "-z", "-l", "--full-tree", commit, "--", path)
    entries = []
    for line in lines:
        meta, _, name = line.partition("\t")
        mode, _kind_name, _object, size = meta.split(maxsplit=3)
        kind = _kind(int(mode, 8))
        relative = PurePosixPath(name).relative_to(path).as_posix() if name != path else "."
        entries.append(TreeEntry(relative, kind, int(size) if kind == "file" else 0))
    return sorted(entries, key=lambda entry: entry.path)


def _kind(mode: int) -> EntryKind:
    if mode in _REGULAR_MODES:
        return "file"
    if mode & _TYPE_MASK == _LINK_MODE:
        return "symlink"
    if mode & _TYPE_MASK == _GITLINK_MODE:
        return "submodule"
    return "other"


def _write_blob(blob: Any, target: Path) -> None:
    parts = PurePosixPath(blob.path).parts
    if not parts or any(part in ("", ".", "..") or "\\" in part for part in parts):
        return  # git itself refuses to check such a path out
    destination = target.joinpath(*parts)
    # Never write through a symlink the export made itself (a tree may name a path twice).
    here = target
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink():
            return
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists() or destination.is_symlink():
        return
    if blob.mode & _TYPE_MASK == _LINK_MODE:
        os.symlink(os.fsdecode(blob.data_stream.read()), destination)
        return
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "wb") as handle:
        blob.stream_data(handle)


@dataclass(frozen=True)
class CommittedFile:
    """A path as a commit has it."""

    regular: bool  # a regular file: not a symlink, a directory or a submodule
    size: int  # bytes of a regular file (0 otherwise)
    data: bytes | None  # a regular file's content; None when it is larger than the cap it was read with


@dataclass(frozen=True)
class CatalogFiles:
    """The catalog's YAML files at one commit; None where a file is missing."""

    commit: str
    settings: CommittedFile | None  # catalog/catalog.yaml
    # each directory of catalog/filters/ (but those the loader skips, starting with '.') -> its filter.yaml
    filters: Mapping[str, CommittedFile | None]


def catalog_files_at(root: Path, ref: str, max_bytes: int) -> CatalogFiles:
    """catalog.yaml and every filter.yaml at `ref`, without a checkout; contents larger than `max_bytes` are not read.

    Raises what `resolve_commit` raises.
    """
    _check_ref(ref)
    with _open(root) as repo:
        commit = _resolve(repo, ref)
        tree = repo.commit(commit).tree
        filters_dir = _entry(tree, FILTERS_DIR.as_posix())
        directories = filters_dir.trees if filters_dir is not None and filters_dir.type == "tree" else []
        filters = {
            directory.name: _committed_file(_entry(directory, METADATA_FILE), max_bytes)
            for directory in directories
            if not directory.name.startswith(".")
        }
        return CatalogFiles(commit, _committed_file(_entry(tree, SETTINGS_FILE.as_posix()), max_bytes), filters)


def file_at(root: Path, ref: str, path: str, max_bytes: int) -> CommittedFile | None:
    """The file at `path` as commit `ref` has it (None: no such path), without a checkout."""
    _check_ref(ref)
    with _open(root) as repo:
        return _committed_file(_entry(repo.commit(_resolve(repo, ref)).tree, path), max_bytes)


def _entry(tree: Any, path: str) -> Any:
    try:
        return tree / path
    except KeyError:
        return None


def _committed_file(item: Any, max_bytes: int) -> CommittedFile | None:
    if item is None:
        return None
    if item.type != "blob" or item.mode not in _REGULAR_MODES:
        return CommittedFile(regular=False, size=0, data=None)
    size = int(item.size)
    return CommittedFile(regular=True, size=size, data=item.data_stream.read() if size <= max_bytes else None)


def filter_history(root: Path, name: str) -> FilterHistory:
    """The dates of the first and last commits that touched the filter's directory, and of its versions."""
    return _history(root, name).get(name, FilterHistory(None, None))


def catalog_history(root: Path) -> dict[str, FilterHistory]:
    """`filter_history` for every filter with commits, by directory name, from two git commands in all.

    `root` is the repository's top-level directory. Not a repository, or one without commits: {}.
    """
    return _history(root, None)


# Settings a user's git config could change that the parsing below depends on.
_LOG_CONFIG = [
    "core.quotepath=false",
    "log.showRoot=true",
    "log.follow=false",
    "log.showSignature=false",
    "diff.noprefix=false",
    "diff.relative=false",
]
# Marks the start of each commit's record; no path or diff line starts with it.
_COMMIT = "\x01"
_HUNK = re.compile(r"^@@ -[0-9,]+ \+[0-9,]+ @@ ?(?P<heading>.*)$")
# A top-level key: the line git's default hunk heading (the nearest preceding line that starts
# with a letter, `_` or `$`) names, so a hunk's heading is the top-level section it starts in.
_TOP_LEVEL_KEY = re.compile(r"^(?P<key>[A-Za-z_$][^:#]*?)[ \t]*:(?:[ \t]|$)")
_VERSION_LINE = re.compile(
    r"""^[ \t]*(?:-[ \t]+)?version[ \t]*:[ \t]*(?P<value>"[^"]*"|'[^']*'|[^ \t#"']+)[ \t]*(?:\#.*)?$"""
)
_SEMVER = re.compile(SEMVER_PATTERN)
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _history(root: Path, only: str | None) -> dict[str, FilterHistory]:
    """Histories of every filter, or `only` that one: one git command for the commits, one for the versions."""
    filters = FILTERS_DIR.as_posix()
    if only is None:
        directories, metadata = f":(literal){filters}", f":(glob){filters}/*/{METADATA_FILE}"
    else:
        directories, metadata = f":(literal){filters}/{only}", f":(literal){filters}/{only}/{METADATA_FILE}"
    # --full-history: every commit that touched a path counts, whatever the pathspec (so one filter's
    # history is the same alone as in the whole catalog's); merges show no diff, so they count only
    # through the commits they bring in.
    common = [
        "--full-history",
        "--no-renames",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        f"--format={_COMMIT}%cI",
    ]
    try:
        with _open(root) as repo:
            names = _log(repo, *common, "--name-only", "-z", "--", directories)
            patches = _log(repo, *common, "-p", "-U0", "--src-prefix=a/", "--dst-prefix=b/", "--", metadata)
    except GitError:
        return {}
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for name, date in _touched(names):
        first[name] = min(date, first.get(name, date))
        last[name] = max(date, last.get(name, date))
    versions: dict[str, dict[str, datetime]] = {}
    for name, version, date in _added_versions(patches):
        dates = versions.setdefault(name, {})
        dates[version] = min(date, dates.get(version, date))
    return {
        name: FilterHistory(
            first[name],
            last[name],
            dict(sorted(versions.get(name, {}).items(), key=lambda item: (item[1], item[0]))),
        )
        for name in sorted(first)
    }


def _log(repo: Any, *args: str) -> str:
    return _decode(repo.git(c=_LOG_CONFIG).log(*args, stdout_as_string=False))


def _filter_name(path: str) -> str | None:
    """The filter a repository path belongs to, if it is inside a filter's directory."""
    parts = PurePosixPath(path).parts
    prefix = FILTERS_DIR.parts
    if parts[: len(prefix)] == prefix and len(parts) > len(prefix) + 1:
        return parts[len(prefix)]
    return None


def _touched(output: str) -> Iterable[tuple[str, datetime]]:
    """(filter, commit date) for each filter each commit touched, from `log --name-only -z`."""
    date: datetime | None = None
    for token in output.split("\0"):
        if token.startswith(_COMMIT):
            date = datetime.fromisoformat(token[len(_COMMIT) :].strip())
            continue
        name = _filter_name(token.lstrip("\n"))
        if name is not None and date is not None:
            yield name, date


def _added_versions(output: str) -> Iterable[tuple[str, str, datetime]]:
    """(filter, version, commit date) for each version line a commit added to a filter.yaml's `versions:`.

    Reads `log -p -U0`: a hunk's heading names the top-level key it starts under, and added
    top-level keys inside the hunk move it on.
    """
    date: datetime | None = None
    name: str | None = None
    section: str | None = None
    in_hunk = False
    for line in output.split("\n"):
        if line.startswith(_COMMIT):
            date = datetime.fromisoformat(line[len(_COMMIT) :].strip())
            name, in_hunk = None, False
        elif line.startswith("diff --git "):
            name, in_hunk = None, False
        elif not in_hunk and line.startswith("+++ "):
            target = _unquote(line[4:].rstrip("\r")).removeprefix("b/")
            name = _filter_name(target)
            if name is not None and target != f"{FILTERS_DIR.as_posix()}/{name}/{METADATA_FILE}":
                name = None  # a file deeper in the directory, or not filter.yaml
        elif hunk := _HUNK.match(line):
            in_hunk = True
            key = _TOP_LEVEL_KEY.match(hunk["heading"])
            section = key["key"] if key else None
        elif in_hunk and line.startswith("+") and name is not None and date is not None:
            added = line[1:].rstrip("\r")
            if key := _TOP_LEVEL_KEY.match(added):
                section = key["key"]
            elif section == "versions" and (version := _version(added)):
                yield name, version, date


def _version(line: str) -> str | None:
    """The semantic version a `version: X` line declares (quoted or not, maybe with a comment)."""
    match = _VERSION_LINE.match(line)
    if match is None:
        return None
    value = match["value"]
    if value[:1] in ("'", '"'):
        value = value[1:-1]
    return value if _SEMVER.match(value) else None


def _unquote(path: str) -> str:
    """A path as git prints it in a diff header: as is, or C-quoted when it has special characters."""
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path
    raw = bytearray()
    text = path[1:-1]
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            if following in _C_ESCAPES:
                raw.append(_C_ESCAPES[following])
                i += 2
                continue
            if re.fullmatch(r"[0-7]{3}", text[i + 1 : i + 4]):
                raw.append(int(text[i + 1 : i + 4], 8))
                i += 4
                continue
        raw += char.encode("utf-8", "surrogateescape")
        i += 1
    return raw.decode("utf-8", "surrogateescape")
