"""The workflows in .github/workflows, run end to end before GitHub ever sees them.

Each test is a story on a local "GitHub" (tests/workflowrun.py) holding this repository as the
work tree has it: the workflow files, Makefile, generator and catalog that run are the ones being
changed, so changing a step changes what these tests run. Jobs run their real `run:` steps (make,
catalog, the review scripts, gh against the local API); only the actions are local equivalents.
Two jobs of pr.yml are left out: `test` is this test suite, and `lint` is `make lint`, which
`make test` runs before it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.gitops.verdict import STATUS_CONTEXT
from tests.workflowrun import ZERO_SHA, LocalGitHub, WorkflowRun, git

pytestmark = pytest.mark.slow

NOT_RUN = {
    "pr.yml/test": "it is this test suite (make test)",
    "pr.yml/lint": "make lint, which make test runs before this suite",
}
CATALOG = str(Path(sys.executable).parent / "catalog")
MARKER = "<!-- catalog-review-comment -->"


@pytest.fixture
def github(tmp_path: Path) -> LocalGitHub:
    return LocalGitHub.with_this_repository(tmp_path / "github", NOT_RUN)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture
def pages(github: LocalGitHub) -> Iterator[str]:
    """GitHub Pages: what the last deployment left, served on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(github.pages)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (a test server on 127.0.0.1)
        body: bytes = response.read()
        return body


def site_versions(pages: str) -> dict[str, list[str]]:
    """The versions of each filter on the deployed site, from its index.json."""
    index = json.loads(fetch(pages + "index.json"))
    return {f["name"]: [v["version"] for v in f["versions"]] for f in index["filters"]}


