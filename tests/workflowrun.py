"""The repository's GitHub workflows, run end to end on this machine against a local "GitHub".

`LocalGitHub` is GitHub as far as the workflows can tell:

- a bare repository as origin, with the branches, the tags and each pull request's
  `refs/pull/N/head` and `refs/pull/N/merge`;
- the state behind the REST API (pull requests, reviews, workflow runs, commit statuses,
  comments, labels, releases and their assets), which `gh` on the jobs' PATH reads and writes:
  tests/fake_gh.py, with a token per job that carries the job's `permissions:`;
- the events. Pushing, opening or updating a pull request, reviewing or merging one runs every
  workflow that listens to the event, read from the commit GitHub reads it from (the merge commit
  for pull_request, the default branch for pull_request_target and workflow_run, the pushed
  commit for push); each finished run is a workflow_run event in turn;
- GitHub Pages: a directory the deployment fills, served by the tests on 127.0.0.1.

A run executes the jobs in `needs` order, a matrix job once per entry, with every `if:` and
`${{ }}` evaluated (tests/workflowexpr.py). Each `run:` step is a bash script run as GitHub runs
it (`bash --noprofile --norc -eo pipefail`) in a fresh checkout, with the GITHUB_* variables and
files (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY) and the workflow commands
(`::error::`, `::notice::`, `::stop-commands::`) read from its output. Actions (`uses:`) are
replaced by the local equivalents in ACTIONS; an action without one fails the run, so a workflow
that starts using a new action needs its equivalent here first.

What stands in for GitHub, and so is only shown by a real run there:
- the container: a job runs on this machine (Debian 12 with Python 3.11, as the pinned image
  is), not in the image. As root, the checkout is given to another user, as the runner's bind
  mount is, so git refuses it until the job trusts it (`safe.directory`), as it does there;
- actions/setup-node: this machine's Node.js (NodeSource's, as on the developers' machines) is
  checked to be the version asked for, not downloaded;
- the network: the jobs' Python processes look up no host but this machine (a download from
  GitHub fails at once); npm still reaches its package registry;
- the Python packages: the checkout's `.venv` reuses the test environment's packages with the
  checkout's own code (what `make venv` installs from the pins), so jobs need no network;
- concurrency groups (runs are sequential; the groups are only evaluated), `environment:`
  rules, OIDC tokens, the real Pages deployment and artifact storage.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT
from tests.workflowexpr import Status, condition, interpolate, to_text

REPOSITORY = "acme/catalog"
OWNER = REPOSITORY.split("/")[0]
DEFAULT_BRANCH = "main"
ZERO_SHA = "0" * 40
WORKFLOWS_DIR = ".github/workflows"
FAKE_GH = Path(__file__).with_name("fake_gh.py")
CONTAINER_UID = 1001  # the runner's user, who owns the workspace a container job's root works in
HOST_WORKSPACE = "/home/runner/work/catalog/catalog"  # what `github.workspace` says in a container job
HOST_TEMP = "/home/runner/work/_temp"  # what `runner.temp` says in a container job
MAX_MATRIX = 256  # GitHub's limit of jobs a matrix may make
# What the CI image (python:3.11-bookworm) lacks of what this machine has: a container job finds
# them only once `make toolchain-NAME` installed their package (the stand-in apt-get below).
NOT_IN_IMAGE = frozenset(
    {"gh", "jq", "clang-14", "clang", "wasm-ld-14", "ld.lld-14", "node", "npm", "npx", "chromium", "wrk",
     "h2load", "sudo"}
)  # fmt: skip
PACKAGES = {  # Debian package -> the commands it provides here
    "gh": ("gh",),
    "jq": ("jq",),
    "clang-14": ("clang-14",),
    "lld-14": ("wasm-ld-14", "ld.lld-14"),
    "wrk": ("wrk",),
    "nghttp2-client": ("h2load",),
    "openssl": ("openssl",),
}
COMMAND = re.compile(r"^::([\w-]+)(?: ([^:]*))?::(.*)$")
DATE = "2026-12-01T10:00:00+00:00"
REPOSITORY_PAYLOAD = {
    "full_name": REPOSITORY,
    "name": REPOSITORY.split("/")[1],
    "owner": {"login": OWNER},
    "default_branch": DEFAULT_BRANCH,
    "private": False,
}
PERMISSION_SCOPES = (
    "actions", "attestations", "checks", "contents", "deployments", "id-token", "issues", "models",
    "discussions", "packages", "pages", "pull-requests", "security-events", "statuses",
)  # fmt: skip


class WorkflowError(Exception):
    """A workflow the runner cannot run as GitHub would (an unknown action, an unsupported form)."""


# --- what a run leaves -----------------------------------------------------------------------------


@dataclass
class StepResult:
    name: str
    outcome: str  # success, failure or skipped
    log: str = ""


@dataclass
class Annotation:
    level: str  # error, warning or notice
    message: str
    job: str


@dataclass
class JobRun:
    """One job, or one entry of a matrix job."""

    job_id: str
    name: str
    result: str  # success, failure or skipped
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    matrix: dict[str, Any] | None = None
    container: str | None = None
    not_run: str | None = None  # why the runner left a job to others (it is the test suite itself)
    installed: list[str] = field(default_factory=list)  # Debian packages a container job installed

    def step(self, name: str) -> StepResult:
        """The step named `name` (its `name:`, or its `uses:` action, or its script's first line)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"job {self.name} has no step {name!r}: {[s.name for s in self.steps]}")

    def ran(self) -> list[str]:
        """The names of the steps that ran (not skipped), in order."""
        return [step.name for step in self.steps if step.outcome != "skipped"]


@dataclass
class WorkflowRun:
    path: str  # .github/workflows/NAME.yml
    name: str
    event: str
    head_sha: str
    run_id: int
    jobs: dict[str, list[JobRun]] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)

    @property
    def file(self) -> str:
        return Path(self.path).name

    @property
    def conclusion(self) -> str:
        """failure if a job failed, else success (skipped jobs do not fail a run)."""
        results = [job.result for runs in self.jobs.values() for job in runs]
        return "failure" if "failure" in results else "success"

    def result(self, job_id: str) -> str:
        """A job's result; a matrix job's is failure if one entry failed, as `needs.JOB.result` is."""
        results = [job.result for job in self.jobs[job_id]]
        if "failure" in results:
            return "failure"
        return "success" if "success" in results else "skipped"

    def job(self, job_id: str) -> JobRun:
        (only,) = self.jobs[job_id]
        return only

    def notices(self, level: str = "notice") -> list[str]:
        return [a.message for a in self.annotations if a.level == level]

    def failures(self) -> str:
        """The logs of the steps that failed: what a test shows when a run was not meant to fail."""
        return (
            "\n".join(
                f"--- {self.file} / {job.name} / {step.name}\n{step.log[-6000:]}"
                for runs in self.jobs.values()
                for job in runs
                for step in job.steps
                if step.outcome == "failure"
            )
            or f"{self.file}: no step failed"
        )


