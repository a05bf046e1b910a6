"""`catalog filter build NAME`: build the newest version from its recipe, in isolation.

The bytes go to the local store. Their facts (sha256, size, ABI, kind, capabilities) are compared
with what `filter.yaml` records for the version; `record` writes them there, which is how a
contributor prepares a new version before opening a pull request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.binaries.build import BuildError, build
from generator.binaries.store import BinaryStore
from generator.commands.common import dropped_comments
from generator.gitops import gitrepo
from generator.metadata import rules, yamledit
from generator.metadata.errors import CatalogError, FindingsError, UsageError
from generator.metadata.files import write_atomic
from generator.metadata.findings import Finding, Severity
from generator.metadata.layout import FILTERS_DIR, METADATA_FILE
from generator.metadata.loader import MAX_METADATA_BYTES
from generator.metadata.lookup import load_one, require_loaded
from generator.metadata.yamlfile import format_path, parse_yaml
from generator.wasm.inspect import BinaryFacts, inspect_binary

FACT_FIELDS = ("sha256", "size", "abi", "kind", "capabilities")


@dataclass
class BuildOutcome:
    name: str
    version: str
    facts: BinaryFacts
    differences: dict[str, tuple[Any, Any]]  # field -> (recorded, built)
    recorded: bool
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # comments that went with the values recorded


def build_filter(root: Path, store: BinaryStore, name: str, *, record: bool = False) -> BuildOutcome:
    _, entry = load_one(root, name)
    require_loaded(entry)
    assert entry.meta is not None
    index = len(entry.meta.versions) - 1
    version = entry.meta.versions[index]
    recipe = version.source.build if version.source is not None else None
    if recipe is None:
        raise UsageError(f"'{entry.name}' {version.version} has no build recipe (source.build); nothing to build")
    try:
        data = build(entry.directory, entry.display, recipe)
    except BuildError as err:
        raise CatalogError(
            f"{entry.display}: building {version.version} with the {recipe.recipe} recipe: {err}"
        ) from None
    facts, findings = inspect_binary(data, f"{entry.display} ({recipe.recipe} build)")
    if facts is None or any(f.severity is Severity.ERROR for f in findings):
        raise FindingsError(
            f"the {recipe.recipe} build of '{entry.name}' is not a loadable proxy-wasm module", findings
        )
    store.put(data)
    built: dict[str, Any] = {
        "sha256": facts.sha256,
        "size": facts.size,
        "abi": facts.abi,
        "kind": facts.kind,
        "capabilities": sorted(facts.capabilities),
    }
    recorded_facts: dict[str, Any] = {
        "sha256": version.sha256,
        "size": version.size,
        "abi": version.abi,
        "kind": version.kind,
        "capabilities": sorted(version.capabilities),
    }
    differences = {k: (recorded_facts[k], built[k]) for k in FACT_FIELDS if recorded_facts[k] != built[k]}
    edits: dict[str, yamledit.Edited] = {}
    if record and differences:
        _refuse_if_published(root, entry.name, version.version)
        path = entry.directory / METADATA_FILE
        text = path.read_text(encoding="utf-8")
        for key in differences:
            edited = yamledit.set_value(text, ("versions", index, key), built[key], display=entry.metadata_display)
            edits[format_path(("versions", index, key))], text = edited, edited.text
        write_atomic(path, text)
    warnings = dropped_comments(entry.metadata_display, edits)
    recorded = record and bool(differences)
    return BuildOutcome(entry.name, version.version, facts, differences, recorded, findings, warnings)


def _refuse_if_published(root: Path, name: str, version: str) -> None:
    """A version the default branch lists is published: its recorded bytes never change."""
    ref = gitrepo.default_branch(root)
    if ref is None:
        return  # outside git, or a repository without a default branch: nothing is published yet
    files = gitrepo.catalog_files_at(root, ref, MAX_METADATA_BYTES)
    committed = files.filters.get(name)
    if committed is None or committed.data is None:
        return
    document, findings = parse_yaml(committed.data.decode("utf-8", "replace"), f"{ref}:{METADATA_FILE}")
    data = document.data if document is not None and not findings else None
    listed = data.get("versions") if isinstance(data, dict) else None
    published = {v.get("version") for v in listed if isinstance(v, dict)} if isinstance(listed, list) else set()
    if version in published:
        short = ref.removeprefix("refs/remotes/").removeprefix("refs/heads/")
        raise CatalogError(
            f"{name} {version} is published (listed at {short}): its sha256 and size never change, so the new "
            f"build is not recorded over them. Add a new version to {FILTERS_DIR.as_posix()}/{name}/{METADATA_FILE} "
            f"(the same source.build), then run `catalog filter build {name} --record`; or restore the sources "
            f"[{rules.PublishedVersionChanged.id}]"
        )
