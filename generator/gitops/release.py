"""`catalog release plan` and `catalog release prepare`: what a push makes releasable, and its files.

Each version of a filter that is not private and not yanked is published as a release of the
catalog's repository: tag `NAME-vVERSION`, one asset named by the last path segment of
`catalog.yaml`'s `release_url`. The publish workflow runs `plan` on every push to the default
branch (base: the commit before the push), then `prepare` for each planned version in a trusted
job, and creates the release from the prepared directory.

A version is planned when it is releasable at head and was not at base. So a private filter that
is made public has its versions released then, and a version that arrives already yanked is never
released. Base is read from git, leniently (only directory names, visibility and the versions'
numbers and yanked flags matter there, and an old commit need not satisfy today's model); head is
the work tree, or a ref read the same way as strictly as the loader reads the work tree. Commits
are read through `generator.gitops.gitrepo`.
"""

from __future__ import annotations

import hashlib
import shlex
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from generator.binaries.build import SDK_DIR, BuildError, build
from generator.binaries.fetch import FetchError, download
from generator.binaries.obtain import BinaryOptions, check_version_binary, obtain
from generator.binaries.recipes import ToolchainMissing
from generator.binaries.store import BinaryStore
from generator.gitops import gitrepo
from generator.metadata import rules
from generator.metadata.documents import validate_document
from generator.metadata.errors import CatalogError, FindingsError, UsageError
from generator.metadata.files import MIB, read_text, write_atomic
from generator.metadata.findings import Finding, Severity
from generator.metadata.layout import FILTERS_DIR, METADATA_FILE, SETTINGS_FILE
from generator.metadata.loader import MAX_METADATA_BYTES, FilterEntry, load_catalog
from generator.metadata.lookup import load_one, pick_version, require_loaded, split_spec
from generator.metadata.model import BuildRecipe, CatalogSettings, FilterMeta, Version, VersionSource
from generator.metadata.text import md_plain
from generator.metadata.yamlfile import YamlDocument, parse_yaml

# GitHub's `before` for a push that creates a branch: there is no base, every version is new.
ZERO_SHA = "0" * 40
MKDOCS_FILE = "mkdocs.yml"


def release_tag(name: str, version: str) -> str:
    """The git tag of a version's release, e.g. rate-limit-v1.2.0."""
    return f"{name}-v{version}"


@dataclass(frozen=True)
class Release:
    """One version to publish, and where its bytes come from."""

    name: str
    version: str
    tag: str
    asset: str  # the release asset's file name
    release_url: str  # where the asset will be downloaded from once published
    sha256: str
    size: int
    source: VersionSource | None

    @property
    def source_text(self) -> str:
        """Where the binary comes from, in a few words."""
        if self.source is None:
            return "no source (only a local store has it)"
        if self.source.build is not None:
            return f"build: {self.source.build.recipe} {self.source.build.path}"
        return f"url: {self.source.url}"

    @property
    def toolchain(self) -> str:
        """What preparing the release needs installed: the recipe's toolchain, or nothing (`url`)."""
        return self.source.build.recipe if self.source is not None and self.source.build is not None else "url"

    def to_json(self) -> dict[str, Any]:
        """One entry of the publish workflow's matrix."""
        return {
            "name": self.name,
            "version": self.version,
            "tag": self.tag,
            "asset": self.asset,
            "release_url": self.release_url,
            "sha256": self.sha256,
            "size": self.size,
            "source": self.source.model_dump(mode="json", exclude_none=True) if self.source else None,
            "toolchain": self.toolchain,
        }


def release_for(settings: CatalogSettings, name: str, version: Version) -> Release:
    """The release of `version` of filter `name`, named by the catalog's release URL template."""
    url = settings.release_url_for(name, version.version)
    return Release(
        name=name,
        version=version.version,
        tag=release_tag(name, version.version),
        asset=asset_name(url),
        release_url=url,
        sha256=version.sha256,
        size=version.size,
        source=version.source,
    )


def asset_name(url: str) -> str:
    """The file name a release URL downloads: its last path segment, percent-decoded."""
    segment = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if segment in ("", ".", "..") or not segment.isprintable() or not segment.isascii() or "/" in segment:
        raise CatalogError(
            f"{SETTINGS_FILE.as_posix()}: expected a release_url whose last path segment is a file name, got '{url}'"
        )
    return segment


