"""The approval queue: what a pull request changes in the catalog, and who must approve it.

`review` compares the pull request's head with the merge base of its base and head (as GitHub
does), filter by filter. Each side's changed filters are exported from git into a temporary
directory and loaded with the usual loader, so every metadata problem is reported with the usual
findings. On top of those, the review applies the rules of a catalog's history:

- a published version (one at the base) never changes and never disappears; it can only be yanked,
  and a yank is final; a filter with published versions cannot be deleted (unlist it instead);
- a new version is above every version at the base;
- a filter's owners (or a maintainer) approve its changes; a maintainer approves new filters and
  anything outside `catalog/filters/<name>/`, and pull requests that touch several filters.

Who owns what is read at the base, never at the head: a pull request cannot make its author an
owner by editing `filter.yaml` or `catalog/teams.yaml`.

The report is rendered as Markdown for a pull-request comment (`templates/review.md.j2`, every
contributor's value escaped: no links, mentions, HTML) or as JSON with a stable shape. Change
kinds and their keys in JSON:

| kind | keys | |
|---|---|---|
| `new-filter` | `versions` | the filter is not at the base |
| `removed-filter` | `versions` | the filter's directory is gone (versions: those at the base) |
| `new-version` | `version` | |
| `removed-version` | `version` | an error |
| `changed-version` | `version`, `fields` | a published version's facts changed: an error |
| `yank` | `version`, `reason` | |
| `unyank` | `version` | an error |
| `visibility` | `from`, `to` | |
| `metadata` | `fields` | other fields of `filter.yaml` |
| `files` | `paths` | files of the filter's directory that differ, relative to it |

Findings are the usual `Finding`s: the loader's and `check_metadata`'s, and the review's own,
which cite CAT4xx rules (`generator.metadata.rules`); a finding about the pull request as a whole
has no path. In JSON each is `Finding.to_json()`. Commits are read through `generator.gitops.gitrepo`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import semver

from generator.gitops import codeowners, gitrepo
from generator.metadata import rules
from generator.metadata.cases import CASES_FILE, CasesFile
from generator.metadata.checks import (
    MAX_DIRECTORY_BYTES,
    MAX_FILE_BYTES,
    MAX_FILES,
    check_filter_files,
    check_metadata,
)
from generator.metadata.errors import CatalogError, UsageError
from generator.metadata.files import TreeEntry
from generator.metadata.findings import Finding, Rule, Severity
from generator.metadata.layout import (
    FILTERS_DIR,
    METADATA_FILE,
    README_FILE,
    SETTINGS_FILE,
    TEAMS_FILE,
    is_platform,
)
from generator.metadata.loader import Catalog, FilterEntry, load_catalog
from generator.metadata.model import FilterMeta, TeamsFile, Version
from generator.metadata.proofs import PROOFS_FILE, Proofs
from generator.metadata.text import printable
from generator.metadata.yamlfile import FieldPath, format_path

# What the pull request's own checks concluded, as the trusted workflow read it (None: not asked).
CiState = Literal["success", "failure", "pending"]
CODEOWNERS_PATH = codeowners.CODEOWNERS_FILE.as_posix()
MAX_CHANGED_PATHS = 20_000  # a pull request that changes more is not read at all
# A GitHub login (`dependabot[bot]` for an app's bot; older logins may have '--' or end in '-').
LOGIN = re.compile(r"^@[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$")

# The facts of a published version: what users pinned by sha256 and what CI checked.
IMMUTABLE_FIELDS = ("sha256", "size", "abi", "kind", "capabilities", "source")
# Capabilities that reach outside the proxy: a reviewer should look at why.
OUTBOUND = {
    "http_calls": "starts making HTTP calls to other services",
    "grpc": "starts making gRPC calls to other services",
}
# Files of a filter's directory that a plain version bump may change besides filter.yaml.
VERSION_FILES = {METADATA_FILE, README_FILE, CASES_FILE, PROOFS_FILE, "bench.yaml"}
SOURCE_DIR = "src"

_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


@dataclass(frozen=True)
class Change:
    """One change to a filter; `details` holds the keys its kind documents (module docstring)."""

    kind: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.details}


@dataclass(frozen=True)
class RecordedBinary:
    """What `filter.yaml` records of one version's binary."""

    version: str
    size: int
    abi: str
    kind: str
    capabilities: tuple[str, ...]

    @classmethod
    def of(cls, version: Version) -> RecordedBinary:
        return cls(version.version, version.size, version.abi, version.kind, tuple(version.capabilities))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "size": self.size,
            "abi": self.abi,
            "kind": self.kind,
            "capabilities": list(self.capabilities),
        }


