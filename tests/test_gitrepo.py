"""What git says: changed filters (including non-ASCII names), dates from history, files at a commit."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from generator.gitops.gitrepo import (
    BadRef,
    CommittedFile,
    FilterHistory,
    GitError,
    NotARepository,
    UnknownRef,
    catalog_files_at,
    catalog_history,
    changed_paths,
    changed_since,
    default_branch,
    export_paths,
    filter_history,
    merge_base,
    resolve_commit,
    tree_entries,
)
from generator.metadata.files import TreeEntry
from tests.conftest import git


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


@pytest.mark.parametrize("path", ["catalog/catalog.yaml", "generator/metadata/model.py", "pyproject.toml"])
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


def rev_parse(root: Path, ref: str) -> str:
    return git(root, "rev-parse", ref).strip()


def test_resolve_commit(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    git(repo, "tag", "-a", "-m", "annotated", "v1")
    assert resolve_commit(repo, "main") == rev_parse(repo, "main")
    assert resolve_commit(repo, "v1") == rev_parse(repo, "main")  # a tag names its commit
    with pytest.raises(UnknownRef, match="^unknown git ref 'nope'$"):
        resolve_commit(repo, "nope")
    with pytest.raises(UnknownRef):
        resolve_commit(repo, "main^{tree}")  # a tree is not a commit
    with pytest.raises(BadRef, match="^expected a git ref, got ''$"):
        resolve_commit(repo, "")
    with pytest.raises(BadRef, match="option-like '--output=/tmp/x'"):
        resolve_commit(repo, "--output=/tmp/x")
    with pytest.raises(NotARepository, match="is not a git repository"):
        resolve_commit(tmp_path_factory.mktemp("plain"), "main")


@pytest.mark.skipif(os.geteuid() != 0, reason="handing the repository to another user needs root")
def test_a_repository_git_refuses_is_not_an_unknown_ref(repo: Path, tmp_path: Path) -> None:
    """A checkout owned by another user (a CI container's bind mount): git's reason, not 'unknown ref'."""
    os.chown(repo, 1001, 1001)
    try:
        with pytest.raises(GitError, match="dubious ownership") as raised:
            resolve_commit(repo, "main")
        assert not isinstance(raised.value, UnknownRef)
    finally:
        os.chown(repo, 0, 0)


def test_merge_base(repo: Path) -> None:
    (repo / "catalog" / "filters" / "a" / "filter.yaml").write_text("name: a\ntitle: changed\n")
    git(repo, "commit", "-qam", "change a")
    assert merge_base(repo, rev_parse(repo, "main"), rev_parse(repo, "change")) == rev_parse(repo, "main")
    git(repo, "checkout", "-q", "--orphan", "unrelated")
    git(repo, "commit", "-qm", "a history of its own")
    assert merge_base(repo, rev_parse(repo, "main"), rev_parse(repo, "unrelated")) is None


def test_changed_paths_between_commits(repo: Path) -> None:
    git(repo, "mv", "catalog/filters/b", "catalog/filters/\u0430dd-header")
    (repo / "catalog" / "filters" / "a" / "README.md").write_text("# a\n")
    (repo / "uncommitted.txt").write_text("not in a commit\n")
    git(repo, "add", "catalog")
    git(repo, "commit", "-qm", "rename b, add a's README")
    assert sorted(changed_paths(repo, rev_parse(repo, "main"), rev_parse(repo, "HEAD"))) == [
        "catalog/filters/a/README.md",
        "catalog/filters/b/filter.yaml",  # a rename is a removal and an addition
        "catalog/filters/\u0430dd-header/filter.yaml",
    ]
    with pytest.raises(GitError, match="^git failed: "):
        changed_paths(repo, "1" * 40, "HEAD")


def test_export_paths_writes_files_and_symlinks_as_committed(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (repo / "catalog" / "filters" / "a" / "README.md").symlink_to("/etc/passwd")
    (repo / "catalog" / "filters" / "a" / "big.bin").write_bytes(b"x" * 101)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a symlink")
    (repo / "catalog" / "filters" / "a" / "filter.yaml").write_text("name: uncommitted\n")
    target = tmp_path_factory.mktemp("export")
    paths = ["catalog/catalog.yaml", "catalog/filters/a", "missing"]
    export_paths(repo, rev_parse(repo, "HEAD"), paths, target, max_bytes=100)
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if not p.is_dir())
    # big.bin, over max_bytes, is not written: tree_entries lists it for the checks.
    assert files == ["catalog/catalog.yaml", "catalog/filters/a/README.md", "catalog/filters/a/filter.yaml"]
    assert (target / "catalog" / "filters" / "a" / "filter.yaml").read_text() == "name: a\n"
    readme = target / "catalog" / "filters" / "a" / "README.md"
    assert readme.is_symlink()
    assert str(readme.readlink()) == "/etc/passwd"


def test_tree_entries_list_files_symlinks_and_submodules_without_reading_them(repo: Path) -> None:
    directory = repo / "catalog" / "filters" / "a"
    (directory / "src").mkdir()
    (directory / "src" / "link.c").symlink_to("/etc/passwd")
    (directory / "src" / "big.bin").write_bytes(b"x" * 5000)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "files")
    head = rev_parse(repo, "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},catalog/filters/a/vendor")
    git(repo, "commit", "-qm", "a submodule")
    assert tree_entries(repo, "HEAD", "catalog/filters/a") == [
        TreeEntry("filter.yaml", "file", len("name: a\n")),
        TreeEntry("src/big.bin", "file", 5000),
        TreeEntry("src/link.c", "symlink"),
        TreeEntry("vendor", "submodule"),
    ]
    assert tree_entries(repo, "HEAD", "catalog/filters/missing") == []


def test_default_branch(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert default_branch(repo) == "refs/heads/main"
    clone = tmp_path_factory.mktemp("clone") / "c"
    git(repo, "clone", "-q", str(repo), str(clone))
    assert default_branch(clone) == "refs/remotes/origin/HEAD"
    assert default_branch(tmp_path_factory.mktemp("plain")) is None


def test_catalog_files_at_a_commit(repo: Path) -> None:
    filters = repo / "catalog" / "filters"
    (filters / "a" / "filter.yaml").write_text("name: a\n" + "# padding\n" * 10)
    (filters / "b" / "filter.yaml").unlink()
    (filters / "b" / "filter.yaml").symlink_to("../a/filter.yaml")
    (filters / "c").mkdir()
    (filters / "c" / "README.md").write_text("# c, without filter.yaml\n")
    (filters / ".hidden").mkdir()
    (filters / ".hidden" / "filter.yaml").write_text("name: hidden\n")
    (repo / "catalog" / "catalog.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "odd files")
    at_main = catalog_files_at(repo, "main", 1000)
    assert at_main.commit == rev_parse(repo, "main")
    assert at_main.settings == CommittedFile(regular=True, size=15, data=b"release_url: x\n")
    assert at_main.filters == {
        "a": CommittedFile(regular=True, size=8, data=b"name: a\n"),
        "b": CommittedFile(regular=True, size=8, data=b"name: b\n"),
    }
    at_head = catalog_files_at(repo, "HEAD", 50)
    assert at_head.settings is None
    assert at_head.filters == {
        "a": CommittedFile(regular=True, size=8 + 100, data=None),  # over the cap: not read
        "b": CommittedFile(regular=False, size=0, data=None),
        "c": None,
    }
    with pytest.raises(UnknownRef):
        catalog_files_at(repo, "nope", 1000)


def test_history_dates_are_the_commit_dates(repo: Path) -> None:
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


def day(n: int) -> datetime:
    return datetime(2021, 1, n, 12, 0, 0, tzinfo=UTC)


def commit(root: Path, when: datetime, files: dict[str, str | None]) -> None:
    """Write (or, for None, delete) files under catalog/filters/ and commit them at `when`."""
    for path, text in files.items():
        target = root / "catalog" / "filters" / path
        if text is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    stamp = when.isoformat()
    env = {**os.environ, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"at {stamp}", env=env)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


A_1 = "name: a\nversions:\n- version: 1.0.0\n  sha256: aa\n"
A_2 = A_1 + '- sha256: bb\n  version: "1.1.0" # second\n'


def test_catalog_history_dates(empty: Path) -> None:
    commit(empty, day(1), {"a/filter.yaml": A_1})
    commit(empty, day(2), {"a/filter.yaml": A_2})
    commit(empty, day(3), {"b/filter.yaml": "name: b\nversions:\n  - version: '2.0.0'\n", "b/README.md": "# b\n"})
    readme = "# b\n\nversion: 9.9.9\n- version: 9.9.8\n"  # not filter.yaml: does not count
    commit(empty, day(4), {"b/README.md": readme})
    history = catalog_history(empty)
    assert history == {
        "a": FilterHistory(day(1), day(2), {"1.0.0": day(1), "1.1.0": day(2)}),
        "b": FilterHistory(day(3), day(4), {"2.0.0": day(3)}),
    }
    assert list(history["a"].versions) == ["1.0.0", "1.1.0"]
    # One filter alone: the same answer, from the same code restricted to its directory.
    assert filter_history(empty, "a") == history["a"]
    assert filter_history(empty, "b") == history["b"]
    assert filter_history(empty, "missing") == FilterHistory(None, None)


def test_a_version_removed_and_added_again_keeps_its_first_date(empty: Path) -> None:
    commit(empty, day(1), {"a/filter.yaml": A_1})
    commit(empty, day(2), {"a/filter.yaml": "name: a\nversions: []\n"})
    commit(empty, day(3), {"a/filter.yaml": A_1})
    assert catalog_history(empty)["a"].versions == {"1.0.0": day(1)}


def test_only_entries_of_the_versions_list_count(empty: Path) -> None:
    original = (
        "name: a\n"
        "cloned_from:\n  name: other\n  version: 3.0.0\n"
        "config:\n  examples:\n  - value:\n      version: 4.0.0\n"
        "versions:\n- version: 1.0.0\n"
    )
    commit(empty, day(1), {"a/filter.yaml": original})
    # Two hunks in one commit: one under cloned_from (the hunk's heading says so), one under versions.
    changed = original.replace("version: 3.0.0", "version: 3.1.0") + "- version: 1.2.0-rc.1+build.5\n"
    commit(empty, day(2), {"a/filter.yaml": changed})
    commit(empty, day(3), {"a/filter.yaml": changed + "- version: not-a-version\n"})
    assert catalog_history(empty)["a"].versions == {"1.0.0": day(1), "1.2.0-rc.1+build.5": day(2)}


@pytest.mark.parametrize("name", ["\u0430dd-header", "名前", 'quote"and\\backslash'])
def test_names_come_out_as_they_are(empty: Path, name: str) -> None:
    commit(empty, day(1), {f"{name}/filter.yaml": A_1})
    commit(empty, day(2), {f"{name}/filter.yaml": A_2})
    expected = FilterHistory(day(1), day(2), {"1.0.0": day(1), "1.1.0": day(2)})
    assert catalog_history(empty) == {name: expected}
    assert filter_history(empty, name) == expected


def test_no_repository_or_no_commits_means_no_history(empty: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert catalog_history(empty) == {}
    assert filter_history(empty, "a") == FilterHistory(None, None)
    plain = tmp_path_factory.mktemp("plain")
    assert catalog_history(plain) == {}
    assert filter_history(plain, "a") == FilterHistory(None, None)
    assert catalog_history(plain / "missing") == {}
    (empty / "README.md").write_text("# not a filter\n")
    git(empty, "add", "-A")
    git(empty, "commit", "-qm", "no filters")
    assert catalog_history(empty) == {}


def test_export_never_writes_through_a_symlink_it_wrote(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A tree naming `src` twice, as a symlink and as a directory (git mktree allows it)."""
    outside = tmp_path_factory.mktemp("outside")
    directory = repo / "catalog" / "filters" / "a"
    (directory / "d").mkdir()
    (directory / "d" / "evil.txt").write_text("written outside\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "d")
    subtree = rev_parse(repo, "HEAD:catalog/filters/a/d")
    link = git(repo, "hash-object", "-w", "--stdin", input=str(outside)).strip()
    tree = git(repo, "mktree", input=f"120000 blob {link}\tsrc\n040000 tree {subtree}\tsrc\n").strip()
    commit = git(repo, "commit-tree", tree, "-m", "twice").strip()
    target = tmp_path_factory.mktemp("export")
    export_paths(repo, commit, ["src"], target, max_bytes=1000)
    assert (target / "src").is_symlink()
    assert list(outside.iterdir()) == []
