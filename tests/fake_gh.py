"""`gh`, as the workflows call it, answered from a local "GitHub" (tests/workflowrun.py).

The local runner puts a `gh` on PATH that runs this file. It reads and writes the state of
LocalGitHub (`$FAKE_GITHUB/state.json`): pull requests, reviews, workflow runs, commit
statuses, comments, labels and releases, whose assets live in `$FAKE_GITHUB/releases/TAG/`. A
release also creates its tag in the bare origin, as GitHub does.

Every call is recorded with the job it came from. The token (`GH_TOKEN`) is the one the runner
made for the job: it carries the job's `permissions:`, and a call they do not allow fails with
GitHub's 403, so a workflow that asks for too little fails here as it would there.

Supported: `gh api [--method M] [--paginate] [--jq EXPR] [-f k=v] [-F k=v|k=@file] PATH` for the
endpoints in ROUTES, `gh release view TAG`, `gh release create TAG FILE... --target --title
--notes-file` (with `--repo`). Anything else exits 1 saying it is not supported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

State = dict[str, Any]
LEVELS = {"none": 0, "read": 1, "write": 2}
BOT = "github-actions[bot]"


class Failure(Exception):
    """What gh prints on stderr before it exits 1."""


def main(argv: list[str]) -> int:
    home = Path(os.environ["FAKE_GITHUB"])
    state_file = home / "state.json"
    state: State = json.loads(state_file.read_text())
    call: dict[str, Any] = {"args": argv, "job": os.environ.get("FAKE_GITHUB_JOB", "")}
    state["calls"].append(call)
    status = 0
    try:
        token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
        if not token:
            raise Failure("gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment variable.")
        if token not in state["tokens"]:
            raise Failure("HTTP 401: Bad credentials (https://api.github.com/)")
        permissions: dict[str, str] = state["tokens"][token]
        if argv[:1] == ["api"]:
            output = api(state, permissions, argv[1:])
        elif argv[:2] == ["release", "view"]:
            output = release_view(state, permissions, argv[2:])
        elif argv[:2] == ["release", "create"]:
            output = release_create(state, permissions, argv[2:], home)
        else:
            raise Failure(f"fake gh: `gh {' '.join(argv[:2])}` is not supported")
        sys.stdout.write(output)
    except Failure as err:
        call["error"] = str(err)
        print(err, file=sys.stderr)
        status = 1
    temporary = state_file.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=1))
    temporary.replace(state_file)
    return status


def allowed(permissions: dict[str, str], scopes: tuple[str, ...], level: str) -> None:
    """Fails with GitHub's 403 unless one of `scopes` is granted at `level` or above."""
    if not any(LEVELS[permissions.get(scope, "none")] >= LEVELS[level] for scope in scopes):
        raise Failure(f"gh: Resource not accessible by integration (HTTP 403)\n(needs {' or '.join(scopes)}: {level})")


# --- gh api --------------------------------------------------------------------------------------


