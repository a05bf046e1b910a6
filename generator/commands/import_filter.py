"""`catalog filter import`: add a filter, or a new version of one, from a .wasm file or URL.

The binary is inspected before anything is written; the new or changed filter directory is built
in a staging directory, loaded and checked like any other filter, and only then swapped in. A
failed import leaves the catalog exactly as it was.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import semver

from generator.binaries.fetch import FetchError, FetchPolicy, Progress, download
from generator.binaries.store import BinaryStore
from generator.commands.common import staged_errors
from generator.metadata import names, readme, yamledit
from generator.metadata.configschema import UnusableSchema, value_problems
from generator.metadata.errors import CatalogError, FindingsError, UsageError
from generator.metadata.files import read_user_file, staged_copy, staged_directory, write_atomic
from generator.metadata.findings import Finding, Severity
from generator.metadata.layout import FILTERS_DIR, METADATA_FILE, README_FILE
from generator.metadata.loader import load_filter
from generator.metadata.lookup import require_loaded
from generator.metadata.yamlfile import json_type
from generator.wasm.inspect import MAX_BINARY_BYTES, BinaryFacts, inspect_binary, sha256_hex
from generator.wasm.wat import WatError, compile_wat

DEFAULT_FIRST_VERSION = "0.1.0"


@dataclass
class ImportRequest:
    """Everything `catalog filter import` was asked to do."""

    source: str
    name: str | None = None
    version: str | None = None
    config: Any = None
    has_config: bool = False
    owners: tuple[str, ...] = ()
    title: str | None = None
    summary: str | None = None
    license: str | None = None
    language: str | None = None
    categories: tuple[str, ...] = ()
    source_url: str | None = None
    expected_sha256: str | None = None
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)


@dataclass
class ImportResult:
    name: str
    version: str
    created: bool
    facts: BinaryFacts
    findings: list[Finding]
    has_source: bool


def is_url(source: str) -> bool:
    """Whether SOURCE names a URL (checked further when downloaded) rather than a file."""
    return source.lower().startswith(("http://", "https://"))


def import_filter(
    root: Path, store: BinaryStore, request: ImportRequest, progress: Progress | None = None
) -> ImportResult:
    """Import `request.source` into the catalog at `root`."""
    data, wat_source = _read_source(request, progress)
    expected = request.expected_sha256.lower() if request.expected_sha256 is not None else None
    if expected is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise UsageError(f"--sha256: expected 64 hex characters, got '{request.expected_sha256}'")
    if expected is not None and sha256_hex(data) != expected:
        raise CatalogError(f"expected sha256 {expected}, got {sha256_hex(data)}; the bytes were refused")
    display = request.source
    facts, findings = inspect_binary(data, display)
    if facts is None or any(f.severity is Severity.ERROR for f in findings):
        raise FindingsError("the binary cannot be imported", findings)

    name = request.name if request.name is not None else _name_from_source(request.source)
    try:
        names.check_name(name)
    except names.NameProblem as problem:
        raise UsageError(f"--name: {problem}") from None
    directory = root / FILTERS_DIR / name
    source_entry = _version_source(request, wat_source)
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise CatalogError(f"{directory.relative_to(root)}: expected a filter directory, got a symlink or a file")
    if directory.exists():
        given = [option for option, value in _new_filter_options(request) if value]
        if given:
            message = f"only for a new filter; '{name}' exists, edit its filter.yaml instead"
            raise UsageError(f"{', '.join(given)}: {message}")
    store.put(data)
    if directory.exists():
        version = _add_version(root, name, request, facts, source_entry, wat_source)
        created = False
    else:
        version = request.version or DEFAULT_FIRST_VERSION
        _create(root, name, version, request, facts, source_entry, wat_source)
        created = True
    return ImportResult(
        name=name, version=version, created=created, facts=facts, findings=findings, has_source=source_entry is not None
    )


def _new_filter_options(request: ImportRequest) -> list[tuple[str, object]]:
    return [
        ("--owner", request.owners),
        ("--title", request.title),
        ("--summary", request.summary),
        ("--license", request.license),
        ("--language", request.language),
        ("--category", request.categories),
    ]


def _read_source(request: ImportRequest, progress: Progress | None) -> tuple[bytes, tuple[str, str] | None]:
    """The binary's bytes, and for a .wat file its (file name, text) to keep as the build source."""
    if is_url(request.source):
        try:
            return download(request.source, request.fetch_policy, progress=progress), None
        except FetchError as err:
            raise CatalogError(str(err)) from None
    path = Path(request.source)
    data, findings = read_user_file(path, MAX_BINARY_BYTES)
    if data is None:
        raise FindingsError(f"cannot read {request.source}", findings)
    if path.suffix == ".wat":
        try:
            text = data.decode("utf-8")
            return compile_wat(text), (path.name, text)
        except (UnicodeDecodeError, WatError) as err:
            raise CatalogError(f"{request.source}: error: expected WebAssembly text, got: {err}") from None
    return data, None


def _name_from_source(source: str) -> str:
    base = PurePosixPath(unquote(urlsplit(source).path)).name if is_url(source) else Path(source).name
    stem = base.rsplit(".", 1)[0].lower()
    candidate = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    if not candidate:
        raise UsageError(f"cannot derive a filter name from '{source}'; pass --name")
    return candidate[:63].strip("-")