def catalog(clone: Path, *args: str) -> str:
    result = subprocess.run([CATALOG, "--root", str(clone), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"catalog {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def commit(clone: Path, message: str) -> None:
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", message, cwd=clone)


def filter_yaml(clone: Path, name: str) -> Path:
    return clone / "catalog" / "filters" / name / "filter.yaml"


def versions(clone: Path, name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(filter_yaml(clone, name).read_text())["versions"]
    return entries


def new_version(clone: Path, name: str, version: str, source: str, old: str, new: str) -> dict[str, Any]:
    """A new version of `name` built from a changed source (`old` replaced by `new` in `source`),
    its facts recorded by `catalog filter build --record`, committed. Returns its entry."""
    path = filter_yaml(clone, name)
    data = yaml.safe_load(path.read_text())
    entry = copy.deepcopy(data["versions"][-1]) | {"version": version, "sha256": "0" * 64, "size": 1}
    data["versions"].append(entry)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    source_file = clone / "catalog" / "filters" / name / source
    text = source_file.read_text()
    assert old in text, f"{old!r} is not in {source}: update the test"
    source_file.write_text(text.replace(old, new, 1))
    catalog(clone, "filter", "build", name, "--record")
    commit(clone, f"{name} {version}")
    return versions(clone, name)[-1]


def released_so_far(github: LocalGitHub, tmp_path: Path) -> None:
    """Every version on main released already, as a catalog with a history has them."""
    clone = github.clone(tmp_path / "history", "maintainer")
    plan = json.loads(catalog(clone, "release", "plan", "--base", "", "--head", "HEAD", "--format", "json"))
    head = git("rev-parse", "HEAD", cwd=clone)
    for release in plan:
        github.seed_release(release["tag"], head)


def succeeded(runs: list[WorkflowRun]) -> None:
    for run in runs:
        assert run.conclusion == "success", run.failures()


def only(runs: list[WorkflowRun], file: str) -> WorkflowRun:
    (run,) = [run for run in runs if run.file == file]
    return run


def release_jobs(run: WorkflowRun) -> dict[str, Any]:
    """The release matrix's entries by tag."""
    return {job.matrix["release"]["tag"]: job for job in run.jobs["release"] if job.matrix is not None}


# --- a new filter: its pull request, the review, the merge ------------------------------------------


def test_a_new_filters_pull_request_is_checked_reviewed_merged_and_released(
    github: LocalGitHub, pages: str, tmp_path: Path
) -> None:
    released_so_far(github, tmp_path)
    clone = github.clone(tmp_path / "carol", "carol")
    git("checkout", "-q", "-b", "greeting", cwd=clone)
    catalog(clone, "filter", "clone", "add-header", "greeting", "--owner", "@carol")
    catalog(clone, "codeowners")
    commit(clone, "Add greeting, a copy of add-header")

    number, runs = github.open_pull_request(clone, "greeting", "carol", "Add greeting")
    head = git("rev-parse", "HEAD", cwd=clone)

    # The trusted review answers first (the checks are pending), then pr.yml, then the review again.
    assert [(run.file, run.event) for run in runs] == [
        ("review.yml", "pull_request_target"),
        ("pr.yml", "pull_request"),
        ("review.yml", "workflow_run"),
    ]
    succeeded(runs)
    checks = only(runs, "pr.yml")
    assert {job_id: jobs[0].not_run for job_id, jobs in checks.jobs.items() if jobs[0].not_run} == {
        "lint": NOT_RUN["pr.yml/lint"],
        "test": NOT_RUN["pr.yml/test"],
    }
    validate = checks.job("validate")
    assert validate.container is not None
    assert validate.container.startswith("python:3.11-bookworm@sha256:")
    proof = validate.step("catalog validate --changed-since --deep").log
    assert "checking greeting: behaviour cases in Envoy" in proof
    assert "1 filter checked: 0 errors" in proof  # only the changed filter
    assert validate.installed == ["clang-14 lld-14"]  # what make toolchain-clang put in the image
    assert checks.job("site").result == "success"
    assert checks.job("site").installed == []  # make site needs no toolchain
    assert only(runs[:1], "review.yml").job("review").installed == ["gh jq"]

    statuses = github.statuses(head)
    assert [(s["context"], s["state"]) for s in statuses] == [(STATUS_CONTEXT, "pending"), (STATUS_CONTEXT, "success")]
    assert "greeting 1.0.0 (new filter)" in statuses[-1]["description"]
    comments = github.state["comments"][str(number)]
    assert len(comments) == 1  # updated in place by the second review
    assert comments[0]["body"].startswith(MARKER)
    assert "new-filter" in github.state["labels"][str(number)]
    assert github.denied() == []
    # The pull request's code never ran where a token could write.
    assert all(call[0] == "api" for call in github.calls("review.yml/publish"))

    # A maintainer approves: pr-review-event.yml finishes and the review runs again.
    runs = github.review(number, "catalog-maintainer")
    assert [(run.file, run.event) for run in runs] == [
        ("pr-review-event.yml", "pull_request_review"),
        ("review.yml", "workflow_run"),
    ]
    succeeded(runs)
    assert github.statuses(head)[-1]["state"] == "success"
    assert len(github.state["comments"][str(number)]) == 1

    # The merge releases the new filter and deploys the site with it.
    runs = github.merge(number)
    publish = only(runs, "publish.yml")
    assert publish.conclusion == "success", publish.failures()
    assert list(release_jobs(publish)) == ["greeting-v1.0.0"]
    release = github.releases()["greeting-v1.0.0"]
    assert release["assets"] == ["greeting-1.0.0.wasm", "greeting-1.0.0.wasm.sha256"]
    entry = versions(clone, "greeting")[-1]
    assert (
        hashlib.sha256(github.asset("greeting-v1.0.0", "greeting-1.0.0.wasm").read_bytes()).hexdigest()
        == entry["sha256"]
    )
    assert "&#" not in release["body"]  # Markdown, not HTML-escaped
    assert "greeting" in site_versions(pages)
    assert "Add header" in fetch(pages + "filters/greeting/").decode()


# --- a merge that releases several versions ----------------------------------------------------------


def test_a_push_releases_two_versions_of_two_filters(github: LocalGitHub, pages: str, tmp_path: Path) -> None:
    """A merge of a branch that added two versions to a WAT filter and two to a C filter."""
    released_so_far(github, tmp_path)
    clone = github.clone(tmp_path / "maintainer", "maintainer")
    wat, c = "src/add_header.wat", "src/api_key_auth.c"
    entries = {
        "add-header-v1.1.0": new_version(clone, "add-header", "1.1.0", wat, '"add-header")', '"add-headeR")'),
        "api-key-auth-v1.1.0": new_version(clone, "api-key-auth", "1.1.0", c, "api-key-auth", "api-key-Auth"),
        "add-header-v1.2.0": new_version(clone, "add-header", "1.2.0", wat, '"add-headeR")', '"add-HeadeR")'),
        "api-key-auth-v1.2.0": new_version(clone, "api-key-auth", "1.2.0", c, "api-key-Auth", "api-Key-Auth"),
    }

    runs = github.push(clone)

    publish = only(runs, "publish.yml")
    assert publish.conclusion == "success", publish.failures()
    jobs = release_jobs(publish)
    assert sorted(jobs) == sorted(entries)
    # A 1.1.0 is no longer the newest: its binary is built from the commit that introduced it.
    for tag in ("add-header-v1.1.0", "api-key-auth-v1.1.0"):
        assert "built from commit" in jobs[tag].step("catalog release prepare").log
    for tag, entry in entries.items():
        asset = github.asset(tag, f"{tag.replace('-v', '-')}.wasm")
        assert hashlib.sha256(asset.read_bytes()).hexdigest() == entry["sha256"], tag
        assert github.releases()[tag]["target_commitish"] == publish.head_sha
    assert jobs["api-key-auth-v1.1.0"].installed == ["gh jq", "clang-14 lld-14"]  # only the recipe's toolchain
    assert jobs["add-header-v1.1.0"].installed == ["gh jq"]  # WAT needs none
    assert jobs["api-key-auth-v1.1.0"].ran()[:4] == [
        "actions/checkout",
        "Trust the checkout",
        "The catalog command, gh and jq",
        "Released already?",
    ]
    assert site_versions(pages)["add-header"][:3] == ["1.2.0", "1.1.0", "1.0.0"]
    assert site_versions(pages)["api-key-auth"][:3] == ["1.2.0", "1.1.0", "1.0.0"]


def test_a_rerun_of_the_same_push_releases_nothing_twice_and_fails_nothing(github: LocalGitHub, pages: str) -> None:
    """The first push of main (before: all zeros) releases every version; running it again touches none."""
    head = github.ref("refs/heads/main")
    assert head is not None

    first = only(github.push_event("main", ZERO_SHA, head), "publish.yml")
    assert first.conclusion == "success", first.failures()
    tags = sorted(github.releases())
    assert len(tags) >= 7
    assert sorted(release_jobs(first)) == tags
    created = [call for call in github.calls() if call[:2] == ["release", "create"]]
    assert len(created) == len(tags)

    again = only(github.push_event("main", ZERO_SHA, head), "publish.yml")
    assert again.conclusion == "success", again.failures()
    assert [call for call in github.calls() if call[:2] == ["release", "create"]] == created
    for job in again.jobs["release"]:
        assert job.ran() == [
            "actions/checkout",
            "Trust the checkout",
            "The catalog command, gh and jq",
            "Released already?",
        ]
    assert sorted(again.notices()) == sorted(f"release {tag} exists already; not touching it" for tag in tags)
    assert again.result("pages") == "success"
    assert len(site_versions(pages)) == len(tags)


def test_a_private_filter_made_public_again_is_not_released_again(
    github: LocalGitHub, pages: str, tmp_path: Path
) -> None:
    released_so_far(github, tmp_path)
    clone = github.clone(tmp_path / "maintainer", "maintainer")
    catalog(clone, "filter", "unpublish", "jwt-claims")
    commit(clone, "jwt-claims: private for now")
    hidden = only(github.push(clone), "publish.yml")
    assert hidden.conclusion == "success", hidden.failures()
    assert hidden.result("release") == "skipped"  # nothing to release
    assert "jwt-claims" not in site_versions(pages)

    catalog(clone, "filter", "publish", "jwt-claims")
    commit(clone, "jwt-claims: public again")
    shown = only(github.push(clone), "publish.yml")
    assert shown.conclusion == "success", shown.failures()
    (job,) = shown.jobs["release"]
    assert job.name == "Release jwt-claims-v1.0.0"
    assert job.step("catalog release prepare").outcome == "skipped"
    assert shown.notices() == ["release jwt-claims-v1.0.0 exists already; not touching it"]
    assert not any(call[:2] == ["release", "create"] for call in github.calls())
    assert "jwt-claims" in site_versions(pages)


def test_one_release_that_fails_keeps_neither_the_others_nor_the_site_back(
    github: LocalGitHub, pages: str, tmp_path: Path
) -> None:
    released_so_far(github, tmp_path)
    clone = github.clone(tmp_path / "maintainer", "maintainer")
    new_version(clone, "add-header", "1.1.0", "src/add_header.wat", '"add-header")', '"add-headeR")')
    new_version(clone, "rate-limit", "1.1.0", "src/rate_limit.c", '"rate-limit"', '"rate-Limit"')
    # A sha256 no build gives and no release has: this version cannot be released.
    data = yaml.safe_load(filter_yaml(clone, "rate-limit").read_text())
    data["versions"][-1]["sha256"] = "ab" * 32
    filter_yaml(clone, "rate-limit").write_text(yaml.safe_dump(data, sort_keys=False))
    commit(clone, "rate-limit 1.1.0: a sha256 nothing matches")

    publish = only(github.push(clone), "publish.yml")

    assert publish.conclusion == "failure"
    jobs = release_jobs(publish)
    assert jobs["add-header-v1.1.0"].result == "success"
    failed = jobs["rate-limit-v1.1.0"]
    assert failed.result == "failure"
    assert failed.step("catalog release prepare").outcome == "failure"
    log = failed.step("catalog release prepare").log
    assert "refused the binary of rate-limit 1.1.0: it is not what filter.yaml records" in log
    assert "1.1.0: no commit's sources build the recorded sha256" in log  # the history was tried
    assert "1.1.0: the published asset" in log  # and so was the release asset,
    assert "a local workflow run looks up no host, not 'github.com'" in log  # offline, as every job here
    assert failed.step("gh release create").outcome == "skipped"
    assert "add-header-v1.1.0" in github.releases()
    assert "rate-limit-v1.1.0" not in github.releases()
    assert publish.result("pages") == "success"
    assert "1.1.0" in site_versions(pages)["add-header"]


# --- what runs is the workflow file, as committed --------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="the container's ownership of the checkout needs root to stand in")
def test_a_container_job_that_does_not_trust_its_checkout_fails_as_on_github(
    github: LocalGitHub, tmp_path: Path
) -> None:
    clone = github.clone(tmp_path / "maintainer", "maintainer")
    workflow = clone / ".github" / "workflows" / "publish.yml"
    trust = (
        '      - name: Trust the checkout\n        run: git config --global --add safe.directory "$GITHUB_WORKSPACE"\n'
    )
    text = workflow.read_text()
    assert trust in text
    workflow.write_text(text.replace(trust, "", 1))
    commit(clone, "publish.yml: forget the safe.directory step of the plan job")

    publish = only(github.push(clone), "publish.yml")

    assert publish.conclusion == "failure"
    plan = publish.job("plan")
    assert "Trust the checkout" not in [step.name for step in plan.steps]
    assert "dubious ownership" in plan.step("catalog release plan").log
    assert publish.result("pages") == "skipped"


def test_a_release_job_that_does_not_install_gh_fails_as_on_github(github: LocalGitHub, tmp_path: Path) -> None:
    """The image has no gh: only `make toolchain-github` brings it."""
    released_so_far(github, tmp_path)
    clone = github.clone(tmp_path / "maintainer", "maintainer")
    workflow = clone / ".github" / "workflows" / "publish.yml"
    text = workflow.read_text()
    assert "run: make venv toolchain-github\n" in text
    workflow.write_text(text.replace("run: make venv toolchain-github\n", "run: make venv\n", 1))
    commit(clone, "publish.yml: forget gh")
    new_version(clone, "add-header", "1.1.0", "src/add_header.wat", '"add-header")', '"add-headeR")')

    publish = only(github.push(clone), "publish.yml")

    assert publish.conclusion == "failure"
    (job,) = publish.jobs["release"]
    assert job.installed == []
    assert "gh: command not found" in job.step("gh release create").log
    assert github.releases().get("add-header-v1.1.0") is None