def api(state: State, permissions: dict[str, str], args: list[str]) -> str:
    method: str = "GET"
    jq: str | None = None
    path: str | None = None
    fields: dict[str, Any] = {}
    items = iter(args)
    for arg in items:
        if arg in ("--method", "-X"):
            method = next(items).upper()
        elif arg == "--paginate":
            pass  # every answer is one page
        elif arg in ("--jq", "-q"):
            jq = next(items)
        elif arg in ("-f", "--raw-field", "-F", "--field"):
            key, _, value = next(items).partition("=")
            typed = arg in ("-F", "--field")
            if typed and value.startswith("@"):
                value = Path(value[1:]).read_text()
            field: Any = value
            if typed and value in ("true", "false", "null"):
                field = json.loads(value)
            elif typed and re.fullmatch(r"-?\d+", value):
                field = int(value)
            if key.endswith("[]"):
                fields.setdefault(key[:-2], []).append(field)
            else:
                fields[key] = field
        elif arg.startswith("-"):
            raise Failure(f"fake gh: gh api {arg} is not supported")
        elif path is None:
            path = arg
        else:
            raise Failure(f"fake gh: unexpected argument {arg!r}")
    if path is None:
        raise Failure("gh api: a path is required")
    if fields and method == "GET":
        method = "POST"  # as gh does: fields make a POST unless --method says otherwise
    parts = urlsplit(path.lstrip("/"))
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    repo = state["repository"]
    prefix = f"repos/{repo}/"
    if not parts.path.startswith(prefix):
        raise Failure(f"gh: Not Found (HTTP 404) {parts.path}")
    route = parts.path[len(prefix) :]
    for (route_method, pattern), handler in ROUTES.items():
        match = re.fullmatch(pattern, route)
        if route_method == method and match is not None:
            answer = handler(state, permissions, query, fields, *[unquote(g) for g in match.groups()])
            break
    else:
        raise Failure(f"gh: Not Found (HTTP 404) {method} {parts.path}")
    text = json.dumps(answer)
    if jq is None:
        return text + "\n"
    result = subprocess.run(["jq", "-c", jq], input=text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Failure(f"gh: jq: {result.stderr.strip()}")
    # As gh prints --jq results: strings raw, null as an empty line, the rest as compact JSON.
    values = [json.loads(line) for line in result.stdout.splitlines()]
    return "".join(f"{'' if v is None else v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))}\n"
                   for v in values)  # fmt: skip


def _pull(state: State, number: str) -> dict[str, Any]:
    pull: dict[str, Any] | None = state["pulls"].get(number)
    if pull is None:
        raise Failure(f"gh: Not Found (HTTP 404) pull request {number}")
    return pull


def get_pull(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, number: str) -> Any:
    allowed(permissions, ("pull-requests",), "read")
    return _pull(state, number)


def list_pulls(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any) -> Any:
    allowed(permissions, ("pull-requests",), "read")
    wanted = query.get("state", "open")
    return [p for p in state["pulls"].values() if wanted == "all" or p["state"] == wanted]


def list_reviews(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, number: str) -> Any:
    allowed(permissions, ("pull-requests",), "read")
    _pull(state, number)
    return state["reviews"].get(number, [])


def list_runs(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, workflow: str) -> Any:
    allowed(permissions, ("actions",), "read")
    runs = [
        run
        for run in state["runs"]
        if Path(run["path"]).name == workflow
        and query.get("head_sha", run["head_sha"]) == run["head_sha"]
        and query.get("event", run["event"]) == run["event"]
    ]
    runs.sort(key=lambda run: -run["run_number"])
    return {"total_count": len(runs), "workflow_runs": runs}


def create_status(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, sha: str) -> Any:
    allowed(permissions, ("statuses",), "write")
    if fields.get("state") not in ("error", "failure", "pending", "success"):
        raise Failure(f"gh: Validation Failed (HTTP 422): state {fields.get('state')!r}")
    if len(str(fields.get("description", ""))) > 140:
        raise Failure("gh: Validation Failed (HTTP 422): description is too long (maximum is 140 characters)")
    status = {key: fields.get(key) for key in ("state", "context", "description", "target_url")}
    state["statuses"].setdefault(sha, []).append(status)
    return status


def list_comments(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, number: str) -> Any:
    allowed(permissions, ("issues", "pull-requests"), "read")
    _pull(state, number)
    return state["comments"].get(number, [])


def create_comment(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, number: str) -> Any:
    allowed(permissions, ("issues", "pull-requests"), "write")
    _pull(state, number)
    if len(str(fields.get("body", ""))) > 65536:
        raise Failure("gh: Validation Failed (HTTP 422): body is too long (maximum is 65536 characters)")
    state["next_id"] += 1
    comment = {"id": state["next_id"], "user": {"login": BOT}, "body": fields["body"]}
    state["comments"].setdefault(number, []).append(comment)
    return comment


def update_comment(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, ident: str) -> Any:
    allowed(permissions, ("issues", "pull-requests"), "write")
    for comments in state["comments"].values():
        for comment in comments:
            if str(comment["id"]) == ident:
                comment["body"] = fields["body"]
                return comment
    raise Failure(f"gh: Not Found (HTTP 404) comment {ident}")


def list_labels(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, number: str) -> Any:
    allowed(permissions, ("issues", "pull-requests"), "read")
    return [{"name": name} for name in state["labels"].get(number, [])]


def add_labels(state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, number: str) -> Any:
    allowed(permissions, ("issues", "pull-requests"), "write")
    labels = state["labels"].setdefault(number, [])
    labels += [label for label in fields.get("labels", []) if label not in labels]
    return [{"name": name} for name in labels]


def remove_label(
    state: State, permissions: dict[str, str], query: dict[str, str], fields: Any, number: str, name: str
) -> Any:
    allowed(permissions, ("issues", "pull-requests"), "write")
    labels = state["labels"].get(number, [])
    if name not in labels:
        raise Failure(f"gh: Label does not exist (HTTP 404) {name}")
    labels.remove(name)
    return [{"name": label} for label in labels]


Handler = Callable[..., Any]
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", r"pulls/(\d+)"): get_pull,
    ("GET", r"pulls"): list_pulls,
    ("GET", r"pulls/(\d+)/reviews"): list_reviews,
    ("GET", r"actions/workflows/([\w.-]+)/runs"): list_runs,
    ("POST", r"statuses/([0-9a-f]{40})"): create_status,
    ("GET", r"issues/(\d+)/comments"): list_comments,
    ("POST", r"issues/(\d+)/comments"): create_comment,
    ("PATCH", r"issues/comments/(\d+)"): update_comment,
    ("GET", r"issues/(\d+)/labels"): list_labels,
    ("POST", r"issues/(\d+)/labels"): add_labels,
    ("DELETE", r"issues/(\d+)/labels/([^/]+)"): remove_label,
}


