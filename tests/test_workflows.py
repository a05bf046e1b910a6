"""The GitHub workflows: zizmor and actionlint find nothing, and the policies hold.

The policies are what keeps a pull request from a stranger away from anything that can write:
no token that can write where the pull request's code runs, actions pinned by commit, no
credentials left in a checkout, untrusted text never spliced into a shell script, and a comment
workflow that never runs the pull request's code. Each policy is also shown to catch a workflow
broken on purpose, so that none of these tests passes by not looking.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, require

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
PULL_REQUEST = "pr.yml"
COMMENT = "review-comment.yml"
PUBLISH = "publish.yml"

SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# Text a pull request's author controls, as it appears in an expression.
UNTRUSTED = re.compile(
    r"github\.event\.pull_request\.|github\.head_ref|github\.event\.[\w.\[\]*]*\.(title|body)\b"
    r"|github\.event\.workflow_run\.(head_branch|head_commit|display_title|pull_requests)"
)
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)

Workflows = dict[str, dict[Any, Any]]  # Any keys: YAML 1.1 reads the bare key `on` as true


# --- the linters ------------------------------------------------------------------------------


def linter(name: str) -> str:
    """A workflow linter from the virtual environment (`make lint` installs them) or PATH.

    Missing, it skips the test locally and fails it under CI, like the Envoy tests.
    """
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        require(f"{name} is not installed (make lint installs it from .ci/workflow-linters.txt)")
    assert found is not None
    return found


def zizmor(directory: Path) -> subprocess.CompletedProcess[str]:
    command = [linter("zizmor"), "--offline", "--strict-collection", "--no-progress", "--color=never", str(directory)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def actionlint(directory: Path) -> subprocess.CompletedProcess[str]:
    files = sorted(str(path) for path in directory.glob("*.yml"))
    command = [linter("actionlint"), "-no-color", f"-shellcheck={linter('shellcheck')}", "-pyflakes=", *files]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_zizmor_finds_nothing() -> None:
    result = zizmor(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_actionlint_finds_nothing() -> None:
    result = actionlint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The workflows in a temporary repository, with `old` replaced by `new` in workflow `name`."""
    directory = tmp_path / ".github" / "workflows"
    shutil.copytree(WORKFLOWS, directory)
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {name}: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return directory


def test_zizmor_reports_a_checkout_that_keeps_credentials(tmp_path: Path) -> None:
    directory = broken_copy(tmp_path, PUBLISH, "          persist-credentials: false\n", "")
    result = zizmor(directory)
    assert result.returncode != 0
    assert "artipacked" in result.stdout


def test_zizmor_reports_untrusted_text_in_a_script(tmp_path: Path) -> None:
    directory = broken_copy(
        tmp_path, PULL_REQUEST, "run: make site", "run: echo ${{ github.event.pull_request.title }}"
    )
    result = zizmor(directory)
    assert result.returncode != 0
    assert "template-injection" in result.stdout


def test_zizmor_reports_a_workflow_that_is_not_yaml(tmp_path: Path) -> None:
    directory = broken_copy(tmp_path, PUBLISH, "jobs:\n", "jobs: [\n")
    result = zizmor(directory)
    assert result.returncode != 0
    assert "invalid YAML" in result.stderr


def test_actionlint_reports_untrusted_text_in_a_script(tmp_path: Path) -> None:
    script = "run: make site"
    directory = broken_copy(tmp_path, PULL_REQUEST, script, "run: echo ${{ github.event.pull_request.title }}")
    result = actionlint(directory)
    assert result.returncode != 0
    assert "potentially untrusted" in result.stdout


def test_actionlint_reports_a_job_that_needs_a_missing_one(tmp_path: Path) -> None:
    directory = broken_copy(tmp_path, PUBLISH, "needs: plan\n", "needs: planning\n")
    result = actionlint(directory)
    assert result.returncode != 0
    assert "planning" in result.stdout


# --- the policies -----------------------------------------------------------------------------


