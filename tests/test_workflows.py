"""The GitHub workflows: zizmor and actionlint find nothing, and the policies hold.

The policies are what keeps a pull request from a stranger away from anything that can write:
no token that can write where the pull request's code runs, actions pinned by commit, no
credentials left in a checkout, untrusted text never spliced into a shell script, and a trusted
review that runs only the default branch's code and never holds a write token where the pull
request's files are. Each policy is also shown to catch a workflow broken on purpose, so that none
of these tests passes by not looking. The ruleset's required status is one a workflow posts.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.gitops.verdict import STATUS_CONTEXT
from tests.conftest import REPO_ROOT, require

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SCRIPTS = REPO_ROOT / ".github" / "scripts"
PULL_REQUEST = "pr.yml"
REVIEW = "review.yml"
REVIEW_EVENT = "pr-review-event.yml"
PUBLISH = "publish.yml"
DEFAULT_BRANCH = "${{ github.event.repository.default_branch }}"
# git commands that would put the pull request's files into the work tree or run its hooks.
CHECKOUT = re.compile(
    r"\bgit\b[^\n|;&]*\b(checkout|switch|worktree|reset|merge|pull|restore|read-tree|stash|am|apply)\b"
)
# What handles the pull request's files: git, a build, the catalog command, the review scripts.
HANDLES_FILES = re.compile(r"(^|[\s;&|(])(git|make|pip|npm)\s|\.venv/bin/|refs/pull|\.github/scripts/", re.M)
WRITE = "write"

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


def code_run_by(step: dict[str, Any]) -> str:
    """A step's script, with the repository scripts it runs (`.github/scripts/NAME`) read in."""
    code = "\n".join(scripts(step))
    for name in re.findall(r"\.github/scripts/([\w.-]+)", code):
        code += "\n" + (SCRIPTS / name).read_text(encoding="utf-8")
    return code


def only_the_trusted_review_runs_in_the_base_context(workflows: Workflows) -> list[str]:
    """pull_request_target and workflow_run run with the base's tokens: only review.yml may use them."""
    privileged = {"pull_request_target", "workflow_run"}
    return [
        f"{name}: runs on {sorted(privileged & set(triggers(w)))}, which only {REVIEW} may"
        for name, w in workflows.items()
        if name != REVIEW and privileged & set(triggers(w))
    ]


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
    event = workflows[REVIEW_EVENT]
    if set(triggers(event)) != {"pull_request_review"}:
        problems.append(f"{REVIEW_EVENT}: runs on more than pull_request_review")
    problems += [
        f"{REVIEW_EVENT}: job {job_id} holds a token ({job.get('permissions')}); it only has to finish"
        for _, job_id, job in jobs({REVIEW_EVENT: event})
        if job.get("permissions") != {}
    ]
    return problems


def trusted_review_runs_only_the_default_branch(workflows: Workflows) -> list[str]:
    """review.yml checks out the default branch, and nothing puts the pull request's files in the work tree."""
    workflow = workflows[REVIEW]
    problems = []
    if set(triggers(workflow)) - {"pull_request_target", "workflow_run", "workflow_dispatch"}:
        problems.append(f"{REVIEW}: runs on {sorted(triggers(workflow))}: the pull request's own copy would run")
    run = triggers(workflow).get("workflow_run") or {}
    expected = [workflows[PULL_REQUEST]["name"], workflows[REVIEW_EVENT]["name"]]
    if run and run.get("workflows") != expected:
        problems.append(f"{REVIEW}: workflow_run must follow exactly {expected}")
    for _, job_id, step in steps({REVIEW: workflow}):
        if action(step) == "actions/checkout":
            options = step.get("with", {})
            if options.get("ref") != DEFAULT_BRANCH or "repository" in options:
                problems.append(f"{REVIEW}: job {job_id} checks out {options.get('ref')!r}, not the default branch")
        for line in code_run_by(step).splitlines():
            if CHECKOUT.search(line.split("#", 1)[0]):
                problems.append(f"{REVIEW}: job {job_id} runs `{line.strip()}`: the work tree must stay the base's")
    return problems


def no_write_token_where_the_pull_request_is(workflows: Workflows) -> list[str]:
    """In review.yml, a job that can write checks out nothing and runs no git, make or catalog:
    it only applies the report the read-only job wrote."""
    problems = []
    for _, job_id, job in jobs({REVIEW: workflows[REVIEW]}):
        writes = [scope for scope, level in (job.get("permissions") or {}).items() if level == WRITE]
        if not writes:
            continue
        for step in job.get("steps", []):
            code = code_run_by(step)
            if action(step) == "actions/checkout" or HANDLES_FILES.search(code):
                problems.append(f"{REVIEW}: job {job_id} can write {writes} and handles the pull request's files")
    return problems


