"""`catalog filter bench NAME[@VERSION]` and `catalog bench compare A B`: what a filter costs in Envoy.

`bench` measures Envoy without the filter and with it, in alternating rounds under a performance
profile (`catalog/profiles/NAME.yaml`); `compare` measures the no-filter baseline and two filters
(or two versions of one) the same way in one run. The rounds are `generator.perf.rounds`'; this
module picks the filters, versions, binaries, configuration and request, turns the rounds into a
report (medians, ranges, ratios and their significance), and records a bench in the filter's
`bench.yaml` when asked and every round was valid.

The request: the profile's, unless `request.from_cases` finds in the filter's `cases.yaml` a request
that the benchmark's configuration answers with a 2xx (an API key, a tenant header); then that
request's method, path and headers, with the profile's headers added. In a comparison each filter
gets its own request, and the baseline gets A's.
"""

from __future__ import annotations

import contextlib
import datetime
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from generator.binaries.obtain import BinaryOptions, check_version_binary, obtain
from generator.binaries.store import BinaryStore
from generator.commands.config import ConfigRequest, checked_plugin_config
from generator.envoy.locate import EnvoyMissing, find_envoy
from generator.envoy.process import EnvoyStartError
from generator.metadata import benchfile
from generator.metadata.benchfile import (
    METRIC_TITLES,
    METRICS,
    PROFILE_NAME,
    BenchResult,
    Machine,
    Overhead,
    Overheads,
    VariantResult,
)
from generator.metadata.cases import CaseRequest
from generator.metadata.errors import CatalogError, FindingsError, UsageError
from generator.metadata.findings import Severity
from generator.metadata.loader import FilterEntry
from generator.metadata.lookup import load_one, pick_version, require_loaded, split_spec
from generator.perf import loadgen, results, stats
from generator.perf.loadgen import LoadGenError, Request
from generator.perf.profile import DEFAULT_PROFILE, Profile, describe, load_profile, profile_names
from generator.perf.rounds import Progress, RequestRefused, RoundResult, RunPlan, Variant, run_rounds
from generator.perf.tls import TlsError
from generator.proof import in_envoy

DETECTABLE = 0.05  # the difference the report says how many rounds it takes to detect


@dataclass(frozen=True)
class BenchOptions:
    """What the command line asks for, beyond the filters."""

    profile: str = DEFAULT_PROFILE
    rounds: int | None = None  # overrides the profile's
    duration: int | None = None  # overrides the profile's (seconds of measured load per round)
    config: Any = None  # overrides the profile's and the first example (bench only)
    has_config: bool = False
    offline: bool = False


@dataclass(frozen=True)
class Subject:
    """One filter version ready to run: its Envoy entry, configuration and request."""

    name: str
    version: str
    config: Any
    request: Request
    filter_entry: dict[str, Any]
    entry: FilterEntry


@dataclass
class VariantReport:
    """One variant's rounds and their summary."""

    label: str
    subject: Subject | None  # None: Envoy without a filter
    request: Request
    rounds: list[RoundResult]
    summary: VariantResult


@dataclass(frozen=True)
class ComparisonReport:
    """`other` against `reference`, metric by metric."""

    title: str  # the column's heading: "with / without", "B / A"
    reference: str
    other: str
    overhead: Overheads


@dataclass
class BenchReport:
    """A finished run: how it was measured, each variant, and the comparisons."""

    profile_name: str
    profile: Profile
    envoy: str
    generator: str
    machine: Machine
    date: str
    variants: list[VariantReport]
    comparisons: list[ComparisonReport]
    recorded: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Some variant has no valid round, so there is nothing to compare."""
        return any(not variant.summary.valid_rounds for variant in self.variants)

    @property
    def noise(self) -> float | None:
        """The relative standard deviation of one round's CPU per request, pooled over the variants."""
        groups = [results.metric_values(v.rounds, benchfile.HEADLINE) for v in self.variants]
        return stats.pooled_relative_sd(groups)

    def rounds_needed(self, difference: float = DETECTABLE) -> int | None:
        """Rounds of each variant that would detect `difference` in CPU per request at this noise."""
        noise = self.noise
        return stats.rounds_needed(noise, difference) if noise is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile_name,
            "settings": describe(self.profile),
            "envoy": self.envoy,
            "generator": self.generator,
            "machine": self.machine.model_dump(mode="json"),
            "date": self.date,
            "variants": [
                {
                    "label": v.label,
                    "filter": v.subject.name if v.subject else None,
                    "version": v.subject.version if v.subject else None,
                    "config": v.subject.config if v.subject else None,
                    "request": _recorded_request(v.request).model_dump(mode="json"),
                    **v.summary.model_dump(mode="json", exclude_none=True),
                    "rounds": [_round_json(r) for r in v.rounds],
                }
                for v in self.variants
            ],
            "comparisons": [
                {
                    "title": c.title,
                    "reference": c.reference,
                    "other": c.other,
                    "overhead": c.overhead.model_dump(mode="json", exclude_none=True),
                }
                for c in self.comparisons
            ],
            "noise": {benchfile.HEADLINE: self.noise},
            "rounds_needed_for_5_percent": self.rounds_needed(),
            "recorded": self.recorded,
            "notes": self.notes,
        }