def load(directory: Path) -> Workflows:
    return {path.name: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.yml"))}


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` mapping, whichever form it takes."""
    on: Any = workflow["on"] if "on" in workflow else workflow.get(True)
    if isinstance(on, dict):
        return on
    return dict.fromkeys([on] if isinstance(on, str) else list(on or []))


def jobs(workflows: Workflows) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def steps(workflows: Workflows) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, job_id, job in jobs(workflows):
        for step in job.get("steps", []):
            yield name, job_id, step


def action(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def scripts(step: dict[str, Any]) -> list[str]:
    """What a step runs as code: its shell script, or a github-script's script."""
    code = [step["run"]] if "run" in step else []
    if action(step) == "actions/github-script":
        code.append(step.get("with", {}).get("script", ""))
    return code


def top_level_permissions_are_empty(workflows: Workflows) -> list[str]:
    return [
        f"{name}: top-level `permissions: {{}}` expected" for name, w in workflows.items() if w.get("permissions") != {}
    ]


def every_job_declares_permissions(workflows: Workflows) -> list[str]:
    return [
        f"{name}: job {job_id} declares no permissions"
        for name, job_id, job in jobs(workflows)
        if "permissions" not in job
    ]


def every_job_has_a_timeout_and_a_pinned_runner(workflows: Workflows) -> list[str]:
    problems = []
    for name, job_id, job in jobs(workflows):
        if "timeout-minutes" not in job:
            problems.append(f"{name}: job {job_id} has no timeout-minutes")
        if job.get("runs-on") != "ubuntu-24.04":
            problems.append(f"{name}: job {job_id} runs on {job.get('runs-on')!r}, not ubuntu-24.04")
    return problems


def every_action_is_pinned_by_commit(workflows: Workflows) -> list[str]:
    return [
        f"{name}: job {job_id} uses {step['uses']}, not pinned to a full commit SHA"
        for name, job_id, step in steps(workflows)
        if "uses" in step and not SHA_PINNED.match(step["uses"])
    ]


def every_checkout_drops_credentials(workflows: Workflows) -> list[str]:
    return [
        f"{name}: job {job_id} checks out without persist-credentials: false"
        for name, job_id, step in steps(workflows)
        if action(step) == "actions/checkout" and step.get("with", {}).get("persist-credentials") is not False
    ]


def no_untrusted_text_in_scripts(workflows: Workflows) -> list[str]:
    return [
        f"{name}: job {job_id} splices ${{{{{expression.strip()}}}}} into a script; pass it through env:"
        for name, job_id, step in steps(workflows)
        for code in scripts(step)
        for expression in EXPRESSION.findall(code)
        if UNTRUSTED.search(expression)
    ]


def scripts_take_values_from_env(workflows: Workflows) -> list[str]:
    return [
        f"{name}: job {job_id} has an expression in a script; pass ${{{{{expression.strip()}}}}} through env:"
        for name, job_id, step in steps(workflows)
        for code in scripts(step)
        for expression in EXPRESSION.findall(code)
    ]


def no_pull_request_target(workflows: Workflows) -> list[str]:
    return [f"{name}: on pull_request_target" for name, w in workflows.items() if "pull_request_target" in triggers(w)]


def pull_request_checks_are_read_only(workflows: Workflows) -> list[str]:
    workflow = workflows[PULL_REQUEST]
    problems = (
        [] if set(triggers(workflow)) == {"pull_request"} else [f"{PULL_REQUEST}: runs on more than pull_request"]
    )
    if "secrets." in yaml.safe_dump(workflow):
        problems.append(f"{PULL_REQUEST}: uses a secret where the pull request's code runs")
    problems += [
        f"{PULL_REQUEST}: job {job_id} may do more than read the contents: {job.get('permissions')}"
        for _, job_id, job in jobs({PULL_REQUEST: workflow})
        if job.get("permissions") != {"contents": "read"}
    ]
    return problems


def comment_workflow_never_runs_the_pull_request(workflows: Workflows) -> list[str]:
    workflow = workflows[COMMENT]
    problems = [
        f"{COMMENT}: job {job_id} checks out code"
        for _, job_id, step in steps({COMMENT: workflow})
        if action(step) == "actions/checkout"
    ]
    run = triggers(workflow).get("workflow_run") or {}
    if set(triggers(workflow)) != {"workflow_run"} or run.get("workflows") != [workflows[PULL_REQUEST]["name"]]:
        problems.append(f"{COMMENT}: must run only after the {PULL_REQUEST} workflow")
    for _, job_id, job in jobs({COMMENT: workflow}):
        if "github.event.workflow_run.event == 'pull_request'" not in str(job.get("if", "")):
            problems.append(f"{COMMENT}: job {job_id} does not check that the run was for a pull request")
        if job.get("permissions") != {"actions": "read", "pull-requests": "write"}:
            problems.append(f"{COMMENT}: job {job_id} may do more than read artifacts and comment")
    return problems


POLICIES: dict[str, Callable[[Workflows], list[str]]] = {
    policy.__name__: policy
    for policy in (
        top_level_permissions_are_empty,
        every_job_declares_permissions,
        every_job_has_a_timeout_and_a_pinned_runner,
        every_action_is_pinned_by_commit,
        every_checkout_drops_credentials,
        no_untrusted_text_in_scripts,
        scripts_take_values_from_env,
        no_pull_request_target,
        pull_request_checks_are_read_only,
        comment_workflow_never_runs_the_pull_request,
    )
}


def test_the_three_workflows_are_there() -> None:
    assert set(load(WORKFLOWS)) == {PULL_REQUEST, COMMENT, PUBLISH}


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_holds(policy: str) -> None:
    assert POLICIES[policy](load(WORKFLOWS)) == []


def first_step(workflows: Workflows, name: str, uses: str) -> dict[str, Any]:
    return next(step for n, _, step in steps(workflows) if n == name and action(step) == uses)


def first_run_step(workflows: Workflows, name: str) -> dict[str, Any]:
    return next(step for n, _, step in steps(workflows) if n == name and "run" in step)


def first_job(workflows: Workflows, name: str) -> dict[str, Any]:
    return next(iter(workflows[name]["jobs"].values()))


def drop_top_level_permissions(w: Workflows) -> None:
    w[PUBLISH]["permissions"] = {"contents": "write"}


def drop_job_permissions(w: Workflows) -> None:
    del first_job(w, PUBLISH)["permissions"]


def drop_timeout(w: Workflows) -> None:
    del first_job(w, COMMENT)["timeout-minutes"]


def use_a_moving_runner(w: Workflows) -> None:
    first_job(w, PULL_REQUEST)["runs-on"] = "ubuntu-latest"


def pin_by_tag(w: Workflows) -> None:
    first_step(w, PUBLISH, "actions/deploy-pages")["uses"] = "actions/deploy-pages@v5"


def pin_by_short_sha(w: Workflows) -> None:
    first_step(w, PULL_REQUEST, "actions/upload-artifact")["uses"] = "actions/upload-artifact@043fb46"


def keep_credentials(w: Workflows) -> None:
    del first_step(w, PULL_REQUEST, "actions/checkout")["with"]["persist-credentials"]


def splice_the_title(w: Workflows) -> None:
    first_run_step(w, PULL_REQUEST)["run"] = 'echo "${{ github.event.pull_request.title }}"'


def splice_the_head_ref(w: Workflows) -> None:
    first_run_step(w, PUBLISH)["run"] = "git log ${{ github.head_ref }}"


def splice_an_issue_body(w: Workflows) -> None:
    w[COMMENT]["jobs"]["comment"]["steps"].append(
        {"uses": "actions/github-script@" + "0" * 40, "with": {"script": "core.info(`${{ github.event.issue.body }}`)"}}
    )


def splice_a_sha(w: Workflows) -> None:
    first_run_step(w, PUBLISH)["run"] = "echo ${{ github.sha }}"


def trigger_on_pull_request_target(w: Workflows) -> None:
    w[PULL_REQUEST]["on"] = {"pull_request_target": None}
    w[PULL_REQUEST].pop(True, None)


def give_the_checks_a_secret(w: Workflows) -> None:
    first_run_step(w, PULL_REQUEST).setdefault("env", {})["TOKEN"] = "${{ secrets.GITHUB_TOKEN }}"


def let_the_checks_write(w: Workflows) -> None:
    first_job(w, PULL_REQUEST)["permissions"] = {"contents": "read", "pull-requests": "write"}


def check_out_in_the_comment_workflow(w: Workflows) -> None:
    checkout = first_step(w, PULL_REQUEST, "actions/checkout")
    w[COMMENT]["jobs"]["comment"]["steps"].insert(0, copy.deepcopy(checkout))


def comment_on_any_run(w: Workflows) -> None:
    del w[COMMENT]["jobs"]["comment"]["if"]


def let_the_comment_workflow_write_contents(w: Workflows) -> None:
    w[COMMENT]["jobs"]["comment"]["permissions"]["contents"] = "write"


BREAKAGES: list[tuple[str, Callable[[Workflows], None]]] = [
    ("top_level_permissions_are_empty", drop_top_level_permissions),
    ("every_job_declares_permissions", drop_job_permissions),
    ("every_job_has_a_timeout_and_a_pinned_runner", drop_timeout),
    ("every_job_has_a_timeout_and_a_pinned_runner", use_a_moving_runner),
    ("every_action_is_pinned_by_commit", pin_by_tag),
    ("every_action_is_pinned_by_commit", pin_by_short_sha),
    ("every_checkout_drops_credentials", keep_credentials),
    ("no_untrusted_text_in_scripts", splice_the_title),
    ("no_untrusted_text_in_scripts", splice_the_head_ref),
    ("no_untrusted_text_in_scripts", splice_an_issue_body),
    ("scripts_take_values_from_env", splice_a_sha),
    ("no_pull_request_target", trigger_on_pull_request_target),
    ("pull_request_checks_are_read_only", give_the_checks_a_secret),
    ("pull_request_checks_are_read_only", let_the_checks_write),
    ("comment_workflow_never_runs_the_pull_request", check_out_in_the_comment_workflow),
    ("comment_workflow_never_runs_the_pull_request", comment_on_any_run),
    ("comment_workflow_never_runs_the_pull_request", let_the_comment_workflow_write_contents),
]


def test_every_policy_is_shown_to_catch_a_breakage() -> None:
    assert {policy for policy, _ in BREAKAGES} == set(POLICIES)


def written_and_read(workflows: Workflows, directory: Path) -> Workflows:
    directory.mkdir()
    for name, workflow in workflows.items():
        (directory / name).write_text(yaml.safe_dump(workflow, sort_keys=False), encoding="utf-8")
    return load(directory)


@pytest.mark.parametrize(("policy", "breakage"), BREAKAGES, ids=[b.__name__ for _, b in BREAKAGES])
def test_policy_catches(tmp_path: Path, policy: str, breakage: Callable[[Workflows], None]) -> None:
    """The workflows pass the policy as they are and fail it once broken, both written out and read back."""
    workflows = load(WORKFLOWS)
    assert POLICIES[policy](written_and_read(workflows, tmp_path / "as-is")) == []
    breakage(workflows)
    assert POLICIES[policy](written_and_read(workflows, tmp_path / "broken")) != []