# --- gh release ----------------------------------------------------------------------------------


def _options(args: list[str], flags: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and `--flag value` options; an unknown flag is not supported."""
    positional, options = [], {}
    items = iter(args)
    for arg in items:
        if arg.startswith("-"):
            if arg not in flags:
                raise Failure(f"fake gh: release option {arg} is not supported")
            options[arg] = next(items)
        else:
            positional.append(arg)
    return positional, options


def _repo(state: State, options: dict[str, str]) -> None:
    repo = options.get("--repo") or os.environ.get("GH_REPO")
    if repo != state["repository"]:
        raise Failure(f"gh: could not resolve to a Repository with the name '{repo}'")


def release_view(state: State, permissions: dict[str, str], args: list[str]) -> str:
    positional, options = _options(args, ("--repo", "-R", "--json", "--jq"))
    _repo(state, {"--repo": options.get("--repo") or options.get("-R", "")})
    allowed(permissions, ("contents",), "read")
    release = state["releases"].get(positional[0] if positional else "")
    if release is None:
        raise Failure("release not found")
    return f"title:\t{release['name']}\ntag:\t{release['tag_name']}\nassets:\t{', '.join(release['assets'])}\n"


def release_create(state: State, permissions: dict[str, str], args: list[str], home: Path) -> str:
    positional, options = _options(args, ("--repo", "-R", "--target", "--title", "-t", "--notes-file", "-F"))
    _repo(state, {"--repo": options.get("--repo") or options.get("-R", "")})
    allowed(permissions, ("contents",), "write")
    if not positional:
        raise Failure("gh release create: a tag is required")
    tag, files = positional[0], [Path(f) for f in positional[1:]]
    if tag in state["releases"]:
        raise Failure("HTTP 422: Validation Failed: Release.tag_name already exists")
    for path in files:
        if not path.is_file():
            raise Failure(f"open {path}: no such file or directory")
    notes_file = options.get("--notes-file") or options.get("-F")
    notes = Path(notes_file).read_text() if notes_file else ""
    origin = state["origin"]
    target = options.get("--target") or state["default_branch"]
    exists = subprocess.run(
        ["git", "--git-dir", origin, "rev-parse", "-q", "--verify", f"refs/tags/{tag}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if exists.returncode != 0:
        subprocess.run(["git", "--git-dir", origin, "update-ref", f"refs/tags/{tag}", target], check=True)
    directory = home / "releases" / tag
    directory.mkdir(parents=True)
    for path in files:
        shutil.copyfile(path, directory / path.name)
    state["releases"][tag] = {
        "tag_name": tag,
        "target_commitish": target,
        "name": options.get("--title") or options.get("-t") or tag,
        "body": notes,
        "assets": [path.name for path in files],
    }
    return f"https://github.com/{state['repository']}/releases/tag/{tag}\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