def the_required_status_is_posted(workflows: Workflows) -> list[str]:
    """Every status the ruleset requires is one a workflow posts (its STATUS_CONTEXT), and the review's."""
    ruleset = json.loads((REPO_ROOT / ".github" / "rulesets" / "main.json").read_text())
    required = {
        check["context"]
        for rule in ruleset["rules"]
        if rule["type"] == "required_status_checks"
        for check in rule["parameters"]["required_status_checks"]
    }
    posted = {
        step.get("env", {}).get("STATUS_CONTEXT")
        for _, _, step in steps(workflows)
        if "statuses/" in "\n".join(scripts(step))
    }
    problems = [f"the ruleset requires {context!r}, which no workflow posts" for context in sorted(required - posted)]
    if required != {STATUS_CONTEXT}:
        problems.append(f"the ruleset requires {sorted(required)}, not the review's {STATUS_CONTEXT!r}")
    return problems


CI_IMAGE = re.compile(r"^python:3\.11-bookworm@sha256:[0-9a-f]{64}$")
RUNS_MAKE = re.compile(r"(^|[\s;&|(])make(\s|$)|\.ci/run")
TRUST_THE_CHECKOUT = 'git config --global --add safe.directory "$GITHUB_WORKSPACE"'


def make_runs_in_the_ci_image(workflows: Workflows) -> list[str]:
    """A job that runs make runs in CI's one environment, the pinned Debian 12 image, and lets
    make install what it needs (no apt-get or setup-python of its own); it trusts its checkout,
    which belongs to the runner's user, before git reads it."""
    problems, images = [], set()
    for name, job_id, job in jobs(workflows):
        job_steps = job.get("steps", [])
        code = "\n".join(code_run_by(step) for step in job_steps)
        if not RUNS_MAKE.search(code):
            continue
        container = job.get("container")
        image = container.get("image") if isinstance(container, dict) else container
        if isinstance(image, str) and CI_IMAGE.match(image):
            images.add(image)
        else:
            problems.append(f"{name}: job {job_id} runs make outside the pinned CI image (container: {image!r})")
        if "apt-get" in code or any(action(step) == "actions/setup-python" for step in job_steps):
            problems.append(f"{name}: job {job_id} installs tools itself; `make toolchain-NAME` does")
        uses = [action(step) for step in job_steps]
        if "actions/checkout" in uses:
            following = job_steps[uses.index("actions/checkout") + 1 :][:1]
            if not following or str(following[0].get("run", "")).strip() != TRUST_THE_CHECKOUT:
                problems.append(f"{name}: job {job_id} does not trust its checkout right after it")
    if len(images) > 1:
        problems.append(f"the jobs run in different images: {sorted(images)}")
    return problems


HOST_PATHS = re.compile(r"\b(runner\.temp|github\.workspace)\b")


def container_jobs_name_no_host_paths(workflows: Workflows) -> list[str]:
    """In a container job `runner.temp` and `github.workspace` name the host's directories, which
    the container mounts elsewhere: its steps use $RUNNER_TEMP, $GITHUB_WORKSPACE or relative paths."""
    return [
        f"{name}: job {job_id} names ${{{{ {match} }}}} in a container, where it is the host's path"
        for name, job_id, job in jobs(workflows)
        if job.get("container")
        for step in job.get("steps", [])
        for expression in EXPRESSION.findall(yaml.safe_dump({k: v for k, v in step.items() if k != "run"}))
        for match in HOST_PATHS.findall(expression)
    ]


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
        only_the_trusted_review_runs_in_the_base_context,
        pull_request_checks_are_read_only,
        trusted_review_runs_only_the_default_branch,
        no_write_token_where_the_pull_request_is,
        the_required_status_is_posted,
        make_runs_in_the_ci_image,
        container_jobs_name_no_host_paths,
    )
}


def test_the_workflows_are_there() -> None:
    assert set(load(WORKFLOWS)) == {PULL_REQUEST, REVIEW, REVIEW_EVENT, PUBLISH}


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
    del first_job(w, REVIEW)["timeout-minutes"]


def use_a_moving_runner(w: Workflows) -> None:
    first_job(w, PULL_REQUEST)["runs-on"] = "ubuntu-latest"


def pin_by_tag(w: Workflows) -> None:
    first_step(w, PUBLISH, "actions/deploy-pages")["uses"] = "actions/deploy-pages@v5"


def pin_by_short_sha(w: Workflows) -> None:
    first_step(w, REVIEW, "actions/upload-artifact")["uses"] = "actions/upload-artifact@043fb46"


