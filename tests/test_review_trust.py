"""The trusted verdict: what a pull request earns, and what it cannot talk its way into.

Every test is a real git repository with a base branch `main` and a pull request branch `pr`
(`tests/test_review.py` builds them). The fast path `simple-version-bump` is shown to hold for a
proven version bump by an owner, and each of its conditions to withhold it when that condition
fails; the platform, the pull request's own checks and the holes found in the review each get a
finding. The last tests go through `.github/scripts/trusted-review.sh`, the trusted workflow's own
entry point, with the pull request fetched from an `origin` as GitHub serves it (`refs/pull/N/head`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.gitops import gitrepo
from generator.gitops.verdict import MANAGED_LABELS, STATUS_CONTEXT
from tests.conftest import REPO_ROOT, CatalogBuilder, git, version_data
from tests.reviewrepo import V1, V2, Cli, bump, cited, commit, edit, metadata, only_filter, prove, review, review_repo

ALL_CONDITIONS = {
    "one-filter",
    "author-owns",
    "versions-only",
    "cases-kept",
    "proven",
    "proofs-kept",
    "no-new-capability",
    "same-abi-and-kind",
    "same-source",
    "checks-passed",
    "no-findings",
}


@pytest.fixture
def repo(catalog: CatalogBuilder) -> CatalogBuilder:
    return review_repo(catalog)


def unmet(report: dict[str, Any]) -> set[str]:
    """The fast-path conditions the report says do not hold."""
    assert report["labels"].count("simple-version-bump") == report["simple_version_bump"]["granted"]
    return {c["id"] for c in report["simple_version_bump"]["conditions"] if not c["met"]}


# --- the fast path: simple-version-bump ----------------------------------------------------------


def test_a_proven_bump_by_an_owner_holds_every_condition(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    report = review(cli, "--author", "alice", "--ci", "success")
    assert {c["id"] for c in report["simple_version_bump"]["conditions"]} == ALL_CONDITIONS
    assert unmet(report) == set()
    assert report["labels"] == ["simple-version-bump"]


def test_a_second_filter_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "jwt-claims", lambda data: data.update(summary="Other."))
    bump(repo)
    report = review(cli, "--author", "maint")
    # The other conditions are about the one filter of a version bump: with two, they are not asked.
    assert [c["id"] for c in report["simple_version_bump"]["conditions"]] == ["one-filter"]
    assert unmet(report) == {"one-filter"}


def test_a_path_outside_the_filter_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    (repo.root / "README.md").write_text("# The catalog, and more\n")
    bump(repo)
    # A README outside the filter (prose, not the platform) is a warning, CAT407: not a clean report.
    assert unmet(review(cli, "--author", "alice")) == {"one-filter", "no-findings"}


def test_an_author_who_does_not_own_the_filter_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    report = review(cli, "--author", "bob")
    assert unmet(report) == {"author-owns", "no-findings"}  # CAT406 is a warning
    assert unmet(review(cli)) == {"author-owns"}  # nobody vouches without an author


def test_checks_that_have_not_passed_withhold_it(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    assert unmet(review(cli, "--author", "alice", "--ci", "pending")) == {"checks-passed"}
    # Without word of the checks (a local run), the fast path is not granted either.
    report = json.loads(cli("review", "--base", "main", "--format", "json", "--author", "alice").stdout)
    assert unmet(report) == {"checks-passed"}


def test_a_changed_abi_or_kind_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo, abi="0.2.0")
    assert unmet(review(cli, "--author", "alice")) == {"same-abi-and-kind"}


def test_rewriting_the_proof_of_a_published_version_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    git(repo.root, "checkout", "-q", "main")
    prove(repo, "rate-limit", "1.0.0", V1)
    commit(repo, "proof of 1.0.0")
    git(repo.root, "checkout", "-q", "-B", "pr")
    proofs = repo.directory("rate-limit") / "proofs.yaml"
    proofs.write_text(proofs.read_text().replace("1.40.0", "1.41.0"))
    bump(repo)
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"proofs-kept"}
    assert only_filter(report)["proofs_rewritten"] == ["1.0.0"]


def test_another_metadata_change_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    data = metadata(repo, "rate-limit")
    data["summary"] = "Fewer requests, now."
    data["versions"].append(version_data("1.1.0", V2))
    repo.metadata_path("rate-limit").write_text(yaml.safe_dump(data, sort_keys=False))
    prove(repo, "rate-limit", "1.1.0")
    commit(repo)
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"versions-only"}
    message = next(c["message"] for c in report["simple_version_bump"]["conditions"] if c["id"] == "versions-only")
    assert message == "expected only new versions, got also: metadata"


def test_another_file_of_the_directory_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    (repo.directory("rate-limit") / "LICENSE").write_text("MIT\n")
    bump(repo)
    assert unmet(review(cli, "--author", "alice")) == {"versions-only"}


def test_a_weakened_case_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    cases = repo.directory("rate-limit") / "cases.yaml"
    cases.write_text(cases.read_text().replace("status: 200", "status: 404"))
    bump(repo)
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"cases-kept"}
    assert only_filter(report)["cases_weakened"] == ["case 'passes a request through' changed"]


def test_a_removed_case_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    (repo.directory("rate-limit") / "cases.yaml").write_text("cases: []\n")
    bump(repo)
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"cases-kept"}
    assert only_filter(report)["cases_weakened"] == ["case 'passes a request through' removed"]


def test_a_lowered_repeat_and_a_dropped_refusal_withhold_it(cli: Cli, repo: CatalogBuilder) -> None:
    cases = repo.directory("rate-limit") / "cases.yaml"
    git(repo.root, "checkout", "-q", "main")
    cases.write_text(
        "cases:\n- name: burst\n  requests:\n  - repeat: 5\n    expect: {status: 200}\n"
        "- name: refuses nonsense\n  config: {nope: 1}\n  loads: false\n"
    )
    commit(repo, "cases on main")
    git(repo.root, "checkout", "-q", "-B", "pr")
    cases.write_text("cases:\n- name: burst\n  requests:\n  - repeat: 1\n    expect: {status: 200}\n")
    data = metadata(repo, "rate-limit")
    data["versions"].append(version_data("1.1.0", V2))
    repo.metadata_path("rate-limit").write_text(yaml.safe_dump(data, sort_keys=False))
    prove(repo, "rate-limit", "1.1.0", cases=("burst",))
    commit(repo)
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"cases-kept"}
    assert only_filter(report)["cases_weakened"] == ["case 'burst' changed", "case 'refuses nonsense' removed"]


def test_a_version_without_a_proof_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", lambda data: data["versions"].append(version_data("1.1.0", V2)))
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"proven"}
    assert only_filter(report)["unproven"] == [
        "1.1.0 has no proof (run `catalog filter test rate-limit@1.1.0 --record`)"
    ]


def test_a_proof_of_other_bytes_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    data = metadata(repo, "rate-limit")
    data["versions"].append(version_data("1.1.0", V2))
    repo.metadata_path("rate-limit").write_text(yaml.safe_dump(data, sort_keys=False))
    prove(repo, "rate-limit", "1.1.0", V1)  # proven, but for the old binary
    commit(repo)
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"proven"}
    assert "1.1.0's proof is for another binary" in only_filter(report)["unproven"][0]


def test_a_proof_with_a_failing_or_missing_case_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    proofs_path = repo.directory("rate-limit") / "proofs.yaml"
    proofs = yaml.safe_load(proofs_path.read_text())
    proofs["versions"]["1.1.0"]["cases"][1]["passed"] = False
    proofs_path.write_text(yaml.safe_dump(proofs))
    commit(repo)
    assert only_filter(review(cli, "--author", "alice"))["unproven"] == ["1.1.0's proof records failing cases"]
    del proofs["versions"]["1.1.0"]["cases"][1]
    proofs_path.write_text(yaml.safe_dump(proofs))
    commit(repo)
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"proven"}
    assert only_filter(report)["unproven"] == ["1.1.0's proof does not cover 'passes a request through'"]


def test_a_new_capability_withholds_it(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo, capabilities=["http_calls"])
    report = review(cli, "--author", "alice")
    assert unmet(report) == {"no-new-capability"}
    assert report["headline"].endswith("rate-limit 1.1.0 (new version), new capability http_calls")


def test_failing_checks_withhold_it(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    report = review(cli, "--author", "alice", "--ci", "failure", status=1)
    assert unmet(report) == {"checks-passed", "no-findings"}  # and the failure is an error, CAT419
    assert cited(report) == ["CAT419"]
    assert report["status"]["state"] == "failure"


# --- the pull request's own checks ---------------------------------------------------------------


def test_checks_can_only_lower_the_verdict(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", lambda data: data["versions"][0].update(sha256="0" * 64))
    passing = review(cli, "--author", "alice", "--ci", "success", status=1)
    assert passing["status"]["state"] == "failure"  # green checks do not clear a rewritten published version
    assert "CAT401" in cited(only_filter(passing))


def test_pending_checks_hold_the_status_back(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    report = review(cli, "--author", "alice", "--ci", "pending")
    assert report["status"] == {
        "context": STATUS_CONTEXT,
        "state": "pending",
        "description": "waiting for the pull request's checks",
    }
    assert cited(report) == ["CAT420"]
    assert report["labels"] == []  # not until the checks have passed


# --- the platform --------------------------------------------------------------------------------


def test_changing_the_reviewer_and_a_published_binary_is_caught(cli: Cli, repo: CatalogBuilder) -> None:
    """The bypass: the pull request edits the review's code and, in the same commit, rewrites a
    published sha256. The review that runs is the base's, so both are errors, and the comment says
    first of all that the pull request changes the reviewer."""
    reviewer = repo.root / "generator" / "gitops" / "review.py"
    reviewer.parent.mkdir(parents=True)
    reviewer.write_text("def review(*args, **kwargs):\n    return None  # no findings, ever\n")
    edit(repo, "rate-limit", lambda data: data["versions"][0].update(sha256="f" * 64))
    report = review(cli, "--author", "alice", "--ci", "success", status=1)
    assert report["platform_paths"] == ["generator/gitops/review.py"]
    assert cited(report) == ["CAT417"]
    assert "CAT401" in cited(only_filter(report))
    assert report["status"]["state"] == "failure"
    assert set(report["labels"]) == {"changes-platform", "needs-maintainer"}
    markdown = cli("review", "--base", "main", "--author", "alice").stdout.splitlines()
    assert markdown[0] == "<!-- catalog-review -->"
    assert markdown[1].startswith("> [!CAUTION]")
    assert markdown[2].startswith(
        "> **This pull request changes the reviewer or the platform**: `generator/gitops/review.py`"
    )


def test_only_a_maintainers_approval_of_the_head_clears_a_platform_change(cli: Cli, repo: CatalogBuilder) -> None:
    (repo.root / "Makefile").write_text("test:\n\ttrue\n")
    commit(repo)
    for approver in ("alice", "Carol"):  # an owner, a team member: not maintainers
        report = review(cli, "--author", "alice", "--approved-by", approver, status=1)
        assert cited(report) == ["CAT417"]
    report = review(cli, "--author", "alice", "--approved-by", "alice", "--approved-by", "maint")
    assert cited(report) == ["CAT418"]
    assert report["approved_by"] == ["@alice", "@maint"]
    assert "approved by the maintainer @maint" in report["findings"][0]["message"]
    assert report["status"]["state"] == "success"
    assert set(report["labels"]) == {"changes-platform", "needs-maintainer"}


def test_codeowners_regenerated_for_the_pull_requests_own_owners_is_not_outside(cli: Cli, repo: CatalogBuilder) -> None:
    git(repo.root, "checkout", "-q", "main")
    assert cli("codeowners").exit_code == 0
    commit(repo, "CODEOWNERS")
    git(repo.root, "checkout", "-q", "-B", "pr")
    repo.add("path-policy", V1, owners=["@erin"])
    assert cli("codeowners").exit_code == 0
    commit(repo)
    report = review(cli, "--author", "erin")
    assert report["outside_paths"] == []
    assert cited(report) == []
    # CODEOWNERS edited by hand is the platform.
    codeowners = repo.root / ".github" / "CODEOWNERS"
    codeowners.write_text(codeowners.read_text() + "/catalog/filters/rate-limit/ @erin\n")
    commit(repo)
    report = review(cli, "--author", "erin", status=1)
    assert report["platform_paths"] == [".github/CODEOWNERS"]


def test_owner_and_repository_changes_are_in_the_headline(cli: Cli, repo: CatalogBuilder) -> None:
    def change(data: dict[str, Any]) -> None:
        data["owners"] = ["@alice", "@mallory"]
        data["repository"] = "https://example.org/elsewhere"

    edit(repo, "rate-limit", change)
    report = review(cli, "--author", "alice")
    entry = only_filter(report)
    assert (entry["owners_added"], entry["owners_removed"]) == (["@mallory"], ["@acme/edge"])
    assert report["headline"] == (
        "0 errors, 0 warnings: rate-limit metadata, owners +@mallory -@acme/edge, source repository changed"
    )


def test_a_new_version_downloaded_from_another_host_is_a_repository_change(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo, source={"url": "https://attacker.example/rate-limit.wasm"})
    report = review(cli, "--author", "alice")
    assert only_filter(report)["repository_changed"] is True
    assert "source repository changed" in report["headline"]
    assert unmet(report) == {"same-source"}


def test_the_report_names_every_managed_label(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    assert review(cli, "--author", "alice")["managed_labels"] == list(MANAGED_LABELS)


# --- holes ---------------------------------------------------------------------------------------


def test_a_control_character_is_a_finding_not_a_crash(cli: Cli, repo: CatalogBuilder) -> None:
    cases = repo.directory("rate-limit") / "cases.yaml"
    cases.write_bytes(cases.read_bytes() + b"# \x00 nothing to see\n")
    commit(repo)
    result = cli("review", "--base", "main", "--format", "json")
    assert result.exit_code == 1, result.output
    finding = next(f for f in only_filter(json.loads(result.stdout))["findings"] if f["rule"] == "CAT009")
    assert (finding["path"], finding["line"], finding["col"]) == ("catalog/filters/rate-limit/cases.yaml", 6, 3)
    assert finding["message"] == "expected text YAML allows, got U+0000 (a control character)"


def test_symlinks_submodules_and_big_files_in_a_filter_are_refused(cli: Cli, repo: CatalogBuilder) -> None:
    src = repo.directory("rate-limit") / "src"
    src.mkdir()
    (src / "secrets.c").symlink_to("/etc/passwd")
    (src / "blob.bin").write_bytes(b"x" * (1024 * 1024 + 1))
    commit(repo)
    head = git(repo.root, "rev-parse", "HEAD").strip()
    git(repo.root, "update-index", "--add", "--cacheinfo", f"160000,{head},catalog/filters/rate-limit/vendor")
    git(repo.root, "commit", "-qm", "a submodule")  # not `add -A`: the work tree has no checkout of it
    entry = only_filter(review(cli, status=1))
    refused = {(f["rule"], f["path"]) for f in entry["findings"] if f["severity"] == "error"}
    assert refused == {
        ("CAT005", "catalog/filters/rate-limit/src/secrets.c"),
        ("CAT001", "catalog/filters/rate-limit/src/blob.bin"),
        ("CAT010", "catalog/filters/rate-limit/vendor"),
    }


def test_a_readme_stub_a_missing_yank_reason_and_no_cases(cli: Cli, repo: CatalogBuilder) -> None:
    edit(repo, "rate-limit", lambda data: data["versions"][0].update(yanked=True))
    (repo.directory("rate-limit") / "README.md").write_text(
        "# Rate limit\n\nDescribe what the filter does to requests and responses, and when to use it.\n"
    )
    (repo.directory("rate-limit") / "cases.yaml").unlink()
    commit(repo)
    entry = only_filter(review(cli, "--author", "alice", status=1))
    assert {f["rule"]: f["severity"] for f in entry["findings"] if f["rule"] in ("CAT126", "CAT127", "CAT128")} == {
        "CAT126": "error",
        "CAT127": "warning",
        "CAT128": "error",
    }


def test_an_all_zero_sha256_is_reported_as_a_sha256(cli: Cli, repo: CatalogBuilder) -> None:
    path = repo.metadata_path("rate-limit")
    sha = yaml.safe_load(path.read_text())["versions"][0]["sha256"]
    path.write_text(path.read_text().replace(sha, "0" * 64))
    commit(repo)
    entry = only_filter(review(cli, status=1))
    message = next(f["message"] for f in entry["findings"] if f["field"] == "versions[0].sha256")
    assert message.startswith("expected a sha256 (64 hex digits, as text), got a number")


# --- through the trusted workflow's entry point ----------------------------------------------------

SCRIPT = REPO_ROOT / ".github" / "scripts" / "trusted-review.sh"


def github_like(repo: CatalogBuilder, tmp_path: Path) -> tuple[Path, str]:
    """An `origin` as GitHub serves a pull request (refs/pull/7/head) and a clone of its default
    branch, where the trusted job runs; the pull request's head SHA."""
    head = git(repo.root, "rev-parse", "pr").strip()
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo.root), str(origin))
    git(origin, "update-ref", "refs/pull/7/head", head)
    git(origin, "branch", "-q", "-D", "pr")
    workspace = tmp_path / "workspace"
    git(tmp_path, "clone", "-q", "--branch", "main", str(origin), str(workspace))
    return workspace, head


