"""Alternating rounds: each variant (Envoy without the filter, with it, ...) measured in turn.

Round after round the variants take turns (without, with, without, with, ...), so a change in the
machine's load during the run (it is shared and noisy) falls on every variant alike instead of on
whichever ran last. Each round starts a fresh Envoy, loads it for the profile's warm-up seconds
(not measured: the wasm VM compiles and caches, connections open, allocators settle), and then
measures one window:

- the load generator's requests per second and latency percentiles;
- the Envoy process's CPU time over the window divided by the requests Envoy itself counted as
  completed in it (its admin counters, read outside the window), in µs per request;
- Envoy's resident memory at the end of the window.

A fresh Envoy per round, rather than one per variant kept running, makes the rounds independent
samples, which is what the significance test assumes: a memory layout, JIT state or leak of one
process cannot carry over into every round of its variant while the spread looks small. It costs
about a fifth of a second of start-up per round, outside the measured window.

A round with socket errors, non-2xx responses (counted by Envoy, so a 3xx or a filter's local
reply is seen whichever generator runs) or no completed request is invalid: it is kept with its
reason and left out of the figures. When the first round of a variant gets no 2xx response at all,
the filter refuses the benchmark's request outright, and when the load generator fails in the first
round it cannot run the profile at all; further rounds would only repeat that, so `RequestRefused`
or `LoadGenError` stops the run at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.envoy.locate import Envoy
from generator.envoy.process import RunningEnvoy, relevant_lines, run_envoy
from generator.envoy.upstream import EchoUpstream, echo_upstream
from generator.perf import loadgen, target
from generator.perf.loadgen import Latency, LoadGenError, Request
from generator.perf.profile import Profile
from generator.perf.target import TlsFiles
from generator.perf.tls import self_signed

MIB = 1024 * 1024

# done, total, what starts now: called before each round of each variant, and once at the end.
Progress = Callable[[int, int, str], None]


class RequestRefused(Exception):
    """Every response of a variant's first round was outside 2xx: the request cannot be measured."""

    def __init__(self, label: str, problem: str) -> None:
        super().__init__(f"{label}: {problem}")
        self.label = label
        self.problem = problem


@dataclass(frozen=True)
class Variant:
    """One Envoy configuration to measure: a label, its filter entry (None: no filter), the request sent."""

    label: str
    filter_entry: dict[str, Any] | None
    request: Request


@dataclass(frozen=True)
class RoundResult:
    """One measured window of one variant."""

    round: int  # 1-based
    rps: float = 0.0
    latency: Latency | None = None
    cpu_us_per_request: float = 0.0
    rss_mib: float = 0.0
    requests: int = 0  # completed, as Envoy counts them
    problem: str | None = None  # why the round is invalid; None when it is valid
    refused: bool = False  # requests completed, and not one of them with a 2xx status

    @property
    def valid(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class RunPlan:
    """What `run_rounds` measures."""

    envoy: Envoy
    profile: Profile
    variants: list[Variant]
    rounds: int


def run_rounds(plan: RunPlan, workdir: Path, progress: Progress | None = None) -> dict[str, list[RoundResult]]:
    """Every round of every variant, by variant label.

    Raises EnvoyStartError when Envoy does not start, RequestRefused or LoadGenError when the first
    round shows that the run cannot measure anything.
    """
    profile = plan.profile
    results: dict[str, list[RoundResult]] = {variant.label: [] for variant in plan.variants}
    total = plan.rounds * len(plan.variants)
    tls = self_signed(workdir) if profile.tls else None
    with _upstream(profile) as upstream:
        for number in range(1, plan.rounds + 1):
            for position, variant in enumerate(plan.variants):
                if progress is not None:
                    done = (number - 1) * len(plan.variants) + position
                    progress(done, total, f"round {number}/{plan.rounds}: {variant.label}")
                bootstrap = target.bench_bootstrap(
                    variant.filter_entry,
                    upstream_port=upstream.port if upstream else None,
                    tls=tls,
                    http2=profile.protocol == "http2",
                )
                with run_envoy(plan.envoy, bootstrap, workdir / f"round-{number}-{position}") as running:
                    try:
                        result = _measure(profile, variant.request, running, tls, number, workdir / "load")
                    except LoadGenError as err:
                        if number == 1:
                            raise  # the generator cannot run this profile at all (an option, a refused connection)
                        result = RoundResult(number, problem=str(err))
                if number == 1 and result.refused:
                    raise RequestRefused(variant.label, result.problem or "no 2xx response")
                results[variant.label].append(result)
                if upstream is not None:
                    upstream.seen.clear()  # the echo server records every request; keep memory flat
    if progress is not None:
        progress(total, total, "done")
    return results


@contextlib.contextmanager
def _upstream(profile: Profile) -> Iterator[EchoUpstream | None]:
    if profile.upstream != "echo":
        yield None
        return
    with echo_upstream() as upstream:
        yield upstream


def _measure(
    profile: Profile, request: Request, running: RunningEnvoy, tls: TlsFiles | None, number: int, workdir: Path
) -> RoundResult:
    """Warm up, then measure one window of the running Envoy."""
    pid = running.process.pid
    url = f"{'https' if tls else 'http'}://127.0.0.1:{running.listener_port}"
    try:
        if profile.warmup:
            loadgen.measure(profile, request, url, workdir, seconds=profile.warmup, requests=None)
        before = target.counters(running.admin_port)
        cpu_before = target.cpu_seconds(pid)
        load = loadgen.measure(profile, request, url, workdir, seconds=profile.seconds, requests=profile.requests)
        cpu_used = target.cpu_seconds(pid) - cpu_before
        rss = target.rss_bytes(pid)
        counted = target.counters(running.admin_port).since(before)
    except OSError as err:  # Envoy went away during the round (a crash in the filter, killed)
        lines = relevant_lines(running.log(), limit=3)
        return RoundResult(number, problem=" | ".join([f"Envoy stopped answering: {err}", *lines]))
    problems = []
    if load.errors:
        problems.append(f"{load.errors} socket errors ({load.error_detail})")
    refused = {status: n for status, n in counted.by_class.items() if status != "2xx" and n}
    if refused:
        classes = ", ".join(f"{n} {status}" for status, n in refused.items())
        problems.append(f"{sum(refused.values())} non-2xx responses ({classes})")
    elif load.non_2xx:
        problems.append(f"{load.non_2xx} non-2xx responses")
    if not counted.completed or not load.requests:
        problems.append("no request completed")
    return RoundResult(
        round=number,
        rps=load.rps,
        latency=load.latency,
        cpu_us_per_request=cpu_used / counted.completed * 1e6 if counted.completed else 0.0,
        rss_mib=rss / MIB,
        requests=counted.completed,
        problem="; ".join(problems) or None,
        refused=counted.completed > 0 and not counted.by_class["2xx"],
    )
