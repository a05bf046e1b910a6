"""Metadata checks that need more than one field, or the filter's directory: cheap, no binaries.

Each check takes a loaded filter entry and returns findings; none of them changes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

import semver

from generator.metadata import readme, rules
from generator.metadata.cases import CASES_FILE
from generator.metadata.configschema import UnusableSchema, schema_problems, value_problems
from generator.metadata.files import MIB, TreeEntry, check_regular_file
from generator.metadata.findings import Finding
from generator.metadata.icon import load_icon
from generator.metadata.layout import README_FILE, TEAMS_FILE
from generator.metadata.loader import FilterEntry
from generator.metadata.model import FilterMeta, TeamsFile
from generator.metadata.yamlfile import FieldPath

Check = Callable[[FilterEntry, FilterMeta], list[Finding]]


def check_metadata(entry: FilterEntry, teams: TeamsFile | None = None) -> list[Finding]:
    """Every metadata check for a filter whose `filter.yaml` loaded; owners against `teams` if given."""
    if entry.meta is None:
        return []
    findings: list[Finding] = []
    for check in CHECKS:
        findings += check(entry, entry.meta)
    if teams is not None:
        findings += owners_known(entry, entry.meta, teams)
    return findings


def owners_known(entry: FilterEntry, meta: FilterMeta, teams: TeamsFile) -> list[Finding]:
    """Every team among the owners is in the catalog's teams file (users cannot be checked offline)."""
    return [
        entry.field_finding(
            rules.UnknownTeam,
            ("owners", index),
            f"expected a team listed in {TEAMS_FILE.as_posix()} ({', '.join(sorted(teams.teams))}), got '{owner}'",
        )
        for index, owner in enumerate(meta.owners)
        if teams.is_team(owner) and owner not in teams.teams
    ]


