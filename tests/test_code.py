"""The call graph: capabilities are the host calls the exported callbacks can reach, not every import.

Modules are WAT written to have each shape: a host function imported and never called (as every
SDK filter has), called through a chain of functions, from a table through call_indirect (only the
functions of the called type count), from the start function, and an instruction the decoder does
not know (the imports are then the answer).
"""

from __future__ import annotations

import pytest

from generator.wasm.binary import read_module
from generator.wasm.code import UnknownInstruction, reachable_functions, reachable_imports
from generator.wasm.inspect import inspect_binary
from generator.wasm.wat import compile_wat
from tests.wasm_modules import custom_section, proxy_wat

HTTP_CALL = '(import "env" "proxy_http_call" (func $http (param' + " i32" * 10 + ") (result i32)))"
GRPC_CALL = '(import "env" "proxy_grpc_call" (func $grpc (param' + " i32" * 12 + ") (result i32)))"
SET_PROPERTY = '(import "env" "proxy_set_property" (func $set (param i32 i32 i32 i32) (result i32)))'
CALL_HTTP = "(drop (call $http" + " (i32.const 0)" * 10 + "))"
CALL_GRPC = "(drop (call $grpc" + " (i32.const 0)" * 12 + "))"
CALL_SET = "(drop (call $set (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))"


def module(body: str, *extra: str) -> bytes:
    """An HTTP filter importing proxy_http_call, proxy_grpc_call and proxy_set_property, whose
    request headers callback runs `body`."""
    callback = f'(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) {body} (i32.const 0))'
    return compile_wat(proxy_wat(imports=(HTTP_CALL, GRPC_CALL, SET_PROPERTY), exports=(callback,), extra=extra))


def facts(wasm: bytes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found, findings = inspect_binary(wasm, "m.wasm")
    assert found is not None, findings
    return found.capabilities, found.imported_capabilities


def test_an_imported_host_function_that_nothing_calls_is_no_capability() -> None:
    """What every Rust SDK filter looks like: all host functions imported, a few called."""
    wasm = module(
        "(call $helper)",
        f"(func $helper {CALL_HTTP})",
        f"(func $never_called {CALL_GRPC} {CALL_SET})",  # dead code: neither exported nor in a table
    )
    assert facts(wasm) == (("http_calls",), ("grpc", "http_calls", "properties_write"))


def test_an_indirect_call_reaches_the_table_functions_of_its_type_only() -> None:
    wasm = module(
        "(drop (call_indirect (type $one) (i32.const 7) (i32.const 0)))",
        "(type $one (func (param i32) (result i32)))",
        "(type $none (func))",
        "(table 2 funcref)",
        "(elem (i32.const 0) $set_it $grpc_it)",
        f"(func $set_it (type $one) {CALL_SET} (i32.const 1))",  # (i32) -> i32: the call's type
        f"(func $grpc_it (type $none) {CALL_GRPC})",  # () -> (): in the table, but never called so
    )
    assert facts(wasm) == (("properties_write",), ("grpc", "http_calls", "properties_write"))


def test_ref_func_makes_a_function_callable_indirectly() -> None:
    wasm = module(
        "(call_indirect (type $none) (i32.const 0))",
        "(type $none (func))",
        "(table 1 funcref)",
        "(func $taken (type $none) " + CALL_HTTP + ")",
        "(elem declare func $taken)",
        '(func (export "take") (result funcref) (ref.func $taken))',
    )
    assert facts(wasm)[0] == ("http_calls",)


def test_the_start_function_is_a_root() -> None:
    wasm = module("", f"(func $boot {CALL_HTTP})", "(start $boot)")
    assert facts(wasm)[0] == ("http_calls",)


def test_reachable_functions_follow_every_call() -> None:
    wasm = module("(call $a)", "(func $a (call $b))", f"(func $b {CALL_HTTP})", "(func $c (call $a))")
    info = read_module(wasm)
    reached = reachable_functions(wasm, info)
    assert 0 in reached  # proxy_http_call, import 0
    assert set(reachable_imports(wasm, info)) == {("env", "proxy_http_call")}


def test_an_instruction_the_decoder_does_not_know_is_said_so() -> None:
    """Inspection then records what the imports allow (a superset), never less."""
    wasm = bytearray(module(CALL_HTTP))
    code = read_module(bytes(wasm)).sections.code
    assert code is not None
    # The first body: count (1 byte), size (1 byte), local declarations (1 byte: none), then code.
    wasm[code[0] + 3] = 0xE0  # an opcode no proposal defines
    broken = bytes(wasm)
    with pytest.raises(UnknownInstruction, match="opcode 0xe0"):
        reachable_functions(broken, read_module(broken))


def test_a_custom_section_does_not_disturb_the_graph() -> None:
    wasm = module(CALL_HTTP) + custom_section("name-ish", b"\x00\x01\x02")
    assert facts(wasm)[0] == ("http_calls",)