@dataclass(frozen=True)
class BinaryChange:
    """The newest new binary against the previous latest version (none for a new filter)."""

    previous: RecordedBinary | None
    current: RecordedBinary

    @property
    def size_delta(self) -> int | None:
        return None if self.previous is None else self.current.size - self.previous.size

    @property
    def size_delta_percent(self) -> float | None:
        if self.previous is None:
            return None
        return round(100 * (self.current.size - self.previous.size) / self.previous.size, 1)

    @property
    def abi_changed(self) -> bool:
        return self.previous is not None and self.previous.abi != self.current.abi

    @property
    def kind_changed(self) -> bool:
        return self.previous is not None and self.previous.kind != self.current.kind

    @property
    def capabilities_added(self) -> list[str]:
        before = set(self.previous.capabilities) if self.previous else set()
        return [c for c in self.current.capabilities if c not in before]

    @property
    def capabilities_removed(self) -> list[str]:
        after = set(self.current.capabilities)
        return [c for c in self.previous.capabilities if c not in after] if self.previous else []

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.previous.to_json() if self.previous else None,
            "to": self.current.to_json(),
            "size_delta": self.size_delta,
            "size_delta_percent": self.size_delta_percent,
            "abi_changed": self.abi_changed,
            "kind_changed": self.kind_changed,
            "capabilities_added": self.capabilities_added,
            "capabilities_removed": self.capabilities_removed,
        }


@dataclass
class FilterReview:
    """What the pull request does to one filter."""

    name: str
    status: str  # "new", "changed" or "removed"
    title: str | None = None
    owners: list[str] = field(default_factory=list)  # at the base; at the head for a new filter
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    binary: BinaryChange | None = None
    owners_added: list[str] = field(default_factory=list)  # at the head, against the base
    owners_removed: list[str] = field(default_factory=list)
    repository_changed: bool = False  # `repository`, or the host new versions download from
    cases_weakened: list[str] = field(default_factory=list)  # base cases removed or changed, each a sentence
    unproven: list[str] = field(default_factory=list)  # new versions proofs.yaml does not prove, each a sentence
    proofs_rewritten: list[str] = field(default_factory=list)  # versions whose recorded proof the head changes

    def kinds(self) -> set[str]:
        return {change.kind for change in self.changes}

    def files_beyond_a_version(self) -> list[str]:
        """The changed files of the directory that a plain new version does not touch."""
        paths: list[str] = next((c.details["paths"] for c in self.changes if c.kind == "files"), [])
        return [p for p in paths if p not in VERSION_FILES and p.split("/", 1)[0] != SOURCE_DIR]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "title": self.title,
            "owners": self.owners,
            "owners_added": self.owners_added,
            "owners_removed": self.owners_removed,
            "repository_changed": self.repository_changed,
            "changes": [c.to_json() for c in self.changes],
            "findings": [f.to_json() for f in self.findings],
            "binary": self.binary.to_json() if self.binary else None,
            "cases_weakened": self.cases_weakened,
            "unproven": self.unproven,
            "proofs_rewritten": self.proofs_rewritten,
        }