def files_of(workspace: Path) -> dict[Path, bytes]:
    return {
        p.relative_to(workspace): p.read_bytes() for p in workspace.rglob("*") if p.is_file() and ".git" not in p.parts
    }


def trusted_review(workspace: Path, head: str, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PR_NUMBER": "7",
        "HEAD_SHA": head,
        "BASE_REF": "main",
        "AUTHOR": "alice",
        "CI_STATE": "success",
        "APPROVED_BY": "",
        "OUT": str(out),
        "CATALOG": str(Path(sys.executable).with_name("catalog")),
        **env,
    }
    environment.pop("GH_TOKEN", None)
    return subprocess.run(["bash", str(SCRIPT)], cwd=workspace, env=environment, capture_output=True, text=True)


def test_the_trusted_entry_point_reviews_the_pull_request_as_data(repo: CatalogBuilder, tmp_path: Path) -> None:
    reviewer = repo.root / "generator" / "gitops" / "review.py"
    reviewer.parent.mkdir(parents=True)
    reviewer.write_text("raise SystemExit('the pull request's code ran')\n")
    edit(repo, "rate-limit", lambda data: data["versions"][0].update(sha256="f" * 64))
    workspace, head = github_like(repo, tmp_path)
    before = {
        p.relative_to(workspace): p.read_bytes() for p in workspace.rglob("*") if p.is_file() and ".git" not in p.parts
    }
    result = trusted_review(workspace, head, tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "out" / "review.json").read_text())
    assert report["head_commit"] == head
    assert report["status"]["state"] == "failure"
    assert "CAT417" in cited(report)
    assert "CAT401" in cited(only_filter(report))
    assert (tmp_path / "out" / "review.md").read_text().startswith("<!-- catalog-review -->\n> [!CAUTION]")
    # The workspace is the default branch's, untouched: the head was fetched, never checked out.
    assert git(workspace, "rev-parse", "HEAD").strip() == git(workspace, "rev-parse", "origin/main").strip()
    assert git(workspace, "status", "--porcelain") == ""
    after = {
        p.relative_to(workspace): p.read_bytes() for p in workspace.rglob("*") if p.is_file() and ".git" not in p.parts
    }
    assert after == before
    assert not (workspace / "generator").exists()