def name_matches_directory(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    if meta.name == entry.name:
        return []
    return [
        entry.field_finding(
            rules.NameMismatch, ("name",), f"expected '{entry.name}' (the directory name), got '{meta.name}'"
        )
    ]


def license_declared(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    if meta.license != "NOASSERTION":
        return []
    return [entry.field_finding(rules.NoLicense, ("license",), "expected an SPDX license, got NOASSERTION")]


def config_examples_valid(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """The configuration schema is a usable JSON Schema and every example satisfies it."""
    schema_at: FieldPath = ("config", "schema")
    problems = schema_problems(meta.config.schema_)
    if problems:
        return [entry.field_finding(rules.BadConfigSchema, (*schema_at, *p.path), p.message) for p in problems]
    findings = []
    for index, example in enumerate(meta.config.examples):
        base: FieldPath = ("config", "examples", index, "value")
        try:
            errors = value_problems(meta.config.schema_, example.value)
        except UnusableSchema as err:
            return [entry.field_finding(rules.BadConfigSchema, schema_at, err.problem.message)]
        findings += [
            entry.field_finding(rules.ExampleFailsSchema, (*base, *e.path), f"example fails the schema: {e.message}")
            for e in errors
        ]
    return findings


def versions_ordered(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """Versions are unique and ascending: the last one is the newest."""
    findings = []
    seen: dict[str, int] = {}
    previous: semver.Version | None = None
    for index, version in enumerate(meta.versions):
        where: FieldPath = ("versions", index, "version")
        if version.version in seen:
            findings.append(
                entry.field_finding(
                    rules.DuplicateVersion,
                    where,
                    f"expected each version once, got {version.version} again "
                    f"(first at versions[{seen[version.version]}])",
                )
            )
            continue
        seen[version.version] = index
        current = semver.Version.parse(version.version)
        if previous is not None and current < previous:
            findings.append(
                entry.field_finding(
                    rules.VersionOrder, where, f"expected a version above {previous}, got {current} (oldest first)"
                )
            )
        else:
            previous = current
    return findings


# Recipes whose path is a project directory, and the files that directory must hold.
PROJECT_FILES = {"assemblyscript": ("package.json", "package-lock.json", "assembly/index.ts")}


def build_sources_exist(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """Every build recipe names a regular file (or, for project recipes, a project) inside the filter."""
    findings = []
    for index, version in enumerate(meta.versions):
        build = version.source.build if version.source else None
        if build is None:
            continue
        where: FieldPath = ("versions", index, "source", "build", "path")
        target = entry.directory / PurePosixPath(build.path)
        try:
            inside = target.resolve().is_relative_to(entry.directory.resolve())
        except OSError:
            inside = False
        if not inside:
            findings.append(
                entry.field_finding(
                    rules.BadSourcePath, where, f"expected a path inside the filter's directory, got '{build.path}'"
                )
            )
            continue
        required = [f"{build.path}/{name}" for name in PROJECT_FILES.get(build.recipe, ())] or [build.path]
        for path in required:
            for problem in check_regular_file(entry.directory / PurePosixPath(path), f"{entry.display}/{path}"):
                findings.append(entry.field_finding(problem.rule, where, f"'{path}': {problem.message}"))
    return findings


def icon_valid(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """The icon, when declared, is a small PNG inside the filter's directory."""
    if meta.icon is None:
        return []
    _, file_findings, problem = load_icon(entry.directory, entry.display, meta.icon)
    findings = [entry.field_finding(f.rule, ("icon",), f"'{meta.icon}': {f.message}") for f in file_findings]
    if problem:
        findings.append(entry.field_finding(rules.BadIcon, ("icon",), problem))
    return findings


def sources_declared(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """Every version says where CI obtains its binary."""
    return [
        entry.field_finding(
            rules.MissingSource,
            ("versions", index),
            "expected source.url (the release's https URL) or source.build (a recipe), got neither",
        )
        for index, version in enumerate(meta.versions)
        if version.source is None
    ]


def cases_valid(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """Behaviour cases have unique names, requests to send, and configurations the schema accepts."""
    if entry.cases is None:
        return []
    findings = []
    default = meta.config.examples[0].value
    seen: set[str] = set()
    for index, case in enumerate(entry.cases.cases):
        where: FieldPath = ("cases", index)
        if case.name in seen or case.name == "smoke":
            findings.append(
                entry.cases_finding(
                    rules.DuplicateCase, (*where, "name"), f"expected a unique name, got {case.name!r} again"
                )
            )
        seen.add(case.name)
        if case.loads and not case.requests:
            message = "expected at least one request (or loads: false), got none"
            findings.append(entry.cases_finding(rules.InvalidValue, (*where, "requests"), message))
        if not case.loads:
            continue
        try:
            errors = value_problems(meta.config.schema_, case.plugin_config(default))
        except UnusableSchema:
            continue  # reported by config_examples_valid
        findings += [
            entry.cases_finding(
                rules.CaseConfigFailsSchema,
                (*where, "config", *error.path),
                f"configuration fails the filter's schema: {error.message}",
            )
            for error in errors
        ]
    return findings


def readme_written(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """The README is the filter's own text, not the import stub's placeholders."""
    if entry.readme is None:
        return []  # a missing or unreadable README is the loader's finding
    return [
        rules.ReadmeStub.at(
            f"{entry.display}/{README_FILE}", f"expected the filter's own text, got the placeholder {text!r}"
        )
        for text in readme.placeholders_in(entry.readme)
    ]


def cases_present(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """The filter declares behaviour cases beyond the smoke case."""
    path = entry.directory / CASES_FILE
    if path.exists() or path.is_symlink():
        return []
    message = "expected behaviour cases (what the filter does, how it refuses a bad configuration), got no cases.yaml"
    return [rules.NoCases.at(entry.cases_display, message)]


def yanks_explained(entry: FilterEntry, meta: FilterMeta) -> list[Finding]:
    """Every yanked version says why."""
    return [
        entry.field_finding(
            rules.YankWithoutReason, ("versions", index), f"expected a yank_reason for yanked version {version.version}"
        )
        for index, version in enumerate(meta.versions)
        if version.yanked and not version.yank_reason
    ]


CHECKS: tuple[Check, ...] = (
    sources_declared,
    name_matches_directory,
    license_declared,
    config_examples_valid,
    versions_ordered,
    build_sources_exist,
    icon_valid,
    cases_valid,
    readme_written,
    cases_present,
    yanks_explained,
)

# What a filter's directory may hold: sources and metadata, never binaries or other repositories.
MAX_FILE_BYTES = 1 * MIB
MAX_DIRECTORY_BYTES = 5 * MIB
MAX_FILES = 500
_REFUSED_KINDS = {
    "symlink": (rules.NotRegularFile, "expected a regular file, got a symlink (it could point anywhere)"),
    "other": (rules.NotRegularFile, "expected a regular file, got a device, pipe or socket"),
    "submodule": (rules.Submodule, "expected files of this repository, got a git submodule or another repository"),
}


def check_filter_files(display: str, entries: Iterable[TreeEntry]) -> list[Finding]:
    """What is in a filter's directory (`display`): regular files only, each and all of them under the caps.

    `entries` come from the work tree (`files.list_tree`) or from a commit (`gitrepo.tree_entries`),
    so `catalog validate` and the review refuse the same things.
    """
    findings: list[Finding] = []
    total = count = 0
    for entry in entries:
        path = f"{display}/{entry.path}" if entry.path != "." else display
        if entry.kind in _REFUSED_KINDS:
            rule, message = _REFUSED_KINDS[entry.kind]
            findings.append(rule.at(path, message))
            continue
        count += 1
        total += entry.size
        if entry.size > MAX_FILE_BYTES:
            message = f"expected a source or text file of at most {MAX_FILE_BYTES // MIB} MiB, got {entry.size} bytes"
            findings.append(rules.FileTooLarge.at(path, message))
    if count > MAX_FILES:
        findings.append(rules.FileTooLarge.at(display, f"expected at most {MAX_FILES} files, got {count}"))
    if total > MAX_DIRECTORY_BYTES:
        message = f"expected at most {MAX_DIRECTORY_BYTES // MIB} MiB of files in all, got {total} bytes"
        findings.append(rules.FileTooLarge.at(display, message))
    return findings
