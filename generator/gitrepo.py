"""What git knows about the catalog: which filters changed, and when a filter was added or updated.

Dates are never typed by hand into metadata; they come from the commits that touched a filter's
directory. Only this module imports GitPython.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

import git

from generator.loader import FILTERS_DIR


class GitError(Exception):
    """Git could not answer: not a repository, or an unknown ref. The message says which."""


@dataclass(frozen=True)
class FilterHistory:
    """When a filter first appeared in, and last changed in, the repository's history."""

    first_commit: datetime | None
    last_commit: datetime | None


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
    """The dates of the first and last commits that touched the filter's directory."""
    try:
        repo = _repo(root)
        path = (FILTERS_DIR / name).as_posix()
        dates = repo.git.log("--format=%cI", "--", path).split()
    except (GitError, git.GitCommandError):
        return FilterHistory(None, None)
    if not dates:
        return FilterHistory(None, None)
    return FilterHistory(datetime.fromisoformat(dates[-1]), datetime.fromisoformat(dates[0]))