def test_the_trusted_entry_point_refuses_a_moved_head(repo: CatalogBuilder, tmp_path: Path) -> None:
    bump(repo)
    workspace, head = github_like(repo, tmp_path)
    result = trusted_review(workspace, "a" * 40, tmp_path / "out")
    assert result.returncode == 3
    assert f"is now at {head}" in result.stdout
    assert not (tmp_path / "out").exists()


def test_the_trusted_entry_point_passes_approvals_and_checks_on(repo: CatalogBuilder, tmp_path: Path) -> None:
    (repo.root / "Makefile").write_text("all:\n")
    bump(repo)
    workspace, head = github_like(repo, tmp_path)
    result = trusted_review(workspace, head, tmp_path / "out", APPROVED_BY="carol maint", CI_STATE="pending")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "out" / "review.json").read_text())
    assert report["approved_by"] == ["@carol", "@maint"]
    assert cited(report) == ["CAT418", "CAT420"]
    assert report["status"]["state"] == "pending"


# --- what a pull request cannot lean on -----------------------------------------------------------


def test_ownership_is_read_at_the_tip_of_the_base_not_where_the_branch_began(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)  # the pull request branched off before main changed the owners and the maintainers
    git(repo.root, "checkout", "-q", "main")
    edit(repo, "rate-limit", lambda data: data.update(owners=["@dave"]))
    teams = repo.root / "catalog" / "teams.yaml"
    teams.write_text(teams.read_text().replace("['@maint']", "['@other']"))
    commit(repo, "new owners and maintainers on main")
    git(repo.root, "checkout", "-q", "pr")
    report = review(cli, "--author", "alice")
    assert only_filter(report)["owners"] == ["@dave"]
    assert cited(only_filter(report), "warning") == ["CAT406"]  # alice no longer owns it
    assert "simple-version-bump" not in report["labels"]
    (repo.root / "Makefile").write_text("all:\n")
    commit(repo)
    assert cited(review(cli, "--author", "alice", "--approved-by", "maint", status=1)) == ["CAT417"]
    assert cited(review(cli, "--author", "alice", "--approved-by", "other")) == ["CAT418"]


