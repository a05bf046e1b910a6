"""What git knows about the catalog: which filters changed, and when a filter was added or updated.

Dates are never typed by hand into metadata; they come from the commits that touched a filter's
directory. Only this module imports GitPython.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

import git

from generator.loader import FILTERS_DIR, METADATA_FILE
from generator.model import SEMVER_PATTERN


class GitError(Exception):
    """Git could not answer: not a repository, or an unknown ref. The message says which."""


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


def _repo(root: Path) -> git.Repo:
    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(f"{root} is not a git repository") from None


@dataclass(frozen=True)
class Change:
    """What differs from a ref: the filters touched, and whether anything else that checks them did."""

    filters: frozenset[str]
    affects_all: bool  # the generator, the schema or catalog settings changed: every filter needs checking


def changed_since(root: Path, ref: str) -> Change:
    """What differs between `ref` (its merge base with HEAD) and the work tree.

    Uncommitted and untracked files count, so a contributor sees the same set that CI will.
    """
    if ref.startswith("-"):
        raise GitError(f"expected a git ref, got an option-like '{ref}'")
    repo = _repo(root)
    try:
        base = repo.merge_base(ref, "HEAD")
    except git.GitCommandError:
        raise GitError(f"unknown git ref '{ref}'") from None
    if not base:
        raise GitError(f"'{ref}' has no common history with HEAD")
    # -z: paths exactly as they are (git would otherwise quote non-ASCII names).
    changed = repo.git.diff("--name-only", "-z", "--no-renames", base[0].hexsha, "--").split("\0")
    changed += repo.git.ls_files("--others", "--exclude-standard", "-z").split("\0")
    prefix = FILTERS_DIR.parts
    filters: set[str] = set()
    affects_all = False
    for path in filter(None, changed):
        parts = PurePosixPath(path).parts
        if parts[: len(prefix)] == prefix and len(parts) > len(prefix) + 1:
            filters.add(parts[len(prefix)])
        elif parts[:1] in (("catalog",), ("generator",)) or path in ("pyproject.toml", "constraints.txt"):
            affects_all = True
    return Change(frozenset(filters), affects_all)


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
        repo = _repo(root)
        names = _log(repo, *common, "--name-only", "-z", "--", directories)
        patches = _log(repo, *common, "-p", "-U0", "--src-prefix=a/", "--dst-prefix=b/", "--", metadata)
    except (GitError, git.CommandError):
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


def _log(repo: git.Repo, *args: str) -> str:
    output = repo.git(c=_LOG_CONFIG).log(*args, stdout_as_string=False)
    # Paths are bytes to git: keep any that are not UTF-8 as they are rather than fail.
    return bytes(output).decode("utf-8", "surrogateescape")


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
