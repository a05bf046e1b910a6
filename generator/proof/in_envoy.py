"""Running a filter's behaviour cases in a real Envoy and judging what comes out.

For each case: the exact Envoy filter entry the site publishes (`envoy.config.wasm_filter`) is
put in a bootstrap; `envoy --mode validate` loads it first (cheap, and it names load failures);
then Envoy starts with an echo upstream, the case's requests are sent in order, and every
expectation is checked. A failure carries Envoy's relevant log lines. One failing case never
stops the others.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.envoy import config as envoy_config
from generator.envoy.locate import Envoy
from generator.envoy.process import (
    EnvoyStartError,
    RunningEnvoy,
    relevant_lines,
    run_envoy,
    validate_config,
    write_config,
)
from generator.envoy.upstream import EchoUpstream, echo_upstream, stand_ins
from generator.metadata.cases import Case, CaseRequest, CasesFile, Expect, smoke_case
from generator.metadata.model import FilterMeta


@dataclass
class CaseResult:
    """The outcome of one case: passed, or the reasons it did not, with Envoy's log lines."""

    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


Progress = Callable[[CaseResult], None]
CASE_SECONDS = 120.0  # one case may not hold a CI runner longer than this, whatever it declares


def filter_entry(meta: FilterMeta, wasm_path: Path, sha256: str, plugin_config: Any, kind: str) -> dict[str, Any]:
    """The Envoy filter entry for this filter, loading the module from `wasm_path`."""
    return envoy_config.wasm_filter(
        meta.name,
        envoy_config.WasmCode(sha256=sha256, local_path=str(wasm_path)),
        plugin_config,
        kind="network" if kind == "network" else "http",
        root_id=meta.envoy.root_id,
        fail_open=meta.envoy.fail_open,
    )


def all_cases(meta: FilterMeta, cases: CasesFile | None) -> list[Case]:
    """The smoke case, then the declared ones."""
    default = meta.config.examples[0].value
    return [smoke_case(cases, default), *(cases.cases if cases else [])]