@dataclass
class Review:
    """The review of one pull request: per filter, outside the filters, and the verdict."""

    base: str
    head: str
    base_commit: str
    head_commit: str
    merge_base: str
    author: str | None
    maintainers: str | None
    filters: list[FilterReview] = field(default_factory=list)
    outside_paths: list[str] = field(default_factory=list)  # outside every filter's directory
    platform_paths: list[str] = field(default_factory=list)  # those of them that are the platform
    findings: list[Finding] = field(default_factory=list)  # about the pull request as a whole
    ci: CiState | None = None  # what its own checks concluded, when the trusted workflow asked
    approved_by: list[str] = field(default_factory=list)  # logins that approved the head commit
    teams: TeamsFile | None = None  # at the base: who the maintainers are

    def author_owns(self, one: FilterReview) -> bool:
        """The author owns `one` at the base, directly, through a team, or as a maintainer."""
        return self.author is not None and _may_approve(self.author, one.owners, self.teams)

    def all_findings(self) -> list[Finding]:
        return self.findings + [f for one in self.filters for f in one.findings]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.all_findings() if f.severity is severity)

    @property
    def errors(self) -> int:
        return self.count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    @property
    def headline(self) -> str:
        """`2 errors, 1 warning: rate-limit 1.1.0 (new version)`."""
        counts = f"{_plural(self.errors, 'error')}, {_plural(self.warnings, 'warning')}"
        items = ["changes the platform"] if self.platform_paths else []
        items += [_filter_headline(one) for one in self.filters]
        if self.outside_paths:
            items.append(f"{_plural(len(self.outside_paths), 'path')} outside {FILTERS_DIR.as_posix()}/")
        return f"{counts}: {'; '.join(items) or 'no changes'}"

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "base_commit": self.base_commit,
            "head_commit": self.head_commit,
            "merge_base": self.merge_base,
            "author": self.author,
            "maintainers": self.maintainers,
            "headline": self.headline,
            "filters": [r.to_json() for r in self.filters],
            "outside_paths": self.outside_paths,
            "platform_paths": self.platform_paths,
            "findings": [f.to_json() for f in self.findings],
            "ci": self.ci,
            "approved_by": self.approved_by,
            "errors": self.errors,
            "warnings": self.warnings,
            "notes": self.count(Severity.NOTE),
        }


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _filter_headline(one: FilterReview) -> str:
    if one.status == "new":
        versions = next(c.details["versions"] for c in one.changes if c.kind == "new-filter")
        return " ".join([one.name, *versions[-1:], "(new filter)"])
    if one.status == "removed":
        return f"{one.name} (removed)"
    phrases = []
    described = {"new-version": "new version", "removed-version": "removed", "changed-version": "changed"}
    described |= {"yank": "yanked", "unyank": "un-yanked"}
    for kind, words in described.items():
        versions = [c.details["version"] for c in one.changes if c.kind == kind]
        if versions:
            plural = "s" if kind == "new-version" and len(versions) > 1 else ""
            phrases.append(f"{', '.join(versions)} ({words}{plural})")
    for change in one.changes:
        if change.kind == "visibility":
            phrases.append(f"now {change.details['to']}")
        elif change.kind == "metadata":
            phrases.append("metadata")
    if one.owners_added or one.owners_removed:
        phrases.append(
            "owners " + " ".join([*(f"+{o}" for o in one.owners_added), *(f"-{o}" for o in one.owners_removed)])
        )
    if one.repository_changed:
        phrases.append("source repository changed")
    if one.binary is not None and one.binary.capabilities_added:
        phrases.append(f"new capability {', '.join(one.binary.capabilities_added)}")
    return f"{one.name} {', '.join(phrases or ['files'])}"


# --- the review ------------------------------------------------------------------------------