# --- GitHub, here ----------------------------------------------------------------------------------


def git(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    environment = {**os.environ, "GIT_AUTHOR_DATE": DATE, "GIT_COMMITTER_DATE": DATE, **(env or {})}
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=environment, check=False, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip()


class LocalGitHub:
    """A repository on "GitHub": its origin, its API state, its events and its Pages site."""

    def __init__(self, root: Path, skip_jobs: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.origin = root / "origin.git"
        self.home = root / "github"  # $FAKE_GITHUB: state.json and the release assets
        self.pages = root / "pages"
        self.bin = root / "bin"  # put first on the jobs' PATH: gh
        self.skip_jobs = dict(skip_jobs or {})  # "pr.yml/test": why the runner leaves it out
        self.runs: list[WorkflowRun] = []
        self._run_ids = itertools.count(1001)
        for directory in (self.home / "releases", self.pages, self.bin, root / "runs"):
            directory.mkdir(parents=True, exist_ok=True)
        gh = self.bin / "gh"
        gh.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_GH}" "$@"\n')
        gh.chmod(0o755)
        self._write_state(
            {
                "repository": REPOSITORY,
                "default_branch": DEFAULT_BRANCH,
                "origin": str(self.origin),
                "tokens": {},
                "pulls": {},
                "reviews": {},
                "runs": [],
                "statuses": {},
                "comments": {},
                "labels": {},
                "releases": {},
                "calls": [],
                "next_id": 5000,
            }
        )

    @classmethod
    def with_this_repository(cls, root: Path, skip_jobs: Mapping[str, str] | None = None) -> LocalGitHub:
        """GitHub holding this repository as the work tree has it (committed or not): its
        workflows, Makefile, generator and catalog, as one commit on `main`. No event is sent."""
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT, capture_output=True, check=True,
        ).stdout.decode().split("\0")  # fmt: skip
        paths = [REPO_ROOT / name for name in filter(None, listed) if (REPO_ROOT / name).is_file()]
        files = {path.relative_to(REPO_ROOT).as_posix(): path.read_bytes() for path in paths}
        executables = {path.relative_to(REPO_ROOT).as_posix() for path in paths if os.access(path, os.X_OK)}
        return cls.with_files(root, files, skip_jobs, executables)

    @classmethod
    def with_files(
        cls,
        root: Path,
        files: Mapping[str, str | bytes],
        skip_jobs: Mapping[str, str] | None = None,
        executables: Collection[str] = (),
    ) -> LocalGitHub:
        """GitHub holding a repository of `files` (path: content; `executables` get mode 755) as
        one commit on `main`."""
        github = cls(root, skip_jobs)
        git("init", "-q", "--bare", "-b", DEFAULT_BRANCH, str(github.origin))
        # GitHub serves any commit by its SHA, as actions/checkout fetches them.
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=github.origin)
        source = root / "source"
        for name, content in files.items():
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
            if name in executables:
                target.chmod(0o755)
        git("init", "-q", "-b", DEFAULT_BRANCH, cwd=source)
        identity(source, "maintainer")
        git("add", "-A", cwd=source)
        git("commit", "-q", "-m", "The repository", cwd=source)
        git("remote", "add", "origin", str(github.origin), cwd=source)
        git("push", "-q", "origin", DEFAULT_BRANCH, cwd=source)
        shutil.rmtree(source)
        return github

    # --- the API's state ---

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.home / "state.json").read_text())
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        temporary = self.home / "state.tmp"
        temporary.write_text(json.dumps(state, indent=1))
        temporary.replace(self.home / "state.json")

    def _update(self, change: Callable[[dict[str, Any]], None]) -> None:
        state = self.state
        change(state)
        self._write_state(state)

    def calls(self, job: str | None = None) -> list[list[str]]:
        """The gh commands the jobs ran (all, or one job's: "publish.yml/release"), in order."""
        return [c["args"] for c in self.state["calls"] if job is None or c["job"] == job]

    def denied(self) -> list[dict[str, Any]]:
        """The gh calls that failed for want of a permission."""
        return [c for c in self.state["calls"] if "HTTP 403" in c.get("error", "")]

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        statuses: list[dict[str, Any]] = self.state["statuses"].get(sha, [])
        return statuses

    def releases(self) -> dict[str, dict[str, Any]]:
        releases: dict[str, dict[str, Any]] = self.state["releases"]
        return releases

    def asset(self, tag: str, name: str) -> Path:
        return self.home / "releases" / tag / name

    def ref(self, name: str) -> str | None:
        result = subprocess.run(
            ["git", "rev-parse", "-q", "--verify", f"{name}^{{commit}}"], cwd=self.origin,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return result.stdout.strip() or None

    # --- what people do ---

    def clone(self, directory: Path, login: str) -> Path:
        """A contributor's clone of origin, committing as `login`."""
        git("clone", "-q", str(self.origin), str(directory))
        identity(directory, login)
        return directory

    def push(self, clone: Path, branch: str = DEFAULT_BRANCH) -> list[WorkflowRun]:
        """`git push origin BRANCH` from `clone`, and the push event."""
        before = self.ref(f"refs/heads/{branch}") or ZERO_SHA
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=clone)
        after = self.ref(f"refs/heads/{branch}")
        assert after is not None
        return self.push_event(branch, before, after)

    def push_event(self, branch: str, before: str, after: str) -> list[WorkflowRun]:
        """The push event for BEFORE..AFTER on `branch` (also: a re-run of a push's workflows)."""
        payload = {
            "ref": f"refs/heads/{branch}",
            "before": before,
            "after": after,
            "created": before == ZERO_SHA,
            "repository": REPOSITORY_PAYLOAD,
            "head_commit": {"id": after},
            "pusher": {"name": "maintainer"},
        }
        github = {"sha": after, "ref": f"refs/heads/{branch}", "ref_name": branch}
        return self.event("push", payload, github, definitions=after)

    def open_pull_request(self, clone: Path, branch: str, author: str, title: str) -> tuple[int, list[WorkflowRun]]:
        """Push `branch` and open a pull request from it into the default branch."""
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=clone)
        number = len(self.state["pulls"]) + 1
        head = self.ref(f"refs/heads/{branch}")
        pull = {
            "number": number,
            "state": "open",
            "title": title,
            "user": {"login": author},
            "head": {"sha": head, "ref": branch, "repo": {"full_name": REPOSITORY}},
            "base": {"ref": DEFAULT_BRANCH, "sha": None, "repo": REPOSITORY_PAYLOAD},
            "merged": False,
        }
        self._update(lambda state: state["pulls"].__setitem__(str(number), pull))
        return number, self._pull_request_events(number, "opened")

    def update_pull_request(self, number: int, clone: Path) -> list[WorkflowRun]:
        """Push new commits to the pull request's branch (synchronize)."""
        branch = self.state["pulls"][str(number)]["head"]["ref"]
        git("push", "-q", "-f", "origin", f"HEAD:refs/heads/{branch}", cwd=clone)
        return self._pull_request_events(number, "synchronize")

    def review(self, number: int, reviewer: str, verdict: str = "APPROVED") -> list[WorkflowRun]:
        """A review of the pull request's head (APPROVED, CHANGES_REQUESTED or COMMENTED)."""
        pull = self.state["pulls"][str(number)]

        def add(state: dict[str, Any]) -> None:
            state["next_id"] += 1
            review = {"id": state["next_id"], "user": {"login": reviewer}, "state": verdict,
                      "commit_id": pull["head"]["sha"]}  # fmt: skip
            state["reviews"].setdefault(str(number), []).append(review)

        self._update(add)
        review = self.state["reviews"][str(number)][-1]
        payload = {"action": "submitted", "review": review, "pull_request": self.state["pulls"][str(number)],
                   "repository": REPOSITORY_PAYLOAD}  # fmt: skip
        merge = self.ref(f"refs/pull/{number}/merge")
        assert merge is not None
        github = {"sha": merge, "ref": f"refs/pull/{number}/merge", "ref_name": f"{number}/merge",
                  "base_ref": DEFAULT_BRANCH, "head_ref": pull["head"]["ref"]}  # fmt: skip
        return self.event("pull_request_review", payload, github, definitions=merge)

    def merge(self, number: int) -> list[WorkflowRun]:
        """Merge the pull request with a merge commit, and the push event that follows."""
        pull = self.state["pulls"][str(number)]
        before = self.ref(f"refs/heads/{DEFAULT_BRANCH}")
        assert before is not None
        after = self._merge_commit(before, pull["head"]["sha"], f"Merge pull request #{number}")
        git("update-ref", f"refs/heads/{DEFAULT_BRANCH}", after, before, cwd=self.origin)

        def close(state: dict[str, Any]) -> None:
            state["pulls"][str(number)].update(state="closed", merged=True)

        self._update(close)
        return self.push_event(DEFAULT_BRANCH, before, after)

    def dispatch(self, workflow: str, inputs: Mapping[str, Any]) -> list[WorkflowRun]:
        """`workflow_dispatch` of one workflow on the default branch."""
        head = self.ref(f"refs/heads/{DEFAULT_BRANCH}")
        assert head is not None
        payload = {"inputs": dict(inputs), "ref": f"refs/heads/{DEFAULT_BRANCH}", "repository": REPOSITORY_PAYLOAD}
        github = {"sha": head, "ref": f"refs/heads/{DEFAULT_BRANCH}", "ref_name": DEFAULT_BRANCH}
        return self.event("workflow_dispatch", payload, github, definitions=head, only=workflow)

    # --- events ---

    def _merge_commit(self, base: str, head: str, message: str) -> str:
        merged = subprocess.run(
            ["git", "merge-tree", "--write-tree", base, head], cwd=self.origin, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if merged.returncode != 0:
            raise RuntimeError(f"the pull request does not merge cleanly: {merged.stdout}")
        tree = merged.stdout.split()[0]
        return git("commit-tree", tree, "-p", base, "-p", head, "-m", message, cwd=self.origin,
                   env={"GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com",
                        "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"})  # fmt: skip

    def _pull_request_events(self, number: int, action: str) -> list[WorkflowRun]:
        """pull_request_target (review.yml answers first: it has less to do) then pull_request."""
        pull = self.state["pulls"][str(number)]
        head = self.ref(f"refs/heads/{pull['head']['ref']}")
        base = self.ref(f"refs/heads/{DEFAULT_BRANCH}")
        assert head is not None
        assert base is not None
        git("update-ref", f"refs/pull/{number}/head", head, cwd=self.origin)
        merge = self._merge_commit(base, head, f"Merge {head} into {base}")
        git("update-ref", f"refs/pull/{number}/merge", merge, cwd=self.origin)

        def move(state: dict[str, Any]) -> None:
            state["pulls"][str(number)]["head"]["sha"] = head
            state["pulls"][str(number)]["base"]["sha"] = base

        self._update(move)
        payload = {"action": action, "number": number, "pull_request": self.state["pulls"][str(number)],
                   "repository": REPOSITORY_PAYLOAD}  # fmt: skip
        refs = {"base_ref": DEFAULT_BRANCH, "head_ref": pull["head"]["ref"]}
        target = {"sha": base, "ref": f"refs/heads/{DEFAULT_BRANCH}", "ref_name": DEFAULT_BRANCH, **refs}
        runs = self.event("pull_request_target", payload, target, definitions=base)
        checks = {"sha": merge, "ref": f"refs/pull/{number}/merge", "ref_name": f"{number}/merge", **refs}
        return runs + self.event("pull_request", payload, checks, definitions=merge)

    def event(
        self,
        name: str,
        payload: dict[str, Any],
        github: dict[str, Any],
        *,
        definitions: str,
        only: str | None = None,
    ) -> list[WorkflowRun]:
        """Run every workflow at commit `definitions` that listens to event `name`, then the
        workflow_run events of their runs. Returns every run, in order."""
        runs = []
        for path, workflow in workflows_at(self.origin, definitions).items():
            if (only is None or Path(path).name == only) and listens(workflow, name, payload):
                run = self._run(path, workflow, name, payload, github)
                runs.append(run)
                runs += self._completed(run, payload)
        return runs

    def _completed(self, run: WorkflowRun, payload: dict[str, Any]) -> list[WorkflowRun]:
        """Record a finished run for the API, and send its workflow_run event."""
        pull = payload.get("pull_request")
        pulls = (
            [{"number": pull["number"], "head": {"sha": pull["head"]["sha"], "ref": pull["head"]["ref"]},
              "base": {"ref": pull["base"]["ref"]}}]
            if pull is not None and run.event in ("pull_request", "pull_request_review") else []
        )  # fmt: skip
        record = {
            "id": run.run_id,
            "run_number": sum(1 for r in self.runs if r.path == run.path),
            "name": run.name,
            "path": run.path,
            "event": run.event,
            "head_sha": run.head_sha,
            "head_branch": pull["head"]["ref"] if pull is not None else DEFAULT_BRANCH,
            "status": "completed",
            "conclusion": run.conclusion,
            "pull_requests": pulls,
        }
        self._update(lambda state: state["runs"].append(record))
        if run.event == "workflow_run":
            return []  # GitHub follows workflow_run chains a few levels; this repository needs one
        head = self.ref(f"refs/heads/{DEFAULT_BRANCH}")
        assert head is not None
        event = {"action": "completed", "workflow_run": record, "workflow": {"name": run.name, "path": run.path},
                 "repository": REPOSITORY_PAYLOAD}  # fmt: skip
        github = {"sha": head, "ref": f"refs/heads/{DEFAULT_BRANCH}", "ref_name": DEFAULT_BRANCH}
        return self.event("workflow_run", event, github, definitions=head)

    def _run(
        self, path: str, workflow: dict[str, Any], event: str, payload: dict[str, Any], github: dict[str, Any]
    ) -> WorkflowRun:
        run_id = next(self._run_ids)
        pull = payload.get("pull_request")
        head_sha = pull["head"]["sha"] if event.startswith("pull_request") and pull else github["sha"]
        run = WorkflowRun(path, str(workflow.get("name", path)), event, head_sha, run_id)
        Runner(self, run, workflow, payload, github).run()
        self.runs.append(run)
        return run

    def host_command(self, command: str) -> str | None:
        """Where a command a package provides is on this machine (gh: the stub)."""
        if command == "gh":
            return str(self.bin / "gh")
        return shutil.which(command, path=os.pathsep.join(host_path()))

    def image_bin(self) -> Path:
        """The CI image's commands, made on first use: this machine's, but those it lacks."""
        directory = self.root / "image-bin"
        if directory.is_dir():
            return directory
        directory.mkdir()
        for folder in host_path():
            try:
                entries = sorted(Path(folder).iterdir())
            except OSError:
                continue
            for entry in entries:
                target = directory / entry.name
                if entry.name in NOT_IN_IMAGE or target.exists() or not os.access(entry, os.X_OK) or entry.is_dir():
                    continue
                target.symlink_to(entry)
        return directory

    def seed_release(self, tag: str, target: str) -> None:
        """A release made before the test's story began: its tag in origin, its entry in the API."""
        git("update-ref", f"refs/tags/{tag}", target, cwd=self.origin)
        release = {"tag_name": tag, "target_commitish": target, "name": tag, "body": "", "assets": []}
        self._update(lambda state: state["releases"].__setitem__(tag, release))

    def register_token(self, token: str, permissions: dict[str, str]) -> None:
        self._update(lambda state: state["tokens"].__setitem__(token, permissions))


def identity(repository: Path, login: str) -> None:
    git("config", "user.name", login, cwd=repository)
    git("config", "user.email", f"{login}@users.noreply.github.com", cwd=repository)


def workflows_at(origin: Path, commit: str) -> dict[str, dict[Any, Any]]:
    """The workflow files at `commit`, by path."""
    names = git("ls-tree", "--name-only", f"{commit}:{WORKFLOWS_DIR}", cwd=origin).splitlines()
    return {
        f"{WORKFLOWS_DIR}/{name}": yaml.safe_load(git("show", f"{commit}:{WORKFLOWS_DIR}/{name}", cwd=origin))
        for name in sorted(names)
        if name.endswith((".yml", ".yaml"))
    }


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` mapping, whichever form it takes (YAML 1.1 reads the key `on` as true)."""
    on: Any = workflow["on"] if "on" in workflow else workflow.get(True)
    if isinstance(on, dict):
        return {key: value or {} for key, value in on.items()}
    return dict.fromkeys([on] if isinstance(on, str) else list(on or []), {})


OPENED = ["opened", "synchronize", "reopened"]
DEFAULT_TYPES = {"pull_request": OPENED, "pull_request_target": OPENED}


def listens(workflow: dict[Any, Any], event: str, payload: dict[str, Any]) -> bool:
    """Whether the workflow runs on this event, its filters (types, branches, workflows) included."""
    on = triggers(workflow)
    if event not in on:
        return False
    options = on[event]
    types = options.get("types", DEFAULT_TYPES.get(event))
    if types is not None and "action" in payload and payload["action"] not in types:
        return False
    if event == "push":
        branch = payload["ref"].removeprefix("refs/heads/")
        branches = options.get("branches")
        return branches is None or any(re.fullmatch(glob(b), branch) for b in branches)
    if event in ("pull_request", "pull_request_target") and options.get("branches") is not None:
        return any(re.fullmatch(glob(b), payload["pull_request"]["base"]["ref"]) for b in options["branches"])
    if event == "workflow_run":
        return str(payload["workflow_run"]["name"]) in options.get("workflows", [])
    return True


def glob(pattern: str) -> str:
    """A branch filter as a regular expression: `*` within a segment, `**` across."""
    return "".join(".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
                   for part in re.split(r"(\*\*|\*)", pattern))  # fmt: skip


# --- running one workflow ----------------------------------------------------------------------


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def job_order(jobs: dict[str, dict[str, Any]]) -> list[str]:
    """The jobs so that each comes after what it needs (a cycle or an unknown job is an error)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(job_id: str) -> None:
        if job_id in order:
            return
        if job_id in visiting or job_id not in jobs:
            raise WorkflowError(f"job {job_id!r}: unknown, or part of a cycle of needs")
        visiting.add(job_id)
        for need in needs_of(jobs[job_id]):
            visit(need)
        order.append(job_id)

    for job_id in jobs:
        visit(job_id)
    return order


def permissions_of(workflow: dict[Any, Any], job: dict[str, Any]) -> dict[str, str]:
    """What the job's token may do: its own `permissions:`, else the workflow's."""
    declared = job.get("permissions", workflow.get("permissions", {"contents": "read"}))
    if declared in ("read-all", "write-all"):
        return dict.fromkeys(PERMISSION_SCOPES, declared.split("-")[0])
    return {str(scope): str(level) for scope, level in (declared or {}).items()}


class Runner:
    """One run of one workflow."""

    def __init__(
        self, github: LocalGitHub, run: WorkflowRun, workflow: dict[Any, Any], payload: dict[str, Any],
        context: dict[str, Any],
    ) -> None:  # fmt: skip
        self.github = github
        self.run_record = run
        self.workflow = workflow
        self.payload = payload
        self.directory = github.root / "runs" / f"{run.run_id}-{run.file}"
        self.directory.mkdir(parents=True)
        (self.directory / "event.json").write_text(json.dumps(payload))
        self.artifacts = self.directory / "artifacts"
        self.context = {
            "event_name": run.event,
            "event": payload,
            "repository": REPOSITORY,
            "repository_owner": OWNER,
            "server_url": "https://github.com",
            "api_url": "https://api.github.com",
            "run_id": str(run.run_id),
            "run_number": "1",
            "run_attempt": "1",
            "workflow": run.name,
            "actor": payload.get("sender", {}).get("login", "maintainer"),
            "base_ref": "",
            "head_ref": "",
            **context,
        }

    def run(self) -> None:
        jobs: dict[str, dict[str, Any]] = self.workflow["jobs"]
        contexts = {"github": self.context, "inputs": self.payload.get("inputs", {}), "vars": {}}
        interpolate(self.workflow.get("concurrency"), contexts)  # evaluated, not enforced
        for job_id in job_order(jobs):
            self.run_record.jobs[job_id] = self._job(job_id, jobs[job_id])

    def _job(self, job_id: str, job: dict[str, Any]) -> list[JobRun]:
        needs = {
            need: {"result": self.run_record.result(need), "outputs": self.run_record.jobs[need][-1].outputs}
            for need in needs_of(job)
        }
        results = [value["result"] for value in needs.values()]
        status = Status(success=all(r == "success" for r in results), failure="failure" in results)
        contexts = {"github": self.context, "needs": needs, "inputs": self.payload.get("inputs", {}), "vars": {}}
        name = str(job.get("name", job_id))
        if "uses" in job:
            raise WorkflowError(f"{self.run_record.file}: job {job_id}: reusable workflows are not supported")
        if not condition(job.get("if"), contexts, status):
            return [JobRun(job_id, name, "skipped")]
        reason = self.github.skip_jobs.get(f"{self.run_record.file}/{job_id}")
        if reason is not None:
            return [JobRun(job_id, name, "skipped", not_run=reason)]
        strategy = interpolate(job.get("strategy", {}), contexts)
        try:
            entries = matrix_entries(strategy.get("matrix"))
        except WorkflowError as err:
            return [JobRun(job_id, name, "failure", [StepResult("matrix", "failure", str(err))])]
        fail_fast = strategy.get("fail-fast", True) is not False
        instances: list[JobRun] = []
        for index, entry in enumerate(entries):
            if fail_fast and any(run.result == "failure" for run in instances):
                # GitHub cancels the entries still queued or running once one fails.
                instances.append(JobRun(job_id, name, "cancelled", matrix=entry))
                continue
            instances.append(self._instance(job_id, job, contexts, entry, index, fail_fast))
        return instances

    def _instance(
        self,
        job_id: str,
        job: dict[str, Any],
        base: dict[str, Any],
        matrix: dict[str, Any] | None,
        index: int,
        fail_fast: bool = True,
    ) -> JobRun:
        contexts = {**base, "matrix": matrix or {}, "strategy": {"fail-fast": fail_fast, "job-index": index}}
        name = to_text(interpolate(str(job.get("name", job_id)), contexts))
        interpolate(job.get("concurrency"), contexts)  # evaluated, not enforced
        container = job.get("container")
        image = container.get("image") if isinstance(container, dict) else container
        result = JobRun(job_id, name, "success", matrix=matrix, container=image)
        home = self.directory / f"{job_id}-{index}"
        workspace, temp, user_home = home / "workspace", home / "temp", home / "home"
        for directory in (workspace, temp, user_home):
            directory.mkdir(parents=True)
        token = f"ghs_local_{self.run_record.run_id}_{job_id}_{index}"
        self.github.register_token(token, permissions_of(self.workflow, job))
        # In a container job the `github.workspace` and `runner.temp` contexts name the host's
        # directories, which the container mounts elsewhere: here they name nothing at all.
        host = image is not None
        github = {**self.context, "token": token, "job": job_id,
                  "workspace": HOST_WORKSPACE if host else str(workspace)}  # fmt: skip
        contexts |= {
            "github": github,
            "secrets": {"GITHUB_TOKEN": token},
            "runner": {"temp": HOST_TEMP if host else str(temp), "os": "Linux", "arch": "X64"},
        }
        env: dict[str, str] = {}
        for scope in (self.workflow.get("env"), job.get("env")):
            env |= {k: to_text(v) for k, v in interpolate(scope or {}, {**contexts, "env": env}).items()}
        job_state = JobState(self, job_id, job, result, workspace, temp, user_home, token, env)
        deadline = time.monotonic() + 60 * float(job.get("timeout-minutes", 360))
        steps_context: dict[str, Any] = {}
        for number, step in enumerate(job.get("steps", [])):
            step_name = step_label(step, number)
            failed = any(s.outcome == "failure" for s in result.steps)
            status = Status(success=not failed, failure=failed)
            step_contexts = {**contexts, "steps": steps_context, "env": job_state.env}
            if not condition(step.get("if"), step_contexts, status):
                result.steps.append(StepResult(step_name, "skipped"))
                if "id" in step:
                    steps_context[step["id"]] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
                continue
            outcome, outputs, log = job_state.step(step, step_contexts, deadline)
            result.steps.append(StepResult(step_name, outcome, log))
            if "id" in step:
                conclusion = "success" if step.get("continue-on-error") is True else outcome
                steps_context[step["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": conclusion}
            if outcome == "failure" and step.get("continue-on-error") is True:
                result.steps[-1].outcome = "failure (continued)"
        if any(s.outcome == "failure" for s in result.steps):
            result.result = "failure"
        result.installed = job_state.installed()
        final = {**contexts, "steps": steps_context, "env": job_state.env}
        result.outputs = {k: to_text(v) for k, v in interpolate(job.get("outputs", {}), final).items()}
        environment = job.get("environment")
        if isinstance(environment, dict):
            interpolate(environment, final)
        return result


def matrix_entries(matrix: Any) -> list[dict[str, Any] | None]:
    """The entries of a job's matrix (None: no matrix), as GitHub expands them."""
    if matrix is None:
        return [None]
    if not isinstance(matrix, dict):
        raise WorkflowError(f"a matrix must be a mapping, got {to_text(matrix)[:80]}")
    include = matrix.get("include", [])
    exclude = matrix.get("exclude", [])
    vectors = {key: value for key, value in matrix.items() if key not in ("include", "exclude")}
    for key, value in vectors.items():
        if not isinstance(value, list) or not value:
            raise WorkflowError(f"Matrix vector '{key}' does not contain any values")
    entries: list[dict[str, Any]] = [
        dict(zip(vectors, combo, strict=True)) for combo in itertools.product(*vectors.values())
    ]
    entries = [e for e in entries if not any(all(e.get(k) == v for k, v in x.items()) for x in exclude)]
    entries += [dict(extra) for extra in include]
    if not entries:
        raise WorkflowError("the matrix has no entries")
    if len(entries) > MAX_MATRIX:
        raise WorkflowError(f"The strategy configuration produces {len(entries)} jobs, more than {MAX_MATRIX}")
    return list(entries)


def step_label(step: dict[str, Any], number: int) -> str:
    if "name" in step:
        return str(step["name"])
    if "uses" in step:
        return str(step["uses"]).split("@")[0]
    if "run" in step:
        return str(step["run"]).strip().splitlines()[0]
    return f"step {number + 1}"


# --- running one job's steps ---------------------------------------------------------------------


class JobState:
    """A job instance's workspace, home, token and environment, as its steps share them."""

    def __init__(
        self, runner: Runner, job_id: str, job: dict[str, Any], result: JobRun, workspace: Path, temp: Path,
        home: Path, token: str, env: dict[str, str],
    ) -> None:  # fmt: skip
        self.runner = runner
        self.job_id = job_id
        self.job = job
        self.result = result
        self.workspace = workspace
        self.temp = temp
        self.home = home
        self.token = token
        self.env = env  # the job's env: the workflow's and job's `env:`, then what GITHUB_ENV adds
        self.path: list[str] = []  # what GITHUB_PATH adds
        self.stop: str | None = None

    @property
    def label(self) -> str:
        return f"{self.runner.run_record.file}/{self.job_id}"

    def base_env(self) -> dict[str, str]:
        """What every process of the job starts with: a runner's environment, not this test's.

        A container job's PATH is the image's: this machine's commands but those the image lacks,
        and the stand-ins of a root shell (`apt-get` installs from this machine; `id -u` is 0).
        Any other job's is the runner's, which has gh and jq."""
        context = self.runner.context
        if self.result.container is not None:
            path = [*self.path, str(self.container_bin()), str(self.runner.github.image_bin())]
        else:
            path = [*self.path, str(self.runner.github.bin), *host_path()]
        return {
            "PATH": os.pathsep.join(path),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.temp),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_REPOSITORY_OWNER": OWNER,
            "GITHUB_SHA": context["sha"],
            "GITHUB_REF": context["ref"],
            "GITHUB_REF_NAME": context.get("ref_name", ""),
            "GITHUB_BASE_REF": context.get("base_ref", ""),
            "GITHUB_HEAD_REF": context.get("head_ref", ""),
            "GITHUB_EVENT_NAME": context["event_name"],
            "GITHUB_EVENT_PATH": str(self.runner.directory / "event.json"),
            "GITHUB_RUN_ID": context["run_id"],
            "GITHUB_RUN_NUMBER": context["run_number"],
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SERVER_URL": context["server_url"],
            "GITHUB_API_URL": context["api_url"],
            "GITHUB_WORKFLOW": context["workflow"],
            "GITHUB_JOB": self.job_id,
            "GITHUB_ACTOR": context["actor"],
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "FAKE_GITHUB": str(self.runner.github.home),
            "FAKE_GITHUB_JOB": self.label,
        }

    def container_bin(self) -> Path:
        """The job's root stand-ins, made on first use: `apt-get` (what it installs is logged in
        `installed.log` beside it) and `id`."""
        directory = self.home.parent / "container-bin"
        if directory.is_dir():
            return directory
        directory.mkdir()
        provided = {
            package: {command: self.runner.github.host_command(command) for command in commands}
            for package, commands in PACKAGES.items()
        }
        write_script(directory / "apt-get", APT_GET.format(python=sys.executable, packages=repr(provided),
                                                           bin=repr(str(directory))))  # fmt: skip
        real_id = shutil.which("id", path=os.pathsep.join(host_path())) or "/usr/bin/id"
        write_script(directory / "id", f'#!/bin/sh\nif [ "$1" = -u ]; then echo 0; else exec {real_id} "$@"; fi\n')
        return directory

    def installed(self) -> list[str]:
        log = self.home.parent / "container-bin" / "installed.log"
        return log.read_text().splitlines() if log.exists() else []

    def step(self, step: dict[str, Any], contexts: dict[str, Any], deadline: float) -> tuple[str, dict[str, str], str]:
        """Run one step: (outcome, outputs, log)."""
        env = {**self.env, **{k: to_text(v) for k, v in interpolate(step.get("env", {}), contexts).items()}}
        if "uses" in step:
            action = str(step["uses"]).split("@")[0]
            if action not in ACTIONS:
                raise WorkflowError(
                    f"{self.label}: no local equivalent of {action}: add one to tests/workflowrun.py ACTIONS"
                )
            inputs = {k: to_text(v) for k, v in interpolate(step.get("with", {}), contexts).items()}
            try:
                outputs, log = ACTIONS[action](self, inputs)
            except ActionFailed as err:
                return "failure", {}, str(err)
            return "success", outputs, log
        if "run" not in step:
            raise WorkflowError(f"{self.label}: a step with neither run nor uses")
        shell = step.get("shell") or self.runner.workflow.get("defaults", {}).get("run", {}).get("shell", "bash")
        if shell != "bash":
            raise WorkflowError(f"{self.label}: shell {shell!r} is not supported (bash is)")
        script = to_text(interpolate(str(step["run"]), {**contexts, "env": env}))
        return self._script(script, env, step.get("working-directory"), deadline)

    def _script(
        self, script: str, env: dict[str, str], directory: str | None, deadline: float
    ) -> tuple[str, dict[str, str], str]:
        names = ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")
        files = {name: self.temp / f"_{name.lower()}" for name in names}
        for path in files.values():
            path.write_text("")
        script_file = self.temp / "_step.sh"
        script_file.write_text(script)
        environment = {**self.base_env(), **env, **{name: str(path) for name, path in files.items()}}
        cwd = self.workspace / directory if directory else self.workspace
        process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            out, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
            timed_out = True
        log = out.decode(errors="replace")
        self._commands(log)
        try:
            outputs = read_key_values(files["GITHUB_OUTPUT"].read_text())
            self.env |= read_key_values(files["GITHUB_ENV"].read_text())
        except WorkflowError as err:
            return "failure", {}, f"{log}\n{err}"
        self.path = [line for line in files["GITHUB_PATH"].read_text().splitlines() if line] + self.path
        if timed_out:
            return "failure", outputs, log + "\n(the job's timeout-minutes ran out)"
        return ("success" if process.returncode == 0 else "failure"), outputs, log

    def _commands(self, log: str) -> None:
        """The workflow commands in a step's output: annotations, and stop-commands honoured."""
        for line in log.splitlines():
            match = COMMAND.match(line.strip())
            if match is None:
                continue
            command, _, message = match.groups()
            if self.stop is not None:
                if command == self.stop:
                    self.stop = None
                continue
            if command == "stop-commands":
                self.stop = message
            elif command in ("error", "warning", "notice"):
                self.runner.run_record.annotations.append(Annotation(command, message, self.result.name))


APT_GET = """#!{python}
# apt-get in the CI image, standing in: `install` puts this machine's commands of the packages on PATH.
import json, os, sys
packages, directory = {packages}, {bin}
args = [a for a in sys.argv[1:] if not a.startswith("-")]
if args[:1] == ["install"]:
    unknown = [p for p in args[1:] if p not in packages or None in packages[p].values()]
    if unknown:
        sys.exit("E: Unable to locate package " + unknown[0])
    for package in args[1:]:
        for command, target in packages[package].items():
            link = os.path.join(directory, command)
            if not os.path.lexists(link):
                os.symlink(target, link)
    with open(os.path.join(directory, "installed.log"), "a") as log:
        log.write(" ".join(args[1:]) + "\\n")
elif args[:1] != ["update"]:
    sys.exit("apt-get stand-in: only update and install")
"""


def write_script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def host_path() -> list[str]:
    """This machine's PATH, without the test environment's own scripts."""
    return [
        p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if p and Path(p) != Path(sys.executable).parent
    ]  # fmt: skip


def read_key_values(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            block = []
            for item in lines:
                if item == delimiter:
                    break
                block.append(item)
            else:
                raise WorkflowError(f"Matching delimiter not found '{delimiter}'")
            values[key] = "\n".join(block)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
        elif line.strip():
            raise WorkflowError(f"a line of GITHUB_OUTPUT/GITHUB_ENV GitHub would refuse: {line!r}")
    return values


# --- the actions, here -------------------------------------------------------------------------


class ActionFailed(Exception):
    """An action's step failed; the message is its log."""


Action = Callable[[JobState, dict[str, str]], tuple[dict[str, str], str]]


def only_inputs(action: str, inputs: dict[str, str], known: set[str]) -> None:
    unknown = set(inputs) - known
    if unknown:
        raise WorkflowError(f"{action}: the local equivalent does not support {sorted(unknown)}")


def checkout(job: JobState, inputs: dict[str, str]) -> tuple[dict[str, str], str]:
    """actions/checkout: origin fetched into the workspace with no credentials, then the ref
    checked out as the action does; fetch-depth 0 brings every branch and tag."""
    only_inputs("actions/checkout", inputs, {"ref", "fetch-depth", "persist-credentials"})
    workspace, github = job.workspace, job.runner.context
    depth = int(inputs.get("fetch-depth") or 1)
    url = f"file://{job.runner.github.origin}"
    git("init", "-q", str(workspace))
    git("remote", "add", "origin", url, cwd=workspace)
    shallow = [] if depth == 0 else [f"--depth={depth}"]
    if depth == 0:
        git("fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
            cwd=workspace)  # fmt: skip
    ref = inputs.get("ref") or ""
    if re.fullmatch(r"[0-9a-f]{40}", ref) or (not ref and not github["ref"].startswith("refs/heads/")):
        sha = ref or github["sha"]
        local = github["ref"].replace("refs/pull/", "refs/remotes/pull/") if not ref else "refs/checkout/head"
        git("fetch", "-q", "--no-tags", *shallow, "origin", f"+{sha}:{local}", cwd=workspace)
        git("checkout", "-q", "--force", "--detach", sha, cwd=workspace)
    else:
        branch = (ref or github["ref"]).removeprefix("refs/heads/")
        target = github["sha"] if not ref else f"refs/remotes/origin/{branch}"
        source = target if not ref else f"refs/heads/{branch}"
        git("fetch", "-q", "--no-tags", *shallow, "origin", f"+{source}:refs/remotes/origin/{branch}", cwd=workspace)
        git("checkout", "-q", "--force", "-B", branch, target, cwd=workspace)
    head = git("rev-parse", "HEAD", cwd=workspace)
    provide_venv(workspace)
    if job.result.container is not None and os.geteuid() == 0:
        # The runner's user owns the bind-mounted workspace; the container's steps run as root.
        subprocess.run(["chown", "-R", f"{CONTAINER_UID}:{CONTAINER_UID}", str(workspace)], check=True)
    return {"ref": ref or github["ref"], "commit": head}, f"checked out {head} from {url}"


def provide_venv(workspace: Path) -> None:
    """The checkout's `.venv` as `make venv` would leave it, without the network: this test
    environment's packages with the checkout's own code first, and its console scripts."""
    venv = workspace / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    packages = Path(sysconfig.get_paths()["purelib"])
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    (site_packages / "_workflow_run.pth").write_text(
        f"{workspace}\nimport site; site.addsitedir({str(packages)!r})\nimport _workflow_offline\n"
    )
    (site_packages / "_workflow_offline.py").write_text(OFFLINE)
    bin_dir = Path(sys.executable).parent
    for script in bin_dir.iterdir():
        if not script.is_file() or script.name.startswith("python"):
            continue
        with script.open("rb") as handle:
            first = handle.readline()
        if first.startswith(f"#!{bin_dir}/python".encode()):
            target = venv / "bin" / script.name
            target.write_bytes(f"#!{venv}/bin/python\n".encode() + script.read_bytes().split(b"\n", 1)[1])
            target.chmod(0o755)
    (venv / ".installed").touch()


def setup_node(job: JobState, inputs: dict[str, str]) -> tuple[dict[str, str], str]:
    """actions/setup-node: this machine's Node.js, which must be the major version asked for."""
    only_inputs("actions/setup-node", inputs, {"node-version", "package-manager-cache"})
    wanted = inputs.get("node-version", "")
    if not re.fullmatch(r"\d+", wanted):
        raise WorkflowError(f"actions/setup-node: the local equivalent takes a major version, got {wanted!r}")
    node = shutil.which("node", path=os.pathsep.join(host_path()))
    found = subprocess.run([node or "node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if node is None or not found.startswith(f"v{wanted}."):
        raise ActionFailed(f"this machine has Node.js {found or 'none'}, not {wanted}: the local run cannot stand in")
    directory = job.home.parent / "node-bin"
    directory.mkdir(exist_ok=True)
    for command in ("node", "npm", "npx"):
        target = shutil.which(command, path=os.pathsep.join(host_path()))
        if target is not None and not (directory / command).exists():
            (directory / command).symlink_to(target)
    job.path.insert(0, str(directory))
    return {"node-version": found}, f"Node.js {found} (this machine's)"


# The jobs' Python processes (catalog, mkdocs) look up no host but this machine: a download from
# GitHub's releases fails at once, as the tests' own processes do (tests/conftest.py: no_network).
OFFLINE = """import ipaddress, socket

_lookup = socket.getaddrinfo


def _loopback_only(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and str(name).lower() not in ("localhost", "127.0.0.1", "::1"):
        try:
            ipaddress.ip_address(str(name).strip("[]"))
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, f"a local workflow run looks up no host, not {name!r}") from None
    return _lookup(host, *args, **kwargs)


socket.getaddrinfo = _loopback_only
"""


def upload_artifact(job: JobState, inputs: dict[str, str]) -> tuple[dict[str, str], str]:
    only_inputs(
        "actions/upload-artifact",
        inputs,
        {"name", "path", "if-no-files-found", "retention-days", "include-hidden-files"},
    )
    source = job.workspace / inputs["path"]
    target = job.runner.artifacts / inputs.get("name", "artifact")
    hidden = inputs.get("include-hidden-files", "false") == "true"
    if not hidden and source.name.startswith("."):  # @actions/glob skips a hidden path and what is below it
        source = job.workspace / "nothing: upload-artifact leaves hidden files and directories out"
    if job.result.container is not None and not any(source.is_relative_to(d) for d in (job.workspace, job.temp)):
        # A path outside the mounted directories (e.g. from `runner.temp`, the host's) is not in the container.
        source = job.workspace / f"nothing: {inputs['path']} is not inside the container"
    if not source.exists() or (source.is_dir() and not any(source.iterdir())):
        if inputs.get("if-no-files-found", "warn") == "error":
            raise ActionFailed(f"No files were found with the provided path: {inputs['path']}")
        return {}, "no files"
    if target.exists():
        raise ActionFailed(f"an artifact named {target.name} exists already in this run")
    if source.is_dir():
        shutil.copytree(source, target, ignore=None if hidden else shutil.ignore_patterns(".*"))
    else:
        target.mkdir(parents=True)
        shutil.copy2(source, target / source.name)
    return {"artifact-id": "1"}, f"uploaded {source} as {target.name}"


def download_artifact(job: JobState, inputs: dict[str, str]) -> tuple[dict[str, str], str]:
    only_inputs("actions/download-artifact", inputs, {"name", "path"})
    source = job.runner.artifacts / inputs["name"]
    if not source.is_dir():
        raise ActionFailed(f"Artifact not found: {inputs['name']}")
    target = job.workspace / inputs.get("path", ".")
    shutil.copytree(source, target, dirs_exist_ok=True)
    return {"download-path": str(target)}, f"downloaded {inputs['name']} to {target}"


def configure_pages(job: JobState, inputs: dict[str, str]) -> tuple[dict[str, str], str]:
    only_inputs("actions/configure-pages", inputs, set())
    return {"base_url": f"https://{OWNER}.github.io/catalog", "base_path": "/catalog"}, "pages configured"


def upload_pages_artifact(job: JobState, inputs: dict[str, str]) -> tuple[dict[str, str], str]:
    only_inputs("actions/upload-pages-artifact", inputs, {"path"})
    return upload_artifact(job, {"name": "github-pages", "path": inputs.get("path", "_site/"),
                                 "if-no-files-found": "error"})  # fmt: skip


def deploy_pages(job: JobState, inputs: dict[str, str]) -> tuple[dict[str, str], str]:
    only_inputs("actions/deploy-pages", inputs, set())
    granted = permissions_of(job.runner.workflow, job.job)
    if granted.get("pages") != "write" or granted.get("id-token") != "write":
        raise ActionFailed('Ensure GITHUB_TOKEN has permission "id-token: write" and "pages: write"')
    source = job.runner.artifacts / "github-pages"
    if not source.is_dir():
        raise ActionFailed("No artifact named github-pages was uploaded by this run")
    pages = job.runner.github.pages
    staged = pages.with_name("pages.new")
    shutil.copytree(source, staged)
    shutil.rmtree(pages)
    staged.rename(pages)
    return {"page_url": f"https://{OWNER}.github.io/catalog/"}, "deployed"


ACTIONS: dict[str, Action] = {
    "actions/checkout": checkout,
    "actions/setup-node": setup_node,
    "actions/upload-artifact": upload_artifact,
    "actions/download-artifact": download_artifact,
    "actions/configure-pages": configure_pages,
    "actions/upload-pages-artifact": upload_pages_artifact,
    "actions/deploy-pages": deploy_pages,
}


def all_runs(runs: list[WorkflowRun], file: str) -> Iterator[WorkflowRun]:
    return (run for run in runs if run.file == file)