def _round_json(r: RoundResult) -> dict[str, Any]:
    return {
        "round": r.round,
        "valid": r.valid,
        "problem": r.problem,
        "requests": r.requests,
        **{
            metric: results.significant_digits(values[0]) if (values := results.metric_values([r], metric)) else None
            for metric in METRICS
        },
    }


def bench_filter(
    root: Path, store: BinaryStore, spec: str, options: BenchOptions, *, record: bool, progress: Progress | None
) -> BenchReport:
    """`catalog filter bench`: Envoy without and with one filter version; recorded when asked."""
    profile = _profile(root, options)
    subject = _subject(root, store, spec, profile, options, allow_config=True)
    variants = [
        Variant("without filter", None, subject.request),
        Variant(f"with {subject.name} {subject.version}", subject.filter_entry, subject.request),
    ]
    report = _run(options.profile, profile, variants, [None, subject], progress)
    without, with_filter = report.variants
    report.comparisons = [
        ComparisonReport(
            "with / without", without.label, with_filter.label, results.overheads(without.rounds, with_filter.rounds)
        )
    ]
    if record:
        invalid = sum(v.summary.invalid_rounds for v in report.variants)
        if invalid:
            report.notes.append(f"not recorded: {invalid} round(s) were invalid; every round must be valid to record")
        else:
            _record(subject, options.profile, report)
            report.recorded = True
    return report


def compare(
    root: Path, store: BinaryStore, spec_a: str, spec_b: str, options: BenchOptions, *, progress: Progress | None
) -> BenchReport:
    """`catalog bench compare`: the no-filter baseline, A and B, in one alternating run."""
    profile = _profile(root, options)
    a = _subject(root, store, spec_a, profile, options, allow_config=False)
    b = _subject(root, store, spec_b, profile, options, allow_config=False)
    # Each filter sends its own request; the baseline sends A's.
    variants = [
        Variant("no filter", None, a.request),
        Variant(f"A: {a.name} {a.version}", a.filter_entry, a.request),
        Variant(f"B: {b.name} {b.version}", b.filter_entry, b.request),
    ]
    report = _run(options.profile, profile, variants, [None, a, b], progress)
    base, first, second = report.variants
    report.comparisons = [
        ComparisonReport("A / no filter", base.label, first.label, results.overheads(base.rounds, first.rounds)),
        ComparisonReport("B / no filter", base.label, second.label, results.overheads(base.rounds, second.rounds)),
        ComparisonReport("B / A", first.label, second.label, results.overheads(first.rounds, second.rounds)),
    ]
    if a.request != b.request:
        report.notes.append("A and B send different requests (each its own from cases.yaml); the baseline sends A's")
    return report


def table(report: BenchReport) -> tuple[list[str], list[list[str]]]:
    """The report as a table: a row per metric; a column per variant (median and range over the
    valid rounds), then a column per comparison (the change, or "within noise", and its p-value)."""
    header = ["METRIC", *(v.label for v in report.variants), *(c.title for c in report.comparisons)]
    rows = []
    for metric in METRICS:
        row = [METRIC_TITLES[metric]]
        for variant in report.variants:
            spread = getattr(variant.summary.metrics, metric)
            row.append(
                "-" if spread is None else f"{_number(spread.median)} ({_number(spread.min)}..{_number(spread.max)})"
            )
        for comparison in report.comparisons:
            overhead = getattr(comparison.overhead, metric)
            row.append("-" if overhead is None else f"{_change(overhead)} (p={overhead.p_value:.2g})")
        rows.append(row)
    return header, rows


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _change(overhead: Overhead) -> str:
    return f"{(overhead.ratio - 1) * 100:+.1f}%" if overhead.significant else "within noise"