def review(
    root: Path,
    base: str,
    head: str = "HEAD",
    author: str | None = None,
    *,
    ci: CiState | None = None,
    approved_by: Sequence[str] = (),
) -> Review:
    """Review the pull request `head` against `base` in the git repository at `root`.

    Only commits count: the work tree and the index are not looked at, and nothing from the head
    is run: its files are exported from git objects and read as data. `ci` is what the pull
    request's own checks concluded and `approved_by` who approved its head commit, as the trusted
    workflow read them from GitHub; the checks can only lower the verdict.
    """
    author = normalize_author(author) if author is not None else None
    approvers = sorted({normalize_author(login, "--approved-by") for login in approved_by})
    base_commit = _resolve(root, base, "--base")
    head_commit = _resolve(root, head, "--head")
    with tempfile.TemporaryDirectory(prefix="catalog-review-") as tmp:
        before_root, after_root, rights_root = Path(tmp) / "merge-base", Path(tmp) / "head", Path(tmp) / "base"
        try:
            merge_base = gitrepo.merge_base(root, base_commit, head_commit)
            if merge_base is None:
                raise UsageError(f"'{printable(base)}' and '{printable(head)}' have no common history")
            try:
                changed = gitrepo.changed_paths(root, merge_base, head_commit, limit=MAX_CHANGED_PATHS)
            except gitrepo.TooManyPaths:
                return _too_large(base, head, base_commit, head_commit, merge_base, author, ci, approvers)
            filters, outside = _classify(changed)
            # The head's trees first, capped: a directory over the caps is not exported whole.
            trees = {
                name: gitrepo.tree_entries(root, head_commit, _directory(name), limit=MAX_FILES) for name in filters
            }
            _export(root, merge_base, sorted(filters), before_root)
            _export(root, head_commit, sorted(filters), after_root, oversized=_oversized(trees))
            if base_commit != merge_base:  # the base moved on since the pull request branched off
                _export(root, base_commit, sorted(filters), rights_root)
            if CODEOWNERS_PATH in outside and _codeowners_follow(root, head_commit, Path(tmp) / "owners"):
                outside.remove(CODEOWNERS_PATH)  # regenerated from the filters' owners, as CONTRIBUTING asks
        except gitrepo.GitError as err:
            raise CatalogError(str(err)) from None
        before = load_catalog(before_root, filters)
        after = load_catalog(after_root, filters)
        rights = load_catalog(rights_root, filters) if base_commit != merge_base else before
        result = Review(
            base=base,
            head=head,
            base_commit=base_commit,
            head_commit=head_commit,
            merge_base=merge_base,
            author=author,
            maintainers=rights.teams.maintainers if rights.teams else None,
            outside_paths=sorted(outside),
            platform_paths=sorted(p for p in outside if is_platform(p)),
            ci=ci,
            approved_by=approvers,
            teams=rights.teams,
        )
        # Problems of changed catalog-wide files (a broken teams.yaml), as the head has them.
        result.findings += [f for f in after.findings if f.path in outside]
        for name in sorted(filters):
            filter_review = _review_filter(name, filters[name], before, after, rights, author)
            # A file or a symlink where the filter's directory should be.
            filter_review.findings += [f for f in after.findings if _under(f.path, _directory(name))]
            if filter_review.status != "removed":
                filter_review.findings += check_filter_files(_directory(name), trees[name])
            filter_review.findings.sort(key=lambda f: _SEVERITY_ORDER[f.severity])
            result.filters.append(filter_review)
    result.findings += _scope_findings(result)
    result.findings += _ci_findings(ci)
    result.findings.sort(key=lambda f: _SEVERITY_ORDER[f.severity])
    return result


def _directory(name: str) -> str:
    return f"{FILTERS_DIR.as_posix()}/{name}"


def normalize_author(login: str, option: str = "--author") -> str:
    """`alice` or `@alice` -> `@alice`; a usage error for anything that is not a GitHub login."""
    handle = "@" + login.strip().removeprefix("@")
    if not LOGIN.match(handle):
        raise UsageError(f"{option}: expected a GitHub login such as alice or @alice, got '{printable(login)}'")
    return handle


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _present(catalog: Catalog, name: str) -> bool:
    path = catalog.filters_dir / name
    return path.exists() or path.is_symlink()


