"""`catalog filter download NAME[@VERSION]`: fetch a published binary and keep it only if it checks out.

The version's URL and sha256 come from the local catalog (the release asset, or the version's own
source URL: what the site links to), or from a site's or a mirror's `index.json` when `--index`
names one, so a user needs no clone of the catalog (the index is then trusted for the sha256s: use
the catalog's own site, or a mirror you run). With a mirror (`--mirror URL` or `$CATALOG_MIRROR`),
the asset is fetched from the mirror's copy instead of the release, and the local catalog's
sha256 judges it: a mirror cannot change what is accepted. A mirror on disk works too: `--index
DIR/index.json` reads its relative download paths from DIR. The bytes are refused unless their
sha256 is the recorded one, wherever they come from; nothing is written then. An existing file is
never replaced unless asked.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from generator.binaries.fetch import DEFAULT_MAX_BYTES, FetchError, FetchPolicy, Progress, download
from generator.commands.import_filter import is_url
from generator.envoy import snippets
from generator.metadata.errors import CatalogError, FindingsError, UsageError
from generator.metadata.files import read_user_file, write_atomic
from generator.metadata.layout import SETTINGS_FILE
from generator.metadata.lookup import load_one, pick_version, require_loaded, split_spec
from generator.metadata.model import SHA256_PATTERN


@dataclass(frozen=True)
class DownloadRequest:
    """What `catalog filter download` was asked to do."""

    spec: str  # NAME or NAME@VERSION
    output: Path | None = None  # a file, or an existing directory; default ./NAME-VERSION.wasm
    index: str | None = None  # URL (or file) of a site's index.json, instead of the local catalog
    force: bool = False  # replace an existing output file
    policy: FetchPolicy = field(default_factory=FetchPolicy)
    mirror: str | None = None  # a mirror's address: its copy of the release assets is fetched


@dataclass(frozen=True)
class Wanted:
    """The version to download: where it is and what its bytes must be."""

    name: str
    version: str
    url: str
    sha256: str
    size: int | None
    yanked: bool
    yank_reason: str | None


@dataclass(frozen=True)
class Downloaded:
    wanted: Wanted
    path: Path
    size: int


def download_filter(root: Path | None, request: DownloadRequest, progress: Progress | None = None) -> Downloaded:
    """Download the version `request.spec` names; `root` is the catalog (unused with an index)."""
    name, version = split_spec(request.spec)
    if request.index is not None:
        if request.mirror is not None:
            raise UsageError(
                "--mirror rewrites the local catalog's download URLs and --index brings its own: give one of them"
            )
        wanted = from_index(request.index, name, version, request.policy)
    else:
        if root is None:
            raise UsageError("no catalog to look the filter up in; pass --index URL or --root")
        wanted = from_catalog(root, name, version, request.mirror)
    path = _output_path(request.output, wanted)
    if not request.force and (path.exists() or path.is_symlink()):
        raise CatalogError(f"{path} exists; pass --force to replace it, or -o another file")
    # The recorded size bounds the download: a server that sends more is stopped early.
    limit = wanted.size if wanted.size is not None else request.policy.max_bytes
    policy = replace(request.policy, max_bytes=min(limit, request.policy.max_bytes))
    on_disk = request.index is not None and not is_url(request.index) and not _has_scheme(wanted.url)
    if on_disk:  # a mirror's file beside its index.json, which is on disk too
        data = _read_local(wanted, policy.max_bytes)
    else:  # a URL: https only (or what --allow-http allows), as the download's policy says
        try:
            data = download(wanted.url, policy, expected_sha256=wanted.sha256, progress=progress)
        except FetchError as err:
            raise CatalogError(f"{wanted.name} {wanted.version}: {err}") from None
    try:
        if request.force:
            write_atomic(path, data)
        else:
            _write_new(path, data)
    except OSError as err:
        raise CatalogError(f"cannot write {path}: {err.strerror or err}") from None
    return Downloaded(wanted, path, len(data))


def from_catalog(root: Path, name: str, version: str | None, mirror: str | None = None) -> Wanted:
    """The version as the local catalog records it, at the URL the site links to (or on `mirror`)."""
    catalog, entry = load_one(root, name)
    require_loaded(entry)
    _, chosen = pick_version(entry, version)
    if catalog.settings is None:
        relevant = [f for f in catalog.findings if f.path == SETTINGS_FILE.as_posix()]
        raise FindingsError(f"{SETTINGS_FILE.as_posix()} does not load; its release_url is the download", relevant)
    return Wanted(
        name=entry.name,
        version=chosen.version,
        url=snippets.release_url(catalog.settings, entry.name, chosen, mirror),
        sha256=chosen.sha256,
        size=chosen.size,
        yanked=chosen.yanked,
        yank_reason=chosen.yank_reason,
    )


def from_index(index: str, name: str, version: str | None, policy: FetchPolicy) -> Wanted:
    """The version as a site's `index.json` lists it (see generator/site/index.py for its shape).

    Only what the download needs is read, and checked: another filter's entry, or a field this
    client does not know, cannot stop it.
    """
    data = _read_index(index, policy)
    filters = data.get("filters") if isinstance(data, dict) else None
    if not isinstance(filters, list):
        raise CatalogError(f"--index: expected a catalog index.json (an object with filters), got {index}")
    entry = next((f for f in filters if isinstance(f, dict) and f.get("name") == name), None)
    if entry is None:
        raise UsageError(f"no filter named '{name}' in {index} (public filters only)")
    listed = entry.get("versions")
    versions = (
        [v for v in listed if isinstance(v, dict) and isinstance(v.get("version"), str)]
        if isinstance(listed, list)
        else []
    )
    if not versions:
        raise CatalogError(f"--index: '{name}' lists no versions in {index}")
    if version is None:
        latest = entry.get("latest")
        # Versions are newest first; without a `latest` listed, the newest not yanked (else the newest).
        fallback = next((v for v in versions if v.get("yanked") is not True), versions[0])
        chosen = next((v for v in versions if v["version"] == latest), fallback)
    else:
        found = next((v for v in versions if v["version"] == version), None)
        if found is None:
            known = ", ".join(v["version"] for v in versions)
            raise UsageError(f"filter '{name}' has no version {version} in {index} (it has: {known})")
        chosen = found
    where = f"--index: {name} {chosen['version']}"
    sha256, url, size = chosen.get("sha256"), chosen.get("download_url"), chosen.get("size")
    if not isinstance(sha256, str) or not re.fullmatch(SHA256_PATTERN, sha256):
        raise CatalogError(f"{where}: expected a sha256 (64 lower-case hex characters), got {sha256!r}")
    if not isinstance(url, str) or not url:
        raise CatalogError(f"{where}: expected a download_url, got {url!r}")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= DEFAULT_MAX_BYTES:
        size = None
    reason = chosen.get("yank_reason")
    return Wanted(
        name=name,
        version=chosen["version"],
        url=_resolve(index, url),
        sha256=sha256,
        size=size,
        yanked=chosen.get("yanked") is True,
        yank_reason=reason if isinstance(reason, str) else None,
    )


def _resolve(index: str, url: str) -> str:
    """A `download_url` as the index gives it: absolute, or relative to the index (a mirror's).
    Only an index on disk names files on disk; whatever else is not https is the download's to refuse."""
    if is_url(index):
        return urljoin(index, url)
    if _has_scheme(url):
        return url
    return str(Path(index).parent / url)  # a mirror on disk: a file beside the index


def _has_scheme(url: str) -> bool:
    """`https://...`, `file:...`: anything but a path."""
    return ":" in url.split("/", 1)[0]


def _read_local(wanted: Wanted, max_bytes: int) -> bytes:
    """A mirror's file on disk, refused unless its sha256 is the recorded one."""
    data, findings = read_user_file(Path(wanted.url), max_bytes)
    if data is None:
        raise FindingsError(f"{wanted.name} {wanted.version}: the mirror's file cannot be read", findings)
    found = hashlib.sha256(data).hexdigest()
    if found != wanted.sha256:
        raise CatalogError(
            f"{wanted.name} {wanted.version}: {wanted.url} has sha256 {found}, "
            f"not the recorded {wanted.sha256}; refused"
        )
    return data


def _read_index(index: str, policy: FetchPolicy) -> Any:
    if is_url(index):
        try:
            raw = download(index, policy)
        except FetchError as err:
            raise CatalogError(f"--index: {err}") from None
    else:
        data, findings = read_user_file(Path(index), policy.max_bytes)
        if data is None:
            raise FindingsError("--index: the file cannot be read", findings)
        raw = data
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CatalogError(f"--index: expected JSON from {index}, got: {err}") from None


def _output_path(output: Path | None, wanted: Wanted) -> Path:
    default = f"{wanted.name}-{wanted.version}.wasm"
    if output is None:
        return Path(default)
    if output.is_dir():
        return output / default
    return output


def _write_new(path: Path, data: bytes) -> None:
    """Write `path`, which must not exist: complete, or not at all; never over a file that appeared meanwhile."""
    try:
        write_atomic(path, data, replace=False)
    except FileExistsError:
        raise CatalogError(f"{path} exists; pass --force to replace it, or -o another file") from None