def verdicts(report: BenchReport) -> list[str]:
    """One sentence per comparison about CPU per request, the figure a filter's cost is judged by."""
    lines = []
    for comparison in report.comparisons:
        overhead = comparison.overhead.cpu_us_per_request
        if overhead is None:
            lines.append(f"{comparison.other} vs {comparison.reference}: no valid rounds to compare")
        elif not overhead.significant:
            lines.append(
                f"{comparison.other} vs {comparison.reference}: CPU per request within noise (p={overhead.p_value:.2g})"
            )
        else:
            more = "more" if overhead.ratio > 1 else "less"
            lines.append(
                f"{comparison.other} costs {abs(overhead.ratio - 1) * 100:.1f}% {more} CPU per request than "
                f"{comparison.reference} (p={overhead.p_value:.2g})"
            )
    noise = report.noise
    needed = report.rounds_needed()
    if noise is not None and needed is not None:
        lines.append(
            f"noise: one round's CPU per request varies by {noise * 100:.1f}% (relative sd); telling a "
            f"{DETECTABLE * 100:.0f}% difference apart takes about {needed} rounds of each variant"
        )
    return lines


def invalid_rounds(report: BenchReport) -> list[str]:
    """A line per invalid round, with its reason."""
    return [
        f"{variant.label}, round {r.round}: invalid: {r.problem}"
        for variant in report.variants
        for r in variant.rounds
        if not r.valid
    ]


def _profile(root: Path, options: BenchOptions) -> Profile:
    name = options.profile
    if not PROFILE_NAME.match(name) or name not in profile_names(root):
        known = ", ".join(profile_names(root)) or "none"
        raise UsageError(f"--profile: no profile '{name}' in catalog/profiles/ (it has: {known})")
    profile, findings = load_profile(root, name)
    if profile is None:
        raise FindingsError(f"profile '{name}' does not load", findings)
    changes: dict[str, Any] = {}
    if options.rounds is not None:
        changes["rounds"] = options.rounds
    if options.duration is not None:
        changes["duration"] = options.duration
        changes["requests"] = None
    return profile.model_copy(update=changes) if changes else profile


def _subject(
    root: Path, store: BinaryStore, spec: str, profile: Profile, options: BenchOptions, *, allow_config: bool
) -> Subject:
    name, wanted = split_spec(spec)
    _, entry = load_one(root, name)
    require_loaded(entry)
    assert entry.meta is not None
    index, version = pick_version(entry, wanted)
    if allow_config and options.has_config:
        chosen = ConfigRequest(spec=spec, format="envoy", config=options.config, has_config=True)
    else:
        chosen = ConfigRequest(spec=spec, format="envoy", config=profile.config, has_config=profile.has_config)
    plugin_config = checked_plugin_config(entry, chosen)
    newest = index == len(entry.meta.versions) - 1
    data, findings = obtain(entry, index, version, store, BinaryOptions(offline=options.offline), is_newest=newest)
    if data is None:
        raise FindingsError(f"no binary for {entry.name} {version.version}", findings)
    problems = [f for f in check_version_binary(entry, index, version, data) if f.severity is Severity.ERROR]
    if problems:
        raise FindingsError(
            f"the binary of {entry.name} {version.version} is not the one filter.yaml records", problems
        )
    wasm = store.path_for(version.sha256)
    if not wasm.is_file():
        store.put(data)
    filter_entry = in_envoy.filter_entry(entry.meta, wasm.resolve(), version.sha256, plugin_config, version.kind)
    request = bench_request(entry, profile, plugin_config)
    return Subject(entry.name, version.version, plugin_config, request, filter_entry, entry)