def _review_filter(
    name: str, paths: list[str], before: Catalog, after: Catalog, rights: Catalog, author: str | None
) -> FilterReview:
    """What the pull request does to filter `name`: `before` (the merge base) against `after` (the
    head); who owns it and who may approve come from `rights` (the base's tip), never the head."""
    old, new = before.entries.get(name), after.entries.get(name)
    old_meta, new_meta = (old.meta if old else None), (new.meta if new else None)
    owned = rights.entries.get(name)
    owners = list(owned.meta.owners) if owned is not None and owned.meta is not None else None
    status = "new" if not _present(before, name) else "removed" if not _present(after, name) else "changed"
    verdict = FilterReview(name=name, status=status)
    if old_meta is not None:
        verdict.title = old_meta.title
    verdict.owners = owners or []
    if status == "removed":
        verdict.changes.append(Change("removed-filter", {"versions": _versions(old_meta)}))
        verdict.findings += _removed_filter(name, old)
    else:
        if status == "new":
            verdict.changes.append(Change("new-filter", {"versions": _versions(new_meta)}))
            maintainers = f" ({rights.teams.maintainers})" if rights.teams else ""
            message = f"a new filter: a maintainer{maintainers} must approve it"
            verdict.findings.append(rules.NewFilter.at("", message))
        if new is None or new_meta is None:
            display = new.metadata_display if new else f"{FILTERS_DIR.as_posix()}/{name}"
            message = "the filter does not load at the head"
            verdict.findings.append(rules.FilterDoesNotLoad.at(display, message))
            verdict.findings += new.findings if new else []
        else:
            verdict.title = new_meta.title
            verdict.findings += new.findings + check_metadata(new, after.teams)
            if status == "new":
                verdict.owners = list(new_meta.owners)  # nobody owns it at the base yet
                verdict.binary = BinaryChange(None, RecordedBinary.of(new_meta.latest))
            elif old_meta is None:
                message = "the filter does not load at the base, so its published versions cannot be compared"
                verdict.findings.append(rules.BaseDoesNotLoad.at("", message))
            else:
                verdict.changes += _metadata_changes(old_meta, new_meta)
                version_changes, version_findings, verdict.binary = _version_changes(new, old_meta, new_meta)
                verdict.changes += version_changes
                verdict.findings += version_findings
                verdict.owners_added = [o for o in new_meta.owners if o not in old_meta.owners]
                verdict.owners_removed = [o for o in old_meta.owners if o not in new_meta.owners]
                verdict.repository_changed = _repository_changed(old_meta, new_meta)
                verdict.cases_weakened = _cases_weakened(old.cases if old else None, new.cases)
                added = [c.details["version"] for c in version_changes if c.kind == "new-version"]
                verdict.unproven = _unproven(new_meta, new.cases, new.proofs, added)
                verdict.proofs_rewritten = sorted(
                    version
                    for version, proof in (old.proofs.versions.items() if old else [])
                    if new.proofs.versions.get(version) != proof
                )
        verdict.changes.append(Change("files", {"paths": paths}))
        if verdict.binary is not None:
            verdict.findings += _binary_notes(verdict.binary)
    if owners is not None and author is not None and not _may_approve(author, owners, rights.teams):
        message = (
            f"the author {author} is not an owner of {name} (owners at the base: {', '.join(owners)}); "
            "an owner or a maintainer must approve"
        )
        verdict.findings.append(rules.AuthorNotOwner.at("", message))
    return verdict


def _repository_changed(old: FilterMeta, new: FilterMeta) -> bool:
    """The source repository changed, or the newest version downloads from another host than the last."""
    if old.repository != new.repository:
        return True
    hosts = [
        urlsplit(meta.versions[-1].source.url).hostname
        for meta in (old, new)
        if meta.versions[-1].source is not None and meta.versions[-1].source.url is not None
    ]
    return len(hosts) == 2 and hosts[0] != hosts[1]


def _cases_weakened(old: CasesFile | None, new: CasesFile | None) -> list[str]:
    """Each behaviour case at the base that the head removes or changes, as a sentence."""
    if old is None:
        return []
    if new is None:
        return ["cases.yaml is removed"] if old.cases else []
    problems = [] if old.smoke == new.smoke else ["the smoke case changed"]
    at_head = {case.name: case for case in new.cases}
    for case in old.cases:
        if case.name not in at_head:
            problems.append(f"case {case.name!r} removed")
        elif at_head[case.name] != case:
            problems.append(f"case {case.name!r} changed")
    return problems


def _unproven(meta: FilterMeta, cases: CasesFile | None, proofs: Proofs, versions: list[str]) -> list[str]:
    """Each new version that `proofs.yaml` does not prove: for its sha256, every case, all passed."""
    expected = {"smoke", *(case.name for case in cases.cases)} if cases is not None else {"smoke"}
    recorded = {v.version: v.sha256 for v in meta.versions}
    problems = []
    for version in versions:
        proof = proofs.versions.get(version)
        if proof is None:
            problems.append(f"{version} has no proof (run `catalog filter test {meta.name}@{version} --record`)")
        elif proof.sha256 != recorded[version]:
            problems.append(f"{version}'s proof is for another binary (sha256 {proof.sha256 or 'not recorded'})")
        elif not proof.passed:
            problems.append(f"{version}'s proof records failing cases")
        elif missing := sorted(expected - {case.name for case in proof.cases}):
            problems.append(f"{version}'s proof does not cover {', '.join(repr(name) for name in missing)}")
    return problems


