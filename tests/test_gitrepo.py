"""What git says: changed filters (including non-ASCII names), and dates from history."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from generator.gitrepo import GitError, changed_since, filter_history


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=root, check=True, capture_output=True, env=env,
    )  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in ("a", "b"):
        directory = tmp_path / "catalog" / "filters" / name
        directory.mkdir(parents=True)
        (directory / "filter.yaml").write_text(f"name: {name}\n")
    (tmp_path / "catalog" / "catalog.yaml").write_text("release_url: x\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    git(tmp_path, "checkout", "-qb", "change")
    return tmp_path


def test_nothing_changed(repo: Path) -> None:
    change = changed_since(repo, "main")
    assert change.filters == frozenset()
    assert not change.affects_all


def test_committed_uncommitted_and_untracked_changes_count(repo: Path) -> None:
    (repo / "catalog" / "filters" / "a" / "filter.yaml").write_text("name: a\ntitle: changed\n")
    git(repo, "commit", "-qam", "change a")
    (repo / "catalog" / "filters" / "b" / "README.md").write_text("# b\n")  # untracked
    new = repo / "catalog" / "filters" / "c"
    new.mkdir()
    (new / "filter.yaml").write_text("name: c\n")
    assert changed_since(repo, "main").filters == {"a", "b", "c"}


def test_non_ascii_names_are_not_mangled(repo: Path) -> None:
    lookalike = repo / "catalog" / "filters" / "\u0430dd-header"  # Cyrillic а
    lookalike.mkdir()
    (lookalike / "filter.yaml").write_text("name: x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "look-alike")
    assert changed_since(repo, "main").filters == {"\u0430dd-header"}


@pytest.mark.parametrize("path", ["catalog/catalog.yaml", "generator/model.py", "pyproject.toml"])
def test_changes_outside_filters_affect_every_filter(repo: Path, path: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("changed\n")
    assert changed_since(repo, "main").affects_all


def test_bad_refs(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(GitError, match="unknown git ref 'nope'"):
        changed_since(repo, "nope")
    with pytest.raises(GitError, match="option-like '--output=/tmp/x'"):
        changed_since(repo, "--output=/tmp/x")
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(GitError, match="is not a git repository"):
        changed_since(outside, "main")


def test_history_dates_are_the_commit_dates(repo: Path) -> None:
    import os

    env = {
        **os.environ,
        "GIT_COMMITTER_DATE": "2030-03-04T05:06:07+00:00",
        "GIT_AUTHOR_DATE": "2020-01-01T00:00:00+00:00",
    }
    (repo / "catalog" / "filters" / "a" / "filter.yaml").write_text("name: a\ntitle: later\n")
    git(repo, "commit", "-qam", "update a", env=env)
    history = filter_history(repo, "a")
    assert history.last_commit == datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert history.first_commit is not None
    assert history.first_commit < history.last_commit
    assert filter_history(repo, "missing").first_commit is None