# --- plan --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The versions to release, in name and version order, and what was left out and why."""

    releases: list[Release] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _BaseFilter:
    versions: frozenset[str]  # every version the base's filter.yaml lists
    releasable: frozenset[str]  # those that were released: filter not private, version not yanked


def no_base(ref: str) -> bool:
    """Whether `--base` means "nothing was released before": empty, or GitHub's all-zero SHA."""
    return ref.strip() in ("", ZERO_SHA)


def plan(root: Path, base: str, head: str | None = None) -> Plan:
    """The versions releasable at `head` (a ref, or None for the work tree) that were not at `base`."""
    before = {} if no_base(base) else _base_filters(_catalog_at(root, base, "--base"))
    if head is None:
        catalog = load_catalog(root)
        settings, settings_findings = catalog.settings, catalog.findings
        filters = {name: (entry.metadata_display, entry.meta) for name, entry in catalog.entries.items()}
        where = "in the work tree"
    else:
        tree = _catalog_at(root, head, "--head")
        settings, settings_findings = _settings(tree)
        filters = {name: (display, _meta(doc, found)) for name, (display, doc, found) in tree.filters.items()}
        where = f"at {head}"
    if settings is None:
        relevant = [f for f in settings_findings if f.path == SETTINGS_FILE.as_posix()]
        raise FindingsError(
            f"{SETTINGS_FILE.as_posix()} does not load {where}; its release_url names the assets", relevant
        )
    result = Plan()
    for name, (display, meta) in sorted(filters.items()):
        if meta is None:
            result.notes.append(
                f"{display} does not load {where}: its versions are not planned (run `catalog validate {name}`)"
            )
            continue
        if meta.name != name:  # `catalog validate` refuses it; the tag must not depend on which one is right
            result.notes.append(f"{display}: name '{meta.name}' is not its directory's; its versions are not planned")
            continue
        _plan_filter(result, settings, name, meta, before.get(name))
    return result


def _plan_filter(
    result: Plan, settings: CatalogSettings, name: str, meta: FilterMeta, base: _BaseFilter | None
) -> None:
    private: list[str] = []
    for version in meta.versions:
        if base is not None and version.version in base.releasable:
            continue
        new = base is None or version.version not in base.versions
        if meta.visibility == "private":
            if new:
                private.append(version.version)
        elif version.yanked:
            if new:
                result.notes.append(f"{name} {version.version} is yanked: not released")
        else:
            result.releases.append(release_for(settings, name, version))
    if private:
        result.notes.append(
            f"{name} is private: {', '.join(private)} not released "
            f"(releases are public; `catalog filter publish {name}` releases them on the next push)"
        )


def _base_filters(tree: _CatalogTree) -> dict[str, _BaseFilter]:
    """What each filter at base listed and released, read without the model."""
    result = {}
    for name, (_, doc, _) in tree.filters.items():
        data = doc.data if doc is not None else None
        if not isinstance(data, dict) or not isinstance(data.get("versions"), list):
            continue  # nothing readable: as if the filter were new
        entries = [v for v in data["versions"] if isinstance(v, dict) and isinstance(v.get("version"), str)]
        versions = frozenset(v["version"] for v in entries)
        public = data.get("visibility", "public") != "private"
        releasable = frozenset(v["version"] for v in entries if public and v.get("yanked", False) is not True)
        result[name] = _BaseFilter(versions, releasable)
    return result


def _meta(doc: YamlDocument | None, findings: list[Finding]) -> FilterMeta | None:
    """The model of a committed filter.yaml, as strict as the loader: None on any finding."""
    if doc is None or findings:
        return None
    meta, _ = validate_document(FilterMeta, doc)
    return meta


def _settings(tree: _CatalogTree) -> tuple[CatalogSettings | None, list[Finding]]:
    doc, findings = tree.settings
    if doc is None or findings:
        return None, findings
    return validate_document(CatalogSettings, doc)


# --- reading the catalog at a commit -------------------------------------------------------------


@dataclass(frozen=True)
class _CatalogTree:
    """The catalog's YAML files as committed: catalog.yaml and each filter directory's filter.yaml."""

    settings: tuple[YamlDocument | None, list[Finding]]
    # directory -> (display, filter.yaml parsed, findings of the parse)
    filters: Mapping[str, tuple[str, YamlDocument | None, list[Finding]]]


