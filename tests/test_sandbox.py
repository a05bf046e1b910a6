"""generator.wasm.sandbox: a filter run in wasmtime against our own proxy-wasm host.

Each module is WAT compiled in the test; most start from `proxy_wat()` (a valid ABI 0.2.1 HTTP
filter) and replace its HTTP callbacks with the behaviour under test.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest

from generator.wasm import abi, sandbox
from generator.wasm.sandbox import SandboxLimits, SandboxReport, SandboxRequest, run_sandbox
from generator.wasm.wat import compile_wat
from tests.conftest import REPO_ROOT
from tests.wasm_modules import callout_module, env_import, proxy_module, proxy_wat

ADD_HEADER_WAT = REPO_ROOT / "catalog" / "filters" / "add-header" / "src" / "add_header.wat"
ADD_HEADER_CONFIG = b'{"name": "x-served-by", "value": "edge-1"}'

# Named imports, so the callbacks below can call them by name.
LOG = '(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))'
GET_VALUE = '(import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))'
ADD_VALUE = '(import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))'
GET_BUFFER = '(import "env" "proxy_get_buffer_bytes" (func $buffer (param i32 i32 i32 i32 i32) (result i32)))'
GET_PROPERTY = '(import "env" "proxy_get_property" (func $property (param i32 i32 i32 i32) (result i32)))'
LOCAL_RESPONSE = (
    '(import "env" "proxy_send_local_response" (func $respond (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))'
)
FD_WRITE = '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))'
RANDOM_GET = '(import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))'
PROC_EXIT = '(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))'

RESPONSE_HEADERS = '(func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))'


def on_request_headers(body: str, *, abi_version: str = "0.2.1", returns: int = 0) -> str:
    """A proxy_on_request_headers callback running `body`, then returning Continue (or `returns`)."""
    params = "i32 i32" if abi_version == "0.1.0" else "i32 i32 i32"
    return f'(func (export "proxy_on_request_headers") (param {params}) (result i32) {body} (i32.const {returns}))'


def filter_module(request_headers: str, *, imports: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> bytes:
    """An ABI 0.2.1 HTTP filter whose request headers callback runs `request_headers`."""
    exports = (on_request_headers(request_headers), RESPONSE_HEADERS)
    return proxy_module(imports=imports, exports=exports, extra=extra)


def add_returned_value(name_ptr: int, name_size: int) -> str:
    """Add a request header named by the bytes at `name_ptr`, with the value the previous host call
    returned through the out-parameters at addresses 0 (pointer) and 4 (size)."""
    name = f"(i32.const {name_ptr}) (i32.const {name_size})"
    return f"(drop (call $add (i32.const 0) {name} (i32.load (i32.const 0)) (i32.load (i32.const 4))))"


def wat_bytes(data: bytes) -> str:
    """`data` as the inside of a WAT string literal."""
    return "".join(f"\\{byte:02x}" for byte in data)


def expect_ok(report: SandboxReport) -> SandboxReport:
    assert report.ok, report.problem
    assert report.problem is None
    assert report.phase is None
    return report


def expect_problem(report: SandboxReport, phase: str) -> str:
    assert not report.ok
    assert report.phase == phase, report.problem
    assert report.problem
    return report.problem


# --- the shipped filter ---------------------------------------------------------------------------


def add_header_module() -> bytes:
    return compile_wat(ADD_HEADER_WAT.read_text(encoding="utf-8"))


def test_add_header_filter_adds_its_header_to_requests_and_responses() -> None:
    report = expect_ok(run_sandbox(add_header_module(), ADD_HEADER_CONFIG))

    assert len(report.requests) == SandboxLimits().requests
    for outcome in report.requests:
        assert ("x-served-by", "edge-1") in outcome.request_headers
        assert ("x-served-by", "edge-1") in outcome.response_headers
        assert outcome.request_headers[:4] == (
            (":authority", "sandbox.local"),
            (":path", "/"),
            (":method", "GET"),
            (":scheme", "http"),
        )
        assert outcome.response_headers[0] == (":status", "200")
        assert outcome.local_response is None
    assert report.start_fuel > 0
    assert report.fuel_per_request == report.requests[-1].fuel > 0


def test_add_header_filter_refusing_its_configuration_is_a_configure_problem() -> None:
    report = run_sandbox(add_header_module(), b"not json at all")

    problem = expect_problem(report, "configure")
    assert problem.startswith("proxy_on_configure returned 0 (the filter refused its configuration)")
    assert "add-header: expected" in problem  # what the filter logged says why
    assert report.requests == ()


def test_fuel_figures_are_deterministic() -> None:
    wasm = add_header_module()
    first = run_sandbox(wasm, ADD_HEADER_CONFIG)
    second = run_sandbox(wasm, ADD_HEADER_CONFIG)

    figures = [(r.start_fuel, [o.fuel for o in r.requests]) for r in (first, second)]
    assert figures[0] == figures[1]
    assert figures[0][0] > 0
    assert all(fuel > 0 for fuel in figures[0][1])
    # Identical requests through a filter without state cost the same.
    assert len(set(figures[0][1])) == 1


def test_randomness_is_seeded_so_fuel_stays_deterministic() -> None:
    # Loops as many times as the first random byte says: the fuel follows the randomness.
    wasm = filter_module(
        "(local $i i32) (drop (call $random (i32.const 0) (i32.const 1))) (local.set $i (i32.load8_u (i32.const 0)))"
        "(block $done (loop $again (br_if $done (i32.eqz (local.get $i)))"
        " (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br $again)))",
        imports=(RANDOM_GET,),
    )
    runs = [run_sandbox(wasm, b"") for _ in range(2)]

    assert [o.fuel for o in expect_ok(runs[0]).requests] == [o.fuel for o in expect_ok(runs[1]).requests]


# --- failures, each naming the callback and the request ---------------------------------------------


def test_a_trap_on_the_second_request_names_the_request_and_the_callback() -> None:
    wasm = filter_module(
        "(global.set $seen (i32.add (global.get $seen) (i32.const 1)))"
        "(if (i32.eq (global.get $seen) (i32.const 2)) (then unreachable))",
        extra=("(global $seen (mut i32) (i32.const 0))",),
    )
    report = run_sandbox(wasm, b"")

    problem = expect_problem(report, "request 2: proxy_on_request_headers")
    assert problem.startswith("proxy_on_request_headers trapped on request 2: ")
    assert "unreachable" in problem
    assert "wasm backtrace" in problem
    assert len(report.requests) == 1


def test_an_endless_loop_runs_out_of_fuel_quickly() -> None:
    wasm = filter_module("(loop $forever (br $forever))")
    started = time.perf_counter()
    report = run_sandbox(wasm, b"", limits=SandboxLimits(fuel_per_call=100_000))
    elapsed = time.perf_counter() - started

    problem = expect_problem(report, "request 1: proxy_on_request_headers")
    assert problem == "proxy_on_request_headers used all 100000 fuel on request 1: it loops"
    assert elapsed < 1.0


def test_a_loop_of_host_calls_is_stopped_by_the_host_call_limit() -> None:
    # Fuel does not count time in the host; this loop would otherwise spend it in Python.
    wasm = filter_module(
        "(loop $forever (drop (call $log (i32.const 2) (i32.const 0) (i32.const 1))) (br $forever))",
        imports=(LOG,),
    )
    report = run_sandbox(wasm, b"", limits=SandboxLimits(host_calls_per_callback=100))

    problem = expect_problem(report, "request 1: proxy_on_request_headers")
    assert (
        problem
        == "proxy_on_request_headers made more than 100 host calls on request 1 (the last to proxy_log): it loops"
    )
    assert report.logs == ((2, "\x00" * 100),)  # one byte per call: one line, assembled


def test_memory_growing_on_every_request_is_a_leak() -> None:
    wasm = filter_module("(drop (memory.grow (i32.const 1)))")
    report = run_sandbox(wasm, b"")

    problem = expect_problem(report, "requests")
    assert problem == (
        "memory grew from 131072 to 1376256 bytes over 20 requests, in 19 steps, the last on request 20 "
        "(about 65536 bytes per request): it leaks"
    )
    assert [o.memory_bytes for o in report.requests] == [pages * 65536 for pages in range(2, 22)]


def test_memory_growing_once_is_not_a_leak() -> None:
    wasm = filter_module("(if (i32.eq (memory.size) (i32.const 1)) (then (drop (memory.grow (i32.const 1)))))")
    report = expect_ok(run_sandbox(wasm, b""))

    assert [o.memory_bytes for o in report.requests] == [2 * 65536] * SandboxLimits().requests
    assert report.memory_growth_per_request == 0.0


COUNTER = "(global $n (mut i32) (i32.const 0))"
COUNT = "(global.set $n (i32.add (global.get $n) (i32.const 1)))"  # $n: this request's number


def test_memory_growing_in_steps_is_a_leak() -> None:
    """A page every 12th request: one step in the first 20 requests, so more requests are run."""
    grow = "(if (i32.eqz (i32.rem_u (global.get $n) (i32.const 12))) (then (drop (memory.grow (i32.const 1)))))"
    report = run_sandbox(filter_module(COUNT + grow, extra=(COUNTER,)), b"")

    problem = expect_problem(report, "requests")
    assert problem == (
        "memory grew from 65536 to 1114112 bytes over 200 requests, in 16 steps, the last on request 192 "
        "(about 5269 bytes per request): it leaks"
    )


def test_memory_that_grows_early_and_settles_is_not_a_leak() -> None:
    grow = "(if (i32.le_u (global.get $n) (i32.const 3)) (then (drop (memory.grow (i32.const 1)))))"
    report = expect_ok(run_sandbox(filter_module(COUNT + grow, extra=(COUNTER,)), b""))

    assert len(report.requests) == SandboxLimits().max_requests  # it grew after the warm-up: looked further
    assert report.memory_growth_per_request == 2 * 65536 / (SandboxLimits().max_requests - 1)


def test_fuel_per_request_is_the_median_after_the_warm_up() -> None:
    """Request 1 does more (lazy set-up), every 4th collects garbage: neither is the steady state."""
    work = (
        "(local.set 3 (i32.const 10))"
        "(if (i32.eq (global.get $n) (i32.const 1)) (then (local.set 3 (i32.const 5000))))"
        "(if (i32.eqz (i32.rem_u (global.get $n) (i32.const 4))) (then (local.set 3 (i32.const 100000))))"
    )
    callback = (
        '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (local i32) (local $i i32) '
        f"{COUNT} {work} (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))"
        " (br_if $l (i32.lt_u (local.get $i) (local.get 3)))) (i32.const 0))"
    )
    report = expect_ok(run_sandbox(proxy_module(exports=(callback, RESPONSE_HEADERS), extra=(COUNTER,)), b""))

    fuel = [outcome.fuel for outcome in report.requests]
    steady = min(fuel[1:])
    assert report.first_request_fuel == fuel[0] > steady
    assert report.fuel_per_request == steady  # the median: 3 requests in 4 are the steady state
    assert report.fuel_range == (steady, max(fuel[1:]))
    assert max(fuel[1:]) > 100 * steady  # the spikes are in the range, not in the figure


def test_growing_memory_beyond_the_limit_says_so() -> None:
    # Like an allocator that aborts when memory.grow fails.
    wasm = filter_module("(if (i32.lt_s (memory.grow (i32.const 1)) (i32.const 0)) (then unreachable))")
    report = run_sandbox(wasm, b"", limits=SandboxLimits(memory_bytes=4 * 65536))

    problem = expect_problem(report, "request 4: proxy_on_request_headers")
    assert problem.startswith("proxy_on_request_headers trapped on request 4: ")
    assert "linear memory is at the sandbox limit (262144 of 262144 bytes), so memory.grow fails" in problem


def test_initial_memory_beyond_the_limit_fails_instantiation() -> None:
    wat = proxy_wat().replace('(memory (export "memory") 1)', '(memory (export "memory") 20)')
    report = run_sandbox(compile_wat(wat), b"", limits=SandboxLimits(memory_bytes=16 * 65536))

    problem = expect_problem(report, "instantiate")
    assert "memory minimum size of 20 pages exceeds memory limits" in problem


def test_proc_exit_stops_the_module_with_a_clear_problem() -> None:
    configure = (
        '(func (export "proxy_on_configure") (param i32 i32) (result i32) (call $exit (i32.const 3)) (i32.const 1))'
    )
    wat = proxy_wat(imports=(PROC_EXIT,)).replace(
        '(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))', configure
    )
    report = run_sandbox(compile_wat(wat), b"")

    assert expect_problem(report, "configure") == "proxy_on_configure called proc_exit(3): the module exited"


def test_an_import_envoy_does_not_provide_is_named() -> None:
    report = run_sandbox(proxy_module(imports=(env_import("proxy_no_such_call"),)), b"")

    problem = expect_problem(report, "inspect")
    assert "env.proxy_no_such_call" in problem


def test_wat_text_is_refused_before_wasmtime_sees_it() -> None:
    report = run_sandbox(proxy_wat().encode(), b"")

    problem = expect_problem(report, "inspect")
    assert "WAT" in problem


# --- host calls ----------------------------------------------------------------------------------


@pytest.mark.parametrize("abi_version", abi.ABI_VERSIONS)
def test_every_host_function_envoy_offers_links(abi_version: str) -> None:
    imports = []
    for index, ((module, name), sig) in enumerate(sorted(abi.host_imports(abi_version).items())):
        params = " ".join(sig.params)
        results = f" (result {' '.join(sig.results)})" if sig.results else ""
        imports.append(f'(import "{module}" "{name}" (func $f{index} (param {params}){results}))')
    exports = (on_request_headers("", abi_version=abi_version),)
    report = run_sandbox(proxy_module(abi=abi_version, imports=imports, exports=exports), b"")

    expect_ok(report)


def test_a_local_response_is_recorded_and_the_upstream_never_reached() -> None:
    """As in Envoy, the local reply goes through the response path: its headers reach the filter."""
    headers = struct.pack("<III", 1, 8, 6) + b"x-reason\0policy\0"
    wasm = proxy_module(
        imports=(LOCAL_RESPONSE,),
        exports=(
            '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)'
            " (drop (call $respond (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 6)"
            f" (i32.const 200) (i32.const {len(headers)}) (i32.const -1))) (i32.const 1))",
            '(func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))',
            # Would trap if the sandbox went on to an upstream response with a body.
            '(func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) unreachable)',
        ),
        extra=('(data (i32.const 100) "denied")', f'(data (i32.const 200) "{wat_bytes(headers)}")'),
    )
    report = expect_ok(run_sandbox(wasm, b"", request=SandboxRequest(method="POST", body=b"payload")))

    for outcome in report.requests:
        assert outcome.local_response == (403, (("x-reason", "policy"),), b"denied")
        assert outcome.request_headers == ()
        assert outcome.response_headers[:2] == ((":status", "403"), ("x-reason", "policy"))
        assert outcome.callback_results == (("proxy_on_request_headers", 1), ("proxy_on_response_headers", 0))


def test_a_trap_on_the_local_reply_is_caught() -> None:
    wasm = proxy_module(
        imports=(LOCAL_RESPONSE,),
        exports=(
            '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)'
            " (drop (call $respond (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)"
            " (i32.const 0) (i32.const 0) (i32.const -1))) (i32.const 1))",
            '(func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) unreachable)',
        ),
    )
    report = run_sandbox(wasm, b"")
    assert not report.ok
    assert report.phase == "request 1: proxy_on_response_headers"


def test_host_work_is_bounded_in_bytes_and_time() -> None:
    log_big = proxy_module(
        imports=('(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))',),
        exports=(
            '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)'
            " (local $i i32) (loop $l (drop (call $log (i32.const 2) (i32.const 0) (i32.const 60000)))"
            " (local.set $i (i32.add (local.get $i) (i32.const 1)))"
            " (br_if $l (i32.lt_u (local.get $i) (i32.const 2000))))"
            " (i32.const 0))",
        ),
    )
    started = time.monotonic()
    report = run_sandbox(log_big, b"")
    assert report.ok, report.problem  # each 60000-byte message is read only up to the 4 KiB kept
    assert time.monotonic() - started < 5
    assert all(text.endswith("... (60000 bytes)") for _, text in report.logs[:3])
    headers_big = filter_module(
        "(local $i i32) (loop $l"
        " (drop (call $add (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 60000)))"
        " (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 5000))))",
        imports=(ADD_VALUE,),
    )
    problem = expect_problem(
        run_sandbox(headers_big, b"", limits=SandboxLimits(host_bytes_per_callback=10_000_000)),
        "request 1: proxy_on_request_headers",
    )
    assert "host calls read more than 10000000 bytes of its memory" in problem
    slow = run_sandbox(headers_big, b"", limits=SandboxLimits(seconds_per_callback=0.0))
    assert not slow.ok
    assert "proxy_on_request_headers on request 1: took longer than 0 s of wall-clock time" in (slow.problem or "")


def test_a_filter_copies_one_request_header_into_another() -> None:
    wasm = filter_module(
        # x-in is there: copy its value into x-copied; x-missing is not: NotFound (1)
        "(if (call $get (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 0) (i32.const 4)) (then unreachable))"
        f"{add_returned_value(120, 8)}"
        "(if (i32.ne (call $get (i32.const 0) (i32.const 140) (i32.const 9) (i32.const 0) (i32.const 4)) (i32.const 1))"
        " (then unreachable))",
        imports=(GET_VALUE, ADD_VALUE),
        extra=(
            '(data (i32.const 100) "x-in")',
            '(data (i32.const 120) "x-copied")',
            '(data (i32.const 140) "x-missing")',
        ),
    )
    report = expect_ok(run_sandbox(wasm, b"", request=SandboxRequest(headers=(("X-In", "hello"),))))

    for outcome in report.requests:
        assert ("x-in", "hello") in outcome.request_headers
        assert ("x-copied", "hello") in outcome.request_headers


def test_the_request_body_and_properties_reach_the_filter() -> None:
    body_callback = (
        '(func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $end i32) (result i32)'
        " (if (call $buffer (i32.const 0) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4))"
        "  (then unreachable))"
        f" {add_returned_value(100, 6)} (i32.const 0))"
    )
    wasm = proxy_module(
        imports=(GET_BUFFER, GET_PROPERTY, ADD_VALUE),
        exports=(
            on_request_headers(
                "(if (call $property (i32.const 120) (i32.const 12) (i32.const 0) (i32.const 4)) (then unreachable))"
                + add_returned_value(140, 6),
                # Stop iteration: the headers wait for the body, so what the body callback adds
                # still reaches the upstream.
                returns=1,
            ),
            body_callback,
            RESPONSE_HEADERS,
        ),
        extra=(
            '(data (i32.const 100) "x-body")',
            '(data (i32.const 120) "request\\00path")',
            '(data (i32.const 140) "x-path")',
        ),
    )
    request = SandboxRequest(method="POST", path="/upload?x=1", body=b"payload")
    report = expect_ok(run_sandbox(wasm, b"", request=request))

    outcome = report.requests[0]
    assert outcome.callback_results[:2] == (("proxy_on_request_headers", 1), ("proxy_on_request_body", 0))
    assert ("x-path", "/upload?x=1") in outcome.request_headers
    assert ("x-body", "payload") in outcome.request_headers
    assert ("content-length", "7") in outcome.request_headers


def test_bad_pointers_get_invalid_memory_access_not_an_exception() -> None:
    def expect(call: str, status: int) -> str:
        return f"(if (i32.ne {call} (i32.const {status})) (then unreachable))"

    wasm = filter_module(
        # a message running off the end of memory
        expect("(call $log (i32.const 2) (i32.const -16) (i32.const 100))", 6)
        # a key whose end overflows 32 bits
        + expect("(call $add (i32.const 0) (i32.const -1) (i32.const 2) (i32.const 0) (i32.const 1))", 6)
        # an out-pointer outside memory, for a value that exists
        + expect("(call $get (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 70000) (i32.const 4))", 6)
        + expect("(call $buffer (i32.const 6) (i32.const 0) (i32.const 2) (i32.const -4) (i32.const 4))", 6)
        + expect(
            "(call $respond (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 65530) (i32.const 100)"
            " (i32.const 0) (i32.const 0) (i32.const 0))",
            6,
        )
        # WASI says EFAULT (21) for an iovec array outside memory
        + expect("(call $fd_write (i32.const 1) (i32.const 65532) (i32.const 2) (i32.const 0))", 21),
        imports=(LOG, ADD_VALUE, GET_VALUE, GET_BUFFER, LOCAL_RESPONSE, FD_WRITE),
        extra=('(data (i32.const 100) ":path")',),
    )
    report = expect_ok(run_sandbox(wasm, b"", vm_config=b"vm"))

    assert all(outcome.local_response is None for outcome in report.requests)
    assert report.logs == ()


def test_wasi_fd_write_to_stdout_and_stderr_is_captured_as_logs() -> None:
    wasm = filter_module(
        "(drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32)))"
        "(drop (call $fd_write (i32.const 2) (i32.const 24) (i32.const 1) (i32.const 32)))",
        imports=(FD_WRITE,),
        extra=(
            # iovecs at 16 and 24: (pointer, length)
            f'(data (i32.const 16) "{wat_bytes(struct.pack("<IIII", 100, 16, 120, 5))}")',
            '(data (i32.const 100) "hello from wasi\\n")',
            '(data (i32.const 120) "oops\\n")',
        ),
    )
    report = expect_ok(run_sandbox(wasm, b"", limits=SandboxLimits(requests=2)))

    assert report.logs == ((2, "hello from wasi"), (4, "oops")) * 2


def test_abi_0_1_0_header_callbacks_take_no_end_of_stream() -> None:
    wasm = proxy_module(
        abi="0.1.0",
        imports=(GET_VALUE, ADD_VALUE),
        exports=(
            on_request_headers(
                # ABI 0.1.0 reports a missing header as Ok with an empty value
                "(if (call $get (i32.const 0) (i32.const 140) (i32.const 9) (i32.const 0) (i32.const 4))"
                " (then unreachable))"
                "(drop (call $add (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 120) (i32.const 5)))",
                abi_version="0.1.0",
            ),
            '(func (export "proxy_on_response_headers") (param i32 i32) (result i32) (i32.const 0))',
        ),
        extra=(
            '(data (i32.const 100) "x-abi")',
            '(data (i32.const 120) "0.1.0")',
            '(data (i32.const 140) "x-missing")',
        ),
    )
    report = expect_ok(run_sandbox(wasm, b""))

    for outcome in report.requests:
        assert ("x-abi", "0.1.0") in outcome.request_headers
        assert [name for name, _ in outcome.callback_results] == [
            "proxy_on_request_headers",
            "proxy_on_response_headers",
        ]


@pytest.mark.parametrize(
    ("allocator", "explanation"),
    [
        ("unreachable", "; in the module's allocator malloc, called by proxy_get_header_map_value"),
        ("(i32.const 0)", "; the module's allocator malloc(1) returned 0 (out of memory)"),
    ],
)
def test_a_failing_allocator_is_named_in_the_problem(allocator: str, explanation: str) -> None:
    wasm = proxy_module(
        allocator=None,
        imports=(GET_VALUE,),
        exports=(
            on_request_headers(
                "(if (call $get (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 0) (i32.const 4))"
                " (then unreachable))"
            ),
            RESPONSE_HEADERS,
        ),
        extra=(f'(func (export "malloc") (param i32) (result i32) {allocator})', '(data (i32.const 100) ":path")'),
    )
    report = run_sandbox(wasm, b"")

    problem = expect_problem(report, "request 1: proxy_on_request_headers")
    assert problem.startswith("proxy_on_request_headers trapped on request 1: wasm `unreachable` instruction executed")
    assert explanation in problem


def test_refusing_the_vm_configuration_is_a_start_problem() -> None:
    wat = proxy_wat().replace(
        '(func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))',
        '(func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 0))',
    )
    report = run_sandbox(compile_wat(wat), b"", vm_config=b"{}")

    assert expect_problem(report, "start") == "proxy_on_vm_start returned 0 (the filter refused its VM configuration)"


def test_an_imported_memory_is_supplied_like_envoy_does() -> None:
    wat = proxy_wat(
        imports=('(import "env" "memory" (memory 2))', LOG),
        exports=(on_request_headers("(drop (call $log (i32.const 2) (i32.const 16) (i32.const 3)))"), RESPONSE_HEADERS),
        extra=('(data (i32.const 16) "abc")',),
    ).replace('(memory (export "memory") 1)', "")
    report = expect_ok(run_sandbox(compile_wat(wat), b"", limits=SandboxLimits(requests=1)))

    assert report.logs == ((2, "abc"),)
    assert report.requests[0].memory_bytes == 2 * 65536


def test_metrics_and_shared_data_behave_like_envoy() -> None:
    imports = (
        '(import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))',
        '(import "env" "proxy_increment_metric" (func $increment (param i32 i64) (result i32)))',
        '(import "env" "proxy_get_metric" (func $metric (param i32 i32) (result i32)))',
        '(import "env" "proxy_set_shared_data" (func $share (param i32 i32 i32 i32 i32) (result i32)))',
        '(import "env" "proxy_get_shared_data" (func $shared (param i32 i32 i32 i32 i32) (result i32)))',
    )
    counter = "(i32.load (i32.const 64))"
    share = "(call $share (i32.const 110) (i32.const 3) (i32.const 120) (i32.const 2)"
    checks = (
        "(global.set $seen (i32.add (global.get $seen) (i32.const 1)))"
        # the counter defined at configure counts the requests; counters cannot go down (BadArgument)
        f"(if (call $increment {counter} (i64.const 1)) (then unreachable))"
        f"(if (call $metric {counter} (i32.const 72)) (then unreachable))"
        "(if (i64.ne (i64.load (i32.const 72)) (i64.extend_i32_u (global.get $seen))) (then unreachable))"
        f"(if (i32.ne (call $increment {counter} (i64.const -1)) (i32.const 2)) (then unreachable))"
        # shared data: a stale compare-and-swap value is refused (CasMismatch), the current one is not
        f"(if {share} (i32.const 0)) (then unreachable))"
        "(if (call $shared (i32.const 110) (i32.const 3) (i32.const 0) (i32.const 4) (i32.const 80))"
        " (then unreachable))"
        f"(if (i32.ne {share} (i32.add (i32.load (i32.const 80)) (i32.const 1))) (i32.const 8)) (then unreachable))"
        f"(if {share} (i32.load (i32.const 80))) (then unreachable))"
    )
    configure = (
        '(func (export "proxy_on_configure") (param i32 i32) (result i32)'
        " (drop (call $define (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 64))) (i32.const 1))"
    )
    wat = proxy_wat(
        imports=imports,
        exports=(on_request_headers(checks), RESPONSE_HEADERS),
        extra=(
            "(global $seen (mut i32) (i32.const 0))",
            '(data (i32.const 100) "requests")',
            '(data (i32.const 110) "key")',
            '(data (i32.const 120) "v1")',
        ),
    ).replace('(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))', configure)

    expect_ok(run_sandbox(compile_wat(wat), b""))


def test_replace_keeps_one_entry_and_remove_drops_them_all() -> None:
    wasm = filter_module(
        "(drop (call $replace (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 120) (i32.const 1)))"
        "(drop (call $remove (i32.const 0) (i32.const 140) (i32.const 6)))",
        imports=(
            '(import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))',
            '(import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))',
        ),
        extra=('(data (i32.const 100) "X-Dup")', '(data (i32.const 120) "c")', '(data (i32.const 140) "x-gone")'),
    )
    headers = (("x-dup", "a"), ("x-gone", "1"), ("x-dup", "b"), ("x-gone", "2"), ("x-kept", "k"))
    report = expect_ok(
        run_sandbox(wasm, b"", request=SandboxRequest(headers=headers), limits=SandboxLimits(requests=1))
    )

    assert report.requests[0].request_headers[4:6] == (("x-dup", "c"), ("x-kept", "k"))
    assert not any(name == "x-gone" for name, _ in report.requests[0].request_headers)


def unique_large_module(functions: int) -> bytes:
    """A module no cache has seen, whose compilation is real work (`functions` functions of arithmetic)."""
    salt = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    body = "".join(
        f" (local.set $y (i32.add (i32.mul (local.get $x) (i32.const {k + salt})) (local.get $y)))" for k in range(8)
    )
    extra = [f"(func $f{n} (param $x i32) (result i32) (local $y i32){body} (local.get $y))" for n in range(functions)]
    return proxy_module(extra=extra)


@pytest.mark.slow
def test_compiling_is_not_the_guests_time() -> None:
    """The wall clock is per callback and starts after compilation: a module that takes longer to
    compile than a callback may run is not blamed for it."""
    probe = unique_large_module(6000)
    started = time.monotonic()
    sandbox.compile_module(probe)
    compile_seconds = time.monotonic() - started
    module = unique_large_module(6000)  # as large, compiled by nobody yet
    limit = max(0.1, compile_seconds / 4)
    started = time.monotonic()
    report = run_sandbox(module, b"", limits=SandboxLimits(seconds_per_callback=limit))
    assert report.ok, report.problem
    assert time.monotonic() - started > 2 * limit  # the whole run took longer than one callback may


def test_a_module_is_compiled_once(machine_cache: Path) -> None:
    module = unique_large_module(10)
    first = sandbox.compile_module(module)
    assert sandbox.compile_module(module) is first  # this process keeps it
    assert any((machine_cache / "wasmtime").rglob("*")), "wasmtime's disk cache has it too"


PANIC = "panic: runtime error: index out of range [3] with length 3"


@pytest.mark.parametrize("how", ["fd_write", "proxy_log"])
def test_a_panic_written_one_byte_at_a_time_is_read_as_one_message(how: str) -> None:
    """TinyGo's runtime prints a panic a byte per call before it traps: the problem quotes it whole."""
    text = (PANIC + "\n").encode()
    data = f'(data (i32.const 400) "{wat_bytes(text)}")'
    if how == "fd_write":  # an iovec per byte at 1000, 8 bytes each
        imports = ('(import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))',)
        calls = "".join(
            f"(i32.store (i32.const {1000 + 8 * i}) (i32.const {400 + i}))"
            f"(i32.store (i32.const {1004 + 8 * i}) (i32.const 1))"
            f"(drop (call $w (i32.const 1) (i32.const {1000 + 8 * i}) (i32.const 1) (i32.const 300)))"
            for i in range(len(text))
        )
    else:
        imports = (LOG,)
        calls = "".join(
            f"(drop (call $log (i32.const 2) (i32.const {400 + i}) (i32.const 1)))" for i in range(len(text))
        )
    report = run_sandbox(filter_module(calls + "unreachable", imports=imports, extra=(data,)), b"")

    problem = expect_problem(report, "request 1: proxy_on_request_headers")
    assert problem.startswith("proxy_on_request_headers trapped on request 1: wasm `unreachable` instruction executed")
    assert problem.endswith(f"; it printed: {PANIC}")
    assert report.logs == ((2, PANIC),)


def test_a_callout_to_a_declared_cluster_is_answered_by_its_stand_in() -> None:
    report = expect_ok(
        run_sandbox(callout_module("auth"), b"", services={"auth": (201, {"x-from": "stand-in"}, b"ok")})
    )

    assert report.callouts == SandboxLimits().requests
    assert report.undeclared_clusters == ()
    assert ("x-auth-status", "201") in report.requests[0].request_headers  # from the answer, then resumed


def test_a_callout_to_an_undeclared_cluster_is_named() -> None:
    report = expect_ok(run_sandbox(callout_module("httpbin"), b""))

    assert report.undeclared_clusters == ("httpbin",)
    assert report.callouts == 0
    assert not any(name == "x-auth-status" for name, _ in report.requests[0].request_headers)


def test_an_answer_comes_to_the_root_context_so_the_stream_must_be_made_effective() -> None:
    """As in Envoy: a handler that does not make the stream's context effective cannot touch the request."""
    report = expect_ok(run_sandbox(callout_module("auth", effective=False), b"", services={"auth": (201, {}, b"ok")}))

    assert report.callouts == SandboxLimits().requests
    assert not any(name == "x-auth-status" for name, _ in report.requests[0].request_headers)