def test_anything_outside_the_filters_but_prose_is_the_platform(cli: Cli, repo: CatalogBuilder) -> None:
    # Each would change what the pull request's own checks run, so that they pass without checking.
    for name in ("GNUmakefile", "pytest.py", "tests/conftest.py", "docs/index.md", "catalog/filters/.hidden/x"):
        path = repo.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# anything\n")
    (repo.root / "CONTRIBUTING.md").write_text("# More prose\n")
    commit(repo)
    report = review(cli, "--author", "alice", status=1)
    assert report["platform_paths"] == [
        "GNUmakefile",
        "catalog/filters/.hidden/x",
        "docs/index.md",
        "pytest.py",
        "tests/conftest.py",
    ]
    assert cited(report) == ["CAT417", "CAT407"]  # the prose is outside the filter, not the platform


def test_only_the_workflow_itself_reports_the_checks(cli: Cli, repo: CatalogBuilder) -> None:
    script = (REPO_ROOT / ".github" / "scripts" / "review-inputs.sh").read_text()
    assert '[ "$RUN_PATH" = ".github/workflows/$PR_WORKFLOW" ]' in script  # not a workflow that took its name


def test_bots_and_old_logins_are_logins(cli: Cli, repo: CatalogBuilder) -> None:
    bump(repo)
    report = review(cli, "--author", "dependabot[bot]", "--approved-by", "old--login-")
    assert (report["author"], report["approved_by"]) == ("@dependabot[bot]", ["@old--login-"])