def _versions(meta: FilterMeta | None) -> list[str]:
    return [v.version for v in meta.versions] if meta else []


def _removed_filter(name: str, old: FilterEntry | None) -> list[Finding]:
    if old is None or old.meta is None:
        message = "the filter is removed; it did not load at the base, so a maintainer must check what it published"
        return [rules.UnreadableFilterRemoved.at("", message)]
    versions = ", ".join(v.version for v in old.meta.versions)
    message = (
        f"the filter is removed, but its published versions ({versions}) cannot vanish: users pin them; "
        f"take it off the site with `catalog filter unlist {name}` or `catalog filter unpublish {name}`, "
        "and yank versions that must not be used"
    )
    return [rules.PublishedFilterRemoved.at(old.metadata_display, message)]


def _metadata_changes(old: FilterMeta, new: FilterMeta) -> list[Change]:
    changes = []
    if old.visibility != new.visibility:
        changes.append(Change("visibility", {"from": old.visibility, "to": new.visibility}))
    before = old.model_dump(mode="json", by_alias=True, exclude={"versions", "visibility"})
    after = new.model_dump(mode="json", by_alias=True, exclude={"versions", "visibility"})
    fields = [key for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]
    # A yanked version's reason may be reworded; yanking and its reason are the `yank` change.
    yanked = {v.version: v.yank_reason for v in old.versions if v.yanked}
    fields += [
        format_path(("versions", index, "yank_reason"))
        for index, v in enumerate(new.versions)
        if v.version in yanked and v.yanked and v.yank_reason != yanked[v.version]
    ]
    if fields:
        changes.append(Change("metadata", {"fields": fields}))
    return changes


def _version_changes(
    entry: FilterEntry, old: FilterMeta, new: FilterMeta
) -> tuple[list[Change], list[Finding], BinaryChange | None]:
    """Versions added, removed, changed, yanked; the findings they call for; the binary change."""
    changes: list[Change] = []
    findings: list[Finding] = []

    def at(rule: type[Rule], path: FieldPath, message: str) -> Finding:
        return entry.field_finding(rule, path, message)

    published = {v.version: v for v in old.versions}
    head_index: dict[str, int] = {}
    for index, version in enumerate(new.versions):
        head_index.setdefault(version.version, index)
    highest = max((semver.Version.parse(v) for v in published), default=None)
    added: list[Version] = []
    for version_text, index in head_index.items():
        version = new.versions[index]
        before = published.get(version_text)
        if before is None:
            added.append(version)
            changes.append(Change("new-version", {"version": version_text}))
            if highest is not None and semver.Version.parse(version_text) <= highest:
                message = f"expected a new version above {highest} (the highest at the base), got {version_text}"
                findings.append(at(rules.VersionNotNewer, ("versions", index, "version"), message))
            continue
        differ = [
            name
            for name in IMMUTABLE_FIELDS
            if _fact(before, name) != _fact(version, name)  # capabilities compare as sets
        ]
        if differ:
            changes.append(Change("changed-version", {"version": version_text, "fields": differ}))
            message = (
                f"published version {version_text} changed ({', '.join(differ)}): published versions never "
                "change; yank it (yanked: true, yank_reason) and release a new version instead"
            )
            findings.append(at(rules.PublishedVersionChanged, ("versions", index, differ[0]), message))
        if version.yanked and not before.yanked:
            changes.append(Change("yank", {"version": version_text, "reason": version.yank_reason}))
        elif before.yanked and not version.yanked:
            changes.append(Change("unyank", {"version": version_text}))
            message = f"version {version_text} was yanked at the base: a yank is final; release a new version instead"
            findings.append(at(rules.YankUndone, ("versions", index, "yanked"), message))
    for version_text in published:
        if version_text not in head_index:
            changes.append(Change("removed-version", {"version": version_text}))
            message = (
                f"published version {version_text} is removed: published versions never vanish; "
                "yank it (yanked: true, yank_reason) instead"
            )
            findings.append(at(rules.PublishedVersionRemoved, ("versions",), message))
    binary = None
    if added:
        newest = max(added, key=lambda v: semver.Version.parse(v.version))
        binary = BinaryChange(RecordedBinary.of(old.latest), RecordedBinary.of(newest))
    return changes, findings, binary