def keep_credentials(w: Workflows) -> None:
    del first_step(w, PULL_REQUEST, "actions/checkout")["with"]["persist-credentials"]


def splice_the_title(w: Workflows) -> None:
    first_run_step(w, PULL_REQUEST)["run"] = 'echo "${{ github.event.pull_request.title }}"'


def splice_the_head_ref(w: Workflows) -> None:
    first_run_step(w, PUBLISH)["run"] = "git log ${{ github.head_ref }}"


def splice_an_issue_body(w: Workflows) -> None:
    w[REVIEW]["jobs"]["publish"]["steps"].append(
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


def let_the_review_event_read(w: Workflows) -> None:
    first_job(w, REVIEW_EVENT)["permissions"] = {"contents": "read"}


def review_on_pull_request(w: Workflows) -> None:
    triggers(w[REVIEW])["pull_request"] = None


def check_out_the_head(w: Workflows) -> None:
    first_step(w, REVIEW, "actions/checkout")["with"]["ref"] = "${{ github.event.pull_request.head.sha }}"


def switch_to_the_fetched_head(w: Workflows) -> None:
    w[REVIEW]["jobs"]["review"]["steps"].insert(3, {"run": "git -c advice.detachedHead=false checkout FETCH_HEAD"})


def check_out_where_the_report_is_posted(w: Workflows) -> None:
    checkout = copy.deepcopy(first_step(w, REVIEW, "actions/checkout"))
    w[REVIEW]["jobs"]["publish"]["steps"].insert(0, checkout)


def let_the_review_job_write(w: Workflows) -> None:
    w[REVIEW]["jobs"]["review"]["permissions"]["statuses"] = "write"


def post_another_status(w: Workflows) -> None:
    step = next(s for n, _, s in steps(w) if n == REVIEW and "STATUS_CONTEXT" in s.get("env", {}))
    step["env"]["STATUS_CONTEXT"] = "catalog review (advisory)"


def run_on_the_runner_image(w: Workflows) -> None:
    del first_job(w, PUBLISH)["container"]


def use_an_image_by_tag(w: Workflows) -> None:
    w[PULL_REQUEST]["jobs"]["site"]["container"]["image"] = "python:3.11-bookworm"


def use_another_image(w: Workflows) -> None:
    image = w[PULL_REQUEST]["jobs"]["test"]["container"]["image"]
    w[PULL_REQUEST]["jobs"]["test"]["container"]["image"] = image[:-8] + "0" * 8


def install_with_apt(w: Workflows) -> None:
    w[PULL_REQUEST]["jobs"]["validate"]["steps"].insert(2, {"run": "apt-get install -y clang-14"})


def forget_to_trust_the_checkout(w: Workflows) -> None:
    del w[REVIEW]["jobs"]["review"]["steps"][1]


def write_the_report_to_runner_temp(w: Workflows) -> None:
    step = next(s for s in w[REVIEW]["jobs"]["review"]["steps"] if s.get("uses", "").startswith("actions/upload"))
    step["with"]["path"] = "${{ runner.temp }}/review/"


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
    ("only_the_trusted_review_runs_in_the_base_context", trigger_on_pull_request_target),
    ("pull_request_checks_are_read_only", give_the_checks_a_secret),
    ("pull_request_checks_are_read_only", let_the_checks_write),
    ("pull_request_checks_are_read_only", let_the_review_event_read),
    ("trusted_review_runs_only_the_default_branch", review_on_pull_request),
    ("trusted_review_runs_only_the_default_branch", check_out_the_head),
    ("trusted_review_runs_only_the_default_branch", switch_to_the_fetched_head),
    ("no_write_token_where_the_pull_request_is", check_out_where_the_report_is_posted),
    ("no_write_token_where_the_pull_request_is", let_the_review_job_write),
    ("the_required_status_is_posted", post_another_status),
    ("make_runs_in_the_ci_image", run_on_the_runner_image),
    ("make_runs_in_the_ci_image", use_an_image_by_tag),
    ("make_runs_in_the_ci_image", use_another_image),
    ("make_runs_in_the_ci_image", install_with_apt),
    ("make_runs_in_the_ci_image", forget_to_trust_the_checkout),
    ("container_jobs_name_no_host_paths", write_the_report_to_runner_temp),
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


def test_the_readme_names_the_image_ci_runs_in() -> None:
    """The README's two commands are what CI runs, in the image the README names."""
    images = {
        str(job["container"]["image"]) for _, _, job in jobs(load(WORKFLOWS)) if isinstance(job.get("container"), dict)
    }
    assert len(images) == 1
    assert images.pop() in (REPO_ROOT / "README.md").read_text()