def _catalog_at(root: Path, ref: str, option: str) -> _CatalogTree:
    try:
        files = gitrepo.catalog_files_at(root, ref, MAX_METADATA_BYTES)
    except gitrepo.NotARepository as err:
        raise CatalogError(f"{err}; {option} needs one") from None
    except gitrepo.UnknownRef as err:
        hint = " (for a first push, pass --base '' to plan every version)" if option == "--base" else ""
        raise UsageError(f"{option}: {err}{hint}") from None
    except gitrepo.BadRef as err:
        raise UsageError(f"{option}: {err}") from None
    except gitrepo.GitError as err:
        raise CatalogError(str(err)) from None
    filters: dict[str, tuple[str, YamlDocument | None, list[Finding]]] = {}
    for name, file in files.filters.items():
        display = f"{FILTERS_DIR.as_posix()}/{name}/{METADATA_FILE}"
        filters[name] = (display, *_yaml_at(file, display))
    return _CatalogTree(_yaml_at(files.settings, SETTINGS_FILE.as_posix()), filters)


def _yaml_at(file: gitrepo.CommittedFile | None, path: str) -> tuple[YamlDocument | None, list[Finding]]:
    """A committed YAML file, held to the same limits as one read from the work tree."""
    if file is None:
        return None, [rules.MissingFile.at(path, "file is missing")]
    if not file.regular:
        return None, [rules.NotRegularFile.at(path, "expected a regular file, got a symlink or a directory")]
    if file.data is None:
        return None, [rules.FileTooLarge.at(path, f"expected at most {MAX_METADATA_BYTES} bytes, got {file.size}")]
    try:
        text = file.data.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, [rules.Encoding.at(path, f"expected UTF-8 text, got byte 0x{err.object[err.start]:02x}")]
    return parse_yaml(text, path)


# --- prepare -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A version's release files, written side by side in a directory, and where the binary came from."""

    release: Release
    directory: Path
    files: tuple[str, ...]  # the asset, its .sha256, the notes: names inside `directory`
    origin: str  # how the binary was obtained, in a few words
    target: str | None = None  # the commit to tag: whose sources built it, else HEAD (None outside git)

    @property
    def notes(self) -> Path:
        return self.directory / notes_file(self.release)

    def gh_command(self) -> str:
        """The command that publishes these files as the release."""
        asset = self.directory / self.release.asset
        parts = [
            "gh release create",
            self.release.tag,
            shlex.quote(str(asset)),
            shlex.quote(f"{asset}.sha256"),
            *(["--target", self.target] if self.target else []),
            "--title",
            shlex.quote(f"{self.release.name} {self.release.version}"),
            "--notes-file",
            shlex.quote(str(self.notes)),
        ]
        return " ".join(parts)


def notes_file(release: Release) -> str:
    """The release notes' file name: one per version, so releases can be prepared side by side."""
    return f"{release.tag}.notes.md"


def prepare(
    root: Path,
    store: BinaryStore,
    spec: str,
    directory: Path,
    options: BinaryOptions | None = None,
    site_url: str | None = None,
) -> Prepared:
    """Obtain NAME@VERSION's binary, check it against filter.yaml, and write the release files.

    The binary comes from the store, from the recipe (the newest version's sources here), from the
    version's own URL, then from the git commit whose sources built it (any older version), then
    from the published release asset; the recorded sha256 judges each. `directory` may exist and
    hold other versions' files; this version's three files appear all together or not at all.
    """
    options = options or BinaryOptions()
    name, wanted = split_spec(spec)
    if wanted is None:
        raise UsageError(f"NAME@VERSION: expected a version, got '{spec}' (e.g. {name}@1.0.0)")
    catalog, entry = load_one(root, name)
    require_loaded(entry)
    meta = entry.meta
    assert meta is not None
    index, version = pick_version(entry, wanted)
    if meta.visibility == "private":
        raise CatalogError(
            f"'{entry.name}' is private: releases are public; run `catalog filter publish {entry.name}` first"
        )
    if version.yanked:
        raise CatalogError(f"{entry.name} {version.version} is yanked: yanked versions are not released")
    if catalog.settings is None:
        relevant = [f for f in catalog.findings if f.path == SETTINGS_FILE.as_posix()]
        raise FindingsError(f"{SETTINGS_FILE.as_posix()} does not load; its release_url names the asset", relevant)
    release = release_for(catalog.settings, entry.name, version)
    names = (release.asset, f"{release.asset}.sha256", notes_file(release))
    _check_free(directory, names)
    data, origin, commit = obtain_release_binary(root, store, entry, index, release, options)
    page = f"{site_url.rstrip('/')}/filters/{entry.name}/" if site_url else None
    contents = (
        data,
        f"{hashlib.sha256(data).hexdigest()}  {release.asset}\n".encode(),
        release_notes(meta, version, release, page).encode("utf-8"),
    )
    _write_together(directory, dict(zip(names, contents, strict=True)))
    return Prepared(release, directory, names, origin, commit or _head(root))


