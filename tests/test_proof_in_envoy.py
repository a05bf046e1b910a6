"""Behaviour cases in a real Envoy, with small filters written for the tests in WAT.

Filters here: one that adds a header from its configuration (the shipped add-header), one that
refuses requests with a local 403, one that traps, and one that refuses its configuration.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from generator.envoy import config as envoy_config
from generator.envoy.locate import Envoy
from generator.envoy.process import EnvoyStartError, RunningEnvoy, run_envoy, validate_config, write_config
from generator.envoy.upstream import echo_upstream
from generator.metadata.cases import Case, CaseRequest, CasesFile, Expect, Smoke
from generator.metadata.model import FilterMeta
from generator.proof.in_envoy import CaseResult, Response, judge, run_cases
from generator.wasm.wat import compile_wat
from tests.conftest import REPO_ROOT, filter_data
from tests.wasm_modules import callout_module, env_import, proxy_module, proxy_wat

pytestmark = [pytest.mark.slow, pytest.mark.envoy]

ADD_HEADER = compile_wat((REPO_ROOT / "catalog/filters/add-header/src/add_header.wat").read_text())

# Answers every request itself: 403 with a body and a header, via proxy_send_local_response.
DENY = proxy_module(
    imports=[env_import("proxy_send_local_response", "i32 i32 i32 i32 i32 i32 i32 i32")],
    exports=[
        '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)'
        " (drop (call 0 (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 200) (i32.const 6)"
        " (i32.const 0) (i32.const 0) (i32.const -1))) (i32.const 1))",
    ],
    extra=['(data (i32.const 200) "denied")'],
)
TRAP = proxy_module(exports=['(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable)'])


def _refusing_module() -> bytes:
    """proxy_on_configure returns 0: the filter refuses every configuration."""
    text = proxy_wat().replace(
        '(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))',
        '(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 0))',
    )
    return compile_wat(text)


def meta(name: str = "t", **changes: Any) -> FilterMeta:
    return FilterMeta.model_validate(filter_data(name, ADD_HEADER, **changes))


def run(proxy: Envoy, tmp_path: Path, wasm: bytes, cases: CasesFile | None, **changes: Any) -> list[CaseResult]:
    path = tmp_path / "filter.wasm"
    path.write_bytes(wasm)
    return run_cases(proxy, meta(**changes), cases, path, "0" * 64, "http", tmp_path / "work")


ADD_HEADER_CONFIG = {
    "schema": {"type": "object"},
    "examples": [{"title": "default", "value": {"name": "x-served-by", "value": "edge-1"}}],
}


def test_smoke_and_declared_cases_pass(envoy: Envoy, tmp_path: Path) -> None:
    cases = CasesFile(
        cases=[
            Case(
                name="header both ways",
                requests=[
                    CaseRequest(
                        path="/a?b=c",
                        headers={"x-user": "alice"},
                        expect=Expect(
                            status=200,
                            headers={"x-served-by": "edge-1"},
                            upstream_headers={"x-served-by": "edge-1", "x-user": "alice"},
                            headers_absent=["x-nope"],
                            body_contains='"path": "/a?b=c"',
                            local_reply=False,
                        ),
                    )
                ],
            ),
            Case(
                name="other config",
                config={"name": "x-b", "value": "2"},
                requests=[CaseRequest(expect=Expect(headers={"x-b": "2"}))],
            ),
            Case(name="refuses a bad config", config="not json", loads=False),
        ]
    )
    results = run(envoy, tmp_path, ADD_HEADER, cases, config=ADD_HEADER_CONFIG)
    assert [(r.name, r.passed, r.failures) for r in results] == [
        ("smoke", True, []),
        ("header both ways", True, []),
        ("other config", True, []),
        ("refuses a bad config", True, []),
    ]
    # a case that refuses a configuration carries Envoy's explanation
    assert any("Failed to configure base Wasm plugin" in line for line in results[3].log)


def test_failing_expectations_are_reported_with_the_request_number(envoy: Envoy, tmp_path: Path) -> None:
    cases = CasesFile(
        cases=[
            Case(
                name="wrong",
                requests=[
                    CaseRequest(expect=Expect(status=200)),
                    CaseRequest(
                        expect=Expect(
                            status=201, headers={"x-served-by": "edge-2"}, upstream_headers_absent=["x-served-by"]
                        )
                    ),
                ],
            ),
            Case(name="loads but should not", loads=False),
        ]
    )
    results = run(envoy, tmp_path, ADD_HEADER, cases, config=ADD_HEADER_CONFIG)
    wrong, loads = results[1], results[2]
    assert not wrong.passed
    assert wrong.failures == [
        "request 2: expected status 201, got 200",
        "request 2: expected response header x-served-by: 'edge-2', got [\"edge-1\"]",
        'request 2: expected no upstream header x-served-by, got ["edge-1"]',
    ]
    assert loads.failures == ["expected Envoy to refuse this configuration, but it loaded"]


def test_local_reply_and_repeat(envoy: Envoy, tmp_path: Path) -> None:
    cases = CasesFile(
        smoke=Smoke(status=403),
        cases=[
            Case(
                name="always denies",
                requests=[
                    CaseRequest(
                        repeat=3,
                        expect=Expect(status=403, body_contains="denied", local_reply=True),
                    )
                ],
            ),
            Case(name="claims to pass", requests=[CaseRequest(expect=Expect(upstream_headers={"x": "y"}))]),
        ],
    )
    results = run(envoy, tmp_path, DENY, cases)
    assert [r.passed for r in results] == [True, True, False]
    assert results[2].failures == ["request 1: expected the request to reach the upstream, but the filter answered it"]


def test_smoke_fails_on_a_refusing_filter_unless_declared(envoy: Envoy, tmp_path: Path) -> None:
    [smoke] = run(envoy, tmp_path, DENY, None)
    assert smoke.passed  # 403 is not a 5xx
    [smoke] = run(envoy, tmp_path, DENY, CasesFile(smoke=Smoke(status=200)))
    assert smoke.failures == ["request 1: expected status 200, got 403"]


def test_fail_closed_trap_gives_503_with_envoys_log_line(envoy: Envoy, tmp_path: Path) -> None:
    """fail_open: false (the default) means a filter that crashes refuses the requests it handles."""
    [smoke] = run(envoy, tmp_path, TRAP, None)
    assert smoke.failures == ["request 1: expected no 5xx, got 503"]
    assert any("proxy_on_request_headers failed: Uncaught RuntimeError: unreachable" in line for line in smoke.log)


def test_fail_open_trap_lets_requests_through(envoy: Envoy, tmp_path: Path) -> None:
    """fail_open: true means a filter that crashes is skipped: requests reach the upstream unfiltered."""
    cases = CasesFile(
        cases=[Case(name="passes", requests=[CaseRequest(repeat=2, expect=Expect(status=200, local_reply=False))])]
    )
    results = run(envoy, tmp_path, TRAP, cases, envoy={"fail_open": True})
    assert [r.passed for r in results] == [True, True]


def test_module_envoy_refuses_is_a_failed_case_with_its_log(envoy: Envoy, tmp_path: Path) -> None:
    bad = proxy_module(imports=['(import "env" "abort" (func (param i32 i32 i32 i32)))'])
    [smoke] = run(envoy, tmp_path, bad, None)
    assert smoke.failures == ["Envoy refused to load the filter"]
    assert any("missing import: env.abort" in line for line in smoke.log)
    [smoke] = run(envoy, tmp_path, _refusing_module(), None)
    assert any("Failed to configure base Wasm plugin" in line for line in smoke.log)


def test_one_failing_case_does_not_stop_the_others(envoy: Envoy, tmp_path: Path) -> None:
    cases = CasesFile(cases=[Case(name="a", loads=False), Case(name="b", requests=[CaseRequest()])])
    results = run(envoy, tmp_path, ADD_HEADER, cases, config=ADD_HEADER_CONFIG)
    assert [r.passed for r in results] == [True, False, True]


def test_envoy_is_always_stopped(envoy: Envoy, tmp_path: Path) -> None:
    entry = envoy_config.wasm_filter("t", envoy_config.WasmCode("0" * 64, local_path=str(tmp_path / "f.wasm")), {})
    (tmp_path / "f.wasm").write_bytes(ADD_HEADER)
    config = envoy_config.bootstrap(entry, upstream_port=9)
    seen: list[RunningEnvoy] = []

    def failing_test() -> None:
        with run_envoy(envoy, config, tmp_path / "a") as running:
            seen.append(running)
            raise RuntimeError("a test failed here")

    with pytest.raises(RuntimeError):
        failing_test()
    assert seen[0].process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(seen[0].process.pid, 0)


def test_envoy_that_cannot_start_says_why(envoy: Envoy, tmp_path: Path) -> None:
    config = envoy_config.bootstrap(None, upstream_port=9)
    config["static_resources"]["clusters"][0]["type"] = "NOT_A_TYPE"
    started = time.monotonic()
    with pytest.raises(EnvoyStartError) as caught, run_envoy(envoy, config, tmp_path):
        pass
    assert time.monotonic() - started < 10
    assert "Envoy exited with status" in str(caught.value)
    assert "NOT_A_TYPE" in str(caught.value)


def test_validate_config_reports_envoys_reason(envoy: Envoy, tmp_path: Path) -> None:
    (tmp_path / "f.wasm").write_bytes(proxy_module(imports=[env_import("proxy_log", "i32 i32")]))
    entry = envoy_config.wasm_filter("t", envoy_config.WasmCode("0" * 64, local_path=str(tmp_path / "f.wasm")), {})
    result = validate_config(envoy, write_config(envoy_config.bootstrap(entry, upstream_port=9), tmp_path / "e.yaml"))
    assert not result.ok
    assert any("import type mismatch: env.proxy_log" in line for line in result.problems())


def test_judge_compares_headers_case_insensitively() -> None:
    response = Response(200, [("X-A", "1"), ("x-a", "2")], b"hello")
    assert (
        judge(Expect(headers={"x-a": "2"}, headers_present=["X-A"], body_contains="ell"), response, [{"headers": []}])
        == []
    )
    assert judge(Expect(headers_absent=["x-a"]), response, [{}]) == ['expected no response header x-a, got ["1", "2"]']


def test_a_request_the_filter_never_releases_times_out(envoy: Envoy, tmp_path: Path) -> None:
    # StopIteration (1) on the request headers, and nothing ever resumes the stream.
    stuck = proxy_module(
        exports=['(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))']
    )
    cases = CasesFile(smoke=Smoke(timeout=0.5), cases=[Case(name="hangs", requests=[CaseRequest(timeout=0.5)])])
    started = time.monotonic()
    results = run(envoy, tmp_path, stuck, cases)
    assert [r.failures for r in results] == [["request 1: no response within 0.5 s"]] * 2
    assert time.monotonic() - started < 8


def test_head_requests_do_not_break_the_upstream_connection(envoy: Envoy, tmp_path: Path) -> None:
    head = CaseRequest(method="HEAD", expect=Expect(status=200))
    cases = CasesFile(cases=[Case(name="head then get", requests=[head, CaseRequest(), head, CaseRequest()])])
    results = run(envoy, tmp_path, ADD_HEADER, cases, config=ADD_HEADER_CONFIG)
    assert [(r.passed, r.failures) for r in results] == [(True, []), (True, [])]


def test_the_echo_upstream_reads_chunked_bodies() -> None:
    """Envoy sends a body chunked when a filter changed it; the echo must still report it."""
    with echo_upstream() as upstream, socket.create_connection(("127.0.0.1", upstream.port), timeout=5) as conn:
        conn.sendall(
            b"POST /x HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
        )
        reply = b""
        while b'"body"' not in reply:
            reply += conn.recv(4096)
    assert upstream.seen[0]["body"] == "wikipedia"


def test_a_looping_filter_is_stopped_and_envoy_is_killed(envoy: Envoy, tmp_path: Path) -> None:
    loop = proxy_module(
        exports=[
            '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)'
            " (loop $l (br $l)) (i32.const 0))"
        ]
    )
    cases = CasesFile(smoke=Smoke(timeout=0.5))
    started = time.monotonic()
    [smoke] = run(envoy, tmp_path, loop, cases)
    assert smoke.failures == ["request 1: no response within 0.5 s"]
    assert time.monotonic() - started < 6  # SIGTERM, then SIGKILL after 2 s: no 10 s wait


def test_own_host_header_and_upstream_path(envoy: Envoy, tmp_path: Path) -> None:
    cases = CasesFile(
        cases=[
            Case(
                name="host",
                requests=[
                    CaseRequest(
                        path="/a/b?c=1",
                        headers={"host": "acme.images.example"},
                        expect=Expect(upstream_headers={"host": "acme.images.example"}, upstream_path="/a/b?c=1"),
                    ),
                    CaseRequest(path="/x", expect=Expect(upstream_path="/y")),
                ],
            )
        ]
    )
    results = run(envoy, tmp_path, ADD_HEADER, cases, config=ADD_HEADER_CONFIG)
    assert results[1].failures == ["request 2: expected the upstream to receive path '/y', got '/x'"]


def test_exact_header_values_catch_an_added_instead_of_replaced_header() -> None:
    response = Response(200, [("x-tenant", "acme"), ("x-tenant", "globex")], b"")
    reached: list[dict[str, object]] = [{"headers": [["x-tenant", "evil"], ["x-tenant", "acme"]]}]
    loose = Expect(headers={"x-tenant": "acme"}, upstream_headers={"x-tenant": "acme"})
    assert judge(loose, response, reached) == []
    exact = Expect(headers_exactly={"x-tenant": ["acme"]}, upstream_headers_exactly={"X-Tenant": ["acme"]})
    assert judge(exact, response, reached) == [
        'expected response header x-tenant to be exactly ["acme"], got ["acme", "globex"]',
        'expected upstream header X-Tenant to be exactly ["acme"], got ["evil", "acme"]',
    ]


def test_a_panic_written_a_byte_per_call_reads_as_one_line_in_the_excerpt(envoy: Envoy, tmp_path: Path) -> None:
    """Envoy logs each byte a filter writes as a line of its own; the excerpt puts the line back together."""
    text = b"panic: runtime error: index out of range [3] with length 3\n"
    data = "".join(f"\\{byte:02x}" for byte in text)
    calls = "".join(
        f"(i32.store (i32.const {1000 + 8 * i}) (i32.const {400 + i}))"
        f"(i32.store (i32.const {1004 + 8 * i}) (i32.const 1))"
        f"(drop (call $w (i32.const 1) (i32.const {1000 + 8 * i}) (i32.const 1) (i32.const 300)))"
        for i in range(len(text))
    )
    wasm = proxy_module(
        imports=['(import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))'],
        exports=[f'(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) {calls} unreachable)'],
        extra=[f'(data (i32.const 400) "{data}")'],
    )
    (smoke,) = run(envoy, tmp_path, wasm, None)
    assert not smoke.passed
    panic = [line for line in smoke.log if "[wasm]" in line and "wasm log" in line]
    assert len(panic) == 1, smoke.log
    assert panic[0].endswith("wasm log t t: panic: runtime error: index out of range [3] with length 3")
    assert any("Uncaught RuntimeError: unreachable" in line for line in smoke.log)


def test_a_callout_reaches_the_declared_clusters_stand_in(envoy: Envoy, tmp_path: Path) -> None:
    """proxy_http_call to "auth": Envoy routes it to a local stand-in that cases.yaml declares."""
    cases = CasesFile.model_validate(
        {
            "clusters": [{"name": "auth", "response": {"status": 201, "body": "ok", "delay_ms": 50}}],
            "cases": [
                {
                    "name": "asks auth first",
                    "requests": [{"expect": {"status": 200, "upstream_headers": {"x-auth-status": "201"}}}],
                }
            ],
        }
    )
    results = run(envoy, tmp_path, callout_module("auth"), cases)
    assert [(r.name, r.passed, r.failures) for r in results] == [("smoke", True, []), ("asks auth first", True, [])]


def test_a_callout_to_a_cluster_envoy_does_not_have_goes_nowhere(envoy: Envoy, tmp_path: Path) -> None:
    cases = CasesFile.model_validate(
        {
            "cases": [
                {"name": "asks auth first", "requests": [{"expect": {"upstream_headers": {"x-auth-status": "201"}}}]}
            ]
        }
    )
    (smoke, asked) = run(envoy, tmp_path, callout_module("auth"), cases)
    assert smoke.passed  # the callout fails (BadArgument) and this filter lets the request through
    assert not asked.passed