def bench_request(entry: FilterEntry, profile: Profile, plugin_config: Any) -> Request:
    """The request to send: from the filter's cases when the profile allows and one fits, else the profile's."""
    shape = profile.request
    case = passing_case_request(entry, plugin_config) if shape.from_cases else None
    if case is None:
        return Request(shape.method, shape.path, tuple(shape.headers.items()), shape.body_bytes)
    overridden = {name.lower() for name in shape.headers}
    headers = [(k, v) for k, v in case.headers.items() if k.lower() not in overridden]
    return Request(case.method, case.path, (*headers, *shape.headers.items()), shape.body_bytes)


def passing_case_request(entry: FilterEntry, plugin_config: Any) -> CaseRequest | None:
    """The first request of `cases.yaml` that runs with `plugin_config`, expects a 2xx status and has
    no body (the load generators send a body of the profile's size, not a case's content)."""
    assert entry.meta is not None
    default = entry.meta.config.examples[0].value
    for case in entry.cases.cases if entry.cases else []:
        if not case.loads or case.plugin_config(default) != plugin_config:
            continue
        for request in case.requests:
            if request.expect.status is not None and 200 <= request.expect.status < 300 and not request.body:
                return request
    return None


def _run(
    profile_name: str,
    profile: Profile,
    variants: list[Variant],
    subjects: list[Subject | None],
    progress: Progress | None,
) -> BenchReport:
    try:
        envoy = find_envoy()
        generator = loadgen.version(profile.generator)
    except (EnvoyMissing, LoadGenError) as err:
        raise CatalogError(str(err)) from None
    plan = RunPlan(envoy, profile, variants, profile.rounds)
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as tmp, _sigterm_as_interrupt():
        try:
            rounds = run_rounds(plan, Path(tmp), progress)
        except EnvoyStartError as err:
            raise CatalogError(f"Envoy did not start with the filter: {err}") from None
        except RequestRefused as err:
            request = next(v.request for v in variants if v.label == err.label)
            raise CatalogError(
                f"{err.label} answered none of the benchmark's requests with a 2xx ({err.problem}) for "
                f"{_request_text(request)}: give it a request it lets through (the profile's request, or a "
                "case in cases.yaml with the same configuration that expects a 2xx) or another --config"
            ) from None
        except TlsError as err:
            raise CatalogError(str(err)) from None
        except LoadGenError as err:
            raise CatalogError(f"the load generator cannot run profile '{profile_name}': {err}") from None
    reports = [
        VariantReport(v.label, s, v.request, rounds[v.label], results.summarise(rounds[v.label]))
        for v, s in zip(variants, subjects, strict=True)
    ]
    report = BenchReport(
        profile_name=profile_name,
        profile=profile,
        envoy=envoy.version,
        generator=generator,
        machine=results.machine(),
        date=datetime.datetime.now(datetime.UTC).date().isoformat(),
        variants=reports,
        comparisons=[],
    )
    if profile.rounds < stats.MIN_ROUNDS:
        report.notes.append(
            f"{profile.rounds} rounds cannot show any difference as significant; {stats.MIN_ROUNDS} or more can"
        )
    return report


def _record(subject: Subject, profile_name: str, report: BenchReport) -> None:
    without, with_filter = report.variants
    result = BenchResult(
        date=report.date,
        envoy=report.envoy,
        generator=report.generator,
        machine=report.machine,
        profile=describe(report.profile),
        request=_recorded_request(subject.request),
        config=subject.config,
        rounds=report.profile.rounds,
        without=without.summary,
        with_filter=with_filter.summary,
        overhead=report.comparisons[0].overhead,
    )
    entry = subject.entry
    try:
        results.record(
            entry.directory, f"{entry.display}/{benchfile.BENCH_FILE}", subject.version, profile_name, result
        )
    except ValueError as err:
        raise CatalogError(f"{entry.display}/{benchfile.BENCH_FILE} does not load; not overwritten:\n{err}") from None


def _request_text(request: Request) -> str:
    names = ", ".join(name for name, _ in request.headers)
    return f"{request.method} {request.path}" + (f" with headers {names}" if names else " without headers")


def _recorded_request(request: Request) -> benchfile.RecordedRequest:
    return benchfile.RecordedRequest(
        method=request.method,
        path=request.path,
        header_names=[name for name, _ in request.headers],
        body_bytes=request.body_bytes,
    )


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt for the duration, so the `finally`s stop Envoy and the load
    generator and nothing is written (Python's default for SIGTERM exits without unwinding)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
