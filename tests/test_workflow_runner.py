"""The local workflow runner itself: expressions as GitHub evaluates them, the events a workflow
listens to, matrices, step outputs, and the stub gh refusing what a job's token may not do.

If these were wrong, tests/test_workflow_runs.py could pass on workflows that fail on GitHub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.workflowexpr import ExpressionError, Status, condition, evaluate, interpolate
from tests.workflowrun import (
    FAKE_GH,
    LocalGitHub,
    WorkflowError,
    WorkflowRun,
    git,
    listens,
    matrix_entries,
    read_key_values,
)

CONTEXTS: dict[str, Any] = {
    "github": {
        "event": {
            "pull_request": None,
            "workflow_run": {"pull_requests": [{"number": 7}], "head_sha": "abc"},
            "repository": {"default_branch": "main"},
        },
        "event_name": "workflow_run",
    },
    "inputs": {"pull-request": ""},
    "needs": {"plan": {"result": "success", "outputs": {"releases": '[{"tag": "a-v1"}]', "empty": "[]"}}},
}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("github.event.repository.default_branch", "main"),
        (
            "github.event.pull_request.number || inputs.pull-request"
            " || github.event.workflow_run.pull_requests[0].number",
            7,
        ),
        ("github.event.missing.deeper", None),
        ("needs.plan.outputs.empty != '[]'", False),
        ("needs.plan.outputs.releases != '[]'", True),
        ("fromJSON(needs.plan.outputs.releases)[0].tag", "a-v1"),
        ('contains(fromJSON(\'["success", "skipped"]\'), needs.plan.result)', True),
        ("'MAIN' == github.event.repository.default_branch", True),  # strings ignore case
        ("1 == '1'", True),  # different types compare as numbers
        ("null == 0", True),
        ("'it''s'", "it's"),
        ("format('{0}-v{1}', 'a', 1)", "a-v1"),
        ("startsWith('refs/heads/main', 'refs/heads/')", True),
        ("!cancelled() && needs.plan.result == 'success'", True),
        ("1 < 2 && 'b' > 'a'", True),
        ("github.event.pull_request && 'x'", None),  # && returns its first falsy operand
    ],
)
def test_expressions_evaluate_as_github_does(expression: str, value: object) -> None:
    assert evaluate(expression, CONTEXTS) == value


@pytest.mark.parametrize("expression", ["hashFiles('x')", "github.event.*.x", "a ==", "unknown.context", "(1"])
def test_what_the_runner_does_not_know_is_an_error_not_a_guess(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, CONTEXTS)


def test_interpolation_keeps_a_whole_expressions_value_and_formats_the_rest() -> None:
    assert interpolate("${{ fromJSON(needs.plan.outputs.releases) }}", CONTEXTS) == [{"tag": "a-v1"}]
    assert interpolate("Release ${{ needs.plan.result }}!", CONTEXTS) == "Release success!"
    assert interpolate({"k": ["${{ 1 == 1 }}"]}, CONTEXTS) == {"k": [True]}


def test_conditions_need_success_unless_they_ask_for_a_status() -> None:
    failed = Status(success=False, failure=True)
    assert condition(None, CONTEXTS, Status()) is True
    assert condition(None, CONTEXTS, failed) is False
    assert condition("needs.plan.result == 'success'", CONTEXTS, failed) is False  # success() && (...)
    assert condition("${{ !cancelled() && needs.plan.result == 'success' }}", CONTEXTS, failed) is True
    assert condition("always()", CONTEXTS, failed) is True
    assert condition("failure()", CONTEXTS, failed) is True


def test_events_are_filtered_by_type_branch_and_workflow() -> None:
    workflow = {
        True: {  # YAML 1.1 reads the key `on` as true
            "push": {"branches": ["main", "release/**"]},
            "pull_request_target": {"types": ["opened", "edited"]},
            "workflow_run": {"workflows": ["Pull request"], "types": ["completed"]},
        }
    }
    assert listens(workflow, "push", {"ref": "refs/heads/main"})
    assert listens(workflow, "push", {"ref": "refs/heads/release/1/2"})
    assert not listens(workflow, "push", {"ref": "refs/heads/feature"})
    assert listens(workflow, "pull_request_target", {"action": "edited"})
    assert not listens(workflow, "pull_request_target", {"action": "synchronize"})
    assert listens(workflow, "workflow_run", {"action": "completed", "workflow_run": {"name": "Pull request"}})
    assert not listens(workflow, "workflow_run", {"action": "completed", "workflow_run": {"name": "Publish"}})
    assert not listens(workflow, "pull_request", {"action": "opened"})
    assert not listens({"on": {"pull_request": None}}, "pull_request", {"action": "closed"})  # default types


def test_matrices_expand_as_github_expands_them() -> None:
    assert matrix_entries(None) == [None]
    assert matrix_entries({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert matrix_entries({"a": [1, 2], "exclude": [{"a": 2}], "include": [{"a": 3}]}) == [{"a": 1}, {"a": 3}]
    with pytest.raises(WorkflowError, match="Matrix vector 'release' does not contain any values"):
        matrix_entries({"release": []})


def test_step_outputs_take_lines_and_delimited_blocks() -> None:
    text = "skip=false\nbody<<EOF_1\nline one\nline=two\nEOF_1\nhead=abc\n"
    assert read_key_values(text) == {"skip": "false", "body": "line one\nline=two", "head": "abc"}
    with pytest.raises(WorkflowError):
        read_key_values("not a key value\n")


# --- the stub gh --------------------------------------------------------------------------------


def gh(github: LocalGitHub, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAKE_GITHUB": str(github.home), "GH_TOKEN": token, "FAKE_GITHUB_JOB": "test/job"}
    return subprocess.run([sys.executable, str(FAKE_GH), *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def local(tmp_path: Path) -> LocalGitHub:
    github = LocalGitHub(tmp_path)
    github.register_token("reader", {"pull-requests": "read"})
    github.register_token("poster", {"statuses": "write", "issues": "write"})
    state = github.state
    state["pulls"]["3"] = {"number": 3, "state": "open", "head": {"sha": "a" * 40}, "user": {"login": "carol"}}
    (github.home / "state.json").write_text(json.dumps(state))
    return github


def test_gh_answers_what_the_token_may_read(local: LocalGitHub) -> None:
    result = gh(local, "reader", "api", "repos/acme/catalog/pulls/3", "--jq", ".head.sha")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a" * 40 + "\n"


def test_gh_refuses_what_the_token_may_not_do(local: LocalGitHub) -> None:
    denied = gh(local, "poster", "api", "repos/acme/catalog/pulls/3")  # no pull-requests: read
    assert denied.returncode == 1
    assert "Resource not accessible by integration (HTTP 403)" in denied.stderr
    status = ["api", "--method", "POST", f"repos/acme/catalog/statuses/{'a' * 40}", "-f", "state=success"]
    assert gh(local, "reader", *status).returncode == 1
    assert gh(local, "poster", *status, "-f", "context=catalog review").returncode == 0
    assert gh(local, "", "api", "repos/acme/catalog/pulls/3").returncode == 1  # no token at all
    assert [call["job"] for call in local.denied()] == ["test/job", "test/job"]
    assert local.statuses("a" * 40) == [
        {"state": "success", "context": "catalog review", "description": None, "target_url": None}
    ]


def test_gh_refuses_an_endpoint_it_does_not_know(local: LocalGitHub) -> None:
    result = gh(local, "reader", "api", "repos/acme/catalog/pulls/3/files")
    assert result.returncode == 1
    assert "Not Found (HTTP 404)" in result.stderr


def test_gh_prints_null_as_an_empty_line_as_gh_does(local: LocalGitHub) -> None:
    result = gh(local, "reader", "api", "repos/acme/catalog/pulls/3", "--jq", ".missing, .number, .user")
    assert result.returncode == 0, result.stderr
    assert result.stdout == '\n3\n{"login":"carol"}\n'


def test_a_matrix_is_limited_to_256_entries() -> None:
    assert len(matrix_entries({"n": list(range(256))})) == 256
    with pytest.raises(WorkflowError, match="produces 257 jobs"):
        matrix_entries({"n": list(range(257))})


def test_an_output_block_without_its_delimiter_is_refused() -> None:
    with pytest.raises(WorkflowError, match="Matching delimiter not found 'EOF'"):
        read_key_values("body<<EOF\nline\n")


# --- small workflows, run ---------------------------------------------------------------------

WORKFLOW = """
name: Try
on:
  push:
    branches: [main]