def _version_source(request: ImportRequest, wat_source: tuple[str, str] | None) -> dict[str, Any] | None:
    """Where CI will obtain the binary: the release URL, or the recipe for a WAT source.

    A plain-http URL (a local mirror) is not a release location, so it is not recorded; the
    https release URL can be given with --source-url.
    """
    if request.source_url is not None:
        return {"url": request.source_url}
    if wat_source is not None:
        return {"build": {"recipe": "wat", "path": f"src/{wat_source[0]}"}}
    if is_url(request.source) and urlsplit(request.source).scheme == "https":
        return {"url": request.source}
    return None


def _version_entry(version: str, facts: BinaryFacts, source: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "version": version,
        "sha256": facts.sha256,
        "size": facts.size,
        "abi": facts.abi,
        "kind": facts.kind,
        "capabilities": list(facts.capabilities),
    }
    if source is not None:
        entry["source"] = source
    return entry


def _default_owner() -> str:
    try:
        handle = subprocess.run(
            ["git", "config", "github.user"], capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        handle = ""
    if not handle:
        raise UsageError(
            "--owner: a new filter needs an owner; pass --owner @your-github-handle (or set `git config github.user`)"
        )
    return handle if handle.startswith("@") else f"@{handle}"


def _create(
    root: Path,
    name: str,
    version: str,
    request: ImportRequest,
    facts: BinaryFacts,
    source: dict[str, Any] | None,
    wat_source: tuple[str, str] | None,
) -> None:
    if not semver.Version.is_valid(version):
        raise UsageError(f"--version: '{version}' is not a semantic version (expected e.g. 1.2.0)")
    title = request.title or name.replace("-", " ").capitalize()
    kind_words = {"http": "HTTP", "network": "network", "both": "HTTP and network", "none": "proxy-wasm"}
    config_value = request.config if request.has_config else {}
    meta: dict[str, Any] = {
        "name": name,
        "title": title,
        "summary": request.summary
        or f"{title}: a {kind_words[facts.kind]} filter for Envoy (proxy-wasm ABI {facts.abi}).",
        "owners": list(request.owners) or [_default_owner()],
        "visibility": "public",
        "license": request.license or "NOASSERTION",
        "language": request.language or facts.language_hint or ("wat" if wat_source else "other"),
        "categories": list(request.categories) or ["other"],
        "keywords": [],
        "config": {
            "schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": json_type(config_value)},
            "examples": [{"title": "Example configuration", "value": config_value}],
        },
        "versions": [_version_entry(version, facts, source)],
    }
    with staged_directory(root / FILTERS_DIR / name) as staging:
        write_atomic(staging / METADATA_FILE, yamledit.dump(meta))
        text = readme.stub(title, meta["summary"], facts.abi, facts.kind, facts.capabilities)
        write_atomic(staging / README_FILE, text)
        if wat_source is not None:
            write_atomic(staging / "src" / wat_source[0], wat_source[1])
        _check_staged(staging, name)


def _add_version(
    root: Path,
    name: str,
    request: ImportRequest,
    facts: BinaryFacts,
    source: dict[str, Any] | None,
    wat_source: tuple[str, str] | None,
) -> str:
    entry = load_filter(root, name)
    require_loaded(entry)
    assert entry.meta is not None
    meta = entry.meta
    latest = max(semver.Version.parse(v.version) for v in meta.versions)
    if request.version is None:
        raise UsageError(f"--version: filter '{name}' exists (latest {latest}); pass --version for the new version")
    if not semver.Version.is_valid(request.version):
        raise UsageError(f"--version: '{request.version}' is not a semantic version (expected e.g. 1.2.0)")
    new = semver.Version.parse(request.version)
    if new <= latest:
        raise CatalogError(
            f"version {new} is not above the latest version {latest}; "
            "published versions are immutable and versions only move forward"
        )
    for existing in meta.versions:
        if existing.sha256 == facts.sha256:
            raise CatalogError(f"these bytes are already version {existing.version} (sha256 {facts.sha256})")
    text = (entry.directory / METADATA_FILE).read_text(encoding="utf-8")
    display = entry.metadata_display
    text = yamledit.append_item(text, ("versions",), _version_entry(str(new), facts, source), display=display)
    if request.has_config:
        try:
            errors = value_problems(meta.config.schema_, request.config)
        except UnusableSchema as err:
            raise CatalogError(f"{entry.metadata_display}: config.schema: {err}") from None
        if errors:
            raise UsageError(f"--config: the configuration fails the filter's schema: {errors[0].message}")
        number = len(meta.config.examples) + 1
        example = {"title": f"Example configuration {number}", "value": request.config}
        text = yamledit.append_item(text, ("config", "examples"), example, display=display)
    with staged_copy(entry.directory) as staging:
        write_atomic(staging / METADATA_FILE, text)
        if wat_source is not None:
            write_atomic(staging / "src" / wat_source[0], wat_source[1])
        _check_staged(staging, name)
    return str(new)


# The options that fill a new filter's fields, to name the option when its value is refused.
_OPTION_FOR_FIELD = {
    "name": "--name",
    "title": "--title",
    "summary": "--summary",
    "owners": "--owner",
    "license": "--license",
    "language": "--language",
    "categories": "--category",
}


def _check_staged(staging: Path, name: str) -> None:
    """Load the staged directory as the filter it will become; refuse to swap in anything broken."""
    errors = staged_errors(staging.parent.parent.parent, name, staging)
    if not errors:
        return
    options = [_OPTION_FOR_FIELD.get(f.field.split("[")[0].split(".")[0]) for f in errors]
    if all(options):
        lines = [f"{option}: {f.message}" for option, f in zip(options, errors, strict=True)]
        raise UsageError("; ".join(lines))
    raise FindingsError("the import would write invalid metadata", errors)
