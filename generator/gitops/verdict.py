"""What a reviewed pull request earns: the fast-path label, the other labels, and the merge status.

The review (`generator.gitops.review`) finds the facts and findings; here they become decisions
(`decide`), each a named rule so that the report (`generator.gitops.report`) can say which one
withheld what:

- `simple-version-bump`, the quick approval, only when every condition of `bump_conditions` holds;
- the labels the trusted workflow keeps on the pull request (`MANAGED_LABELS`), recomputed on
  every run so that a label a later push no longer earns is removed;
- the commit status that gates merging: failure on any error, pending while the pull request's own
  checks have not finished, success otherwise. The checks' outcome is data that can only lower it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from generator.gitops.review import Review
from generator.metadata import rules
from generator.metadata.findings import Severity

SIMPLE_VERSION_BUMP = "simple-version-bump"
NEW_FILTER = "new-filter"
CHANGES_PLATFORM = "changes-platform"
NEEDS_MAINTAINER = "needs-maintainer"
YANK = "yank"
VISIBILITY_CHANGE = "visibility-change"
# Every label the trusted workflow adds and removes; labels people set by hand are left alone.
MANAGED_LABELS = (SIMPLE_VERSION_BUMP, NEW_FILTER, CHANGES_PLATFORM, NEEDS_MAINTAINER, YANK, VISIBILITY_CHANGE)

# Findings that say a maintainer (not just an owner) must approve.
_MAINTAINER_RULES = {
    rules.NewFilter,
    rules.ChangesOutsideFilters,
    rules.SeveralFilters,
    rules.ChangesPlatform,
    rules.PlatformChangeApproved,
    rules.BaseDoesNotLoad,
    rules.UnreadableFilterRemoved,
    rules.PublishedFilterRemoved,
}

StatusState = Literal["success", "failure", "pending"]
STATUS_CONTEXT = "catalog review"  # the commit status the ruleset requires (.github/rulesets/main.json)
MAX_DESCRIPTION = 140  # GitHub's limit for a commit status description


@dataclass(frozen=True)
class Condition:
    """One condition of the fast path: a stable id, whether it holds, and why (or why not)."""

    id: str
    met: bool
    message: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "met": self.met, "message": self.message}


@dataclass(frozen=True)
class Status:
    """The commit status for the pull request's head: what GitHub shows and the ruleset requires."""

    state: StatusState
    description: str
    context: str = STATUS_CONTEXT

    def to_json(self) -> dict[str, str]:
        return {"context": self.context, "state": self.state, "description": self.description}


@dataclass(frozen=True)
class Verdict:
    """The decisions about one reviewed pull request."""

    conditions: list[Condition] = field(default_factory=list)  # of simple-version-bump
    labels: list[str] = field(default_factory=list)
    status: Status = field(default_factory=lambda: Status("pending", ""))

    @property
    def simple_version_bump(self) -> bool:
        return SIMPLE_VERSION_BUMP in self.labels

    def to_json(self) -> dict[str, object]:
        return {
            "labels": self.labels,
            "managed_labels": list(MANAGED_LABELS),
            "status": self.status.to_json(),
            "simple_version_bump": {
                "granted": self.simple_version_bump,
                "conditions": [c.to_json() for c in self.conditions],
            },
        }


def decide(result: Review) -> Verdict:
    """The fast-path conditions, the labels and the status of a reviewed pull request."""
    conditions = bump_conditions(result)
    return Verdict(conditions, labels(result, conditions), status(result))