permissions: {}
jobs:
  first:
    runs-on: ubuntu-24.04
    permissions: {}
    outputs:
      greeting: ${{ steps.say.outputs.greeting }}
    steps:
      - id: say
        run: |
          echo "greeting=hello" >> "$GITHUB_OUTPUT"
          echo "LATER=from-env" >> "$GITHUB_ENV"
      - run: test "$LATER" = from-env
      - name: fails
        run: exit 3
      - name: skipped after a failure
        run: echo never
      - name: runs on failure
        if: failure()
        run: echo "::notice::cleaning up"
  second:
    needs: first
    if: always()
    runs-on: ubuntu-24.04
    permissions: {}
    steps:
      - env:
          GREETING: ${{ needs.first.outputs.greeting }}
          RESULT: ${{ needs.first.result }}
        run: test "$GREETING/$RESULT" = hello/failure
  matrix:
    runs-on: ubuntu-24.04
    permissions: {}
    strategy:
      fail-fast: FAIL_FAST
      matrix:
        n: [1, 2, 3]
    steps:
      - env:
          N: ${{ matrix.n }}
        run: test "$N" != 1
  container:
    runs-on: ubuntu-24.04
    container:
      image: python:3.11-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000
    permissions: {}
    steps:
      - name: the context names the host's directory
        env:
          CONTEXT: ${{ runner.temp }}
        run: test "$CONTEXT" != "$RUNNER_TEMP" && test -d "$RUNNER_TEMP"
      - name: no gh or jq in the image
        run: "! command -v gh && ! command -v jq"
      - name: make installs them
        run: apt-get install -y jq && command -v jq
      - run: mkdir .hidden out "$RUNNER_TEMP/out" && touch .hidden/file out/file "$RUNNER_TEMP/out/file"
      - uses: actions/upload-artifact@0000000000000000000000000000000000000000
        with:
          name: hidden
          path: .hidden/
          if-no-files-found: error
      - name: the host's temp directory
        if: always()
        uses: actions/upload-artifact@0000000000000000000000000000000000000000
        with:
          name: host
          path: ${{ runner.temp }}/out/
          if-no-files-found: error
      - name: the workspace, by a relative path
        if: always()
        uses: actions/upload-artifact@0000000000000000000000000000000000000000
        with:
          name: mounted
          path: out/
          if-no-files-found: error
