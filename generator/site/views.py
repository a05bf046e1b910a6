"""What the site shows of each filter, computed once from the loaded catalog.

A `FilterView` holds everything a template needs, already decided: versions newest first with
their download links, the configuration users paste, the schema as rows, the cases and their
results, dates from git. Templates only lay it out. Nothing here knows about mkdocs.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import semver

from generator.envoy import snippets
from generator.gitops.gitrepo import FilterHistory
from generator.metadata import text
from generator.metadata.benchfile import HEADLINE, METRIC_TITLES, METRICS, BenchFile, BenchResult, Overhead, Spread
from generator.metadata.cases import services, smoke_case
from generator.metadata.icon import load_icon
from generator.metadata.layout import METADATA_FILE
from generator.metadata.loader import Catalog, FilterEntry
from generator.metadata.model import CatalogSettings, FilterMeta, Version
from generator.metadata.proofs import VersionProof
from generator.site import markup
from generator.site.index import CatalogIndex, IndexFilter, IndexProof, IndexVersion
from generator.site.schematable import SchemaRow, schema_rows

CAPABILITY_TEXT = {
    "http_calls": "makes HTTP calls to other clusters (review where they go)",
    "grpc": "makes gRPC calls or streams to other clusters",
    "shared_data": "keeps data shared by all workers (e.g. counters)",
    "shared_queues": "uses queues shared between filters and workers",
    "metrics": "defines and updates Envoy metrics",
    "timers": "runs on a timer",
    "foreign_functions": "calls Envoy's foreign functions",
    "properties_read": "reads request, connection or node properties",
    "properties_write": "sets properties that other filters can read",
    "local_response": "answers requests itself (e.g. 401, 403, 429)",
    "wasi": "imports WASI functions (e.g. clock, random numbers)",
}
KIND_LABELS = {"http": "HTTP", "network": "network", "both": "HTTP and network", "none": "no traffic callbacks"}


@dataclass(frozen=True)
class SiteOptions:
    """Choices of the site build (from mkdocs.yml's plugin settings)."""

    repo_url: str | None = None  # the catalog's repository, for "edit" and README links
    branch: str = "main"
    release_url: str | None = None  # overrides catalog.yaml's template (a local preview)
    mirror: str | None = None  # a mirror's address: every download link points at its copy


@dataclass(frozen=True)
class VersionView:
    version: Version
    download_url: str
    published: str | None
    proof: VersionProof | None

    @property
    def size_text(self) -> str:
        return size_text(self.version.size)


@dataclass(frozen=True)
class CaseView:
    name: str
    description: str | None
    requests: int
    loads: bool
    passed: bool | None  # None: not run on the latest version


@dataclass(frozen=True)
class ExampleView:
    title: str
    description: text.Safe | None
    value_yaml: str


@dataclass(frozen=True)
class MetricRow:
    """One metric of a benchmark: without and with the filter, as text and as bar widths (percent)."""

    title: str
    without: str
    with_filter: str
    overhead: str  # "+12.3 %", "-4.0 %" or "within noise"
    significant: bool
    without_width: float
    with_width: float


@dataclass(frozen=True)
class BenchView:
    """One version under one profile: where it was measured and every metric."""

    version: str
    profile: str
    result: BenchResult
    rows: list[MetricRow]

    @property
    def headline(self) -> MetricRow | None:
        return next((row for row in self.rows if row.title == METRIC_TITLES[HEADLINE]), None)


@dataclass(frozen=True)
class TrendPoint:
    """The headline metric of one version under one profile, for the version-over-version chart."""

    version: str
    value: str
    overhead: str
    width: float


@dataclass(frozen=True)
class FilterView:
    meta: FilterMeta
    readme: text.Safe
    versions: list[VersionView]  # newest first
    latest: VersionView
    envoy_config: str
    download_commands: str
    istio_config: str
    schema: list[SchemaRow]
    examples: list[ExampleView]
    cases: list[CaseView]
    first_published: str | None
    updated: str | None
    edit_path: str
    icon: bytes | None  # a checked PNG, or None for the initials placeholder
    benches: list[BenchView]  # newest version first, profiles by name
    trends: dict[str, list[TrendPoint]]  # profile -> versions oldest first (only with two or more)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def url(self) -> str:
        """The page's URL relative to the site's root."""
        return f"filters/{self.meta.name}/"

    @property
    def page_path(self) -> str:
        return f"filters/{self.meta.name}/index.md"

    @property
    def listed(self) -> bool:
        return self.meta.visibility == "public"

    @property
    def proof(self) -> VersionProof | None:
        return self.latest.proof

    @property
    def proven(self) -> str:
        """'passes', 'fails', 'stale' (the cases changed since the run) or '' (never run)."""
        proof = self.proof
        if proof is None:
            return ""
        if any(not case.passed for case in proof.cases):
            return "fails"
        if any(case.passed is None for case in self.cases):
            return "stale"
        return "passes"

    @property
    def badge(self) -> str:
        proof = self.proof
        if proof is None:
            return "not yet proven"
        if self.proven == "stale":
            return f"cases changed since Envoy {proof.envoy} run"
        return f"{self.proven} in Envoy {proof.envoy}"

    @property
    def cpu_overhead(self) -> Overhead | None:
        """The latest version's CPU-per-request overhead under the default profile (else the first)."""
        mine = [b for b in self.benches if b.version == self.latest.version.version]
        chosen = next((b for b in mine if b.profile == DEFAULT_PROFILE), mine[0] if mine else None)
        return chosen.result.overhead.cpu_us_per_request if chosen else None

    @property
    def cpu_overhead_text(self) -> str:
        return overhead_text(self.cpu_overhead)

    @property
    def all_yanked(self) -> bool:
        return all(v.version.yanked for v in self.versions)

    @property
    def version_sort_key(self) -> str:
        """The latest version as text that sorts in semantic-version order (pre-releases first)."""
        version = semver.Version.parse(self.latest.version.version)
        release = f"{version.major:09d}.{version.minor:09d}.{version.patch:09d}"
        return release + (f"-{version.prerelease}" if version.prerelease else "~")

    @property
    def initials(self) -> str:
        words = [w for w in self.meta.title.replace("-", " ").split() if w[:1].isalnum()]
        return "".join(w[0] for w in words[:2]).upper() or self.meta.name[:2].upper()

    @property
    def hue(self) -> int:
        return int(hashlib.sha256(self.meta.name.encode()).hexdigest()[:4], 16) % 360

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.latest.version.kind]


