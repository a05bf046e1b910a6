"""`catalog review`: pull requests in real git repositories, judged filter by filter.

The base branch `main` holds two published filters and the teams file; each test makes a pull
request branch `pr` with one kind of change and reads the report through the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.gitops.report import code_span, md_inline
from tests.conftest import CatalogBuilder, git, version_data
from tests.reviewrepo import (
    TEAMS,
    V1,
    V2,
    Cli,
    add_version,
    bump,
    cited,
    commit,
    edit,
    kinds,
    only_filter,
    review,
    review_repo,
)


@pytest.fixture
def repo(catalog: CatalogBuilder) -> CatalogBuilder:
    return review_repo(catalog)


# --- what changed ------------------------------------------------------------------------------


def test_new_filter_needs_a_maintainer_not_an_owner(cli: Cli, repo: CatalogBuilder) -> None:
    repo.add("path-policy", V1, owners=["@erin"])
    commit(repo)
    report = review(cli, "--author", "bob")
    entry = only_filter(report)
    assert (entry["name"], entry["status"], entry["owners"]) == ("path-policy", "new", ["@erin"])
    assert entry["changes"][0] == {"kind": "new-filter", "versions": ["1.0.0"]}
    assert cited(entry) == ["CAT409"]  # a note: a maintainer approves new filters
    assert "@acme/maintainers" in entry["findings"][0]["message"]
    assert (report["errors"], report["warnings"]) == (0, 0)
    assert report["labels"] == ["new-filter", "needs-maintainer"]
    assert report["headline"] == "0 errors, 0 warnings: path-policy 1.0.0 (new filter)"


@pytest.mark.parametrize("author", ["alice", "@Alice", "carol", "maint"])  # user, any case, team member, maintainer
def test_version_bump_by_an_owner_is_a_simple_version_bump(cli: Cli, repo: CatalogBuilder, author: str) -> None:
    (repo.directory("rate-limit") / "README.md").write_text("# rate-limit\n\nNow faster.\n")
    bump(repo)
    report = review(cli, "--author", author)
    entry = only_filter(report)
    assert kinds(entry) == ["new-version", "files"]
    assert entry["changes"][0] == {"kind": "new-version", "version": "1.1.0"}
    assert entry["changes"][1]["paths"] == ["README.md", "filter.yaml", "proofs.yaml"]
    assert report["labels"] == ["simple-version-bump"]
    assert report["simple_version_bump"]["granted"] is True
    assert all(condition["met"] for condition in report["simple_version_bump"]["conditions"])
    assert report["status"] == {"context": "catalog review", "state": "success", "description": report["headline"]}
    assert (report["errors"], report["warnings"]) == (0, 0)
    assert report["headline"] == "0 errors, 0 warnings: rate-limit 1.1.0 (new version)"
    binary = entry["binary"]
    assert (binary["from"]["version"], binary["to"]["version"]) == ("1.0.0", "1.1.0")
    assert binary["size_delta"] == len(V2) - len(V1)
    assert binary["size_delta_percent"] == round(100 * (len(V2) - len(V1)) / len(V1), 1)
    assert cited(entry) == ["CAT413"]  # the size note


def test_version_bump_by_someone_else_is_a_warning(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", add_version("1.1.0"))
    report = review(cli, "--author", "@bob")
    entry = only_filter(report)
    assert cited(entry, "warning") == ["CAT406"]
    assert report["author"] == "@bob"
    assert report["labels"] == []
    assert review(cli)["labels"] == []  # without an author, nobody vouches for the owner


def test_pull_request_cannot_make_its_author_an_owner(cli: Cli, repo: CatalogBuilder) -> None:
    (repo.root / "catalog" / "teams.yaml").write_text(TEAMS.replace("['@Carol']", "['@Carol', '@bob']"))
    edit(repo, "rate-limit", add_version("1.1.0"))
    report = review(cli, "--author", "bob", status=1)
    assert cited(only_filter(report), "warning") == ["CAT406"]  # owners come from the base
    assert report["outside_paths"] == report["platform_paths"] == ["catalog/teams.yaml"]
    assert cited(report) == ["CAT417"]  # and who owns what is the platform: a maintainer approves it


def test_rewriting_a_published_binary_is_an_error(cli: Cli, repo: CatalogBuilder) -> None:
    def rewrite(data: dict[str, Any]) -> None:
        data["versions"][0] = version_data("1.0.0", V2)

    edit(repo, "rate-limit", rewrite)
    report = review(cli, "--author", "alice", status=1)
    entry = only_filter(report)
    assert entry["changes"][0] == {"kind": "changed-version", "version": "1.0.0", "fields": ["sha256", "size"]}
    [error] = [f for f in entry["findings"] if f["severity"] == "error"]
    assert (error["rule"], error["field"], error["path"]) == (
        "CAT401",
        "versions[0].sha256",
        "catalog/filters/rate-limit/filter.yaml",
    )
    assert error["line"] is not None
    assert report["labels"] == []


def test_a_downgrade_is_an_error(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", add_version("0.9.0"))
    entry = only_filter(review(cli, "--author", "alice", status=1))
    downgrade = next(f for f in entry["findings"] if f["rule"] == "CAT404")
    assert (downgrade["severity"], downgrade["field"]) == ("error", "versions[1].version")
    assert "CAT117" in cited(entry)  # and out of order


def test_removing_a_version_is_an_error(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", add_version("1.1.0"))
    git(repo.root, "checkout", "-q", "main")
    git(repo.root, "merge", "-q", "--ff-only", "pr")
    git(repo.root, "checkout", "-q", "pr")
    edit(repo, "rate-limit", lambda data: data["versions"].pop(0))
    entry = only_filter(review(cli, "--author", "alice", status=1))
    assert {"kind": "removed-version", "version": "1.0.0"} in entry["changes"]
    assert cited(entry, "error") == ["CAT402"]


def test_a_yank_is_fine_and_final(cli: Cli, repo: CatalogBuilder) -> None:
    def yank(data: dict[str, Any]) -> None:
        data["versions"][0].update(yanked=True, yank_reason="leaks memory")

    edit(repo, "rate-limit", yank)
    report = review(cli, "--author", "alice")
    entry = only_filter(report)
    assert entry["changes"][0] == {"kind": "yank", "version": "1.0.0", "reason": "leaks memory"}
    assert (report["errors"], report["warnings"], report["labels"]) == (0, 0, ["yank"])
    git(repo.root, "checkout", "-q", "main")
    git(repo.root, "merge", "-q", "--ff-only", "pr")
    git(repo.root, "checkout", "-q", "pr")
    edit(repo, "rate-limit", lambda data: data["versions"][0].update(yanked=False, yank_reason=None))
    entry = only_filter(review(cli, "--author", "alice", status=1))
    assert entry["changes"][0] == {"kind": "unyank", "version": "1.0.0"}
    assert cited(entry, "error") == ["CAT403"]


def test_visibility_and_metadata_changes_are_reported(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", lambda data: data.update(visibility="unlisted", summary="Fewer requests."))
    report = review(cli, "--author", "alice")
    entry = only_filter(report)
    assert entry["changes"][:2] == [
        {"kind": "visibility", "from": "public", "to": "unlisted"},
        {"kind": "metadata", "fields": ["summary"]},
    ]
    assert entry["binary"] is None
    assert report["labels"] == ["visibility-change"]
    assert report["headline"] == "0 errors, 0 warnings: rate-limit now unlisted, metadata"


def test_other_filters_and_files_outside_need_a_maintainer(cli: Cli, repo: CatalogBuilder) -> None:
    (repo.root / "README.md").write_text("# The catalog, edited\n")
    edit(repo, "jwt-claims", lambda data: data.update(summary="Other."))
    edit(repo, "rate-limit", add_version("1.1.0"))
    report = review(cli, "--author", "alice")
    assert [f["name"] for f in report["filters"]] == ["jwt-claims", "rate-limit"]
    assert report["outside_paths"] == ["README.md"]
    assert cited(report) == ["CAT407", "CAT408"]
    assert cited(report["filters"][0], "warning") == ["CAT406"]  # alice does not own jwt-claims
    assert report["warnings"] == 3
    assert report["labels"] == ["needs-maintainer"]


def test_a_new_outbound_capability_is_called_out(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", add_version("1.1.0", capabilities=["http_calls"], kind="both", abi="0.2.0"))
    report = review(cli, "--author", "alice")
    entry = only_filter(report)
    assert entry["binary"]["capabilities_added"] == ["http_calls"]
    assert (entry["binary"]["abi_changed"], entry["binary"]["kind_changed"]) == (True, True)
    assert cited(entry, "note") == ["CAT413", "CAT414", "CAT415", "CAT416"]  # size, ABI, kind, capability
    assert "HTTP calls" in entry["findings"][-1]["message"]
    assert report["labels"] == []  # a reviewer should look, even for an owner's bump


def test_removing_a_published_filter_is_an_error(cli: Cli, repo: CatalogBuilder) -> None:
    git(repo.root, "rm", "-rq", "catalog/filters/jwt-claims")
    commit(repo)
    report = review(cli, "--author", "dave", status=1)
    entry = only_filter(report)
    assert (entry["status"], entry["changes"]) == ("removed", [{"kind": "removed-filter", "versions": ["1.0.0"]}])
    assert cited(entry, "error") == ["CAT405"]
    assert "catalog filter unlist jwt-claims" in entry["findings"][0]["message"]
    assert report["headline"] == "1 error, 0 warnings: jwt-claims (removed)"


@pytest.mark.parametrize(
    ("owners", "rule"),
    [
        (["@alice", "@acme/nobody"], "CAT125"),  # a team that teams.yaml does not list
        (["alice"], "CAT113"),  # not a handle
    ],
)
def test_owner_problems_at_the_head_are_errors(cli: Cli, repo: CatalogBuilder, owners: list[str], rule: str) -> None:
    edit(repo, "rate-limit", lambda data: data.update(owners=owners))
    entry = only_filter(review(cli, "--author", "alice", status=1))
    assert cited(entry, "error")[-1] == rule


def test_a_head_that_does_not_load_is_an_error(cli: Cli, repo: CatalogBuilder) -> None:
    repo.write("rate-limit", "name: rate-limit\n  bad: indent\n")
    commit(repo)
    entry = only_filter(review(cli, status=1))
    assert cited(entry, "error") == ["CAT410", "CAT002"]  # does not load, because of a YAML error


def broken_at_the_base(repo: CatalogBuilder) -> None:
    """`main` gets a rate-limit whose filter.yaml does not load; the branch `pr` starts from there."""
    git(repo.root, "checkout", "-q", "main")
    good = repo.metadata_path("rate-limit").read_text()
    repo.write("rate-limit", "name: rate-limit\n  bad: indent\n")
    commit(repo, "broken on main")
    git(repo.root, "checkout", "-q", "-B", "pr")
    repo.metadata_path("rate-limit").write_text(good)


def test_a_filter_that_did_not_load_at_the_base_cannot_be_compared(cli: Cli, repo: CatalogBuilder) -> None:
    broken_at_the_base(repo)
    commit(repo, "fixed")
    report = review(cli, "--author", "alice")
    entry = only_filter(report)
    assert cited(entry, "warning") == ["CAT411"]
    assert "its published versions cannot be compared" in entry["findings"][0]["message"]
    assert report["labels"] == ["needs-maintainer"]


def test_removing_a_filter_that_did_not_load_at_the_base_needs_a_maintainer(cli: Cli, repo: CatalogBuilder) -> None:
    broken_at_the_base(repo)
    git(repo.root, "rm", "-rqf", "catalog/filters/rate-limit")
    commit(repo, "removed")
    entry = only_filter(review(cli, "--author", "alice"))
    assert entry["status"] == "removed"
    assert cited(entry, "warning") == ["CAT412"]
    assert "a maintainer must check what it published" in entry["findings"][0]["message"]


def test_symlinks_are_refused_as_in_a_checkout(cli: Cli, repo: CatalogBuilder) -> None:
    readme = repo.directory("rate-limit") / "README.md"
    readme.unlink()
    readme.symlink_to("/etc/passwd")
    (repo.root / "catalog" / "filters" / ".keep").write_text("")  # not a filter: the loader skips dot names
    commit(repo)
    report = review(cli, status=1)
    assert report["outside_paths"] == ["catalog/filters/.keep"]
    entry = only_filter(report)
    assert entry["findings"][0]["path"] == "catalog/filters/rate-limit/README.md"
    assert "symlink" in entry["findings"][0]["message"]


def test_no_changes(cli: Cli, repo: CatalogBuilder) -> None:
    report = review(cli, "--author", "alice")
    assert (report["filters"], report["outside_paths"], report["labels"]) == ([], [], [])
    assert report["headline"] == "0 errors, 0 warnings: no changes"


def test_only_commits_count_not_the_work_tree(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    repo.write("rate-limit", "not: [valid\n")  # uncommitted
    report = review(cli, "--head", "pr", "--author", "alice")
    assert report["labels"] == ["simple-version-bump"]
    assert report["head"] == "pr"
    assert report["merge_base"] == git(repo.root, "rev-parse", "main").strip()


# --- the comment and the command line ---------------------------------------------------------


def test_markdown_report(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", add_version("1.1.0", capabilities=["http_calls"]))
    result = cli("review", "--base", "main", "--author", "bob")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "<!-- catalog-review -->"
    assert lines[1] == (
        "### Catalog review: 0 errors, 1 warning&#58; rate-limit 1.1.0 &#40;new version&#41;, "
        "new capability http&#95;calls"
    )
    assert "#### rate-limit: Rate limit (changed)" in lines
    assert "Owners at the base: `@alice`, `@acme/edge`" in lines
    assert "- new version 1.1.0" in lines
    assert any(line.startswith("| 1.1.0 | ") and "**http&#95;calls** (new)" in line for line in lines)
    warning = next(line for line in lines if line.startswith("- **warning**: the author @\u200dbob is not an owner"))
    assert warning.endswith("(CAT406)")


def test_markdown_escapes_contributors_text(cli: Cli, repo: CatalogBuilder) -> None:
    repo.add("evil", V1, title="Hi @everyone [x](https://e.example) <img src=x> #1")
    commit(repo)
    result = cli("review", "--base", "main", "--author", "mallory")
    heading = next(line for line in result.stdout.splitlines() if line.startswith("#### evil"))
    for unsafe in ("@everyone", "[x]", "(https", "https://", "<img", "#1"):
        assert unsafe not in heading
    assert "@\u200deveryone" in heading


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@alice", "@\u200dalice"),
        ("see www.example.org", "see www\u200d.example.org"),
        ("https://x", "https&#58;\u200d//x"),
        ("<b>*x*</b>", "&#60;b&#62;&#42;x&#42;&#60;/b&#62;"),
        ("see GH-123", "see GH\u200d-123"),
        ("$x^2$", "&#36;x&#94;2&#36;"),
    ],
)
def test_md_inline(text: str, expected: str) -> None:
    assert md_inline(text) == expected


def test_code_spans_cannot_be_closed_from_inside() -> None:
    assert code_span("a`b") == "``a`b``"
    assert code_span("`x") == "`` `x ``"
    assert code_span("plain") == "`plain`"


def test_output_file_and_exit_status(cli: Cli, repo: CatalogBuilder, tmp_path: Path) -> None:
    edit(repo, "rate-limit", lambda data: data["versions"][0].update(size=1))
    target = tmp_path / "review.json"
    result = cli("review", "--base", "main", "--format", "json", "-o", str(target))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert json.loads(target.read_text())["errors"] == 1
    assert "1 error" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--base", "nope"), "--base: unknown git ref 'nope'"),
        (("--base", "main", "--head", "--output=/tmp/x"), "--head: expected a git ref"),
        (("--base", "main", "--author", "not a login"), "--author: expected a GitHub login"),
    ],
)
def test_usage_errors(cli: Cli, repo: CatalogBuilder, args: tuple[str, ...], message: str) -> None:
    result = cli("review", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_not_a_git_repository(cli: Cli, catalog: CatalogBuilder) -> None:
    result = cli("review", "--base", "main")
    assert result.exit_code == 2
    assert "is not a git repository" in result.stderr
