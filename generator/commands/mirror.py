"""`catalog release mirror DIR`: every public version's asset, its .sha256 and an index.json, for any static host.

Organisations keep what their proxies load on their own hosts. The mirror holds each version at the
path the release URL template gives below its fixed part (`NAME-vVERSION/NAME-VERSION.wasm` with the
default one), beside its `.sha256`, and an `index.json` in the site's shape whose `download_url`s
are relative to it. Serve DIR anywhere; then `catalog filter download NAME --mirror URL` (or
`--index URL/index.json`, or `CATALOG_MIRROR=URL` for the site's links) fetch from it, and the
sha256 in filter.yaml still judges every byte. A file already in DIR with the recorded sha256 is
kept; one with other bytes is refused, never replaced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from generator.binaries.obtain import BinaryOptions
from generator.binaries.store import BinaryStore
from generator.gitops.release import obtain_release_binary, release_for
from generator.metadata.errors import CatalogError, FindingsError
from generator.metadata.files import write_atomic
from generator.metadata.findings import Finding
from generator.metadata.layout import SETTINGS_FILE
from generator.metadata.loader import load_catalog
from generator.site.views import SiteOptions, catalog_index, filter_views

INDEX_FILE = "index.json"


@dataclass
class Mirrored:
    """What `write_mirror` did."""

    written: list[str] = field(default_factory=list)  # paths inside the mirror, new this run
    kept: list[str] = field(default_factory=list)  # already there with the recorded sha256
    problems: list[Finding] = field(default_factory=list)  # versions that could not be mirrored
    left_out: list[str] = field(default_factory=list)  # yanked versions that could not be had (never released)


def write_mirror(root: Path, store: BinaryStore, directory: Path, options: BinaryOptions | None = None) -> Mirrored:
    """Write (or bring up to date) the mirror in `directory`. FindingsError when a version failed,
    after every other one and the index were written."""
    options = options or BinaryOptions()
    catalog = load_catalog(root)
    settings = catalog.settings
    if settings is None:
        relevant = [f for f in catalog.findings if f.path == SETTINGS_FILE.as_posix()]
        raise FindingsError(f"{SETTINGS_FILE.as_posix()} does not load; its release_url lays the mirror out", relevant)
    result = Mirrored()
    directory.mkdir(parents=True, exist_ok=True)
    views = filter_views(catalog, {}, SiteOptions(mirror=""))
    for view in views:
        if not view.listed:
            continue  # unlisted filters are in no index: a mirror of the public catalog leaves them out
        entry = catalog.entries[view.meta.name]
        for index, version in enumerate(view.meta.versions):
            path = settings.release_url_for(view.meta.name, version.version, "")
            target = directory / PurePosixPath(path)
            if _holds(target, version.sha256):
                result.kept.append(path)
                continue
            if target.exists() or target.is_symlink():
                raise CatalogError(f"{target} holds other bytes than {view.meta.name} {version.version}; not replaced")
            try:
                data, _ = obtain_release_binary(
                    root, store, entry, index, release_for(settings, view.meta.name, version), options
                )
            except FindingsError as err:
                if version.yanked:  # a version yanked before its release has no asset anywhere
                    result.left_out.append(f"{view.meta.name} {version.version}")
                else:
                    result.problems += err.findings
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data, replace=False)
            write_atomic(target.with_name(f"{target.name}.sha256"), f"{version.sha256}  {target.name}\n")
            result.written.append(path)
    write_atomic(directory / INDEX_FILE, catalog_index(views).to_json())
    if result.problems:
        raise FindingsError(f"{len(result.problems)} problem(s): not every version is in {directory}", result.problems)
    return result


def _holds(path: Path, sha256: str) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