"""


def run_workflow(tmp_path: Path, fail_fast: str) -> WorkflowRun:
    github = LocalGitHub.with_files(
        tmp_path / fail_fast, {".github/workflows/try.yml": WORKFLOW.replace("FAIL_FAST", fail_fast)}
    )
    clone = github.clone(tmp_path / f"clone-{fail_fast}", "maintainer")
    (clone / "README.md").write_text("change\n")
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "change", cwd=clone)
    (run,) = github.push(clone)
    return run


@pytest.mark.slow
def test_steps_jobs_and_matrices_run_as_on_github(tmp_path: Path) -> None:
    run = run_workflow(tmp_path, "true")
    assert run.conclusion == "failure"
    first = run.job("first")
    assert [(s.name, s.outcome) for s in first.steps][1:] == [
        ('test "$LATER" = from-env', "success"),
        ("fails", "failure"),
        ("skipped after a failure", "skipped"),
        ("runs on failure", "success"),
    ]
    assert first.outputs == {"greeting": "hello"}
    assert run.notices() == ["cleaning up"]
    assert run.job("second").result == "success", run.failures()
    # fail-fast (the default): the entries after a failed one are cancelled.
    assert [job.result for job in run.jobs["matrix"]] == ["failure", "cancelled", "cancelled"]
    container = run.job("container")
    assert [(s.name, s.outcome) for s in container.steps][:4] == [
        ("the context names the host's directory", "success"),
        ("no gh or jq in the image", "success"),
        ("make installs them", "success"),
        ('mkdir .hidden out "$RUNNER_TEMP/out" && touch .hidden/file out/file "$RUNNER_TEMP/out/file"', "success"),
    ]
    assert [(s.name, s.outcome) for s in container.steps][4:] == [
        ("actions/upload-artifact", "failure"),  # hidden files are left out: nothing to upload
        ("the host's temp directory", "failure"),  # not mounted in the container
        ("the workspace, by a relative path", "success"),
    ]
    assert container.installed == ["jq"]


@pytest.mark.slow
def test_without_fail_fast_every_entry_runs(tmp_path: Path) -> None:
    run = run_workflow(tmp_path, "false")
    assert [job.result for job in run.jobs["matrix"]] == ["failure", "success", "success"]
    assert run.result("matrix") == "failure"