DEFAULT_PROFILE = "default"


def overhead_text(overhead: Overhead | None) -> str:
    if overhead is None:
        return ""
    if not overhead.significant:
        return "within noise"
    return f"{(overhead.ratio - 1) * 100:+.1f} %"


def number_text(value: float) -> str:
    """A measured figure at a readable precision: 31,250 / 512 / 36.4 / 0.25."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _figure(spread: Spread | None) -> str:
    if spread is None:
        return "-"
    return f"{number_text(spread.median)} ({number_text(spread.min)}-{number_text(spread.max)})"


def _bench_views(bench: BenchFile | None) -> list[BenchView]:
    if bench is None:
        return []
    views = []
    for version in sorted(bench.versions, key=semver.Version.parse, reverse=True):
        for profile, result in sorted(bench.versions[version].items()):
            rows = []
            for metric in METRICS:
                without = getattr(result.without.metrics, metric)
                with_filter = getattr(result.with_filter.metrics, metric)
                if without is None and with_filter is None:
                    continue
                top = max(s.max for s in (without, with_filter) if s is not None) or 1.0
                overhead = getattr(result.overhead, metric)
                rows.append(
                    MetricRow(
                        title=METRIC_TITLES[metric],
                        without=_figure(without),
                        with_filter=_figure(with_filter),
                        overhead=overhead_text(overhead),
                        significant=bool(overhead and overhead.significant),
                        without_width=round(100 * without.median / top, 1) if without else 0.0,
                        with_width=round(100 * with_filter.median / top, 1) if with_filter else 0.0,
                    )
                )
            views.append(BenchView(version=version, profile=profile, result=result, rows=rows))
    return views


def _trends(benches: list[BenchView]) -> dict[str, list[TrendPoint]]:
    by_profile: dict[str, list[BenchView]] = {}
    for bench in reversed(benches):  # oldest version first
        by_profile.setdefault(bench.profile, []).append(bench)
    trends = {}
    for profile, series in sorted(by_profile.items()):
        values = [getattr(b.result.with_filter.metrics, HEADLINE) for b in series]
        if len(series) < 2 or any(v is None for v in values):
            continue
        top = max(v.median for v in values if v is not None) or 1.0
        trends[profile] = [
            TrendPoint(
                version=b.version,
                value=number_text(v.median),
                overhead=overhead_text(getattr(b.result.overhead, HEADLINE)),
                width=round(100 * v.median / top, 1),
            )
            for b, v in zip(series, values, strict=True)
            if v is not None
        ]
    return trends


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def _day(moment: datetime | None) -> str | None:
    """The UTC day of a moment (git gives committers' own time zones)."""
    return moment.astimezone(UTC).date().isoformat() if moment is not None else None


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def check_release_override(template: str) -> str | None:
    """Why a release URL override is refused, or None: https, or http to this machine only."""
    if "{name}" not in template or "{version}" not in template:
        return f"expected a URL template with {{name}} and {{version}}, got '{template}'"
    return check_download_address(template.replace("{name}", "n").replace("{version}", "1.0.0"))


def check_download_address(url: str) -> str | None:
    """Why a download address for the site's links is refused, or None: https, or http to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    return f"expected https (or http on 127.0.0.1 / localhost), got '{url}'"


def filter_views(catalog: Catalog, history: Mapping[str, FilterHistory], options: SiteOptions) -> list[FilterView]:
    """A view of every filter that gets a page (public and unlisted), by name. Private ones never do."""
    settings = catalog.settings
    if options.release_url is not None:
        problem = check_release_override(options.release_url)
        if problem:
            raise ValueError(f"release_url: {problem}")
        # Checked above; the model itself accepts https only, so a loopback preview bypasses it.
        settings = CatalogSettings.model_construct(release_url=options.release_url)
    if options.mirror and (problem := check_download_address(options.mirror)):  # "" lays out a mirror's own index
        raise ValueError(f"mirror: {problem}")
    if settings is None:
        raise ValueError("catalog/catalog.yaml did not load; run `catalog validate` to see why")
    views = []
    for entry in sorted(catalog.loaded(), key=lambda e: e.name):
        assert entry.meta is not None
        if entry.meta.visibility == "private":
            continue
        views.append(filter_view(entry, settings, history.get(entry.name), options))
    return views


def filter_view(
    entry: FilterEntry, settings: CatalogSettings, history: FilterHistory | None, options: SiteOptions
) -> FilterView:
    meta = entry.meta
    assert meta is not None
    version_dates = history.versions if history is not None else {}
    versions = [
        VersionView(
            version=v,
            download_url=snippets.release_url(settings, meta.name, v, options.mirror),
            published=_day(version_dates.get(v.version)),
            proof=entry.proofs.versions.get(v.version),
        )
        for v in reversed(meta.versions)
    ]
    latest = next(v for v in versions if v.version is meta.latest)
    benches = _bench_views(entry.bench)
    example = meta.config.examples[0].value
    base_url = None
    if options.repo_url:
        base_url = f"{options.repo_url.rstrip('/')}/blob/{options.branch}/{entry.display}/"
    return FilterView(
        meta=meta,
        readme=markup.readme_html(entry.readme or "", base_url=base_url, drop_title=True),
        versions=versions,
        latest=latest,
        envoy_config=snippets.config_snippet(meta, latest.version, latest.download_url, example, _envoy_options(entry)),
        download_commands=_download_commands(meta.name, latest),
        istio_config=_istio_config(meta, latest, example),
        schema=schema_rows(meta.config.schema_),
        examples=[
            ExampleView(
                title=e.title,
                description=markup.readme_html(e.description, base_url=base_url) if e.description else None,
                value_yaml=snippets.dump(e.value),
            )
            for e in meta.config.examples
        ],
        cases=_cases(entry, latest.proof),
        first_published=_day(history.first_commit) if history else None,
        updated=_day(history.last_commit) if history else None,
        edit_path=f"{entry.display}/{METADATA_FILE}",
        icon=load_icon(entry.directory, entry.display, meta.icon)[0] if meta.icon else None,
        benches=benches,
        trends=_trends(benches),
    )


def _envoy_options(entry: FilterEntry) -> snippets.SnippetOptions:
    return snippets.SnippetOptions(format="envoy", services=services(entry.cases))


def _istio_config(meta: FilterMeta, latest: VersionView, example: Any) -> str:
    try:
        return snippets.config_snippet(
            meta, latest.version, latest.download_url, example, snippets.SnippetOptions(format="istio")
        )
    except snippets.SnippetError as err:
        return f"# Istio cannot run this filter as a WasmPlugin: {err}\n"


def _download_commands(name: str, latest: VersionView) -> str:
    path = shlex.quote(snippets.default_wasm_path(name, latest.version.version))
    url = shlex.quote(latest.download_url)
    check = shlex.quote(f"{latest.version.sha256}  {snippets.default_wasm_path(name, latest.version.version)}")
    return f"curl -fL -o {path} {url}\necho {check} | sha256sum -c -\n"


def _cases(entry: FilterEntry, proof: VersionProof | None) -> list[CaseView]:
    assert entry.meta is not None
    results = {case.name: case.passed for case in proof.cases} if proof else {}
    smoke = smoke_case(entry.cases, entry.meta.config.examples[0].value)
    cases = [smoke, *(entry.cases.cases if entry.cases else [])]
    return [
        CaseView(
            name=case.name,
            description=case.description,
            requests=sum(r.repeat for r in case.requests),
            loads=case.loads,
            passed=results.get(case.name),
        )
        for case in cases
    ]


def catalog_index(views: list[FilterView]) -> CatalogIndex:
    """The public part of the catalog as `index.json`."""
    return CatalogIndex(filters=[_index_filter(view) for view in views if view.listed])


def _index_filter(view: FilterView) -> IndexFilter:
    meta = view.meta
    proof = view.proof
    return IndexFilter(
        name=meta.name,
        title=meta.title,
        summary=meta.summary,
        page=view.url,
        owners=list(meta.owners),
        license=meta.license,
        language=meta.language,
        sdk=meta.sdk,
        categories=list(meta.categories),
        keywords=list(meta.keywords),
        homepage=meta.homepage,
        repository=meta.repository,
        latest=None if view.all_yanked else view.latest.version.version,
        first_published=view.first_published,
        updated=view.updated,
        proof=IndexProof(
            envoy=proof.envoy,
            runtime=proof.runtime,
            date=proof.date,
            passed=view.proven == "passes",
            cases=len(proof.cases),
        )
        if proof
        else None,
        versions=[
            IndexVersion(
                version=v.version.version,
                sha256=v.version.sha256,
                size=v.version.size,
                abi=v.version.abi,
                kind=v.version.kind,
                capabilities=list(v.version.capabilities),
                download_url=v.download_url,
                published=v.published,
                yanked=v.version.yanked,
                yank_reason=v.version.yank_reason,
            )
            for v in view.versions
        ],
    )
