"""The repository settings the approval queue depends on: a ruleset for the default branch.

The queue is only as strong as what GitHub enforces: the trusted review's status is required, a
code owner must approve the latest push, nobody force-pushes or deletes the branch, and history
stays linear. Those settings live in `.github/rulesets/main.json`, in the shape GitHub's REST API
and its "Import a ruleset" page take, so that they are reviewed like code. `catalog ruleset`
explains them and prints the command that applies them; a test checks that every status the
ruleset requires is one a workflow posts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.metadata.errors import CatalogError
from generator.metadata.files import KIB, read_text

RULESET_FILE = Path(".github") / "rulesets" / "main.json"
GITHUB_ACTIONS_APP = 15368  # the integration id of GitHub Actions: only a workflow can set the status


@dataclass(frozen=True)
class Ruleset:
    """The ruleset file, and what it asks of GitHub in words."""

    data: dict[str, Any]
    required_statuses: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)  # one sentence per rule

    def apply_command(self, repository: str = "OWNER/REPO") -> str:
        """The gh command that creates the ruleset (an administrator's token)."""
        return f"gh api --method POST repos/{repository}/rulesets --input {RULESET_FILE.as_posix()}"


def load_ruleset(root: Path) -> Ruleset:
    """The committed ruleset, explained; CatalogError when it is missing or not the shape GitHub takes."""
    display = RULESET_FILE.as_posix()
    text, findings = read_text(root / RULESET_FILE, display, 64 * KIB)
    if text is None:
        raise CatalogError("; ".join(f.format() for f in findings))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CatalogError(f"{display}:{err.lineno}:{err.colno}: expected JSON, got: {err.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise CatalogError(f"{display}: expected a ruleset (an object with rules), got something else")
    rules = {rule.get("type"): rule.get("parameters", {}) for rule in data["rules"] if isinstance(rule, dict)}
    settings = [f"applies to {', '.join(data.get('conditions', {}).get('ref_name', {}).get('include', []))}"]
    statuses: list[str] = []
    if "required_status_checks" in rules:
        checks = rules["required_status_checks"].get("required_status_checks", [])
        statuses = [check["context"] for check in checks if isinstance(check, dict) and "context" in check]
        sources = {check.get("integration_id") for check in checks if isinstance(check, dict)}
        source = " (set by GitHub Actions only)" if sources == {GITHUB_ACTIONS_APP} else ""
        fresh = (
            ", on a branch up to date with the base"
            if rules["required_status_checks"].get("strict_required_status_checks_policy")
            else ""
        )
        settings.append(f"required status: {', '.join(statuses)}{source}{fresh}")
    if "pull_request" in rules:
        review = rules["pull_request"]
        settings.append(
            f"pull requests only, {review.get('required_approving_review_count', 0)} approval(s)"
            + (", from a code owner" if review.get("require_code_owner_review") else "")
            + (", of the latest push" if review.get("require_last_push_approval") else "")
            + (", stale approvals dismissed on a push" if review.get("dismiss_stale_reviews_on_push") else "")
        )
        methods = review.get("allowed_merge_methods")
        if methods:
            settings.append(f"merge by {' or '.join(methods)}")
    words = {
        "non_fast_forward": "no force pushes",
        "deletion": "the branch cannot be deleted",
        "required_linear_history": "linear history",
    }
    settings += [sentence for kind, sentence in words.items() if kind in rules]
    if data.get("bypass_actors"):
        settings.append(f"bypassed by {len(data['bypass_actors'])} actor(s)")
    else:
        settings.append("nobody bypasses it, administrators included")
    return Ruleset(data, statuses, settings)