def _fact(version: Version, name: str) -> Any:
    value = getattr(version, name)
    if name == "capabilities":
        return sorted(value)
    if name == "source":
        return value.model_dump(mode="json") if value is not None else None
    return value


def _binary_notes(binary: BinaryChange) -> list[Finding]:
    notes = []
    previous, current = binary.previous, binary.current
    if previous is not None:
        message = (
            f"binary {previous.version} -> {current.version}: {previous.size} -> {current.size} bytes "
            f"({binary.size_delta:+d}, {binary.size_delta_percent:+.1f}%)"
        )
        notes.append(rules.BinarySizeChange.at("", message))
        if binary.abi_changed:
            message = f"the ABI changes from {previous.abi} to {current.abi}"
            notes.append(rules.AbiChange.at("", message))
        if binary.kind_changed:
            message = f"the kind changes from {previous.kind} to {current.kind}"
            notes.append(rules.KindChange.at("", message))
    for capability in binary.capabilities_added:
        message = f"new capability {capability}"
        if capability in OUTBOUND:
            message += f": the filter {OUTBOUND[capability]}; that deserves a reviewer's eye"
        notes.append(rules.NewCapability.at("", message))
    return notes


def _logins(owners: Iterable[str], teams: TeamsFile | None) -> set[str]:
    """The lower-cased `@login`s that `owners` stand for (team members through `teams`)."""
    logins: set[str] = set()
    for owner in owners:
        if "/" in owner:
            logins |= teams.members_of(owner) if teams else set()
        else:
            logins.add(owner.lower())
    return logins


def _may_approve(author: str, owners: Iterable[str], teams: TeamsFile | None) -> bool:
    """The author owns the filter, or is a maintainer (who owns everything)."""
    maintainers = [teams.maintainers] if teams else []
    return author.lower() in _logins([*owners, *maintainers], teams)


def _scope_findings(result: Review) -> list[Finding]:
    findings = _platform_findings(result)
    elsewhere = [p for p in result.outside_paths if p not in result.platform_paths]
    if elsewhere:
        message = (
            f"{_plural(len(elsewhere), 'path')} outside {FILTERS_DIR.as_posix()}/<name>/ changed: "
            "a maintainer must approve"
        )
        findings.append(rules.ChangesOutsideFilters.at("", message))
    if len(result.filters) > 1:
        names = ", ".join(r.name for r in result.filters)
        message = f"{len(result.filters)} filters change in one pull request ({names}): a maintainer must approve"
        findings.append(rules.SeveralFilters.at("", message))
    return findings


def _platform_findings(result: Review) -> list[Finding]:
    """An error for a platform change, or a note once a maintainer approved the head commit."""
    paths = result.platform_paths
    if not paths:
        return []
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    maintainers = [result.teams.maintainers] if result.teams else []
    approved = [login for login in result.approved_by if login.lower() in _logins(maintainers, result.teams)]
    if approved:
        message = f"changes the reviewer or the platform ({shown}); approved by the maintainer {', '.join(approved)}"
        return [rules.PlatformChangeApproved.at("", message)]
    team = f" ({result.maintainers})" if result.maintainers else ""
    message = (
        f"changes the reviewer or the platform ({shown}): only a maintainer{team} approving the latest commit "
        "clears this"
    )
    return [rules.ChangesPlatform.at("", message)]


def _ci_findings(ci: CiState | None) -> list[Finding]:
    """What the pull request's own checks concluded, as findings that can only lower the verdict."""
    if ci == "failure":
        message = "the pull request's checks failed (tests, builds or behaviour cases in Envoy); see its checks"
        return [rules.ChecksFailed.at("", message)]
    if ci == "pending":
        return [rules.ChecksPending.at("", "the pull request's checks have not finished; the verdict waits for them")]
    return []


