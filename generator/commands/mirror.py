"""`catalog release mirror DIR`: every public version's asset, its .sha256 and an index.json, for any static host.

Organisations keep what their proxies load on their own hosts. The mirror holds each version at the
path the release URL template gives below its fixed part (`NAME-vVERSION/NAME-VERSION.wasm` with the
default one), beside its `.sha256`, and an `index.json` in the site's shape whose `download_url`s
are relative to it. Serve DIR anywhere; then `catalog filter download NAME --mirror URL` (or
`CATALOG_MIRROR=URL` for the site's links) fetch from it while the sha256 in the user's own
catalog judges every byte; `--index URL/index.json` needs no catalog, and trusts the sha256s of the
index it is given. A file already in DIR with the recorded sha256 is kept (its `.sha256` rewritten
if wrong); one with other bytes is reported, never replaced. The index lists only what DIR holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from generator.binaries.obtain import BinaryOptions
from generator.binaries.store import BinaryStore
from generator.gitops.gitrepo import catalog_history
from generator.gitops.release import obtain_release_binary, release_for
from generator.metadata import rules
from generator.metadata.errors import CatalogError, FindingsError
from generator.metadata.files import write_atomic
from generator.metadata.findings import Finding
from generator.metadata.layout import SETTINGS_FILE
from generator.metadata.loader import load_catalog
from generator.site.views import FilterView, SiteOptions, catalog_index, filter_views

INDEX_FILE = "index.json"


@dataclass
class Mirrored:
    """What `write_mirror` did."""

    written: list[str] = field(default_factory=list)  # paths inside the mirror, new this run
    kept: list[str] = field(default_factory=list)  # already there with the recorded sha256
    problems: list[Finding] = field(default_factory=list)  # versions that could not be mirrored
    left_out: list[str] = field(default_factory=list)  # yanked versions that could not be had (never released)


def write_mirror(root: Path, store: BinaryStore, directory: Path, options: BinaryOptions | None = None) -> Mirrored:
    """Write (or bring up to date) the mirror in `directory`. FindingsError when a version could
    not be mirrored, after every other one and the index were written; the index lists only the
    versions the mirror holds."""
    options = options or BinaryOptions()
    catalog = load_catalog(root)
    settings = catalog.settings
    if settings is None:
        relevant = [f for f in catalog.findings if f.path == SETTINGS_FILE.as_posix()]
        raise FindingsError(f"{SETTINGS_FILE.as_posix()} does not load; its release_url lays the mirror out", relevant)
    result = Mirrored()
    directory.mkdir(parents=True, exist_ok=True)
    top = directory.resolve()
    views = [view for view in filter_views(catalog, catalog_history(root), SiteOptions(mirror="")) if view.listed]
    held: dict[str, set[str]] = {}  # the versions in the mirror, by filter
    for view in views:  # unlisted filters are in no index: a mirror of the public catalog leaves them out
        entry = catalog.entries[view.meta.name]
        held[view.meta.name] = set()
        for index, version in enumerate(view.meta.versions):
            path = settings.release_url_for(view.meta.name, version.version, "")
            target = directory / PurePosixPath(path)
            if not target.resolve().is_relative_to(top):  # the template is checked; this is the wall
                raise CatalogError(f"{path}: outside {directory}; check release_url in {SETTINGS_FILE.as_posix()}")
            if _holds(target, version.sha256):
                _write_checksum(target, version.sha256)
                result.kept.append(path)
            elif target.exists() or target.is_symlink():
                result.problems.append(
                    rules.Sha256Mismatch.at(
                        str(target),
                        f"holds other bytes than {view.meta.name} {version.version} (sha256 {version.sha256}); "
                        "not replaced: remove it to mirror the recorded bytes",
                    )
                )
                continue
            else:
                try:
                    data, _, _ = obtain_release_binary(
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
                _write_checksum(target, version.sha256)
                result.written.append(path)
            held[view.meta.name].add(version.version)
    index_views = [_holding(view, held[view.meta.name]) for view in views if held[view.meta.name]]
    write_atomic(directory / INDEX_FILE, catalog_index(index_views).to_json())
    if result.problems:
        raise FindingsError(f"{len(result.problems)} problem(s): not every version is in {directory}", result.problems)
    return result


def _holding(view: FilterView, versions: set[str]) -> FilterView:
    """The view as the mirror holds it: those versions, and its latest the newest of them not yanked."""
    kept = [v for v in view.versions if v.version.version in versions]
    latest = next((v for v in kept if not v.version.yanked), kept[0])
    return replace(view, versions=kept, latest=latest)


def _write_checksum(target: Path, sha256: str) -> None:
    """`NAME.sha256` beside the file, for `sha256sum -c`: written, or corrected if it says otherwise."""
    line = f"{sha256}  {target.name}\n"
    checksum = target.with_name(f"{target.name}.sha256")
    if checksum.is_symlink() or not checksum.is_file() or checksum.read_text(errors="replace") != line:
        write_atomic(checksum, line)


def _holds(path: Path, sha256: str) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