def _head(root: Path) -> str | None:
    try:
        return gitrepo.resolve_commit(root, "HEAD")
    except gitrepo.GitError:
        return None


def obtain_release_binary(
    root: Path, store: BinaryStore, entry: FilterEntry, index: int, release: Release, options: BinaryOptions
) -> tuple[bytes, str, str | None]:
    """Version `index` of a loaded filter, checked against filter.yaml, where it came from, and
    the commit whose sources built it when that is how it was obtained.

    The store, the recipe (the newest version's sources here) or the version's URL first; when
    those give nothing, or not the recorded bytes (the sources here have moved on), the git commit
    whose sources built it, then the published release asset. FindingsError when none will do.
    """
    assert entry.meta is not None
    version = entry.meta.versions[index]
    newest = index == len(entry.meta.versions) - 1
    data, problems = obtain(entry, index, version, store, options, is_newest=newest)
    origin, commit = "the store, the recipe or the version's URL", None
    if data is None or hashlib.sha256(data).hexdigest() != version.sha256:
        found, where, more, commit = _obtain_elsewhere(root, entry.name, version, release, options)
        if found is not None:
            data, origin = found, where
        else:
            # The bytes obtained here (other ones), then why neither the history nor the asset served.
            if data is not None:
                mismatch = [
                    f for f in check_version_binary(entry, index, version, data) if f.severity is Severity.ERROR
                ]
                raise FindingsError(
                    f"refused the binary of {entry.name} {version.version}: it is not what filter.yaml records, "
                    "and neither a commit's sources nor the published asset gives it",
                    mismatch + more,
                )
            problems += more
    if data is None:
        raise FindingsError(f"cannot obtain the binary of {entry.name} {version.version}", problems)
    errors = [f for f in check_version_binary(entry, index, version, data) if f.severity is Severity.ERROR]
    if errors:
        raise FindingsError(
            f"refused the binary of {entry.name} {version.version}: it is not what filter.yaml records", errors
        )
    store.put(data)
    return data, origin, commit


def _obtain_elsewhere(
    root: Path, name: str, version: Version, release: Release, options: BinaryOptions
) -> tuple[bytes | None, str, list[Finding], str | None]:
    """An older version's binary: built from the commit whose sources made it, else the published asset."""
    display = f"{FILTERS_DIR.as_posix()}/{name}/{METADATA_FILE}"
    problems: list[Finding] = []
    if version.source is not None and version.source.build is not None:
        try:
            built, why = _build_from_history(root, name, version)
        except gitrepo.GitError as err:
            built, why = None, str(err)
        except ToolchainMissing as err:  # no commit will build here: say what to install
            built, why = None, f"cannot build from the history: {err}"
        if built is not None:
            return built[0], f"built from commit {built[1][:12]}", [], built[1]
        problems.append(rules.BuildFailed.at(display, f"{version.version}: {why}"))
    if options.offline:
        return None, "", problems, None
    try:
        data = download(release.release_url, options.fetch_policy, expected_sha256=version.sha256)
    except FetchError as err:
        problems.append(rules.DownloadFailed.at(display, f"{version.version}: the published asset: {err}"))
        return None, "", problems, None
    return data, f"the published asset {release.release_url}", [], None


# How many commits back a version's sources are looked for, newest first (each is a build).
MAX_BUILD_ATTEMPTS = 5
MAX_SOURCE_BYTES = 1 * MIB  # a file of sources, as a filter's directory may hold it