def run_cases(
    envoy: Envoy,
    meta: FilterMeta,
    cases: CasesFile | None,
    wasm_path: Path,
    sha256: str,
    kind: str,
    workdir: Path,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Run every case of the filter (smoke first) against the module at `wasm_path`."""
    default = meta.config.examples[0].value
    services = {
        cluster.name: (r.status, dict(r.headers), r.body.encode("utf-8"), r.delay_ms / 1000)
        for cluster in (cases.clusters if cases else [])
        for r in [cluster.response]
    }
    results = []
    for index, case in enumerate(all_cases(meta, cases)):
        entry = filter_entry(meta, wasm_path, sha256, case.plugin_config(default), kind)
        started = time.monotonic()
        result = run_case(envoy, case, entry, workdir / f"case-{index}", services)
        result.seconds = time.monotonic() - started
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def run_case(
    envoy: Envoy,
    case: Case,
    entry: dict[str, Any],
    workdir: Path,
    services: Mapping[str, tuple[int, dict[str, str], bytes, float]] | None = None,
) -> CaseResult:
    """One case in its own Envoy, with a local stand-in for each service the filter calls out to."""
    workdir.mkdir(parents=True, exist_ok=True)
    services = services or {}
    unstarted = dict.fromkeys(services, 1)
    check = validate_config(
        envoy,
        write_config(envoy_config.bootstrap(entry, upstream_port=1, services=unstarted), workdir / "validate.yaml"),
    )
    if check.timed_out:
        return CaseResult(case.name, False, [f"Envoy did not finish loading the filter: {check.log}"])
    if not case.loads:
        if check.ok:
            return CaseResult(case.name, False, ["expected Envoy to refuse this configuration, but it loaded"])
        return CaseResult(case.name, True, log=check.problems())
    if not check.ok:
        return CaseResult(case.name, False, ["Envoy refused to load the filter"], check.problems())
    with echo_upstream() as upstream, stand_ins(services) as running_services:
        ports = {name: stand_in.port for name, stand_in in running_services.items()}
        config = envoy_config.bootstrap(entry, upstream_port=upstream.port, services=ports)
        try:
            with run_envoy(envoy, config, workdir / "run") as running:
                failures = _send_all(case, running, upstream)
        except EnvoyStartError as err:
            return CaseResult(case.name, False, ["Envoy did not start"], str(err).splitlines())
    # Read the log once Envoy has stopped, so everything it wrote has been flushed.
    log = relevant_lines(running.log()) if failures else []
    return CaseResult(case.name, not failures, failures, log)


def _send_all(case: Case, running: RunningEnvoy, upstream: EchoUpstream) -> list[str]:
    failures: list[str] = []
    number = 0
    deadline = time.monotonic() + CASE_SECONDS
    for request in case.requests:
        for _ in range(request.repeat):
            number += 1
            if time.monotonic() > deadline:
                failures.append(f"request {number}: the case ran longer than {CASE_SECONDS:g} s; stopped")
                return failures
            before = len(upstream.seen)
            try:
                response = send(running.listener_port, request)
            except TimeoutError:
                failures.append(f"request {number}: no response within {request.timeout:g} s")
                return failures
            except (ValueError, UnicodeError) as err:
                failures.append(f"request {number}: cannot be sent: {err}")
                return failures
            except (OSError, http.client.HTTPException) as err:
                failures.append(f"request {number}: no response ({type(err).__name__}: {err or 'connection closed'})")
                return failures
            reached = upstream.seen[before:]
            failures += [f"request {number}: {problem}" for problem in judge(request.expect, response, reached)]
            if failures:
                return failures  # later requests of a sequence depend on the earlier ones
    return failures


def send(port: int, request: CaseRequest) -> Response:
    """Send one request to Envoy's listener and read the whole response."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=request.timeout)
    try:
        body = request.body.encode("utf-8")
        # A case that sets its own Host must not get a second one from http.client.
        own_host = any(name.lower() == "host" for name in request.headers)
        connection.putrequest(request.method, request.path, skip_host=own_host, skip_accept_encoding=True)
        for name, value in request.headers.items():
            connection.putheader(name, value)
        if body or request.method in ("POST", "PUT", "PATCH"):
            connection.putheader("content-length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return Response(response.status, [(k.lower(), v) for k, v in response.getheaders()], response.read())
    finally:
        connection.close()


def judge(expect: Expect, response: Response, reached: list[dict[str, object]]) -> list[str]:
    """What differs between `expect` and what happened; empty when the request behaved."""
    problems = []
    if expect.status is not None and response.status != expect.status:
        problems.append(f"expected status {expect.status}, got {response.status}")
    if expect.status is None and response.status >= 500:
        problems.append(f"expected no 5xx, got {response.status}")
    headers = _multi(response.headers)
    problems += _compare_headers(
        "response header", expect.headers, expect.headers_present, expect.headers_absent, headers
    )
    problems += _compare_exactly("response header", expect.headers_exactly, headers)
    upstream_headers = _multi(_upstream_headers(reached))
    wants_upstream = expect.upstream_headers or expect.upstream_headers_absent or expect.upstream_headers_exactly
    if wants_upstream and not reached:
        problems.append("expected the request to reach the upstream, but the filter answered it")
    elif reached:
        problems += _compare_headers(
            "upstream header", expect.upstream_headers, [], expect.upstream_headers_absent, upstream_headers
        )
        problems += _compare_exactly("upstream header", expect.upstream_headers_exactly, upstream_headers)
    if expect.upstream_path is not None and reached and reached[-1].get("path") != expect.upstream_path:
        problems.append(
            f"expected the upstream to receive path {expect.upstream_path!r}, got {reached[-1].get('path')!r}"
        )
    if expect.body_contains is not None and expect.body_contains.encode() not in response.body:
        problems.append(f"expected the body to contain {expect.body_contains!r}, got {response.body[:200]!r}")
    if expect.local_reply is True and reached:
        problems.append("expected a local reply from the filter, but the request reached the upstream")
    if expect.local_reply is False and not reached:
        problems.append("expected the request to reach the upstream, but the filter answered it")
    return problems


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name.lower(), []).append(value)
    return out


def _upstream_headers(reached: list[dict[str, object]]) -> list[tuple[str, str]]:
    if not reached:
        return []
    raw = reached[-1].get("headers", [])
    return [(str(k), str(v)) for k, v in raw] if isinstance(raw, list) else []


def _compare_exactly(label: str, exactly: dict[str, list[str]], actual: dict[str, list[str]]) -> list[str]:
    return [
        f"expected {label} {name} to be exactly {json.dumps(values)}, got {json.dumps(actual.get(name.lower(), []))}"
        for name, values in exactly.items()
        if actual.get(name.lower(), []) != values
    ]


def _compare_headers(
    label: str, equal: dict[str, str], present: list[str], absent: list[str], actual: dict[str, list[str]]
) -> list[str]:
    problems = []
    for name, value in equal.items():
        got = actual.get(name.lower())
        if got is None:
            problems.append(f"expected {label} {name}: {value!r}, got none")
        elif value not in got:
            problems.append(f"expected {label} {name}: {value!r}, got {json.dumps(got)}")
    problems += [f"expected {label} {name} to be present, got none" for name in present if name.lower() not in actual]
    problems += [
        f"expected no {label} {name}, got {json.dumps(actual[name.lower()])}"
        for name in absent
        if name.lower() in actual
    ]
    return problems