# --- commits ---------------------------------------------------------------------------------


def _resolve(root: Path, ref: str, option: str) -> str:
    try:
        return gitrepo.resolve_commit(root, ref)
    except gitrepo.NotARepository as err:
        raise UsageError(f"{err} (review compares commits)") from None
    except (gitrepo.BadRef, gitrepo.UnknownRef) as err:
        raise UsageError(f"{option}: {err}") from None
    except gitrepo.GitError as err:
        raise CatalogError(str(err)) from None


def _classify(paths: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Paths by filter (relative to the filter's directory), and the paths outside every filter."""
    prefix = FILTERS_DIR.parts
    filters: dict[str, list[str]] = {}
    outside: list[str] = []
    for path in paths:
        parts = PurePosixPath(path).parts
        # The loader skips names starting with '.', so such paths are no filter's business.
        if parts[: len(prefix)] == prefix and len(parts) > len(prefix) and not parts[len(prefix)].startswith("."):
            inside = PurePosixPath(*parts[len(prefix) + 1 :]).as_posix() if len(parts) > len(prefix) + 1 else "."
            filters.setdefault(parts[len(prefix)], []).append(inside)
        else:
            outside.append(path)
    return filters, outside


def _export(
    root: Path, commit: str, names: list[str], target: Path, *, oversized: frozenset[str] = frozenset()
) -> None:
    """Write the catalog's settings and the directories of `names` at `commit` under `target`.

    Symlinks are written as symlinks, so the loader refuses them as it would in a checkout; files
    over the size cap are not written (the tree check reports them), and of a directory over the
    caps (`oversized`) only the files the loader reads.
    """
    (target / FILTERS_DIR).mkdir(parents=True)
    wanted = [SETTINGS_FILE.as_posix(), TEAMS_FILE.as_posix()]
    for name in names:
        if name in oversized:
            wanted += [f"{_directory(name)}/{file}" for file in sorted(VERSION_FILES)]
        else:
            wanted.append(_directory(name))
    gitrepo.export_paths(root, commit, wanted, target, max_bytes=MAX_FILE_BYTES)


def _oversized(trees: dict[str, list[TreeEntry]]) -> frozenset[str]:
    """The filters whose directory at the head holds more files or bytes than a filter may."""
    return frozenset(
        name
        for name, entries in trees.items()
        if len(entries) > MAX_FILES or sum(entry.size for entry in entries) > MAX_DIRECTORY_BYTES
    )


def _too_large(
    base: str,
    head: str,
    base_commit: str,
    head_commit: str,
    merge_base: str,
    author: str | None,
    ci: CiState | None,
    approvers: list[str],
) -> Review:
    """The review of a pull request that changes too many paths to read: one error, nothing else."""
    result = Review(base, head, base_commit, head_commit, merge_base, author, None, ci=ci, approved_by=approvers)
    message = f"the pull request changes more than {MAX_CHANGED_PATHS} paths: too many to review; split it"
    result.findings.append(rules.FileTooLarge.at("", message))
    result.findings += _ci_findings(ci)
    return result


def _codeowners_follow(root: Path, commit: str, target: Path) -> bool:
    """Whether CODEOWNERS at `commit` is exactly what `catalog codeowners` makes of the filters'
    owners and the teams at that commit: a change that follows from the pull request's owners."""
    files = gitrepo.catalog_files_at(root, commit, MAX_FILE_BYTES)
    (target / FILTERS_DIR).mkdir(parents=True)
    wanted = [TEAMS_FILE.as_posix(), CODEOWNERS_PATH]
    wanted += [f"{_directory(name)}/{METADATA_FILE}" for name in files.filters]
    gitrepo.export_paths(root, commit, wanted, target, max_bytes=MAX_FILE_BYTES)
    committed = target / CODEOWNERS_PATH
    try:
        generated = codeowners.render(target).text
    except CatalogError:
        return False
    return committed.is_file() and not committed.is_symlink() and committed.read_bytes() == generated.encode("utf-8")