def bump_conditions(result: Review) -> list[Condition]:
    """Each condition of `simple-version-bump`: new versions of one filter by its owner, and nothing else."""
    only = result.filters[0] if len(result.filters) == 1 else None
    changed = only is not None and only.status == "changed"
    conditions = [
        Condition(
            "one-filter",
            changed and not result.outside_paths,
            "one existing filter changes, and nothing outside its directory"
            if changed and not result.outside_paths
            else f"expected one existing filter and nothing outside it, got {_scope(result)}",
        )
    ]
    if only is None or not changed:
        return conditions
    owns = result.author is not None and result.author_owns(only)
    conditions.append(
        Condition(
            "author-owns",
            owns,
            f"the author {result.author} owns {only.name} at the base"
            if owns
            else f"expected the author to own {only.name} at the base (owners: {', '.join(only.owners)}), "
            f"got {result.author or 'no author'}",
        )
    )
    kinds = only.kinds()
    extra = sorted(kinds - {"new-version", "files"})
    stray = only.files_beyond_a_version()
    versions_only = "new-version" in kinds and not extra and not stray
    if versions_only:
        message = "the change adds versions and nothing else"
    elif "new-version" not in kinds:
        message = "expected a new version, got none"
    elif extra:
        message = f"expected only new versions, got also: {', '.join(extra)}"
    else:
        message = f"expected only the metadata, README, cases, proofs, bench and src/ to change, got {', '.join(stray)}"
    conditions.append(Condition("versions-only", versions_only, message))
    conditions.append(
        Condition(
            "cases-kept",
            not only.cases_weakened,
            "every behaviour case at the base is kept as it was"
            if not only.cases_weakened
            else "expected every behaviour case kept as it was, got: " + "; ".join(only.cases_weakened),
        )
    )
    conditions.append(
        Condition(
            "proven",
            not only.unproven,
            "proofs.yaml records every new version as proven, for its sha256"
            if not only.unproven
            else "expected proofs.yaml to record each new version as proven: " + "; ".join(only.unproven),
        )
    )
    conditions.append(
        Condition(
            "proofs-kept",
            not only.proofs_rewritten,
            "the recorded proofs of the published versions are kept"
            if not only.proofs_rewritten
            else f"expected the proofs of published versions kept, got changes to {', '.join(only.proofs_rewritten)}",
        )
    )
    binary = only.binary
    added = binary.capabilities_added if binary else []
    conditions.append(
        Condition(
            "no-new-capability",
            not added,
            "no new capability" if not added else f"expected no new capability, got {', '.join(added)}",
        )
    )
    same_kind = binary is not None and not binary.abi_changed and not binary.kind_changed
    conditions.append(
        Condition(
            "same-abi-and-kind",
            same_kind,
            "the same proxy-wasm ABI and kind as the previous version"
            if same_kind
            else "expected the same proxy-wasm ABI and kind as the previous version, got a change",
        )
    )
    conditions.append(
        Condition(
            "same-source",
            not only.repository_changed,
            "the same source repository, and the binary comes from the same host"
            if not only.repository_changed
            else "expected the same source repository and download host, got a change",
        )
    )
    conditions.append(
        Condition(
            "checks-passed",
            result.ci == "success",
            "the pull request's checks passed"
            if result.ci == "success"
            else f"expected the pull request's checks to have passed, got {result.ci or 'no word of them (--ci)'}",
        )
    )
    clean = not result.errors and not result.warnings
    conditions.append(
        Condition(
            "no-findings",
            clean,
            "no errors or warnings"
            if clean
            else f"expected no errors or warnings, got {result.errors} errors and {result.warnings} warnings",
        )
    )
    return conditions


def _scope(result: Review) -> str:
    parts = [f"{one.name} ({one.status})" for one in result.filters] or ["no filter"]
    if result.outside_paths:
        parts.append(f"{len(result.outside_paths)} paths outside the filters")
    return ", ".join(parts)


def labels(result: Review, conditions: list[Condition]) -> list[str]:
    """The managed labels the pull request earns, in `MANAGED_LABELS` order."""
    earned = set()
    if len(conditions) > 1 and all(c.met for c in conditions):
        earned.add(SIMPLE_VERSION_BUMP)
    if any(one.status == "new" for one in result.filters):
        earned.add(NEW_FILTER)
    if result.platform_paths:
        earned.add(CHANGES_PLATFORM)
    if any(f.rule in _MAINTAINER_RULES for f in result.all_findings()):
        earned.add(NEEDS_MAINTAINER)
    kinds = {kind for one in result.filters for kind in one.kinds()}
    if "yank" in kinds:
        earned.add(YANK)
    if "visibility" in kinds:
        earned.add(VISIBILITY_CHANGE)
    return [label for label in MANAGED_LABELS if label in earned]


def status(result: Review) -> Status:
    """failure on any error; pending while the pull request's checks have not finished; else success."""
    if result.errors:
        errors = f"{result.errors} error{'s' if result.errors != 1 else ''}"
        return Status("failure", _short(f"{errors}: {_first_errors(result)}"))
    if any(f.rule is rules.ChecksPending for f in result.findings):
        return Status("pending", "waiting for the pull request's checks")
    return Status("success", _short(result.headline))


def _first_errors(result: Review) -> str:
    messages = [f.message for f in result.all_findings() if f.severity is Severity.ERROR]
    return "; ".join(dict.fromkeys(messages))


def _short(text: str) -> str:
    """One line of at most MAX_DESCRIPTION characters, as a commit status takes it."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"