def _build_from_history(root: Path, name: str, version: Version) -> tuple[tuple[bytes, str] | None, str]:
    """The bytes of `version` built at the newest commit whose filter.yaml lists it as the newest
    version with this sha256 (the sources then were its sources), and that commit; else None and
    why not. ToolchainMissing when the recipe's toolchain is not here (no commit would build)."""
    directory = f"{FILTERS_DIR.as_posix()}/{name}"
    attempts, why = 0, "no commit lists it as its newest version with this sha256"
    for commit in gitrepo.commits_touching(root, directory):
        recipe = _newest_recipe(
            gitrepo.file_at(root, commit, f"{directory}/{METADATA_FILE}", MAX_METADATA_BYTES), version
        )
        if recipe is None:
            continue
        attempts += 1
        with tempfile.TemporaryDirectory(prefix=f"catalog-release-{name}-") as tmp:
            gitrepo.export_paths(root, commit, [directory, SDK_DIR.as_posix()], Path(tmp), max_bytes=MAX_SOURCE_BYTES)
            try:
                data = build(Path(tmp) / directory, directory, recipe)
            except ToolchainMissing:
                raise
            except BuildError as err:
                data, why = None, f"the build at commit {commit[:12]} failed: {err}"
            else:
                why = f"no commit's sources build the recorded sha256 (the last tried: {commit[:12]})"
        if data is not None and hashlib.sha256(data).hexdigest() == version.sha256:
            return (data, commit), ""
        if attempts >= MAX_BUILD_ATTEMPTS:
            break
    return None, why


def _newest_recipe(committed: gitrepo.CommittedFile | None, version: Version) -> BuildRecipe | None:
    """The build recipe of `version`, if the committed filter.yaml lists it last with its sha256."""
    if committed is None or committed.data is None:
        return None
    document, findings = _yaml_at(committed, METADATA_FILE)
    if document is None or findings:
        return None
    meta, findings = validate_document(FilterMeta, document)
    if meta is None or findings:
        return None
    newest = meta.versions[-1]
    if newest.version != version.version or newest.sha256 != version.sha256:
        return None
    return newest.source.build if newest.source is not None else None


def _check_free(directory: Path, names: tuple[str, ...]) -> None:
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise CatalogError(f"-o: expected a directory, got {directory}, which is not one")
    taken = [name for name in names if (directory / name).exists() or (directory / name).is_symlink()]
    if taken:
        raise CatalogError(f"-o: {directory} has {', '.join(taken)} already; this version was prepared there before")


def _write_together(directory: Path, files: dict[str, bytes]) -> None:
    """Write every file into `directory` (created if missing), all or none: none is ever replaced."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for name, content in files.items():
            write_atomic(directory / name, content, replace=False)
            written.append(directory / name)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def release_notes(meta: FilterMeta, version: Version, release: Release, page: str | None) -> str:
    """The release's description (Markdown): what the filter is and the facts of this binary."""
    lines = [
        f"# {md_plain(meta.title)} {version.version}",
        "",
        md_plain(meta.summary),
        "",
        f"- filter: `{meta.name}`",
        f"- version: {version.version}",
        f"- sha256: `{version.sha256}`",
        f"- size: {version.size} bytes",
        f"- proxy-wasm ABI: {version.abi}",
        f"- kind: {version.kind}",
        f"- capabilities: {', '.join(version.capabilities) or 'none'}",
        f"- license: {md_plain(meta.license)}",
    ]
    if page is not None:
        lines.append(f"- catalog page: <{page}>")
    lines += ["", f"Check a download with `sha256sum -c {release.asset}.sha256`.", ""]
    return "\n".join(lines)


class _AnyTagLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, whose tags (`!ENV`, `!!python/name:`) mean nothing here: they become null."""


_AnyTagLoader.add_multi_constructor("", lambda loader, suffix, node: None)


def configured_site_url(root: Path) -> str | None:
    """The site's address from the repository's mkdocs.yml (`site_url`), if it is an https URL."""
    text, _ = read_text(root / MKDOCS_FILE, MKDOCS_FILE, MAX_METADATA_BYTES)
    if text is None:
        return None
    try:
        data = yaml.load(text, Loader=_AnyTagLoader)  # noqa: S506 (a safe loader: unknown tags become null)
    except yaml.YAMLError:
        return None
    url = data.get("site_url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url.startswith("https://") else None
