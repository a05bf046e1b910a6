"""Obtaining each version's binary and checking it against the facts recorded in `filter.yaml`.

A binary comes from the local store if it is there; otherwise from its source: the recipe builds
it (only for the newest version, since the sources in the directory are the newest version's), or
the URL downloads it (unless offline). Whatever arrives is hashed, inspected and compared with the
recorded sha256, size, ABI, kind and capabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from generator.binaries.build import NETWORK_RECIPES, BuildError, build
from generator.binaries.fetch import FetchError, FetchPolicy, download
from generator.binaries.store import BinaryStore
from generator.metadata import rules
from generator.metadata.findings import Finding
from generator.metadata.loader import FilterEntry
from generator.metadata.model import Version
from generator.wasm.inspect import BinaryFacts, inspect_binary, sha256_hex


@dataclass(frozen=True)
class BinaryOptions:
    """Where binaries may come from during a check."""

    offline: bool = False
    rebuild: bool = False  # build the newest version from its recipe even if the store has it
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)


def check_binaries(entry: FilterEntry, store: BinaryStore, options: BinaryOptions) -> list[Finding]:
    """Obtain and check the binary of every version of a loaded filter."""
    if entry.meta is None:
        return []
    findings: list[Finding] = []
    newest = len(entry.meta.versions) - 1
    for index, version in enumerate(entry.meta.versions):
        data, problems = obtain(entry, index, version, store, options, is_newest=index == newest)
        findings += problems
        if data is not None:
            findings += check_version_binary(entry, index, version, data)
    return findings


def obtain(
    entry: FilterEntry,
    index: int,
    version: Version,
    store: BinaryStore,
    options: BinaryOptions,
    *,
    is_newest: bool,
) -> tuple[bytes | None, list[Finding]]:
    """The version's bytes, from the store or its source; findings when they cannot be had."""
    where = ("versions", index)
    source = version.source
    rebuild = options.rebuild and is_newest and source is not None and source.build is not None
    cached = None if rebuild else store.get(version.sha256)
    if cached is not None:
        return cached, []
    if source is None:
        return None, [
            entry.field_finding(
                rules.BinaryUnavailable, where, "binary is not in the local store and the version has no source"
            )
        ]
    if source.build is not None:
        if not is_newest:
            return None, [
                entry.field_finding(
                    rules.BinaryUnavailable,
                    where,
                    f"binary {version.version} is not in the local store; "
                    "the sources here build the newest version only",
                )
            ]
        if options.offline and source.build.recipe in NETWORK_RECIPES:
            message = f"not built: the {source.build.recipe} recipe downloads packages and --offline was given"
            return None, [entry.field_finding(rules.BinaryUnavailable, (*where, "source", "build"), message)]
        try:
            data = build(entry.directory, entry.display, source.build)
        except BuildError as err:
            return None, [entry.field_finding(rules.BuildFailed, (*where, "source", "build"), str(err))]
        store.put(data)
        return data, []
    assert source.url is not None
    if options.offline:
        return None, [
            entry.field_finding(
                rules.BinaryUnavailable,
                (*where, "source", "url"),
                "binary is not in the local store and --offline was given",
            )
        ]
    try:
        data = download(source.url, options.fetch_policy)
    except FetchError as err:
        return None, [entry.field_finding(rules.DownloadFailed, (*where, "source", "url"), str(err))]
    if sha256_hex(data) == version.sha256:
        store.put(data)
    return data, []


def check_version_binary(entry: FilterEntry, index: int, version: Version, data: bytes) -> list[Finding]:
    """Inspect `data` and compare it with what version `index` records."""
    where = ("versions", index)
    facts, findings = inspect_binary(data, entry.metadata_display, field=f"versions[{index}]")
    findings = [entry.field_finding(f.rule, where, f.message) for f in findings]
    actual = sha256_hex(data)
    if actual != version.sha256:
        message = f"expected {version.sha256}, the binary has {actual}"
        if version.source is not None and version.source.build is not None:
            message += (
                f"; the sources no longer build the recorded bytes: for an unpublished version run "
                f"`catalog filter build {entry.name} --record`, otherwise restore the sources"
            )
        findings.append(entry.field_finding(rules.Sha256Mismatch, (*where, "sha256"), message))
    if facts is not None:
        findings += compare_facts(entry, index, version, facts)
    return findings


def compare_facts(entry: FilterEntry, index: int, version: Version, facts: BinaryFacts) -> list[Finding]:
    recorded: dict[str, object] = {
        "size": version.size,
        "abi": version.abi,
        "kind": version.kind,
        "capabilities": sorted(version.capabilities),
    }
    actual: dict[str, object] = {
        "size": facts.size,
        "abi": facts.abi,
        "kind": facts.kind,
        "capabilities": sorted(facts.capabilities),
    }
    return [
        entry.field_finding(
            rules.FactMismatch,
            ("versions", index, key),
            f"recorded {_show(recorded[key])}, the binary shows {_show(actual[key])}",
        )
        for key in recorded
        if recorded[key] != actual[key]
    ]


def _show(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)