def test_a_path_that_is_not_utf8_is_reported_not_a_crash(cli: Cli, repo: CatalogBuilder) -> None:
    name = b"catalog/filters/rate-limit/src/caf\xe9.c"
    path = Path(os.fsdecode(bytes(repo.root) + b"/" + name))
    path.parent.mkdir(parents=True)
    path.write_text("int x;\n")
    codeowners = repo.root / ".github" / "CODEOWNERS"
    codeowners.parent.mkdir()
    codeowners.write_bytes(b"* @acme/maintainers \xff\n")
    commit(repo)
    result = cli("review", "--base", "main", "--ci", "success")
    assert result.exit_code == 1, result.output  # CODEOWNERS that is not what `catalog codeowners` writes
    assert "\\udce9" in result.stdout
    report = review(cli, status=1)
    assert report["platform_paths"] == [".github/CODEOWNERS"]
    assert "src/caf\udce9.c" in only_filter(report)["changes"][-1]["paths"]


def test_a_pull_request_too_large_to_read_is_an_error(
    cli: Cli, repo: CatalogBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("generator.gitops.review.MAX_CHANGED_PATHS", 10)
    for index in range(11):
        (repo.directory("rate-limit") / f"f{index}.c").write_text("\n")
    commit(repo)
    report = review(cli, status=1)
    assert report["filters"] == []
    assert report["findings"][0]["message"] == (
        "the pull request changes more than 10 paths: too many to review; split it"
    )
    assert report["status"]["state"] == "failure"


def test_a_filter_over_the_caps_is_not_exported_whole(
    cli: Cli, repo: CatalogBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("generator.gitops.review.MAX_FILES", 3)
    monkeypatch.setattr("generator.metadata.checks.MAX_FILES", 3)
    exported: list[list[str]] = []
    real = gitrepo.export_paths

    def spy(root: Path, commit: str, paths: list[str], target: Path, *, max_bytes: int) -> None:
        exported.append(list(paths))
        real(root, commit, paths, target, max_bytes=max_bytes)

    monkeypatch.setattr("generator.gitops.gitrepo.export_paths", spy)
    for index in range(5):
        (repo.directory("rate-limit") / f"f{index}.c").write_text("\n")
    bump(repo)
    entry = only_filter(review(cli, "--author", "alice", status=1))
    assert "catalog/filters/rate-limit" not in exported[1]  # the head: only the files the loader reads
    assert "catalog/filters/rate-limit/filter.yaml" in exported[1]
    assert any(f["rule"] == "CAT001" and "files" in f["message"] for f in entry["findings"])
