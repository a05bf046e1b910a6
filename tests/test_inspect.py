"""generator.wasm.inspect: what a binary is and whether Envoy's proxy-wasm host would load it.

Every module starts from `proxy_module()` (a valid ABI 0.2.1 HTTP filter) and changes one thing.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
import wasmtime
import yaml

from generator.metadata import rules
from generator.metadata.findings import Finding, Rule, Severity
from generator.wasm import abi, inspect
from generator.wasm.binary import COMPONENT_VERSION, WASM_MAGIC
from generator.wasm.inspect import BinaryFacts, inspect_binary
from generator.wasm.wat import compile_wat
from tests.conftest import REPO_ROOT
from tests.wasm_modules import HTTP_EXPORTS, NETWORK_EXPORTS, custom_section, producers_section, proxy_module, proxy_wat

DISPLAY = "catalog/filters/probe/filter.yaml"
FIELD = "versions[0]"

# ABI 0.1.0 HTTP callbacks: the header callbacks have no end-of-stream parameter.
HTTP_EXPORTS_0_1_0 = (
    '(func (export "proxy_on_request_headers") (param i32 i32) (result i32) (i32.const 0))',
    '(func (export "proxy_on_response_headers") (param i32 i32) (result i32) (i32.const 0))',
)


def inspect_module(data: bytes) -> tuple[BinaryFacts | None, list[Finding]]:
    return inspect_binary(data, DISPLAY, field=FIELD)


def only(findings: Sequence[Finding], rule: type[Rule]) -> Finding:
    """The single finding, which must be of `rule`."""
    assert [f.rule.id for f in findings] == [rule.id], [f.format() for f in findings]
    return findings[0]


def refused(data: bytes, rule: type[Rule]) -> Finding:
    """Inspect `data`, which must give no facts and exactly one error of `rule`."""
    facts, findings = inspect_module(data)
    assert facts is None
    finding = only(findings, rule)
    assert finding.severity is Severity.ERROR
    return finding


def accepted(data: bytes) -> BinaryFacts:
    """Inspect `data`, which must give facts and no findings at all."""
    facts, findings = inspect_module(data)
    assert findings == [], [f.format() for f in findings]
    assert facts is not None
    return facts


def host_import(name: str, module: str = "env", version: str = "0.2.1") -> str:
    """A WAT import of a host function with the signature Envoy gives it for `version`."""
    return import_with(name, abi.host_imports(version)[(module, name)], module)


def calling(*names: str | tuple[str, str], version: str = "0.2.1") -> bytes:
    """A filter that imports the host functions `names` (a name in `env`, or (name, module)) and
    calls each from proxy_on_request_headers: reachable, so its capabilities count."""
    specs = [(name, "env") if isinstance(name, str) else name for name in names]
    calls = []
    for index, (name, module) in enumerate(specs):
        sig = abi.host_imports(version)[(module, name)]
        zeros = " ".join(f"({kind}.const 0)" for kind in sig.params)
        calls.append(f"(call {index} {zeros})" + " drop" * len(sig.results))
    callback = (
        f'(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) {" ".join(calls)} (i32.const 0))'
    )
    return proxy_module(
        imports=[host_import(name, module, version) for name, module in specs],
        exports=[callback, HTTP_EXPORTS[1]],
    )


def import_with(name: str, sig: abi.Signature, module: str = "env") -> str:
    params = f" (param {' '.join(sig.params)})" if sig.params else ""
    results = f" (result {' '.join(sig.results)})" if sig.results else ""
    return f'(import "{module}" "{name}" (func{params}{results}))'


# --- the file is not a core module ---------------------------------------------------------------


def test_findings_point_at_the_file_and_field() -> None:
    finding = refused(b"", rules.EmptyBinary)

    assert finding.format() == f"{DISPLAY}: error: {FIELD}: expected a WebAssembly module, got an empty file [CAT203]"


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "89 50 4e 47", id="PNG"),
        pytest.param(b"\x7fELF\x02\x01\x01\x00" + bytes(8), "7f 45 4c 46", id="ELF"),
        pytest.param(b"hello, world\n", "68 65 6c 6c", id="text that is not WAT"),
        pytest.param(b"\0as", "00 61 73", id="shorter than the magic"),
    ],
)
def test_not_wasm(data: bytes, shown: str) -> None:
    finding = refused(data, rules.NotWasm)

    assert "00 61 73 6d" in finding.message
    assert f"got {shown}" in finding.message


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("", id="plain"),
        pytest.param("\n  \t\r\n", id="leading whitespace"),
        pytest.param(";; add-header: a filter\n;; second comment line\n\n", id="line comments"),
        pytest.param("(; block comment ;)\n", id="block comment"),
    ],
)
def test_wat_text(prefix: str) -> None:
    text = prefix + proxy_wat()
    compile_wat(text)  # proves the fixture is valid WAT, so only its being text is wrong

    finding = refused(text.encode(), rules.WatText)

    assert "WebAssembly text (WAT)" in finding.message
    assert "compile it first" in finding.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(WASM_MAGIC + b"\x0d\x00\x01\x00" + proxy_module()[8:], id="component header"),
        pytest.param(compile_wat("(component)"), id="compiled component"),
    ],
)
def test_component(data: bytes) -> None:
    assert data[4:8] == COMPONENT_VERSION

    finding = refused(data, rules.ComponentNotModule)

    assert "expected a core module, got a WebAssembly component" in finding.message


def test_truncated_module() -> None:
    data = proxy_module()

    finding = refused(data[: len(data) // 2], rules.InvalidModule)

    assert finding.message.startswith("expected a valid module, got: ")


@pytest.mark.parametrize(
    ("version", "shown"),
    [
        pytest.param(b"\x02\x00\x00\x00", "02 00 00 00", id="version 2"),
        pytest.param(b"\x00\x00\x00\x01", "00 00 00 01", id="big-endian 1"),
        pytest.param(b"\x01\x00", "01 00", id="cut inside the version"),
        pytest.param(b"", "nothing", id="magic only"),
    ],
)
def test_wrong_version(version: bytes, shown: str) -> None:
    body = proxy_module()[8:] if len(version) == 4 else b""

    finding = refused(WASM_MAGIC + version + body, rules.InvalidModule)

    assert finding.message == f"expected wasm version 01 00 00 00, got {shown}"


def test_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    data = proxy_module()
    monkeypatch.setattr(inspect, "MAX_BINARY_BYTES", len(data) - 1)

    finding = refused(data, rules.BinaryTooLarge)

    assert finding.message == f"expected at most {len(data) - 1} bytes, got {len(data)}"


def test_size_at_the_cap_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    data = proxy_module()
    monkeypatch.setattr(inspect, "MAX_BINARY_BYTES", len(data))

    assert accepted(data).size == len(data)


# --- ABI marker and allocator ----------------------------------------------------------------------


def test_no_abi_marker_on_a_proxy_wasm_build_says_it_predates_the_marker() -> None:
    """Istio's early extensions (stats, metadata_exchange, jwt_header): callbacks, no marker."""
    finding = refused(proxy_module(abi=None), rules.NoAbiMarker)

    assert "proxy_abi_version_0_2_1" in finding.message
    assert "got proxy-wasm callbacks (proxy_on_memory_allocate, proxy_on_context_create, proxy_on_vm_start, ...)" in (
        finding.message
    )
    assert finding.message.endswith("rebuild it with a current proxy-wasm SDK")


@pytest.mark.parametrize(
    ("wat", "what"),
    [
        ('(module (memory (export "memory") 1) (func (export "_start")))', "a WASI program (it exports _start)"),
        ('(module (func (export "_initialize")) (func (export "run")))', "a WASI reactor (it exports _initialize)"),
        ('(module (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))',
         "a module for another host"),
    ],
)  # fmt: skip
def test_a_module_that_is_not_proxy_wasm_is_told_apart(wat: str, what: str) -> None:
    finding = refused(compile_wat(wat), rules.NotProxyWasm)

    assert finding.message.endswith(f"and proxy_on_* callbacks, got neither: {what}, not a proxy-wasm filter")


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("(memory 65536)", "a memory of at least 65536 pages (4096 MiB): expected at most 65535"),
        ("(table 10000000 funcref)", "a table of at least 10000000 elements: expected at most 9999999"),
        ('(import "env" "table" (table 20000000 funcref))', "a table of at least 20000000 elements"),
    ],
)
def test_sizes_no_runtime_allocates_are_refused_at_inspection(declaration: str, message: str) -> None:
    wat = proxy_wat().replace('(memory (export "memory") 1)', "") if "memory" in declaration else proxy_wat()
    wat = wat.replace("(module", f"(module {declaration}" if declaration.startswith("(import") else "(module", 1)
    if not declaration.startswith("(import"):
        wat = wat[:-1] + f"{declaration})"
    _facts, findings = inspect_module(compile_wat(wat))
    finding = only(findings, rules.UnallocatableLimits)

    assert finding.severity is Severity.ERROR
    assert finding.message.startswith(message)


def test_the_largest_sizes_a_runtime_allocates_are_accepted() -> None:
    accepted(compile_wat(proxy_wat(extra=["(table 9999999 funcref)"])))


def test_abi_marker_must_be_a_function() -> None:
    data = proxy_module(abi=None, extra=['(global (export "proxy_abi_version_0_2_1") i32 (i32.const 0))'])

    refused(data, rules.NoAbiMarker)


@pytest.mark.parametrize(
    ("first", "second", "exports"),
    [("0.2.1", "0.1.0", HTTP_EXPORTS), ("0.1.0", "0.2.1", HTTP_EXPORTS_0_1_0)],
)
def test_two_abi_markers_warn_and_the_first_wins(first: str, second: str, exports: tuple[str, ...]) -> None:
    second_marker = f"proxy_abi_version_{second.replace('.', '_')}"
    data = proxy_module(abi=first, exports=exports, extra=[f'(func (export "{second_marker}"))'])

    facts, findings = inspect_module(data)

    finding = only(findings, rules.ConflictingAbiMarkers)
    assert finding.severity is Severity.WARNING
    first_marker = f"proxy_abi_version_{first.replace('.', '_')}"
    assert f"got {first_marker}, {second_marker}" in finding.message
    assert finding.message.endswith(f"Envoy uses the first, {first_marker}")
    assert facts is not None
    assert facts.abi == first


@pytest.mark.parametrize("version", abi.ABI_VERSIONS)
def test_abi_version_comes_from_the_marker(version: str) -> None:
    exports = HTTP_EXPORTS_0_1_0 if version == "0.1.0" else HTTP_EXPORTS

    assert accepted(proxy_module(abi=version, exports=exports)).abi == version


def test_no_allocator() -> None:
    facts, findings = inspect_module(proxy_module(allocator=None))

    finding = only(findings, rules.NoAllocator)
    assert finding.message == "expected an export proxy_on_memory_allocate or malloc, got none"
    assert facts is not None  # the rest is still worth reporting


def test_malloc_alone_is_an_allocator() -> None:
    accepted(proxy_module(allocator="malloc"))


# --- imports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wat_import", "label"),
    [
        pytest.param('(import "env" "abort" (func (param i32 i32 i32 i32)))', "env.abort", id="env.abort"),
        pytest.param('(import "env" "proxy_not_real" (func (result i32)))', "env.proxy_not_real", id="made up"),
        pytest.param(
            '(import "proxy" "proxy_log" (func (param i32 i32 i32) (result i32)))',
            "proxy.proxy_log",
            id="unknown module",
        ),
        pytest.param(
            '(import "wasi_snapshot_preview1" "proc_raise" (func (param i32) (result i32)))',
            "wasi_snapshot_preview1.proc_raise",
            id="WASI function Envoy lacks",
        ),
    ],
)
def test_unknown_import(wat_import: str, label: str) -> None:
    _facts, findings = inspect_module(proxy_module(imports=[wat_import]))

    finding = only(findings, rules.UnknownImport)
    assert finding.message == (
        f"import '{label}': expected a host function of proxy-wasm ABI 0.2.1 or WASI, got an unknown name"
    )


def test_global_import_is_refused() -> None:
    _facts, findings = inspect_module(proxy_module(imports=['(import "env" "stack_pointer" (global (mut i32)))']))

    finding = only(findings, rules.UnknownImport)
    assert finding.message == "import 'env.stack_pointer': expected a function, memory or table, got a global"


def test_memory_and_table_imports_are_accepted() -> None:
    text = proxy_wat(imports=['(import "env" "__indirect_function_table" (table 1 funcref))']).replace(
        '(memory (export "memory") 1)', '(import "env" "memory" (memory 1))'
    )

    facts = accepted(compile_wat(text))

    assert [imp.kind for imp in facts.imports] == ["table", "memory"]


@pytest.mark.parametrize(
    ("module", "name", "wrong", "expected", "actual"),
    [
        ("env", "proxy_log", "(param i32) (result i32)", "(i32, i32, i32) -> i32", "(i32) -> i32"),
        ("env", "proxy_log", "(param i32 i32 i32)", "(i32, i32, i32) -> i32", "(i32, i32, i32) -> ()"),
        ("env", "proxy_increment_metric", "(param i32 i32) (result i32)", "(i32, i64) -> i32", "(i32, i32) -> i32"),
        ("wasi_snapshot_preview1", "fd_write", "(param i32 i32) (result i32)", "(i32, i32, i32, i32) -> i32",
         "(i32, i32) -> i32"),
    ],
)  # fmt: skip
def test_import_with_wrong_signature(module: str, name: str, wrong: str, expected: str, actual: str) -> None:
    _facts, findings = inspect_module(proxy_module(imports=[f'(import "{module}" "{name}" (func {wrong}))']))

    finding = only(findings, rules.ImportSignature)
    assert finding.message == f"import '{module}.{name}': expected {expected}, got {actual}"


@pytest.mark.parametrize("module", sorted(abi.WASI_MODULES))
def test_wasi_imports_under_either_module_name(module: str) -> None:
    facts = accepted(calling(("fd_write", module), ("proc_exit", module)))

    assert facts.capabilities == ("wasi",)


# --- ABI versions differ -------------------------------------------------------------------------


def test_proxy_continue_stream_exists_in_0_2_1() -> None:
    accepted(proxy_module(imports=[host_import("proxy_continue_stream")]))


def test_proxy_continue_stream_is_unknown_in_0_1_0() -> None:
    sig = abi.host_imports("0.2.1")[("env", "proxy_continue_stream")]
    data = proxy_module(abi="0.1.0", exports=HTTP_EXPORTS_0_1_0, imports=[import_with("proxy_continue_stream", sig)])

    _facts, findings = inspect_module(data)

    finding = only(findings, rules.UnknownImport)
    assert finding.message.startswith(
        "import 'env.proxy_continue_stream': expected a host function of proxy-wasm ABI 0.1.0"
    )


def test_proxy_get_configuration_exists_in_0_1_0() -> None:
    accepted(
        proxy_module(
            abi="0.1.0", exports=HTTP_EXPORTS_0_1_0, imports=[host_import("proxy_get_configuration", version="0.1.0")]
        )
    )


def test_proxy_get_configuration_is_unknown_in_0_2_1() -> None:
    sig = abi.host_imports("0.1.0")[("env", "proxy_get_configuration")]

    _facts, findings = inspect_module(proxy_module(imports=[import_with("proxy_get_configuration", sig)]))

    finding = only(findings, rules.UnknownImport)
    assert finding.message.startswith(
        "import 'env.proxy_get_configuration': expected a host function of proxy-wasm ABI 0.2.1"
    )


def test_two_parameter_request_headers_is_right_for_0_1_0() -> None:
    assert accepted(proxy_module(abi="0.1.0", exports=HTTP_EXPORTS_0_1_0)).kind == "http"


def test_two_parameter_request_headers_is_wrong_for_0_2_1() -> None:
    facts, findings = inspect_module(proxy_module(exports=HTTP_EXPORTS_0_1_0[:1]))

    finding = only(findings, rules.CallbackSignature)
    assert finding.message == (
        "export 'proxy_on_request_headers': expected (i32, i32, i32) -> i32 for ABI 0.2.1, got (i32, i32) -> i32"
    )
    assert facts is not None


def test_three_parameter_request_headers_is_wrong_for_0_1_0() -> None:
    _facts, findings = inspect_module(proxy_module(abi="0.1.0", exports=HTTP_EXPORTS[:1]))

    finding = only(findings, rules.CallbackSignature)
    assert "expected (i32, i32) -> i32 for ABI 0.1.0, got (i32, i32, i32) -> i32" in finding.message


# --- callbacks Envoy never looks up ----------------------------------------------------------------

BAD_START = '(func (export "_start") (param i32))'
BAD_MAIN = '(func (export "main") (result i32) (i32.const 0))'
INITIALIZE = '(func (export "_initialize"))'
BAD_ALLOCATE = '(func (export "proxy_on_memory_allocate") (result i32) (i32.const 0))'


def test_start_is_not_looked_up_when_initialize_is_exported() -> None:
    accepted(proxy_module(extra=[INITIALIZE, BAD_START]))


def test_start_is_checked_without_initialize() -> None:
    _facts, findings = inspect_module(proxy_module(extra=[BAD_START]))

    finding = only(findings, rules.CallbackSignature)
    assert finding.message == "export '_start': expected () -> () for ABI 0.2.1, got (i32) -> ()"


def test_main_is_not_looked_up_without_initialize() -> None:
    accepted(proxy_module(extra=[BAD_MAIN]))


def test_main_is_checked_with_initialize() -> None:
    _facts, findings = inspect_module(proxy_module(extra=[INITIALIZE, BAD_MAIN]))

    finding = only(findings, rules.CallbackSignature)
    assert finding.message.startswith("export 'main': expected (i32, i32) -> i32")


def test_proxy_on_memory_allocate_is_not_looked_up_when_malloc_is_exported() -> None:
    accepted(proxy_module(allocator="malloc", extra=[BAD_ALLOCATE]))


def test_proxy_on_memory_allocate_is_checked_without_malloc() -> None:
    _facts, findings = inspect_module(proxy_module(allocator=None, extra=[BAD_ALLOCATE]))

    finding = only(findings, rules.CallbackSignature)
    assert finding.message == "export 'proxy_on_memory_allocate': expected (i32) -> i32 for ABI 0.2.1, got () -> i32"


# --- kind ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exports", "kind"),
    [
        pytest.param(HTTP_EXPORTS, "http", id="http"),
        pytest.param(
            ['(func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))'],
            "http",
            id="http body only",
        ),
        pytest.param(NETWORK_EXPORTS, "network", id="network"),
        pytest.param((*HTTP_EXPORTS, *NETWORK_EXPORTS), "both", id="both"),
    ],
)
def test_kind(exports: Sequence[str], kind: str) -> None:
    assert accepted(proxy_module(exports=exports)).kind == kind


def test_no_callbacks_warns() -> None:
    facts, findings = inspect_module(proxy_module(exports=()))

    finding = only(findings, rules.NoCallbacks)
    assert finding.severity is Severity.WARNING
    assert "expected HTTP or network callbacks" in finding.message
    assert facts is not None
    assert facts.kind == "none"


# --- capabilities ------------------------------------------------------------------------------------

CAPABILITY_CASES = [
    ("http_calls", "proxy_http_call"),
    ("grpc", "proxy_grpc_call"),
    ("grpc", "proxy_grpc_stream"),
    ("metrics", "proxy_define_metric"),
    ("metrics", "proxy_increment_metric"),
    ("timers", "proxy_set_tick_period_milliseconds"),
    ("shared_data", "proxy_get_shared_data"),
    ("shared_queues", "proxy_register_shared_queue"),
    ("properties_read", "proxy_get_property"),
    ("properties_write", "proxy_set_property"),
    ("local_response", "proxy_send_local_response"),
    ("foreign_functions", "proxy_call_foreign_function"),
]


@pytest.mark.parametrize(("capability", "name"), CAPABILITY_CASES)
def test_capability_from_import(capability: str, name: str) -> None:
    assert accepted(calling(name)).capabilities == (capability,)
    imported_only = accepted(proxy_module(imports=[host_import(name)]))
    assert imported_only.capabilities == ()  # never called: not a capability it uses
    assert imported_only.imported_capabilities == (capability,)


def test_every_capability_is_tested() -> None:
    assert {capability for capability, _name in CAPABILITY_CASES} == set(abi.CAPABILITY_IMPORTS)


def test_wasi_capability() -> None:
    facts = accepted(calling(("fd_write", "wasi_snapshot_preview1")))

    assert facts.capabilities == ("wasi",)


def test_capabilities_are_sorted_and_logging_is_not_one() -> None:
    names = ["proxy_log", "proxy_set_tick_period_milliseconds", "proxy_http_call", "proxy_get_header_map_value",
             ("clock_time_get", "wasi_snapshot_preview1")]  # fmt: skip

    assert accepted(calling(*names)).capabilities == ("http_calls", "timers", "wasi")


def test_minimal_filter_has_no_capabilities() -> None:
    assert accepted(proxy_module()).capabilities == ()


# --- facts -----------------------------------------------------------------------------------------


def test_sha256_size_and_declarations() -> None:
    data = proxy_module(imports=[host_import("proxy_log")])

    facts = accepted(data)

    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.size == len(data)
    assert [f"{imp.module}.{imp.name}" for imp in facts.imports] == ["env.proxy_log"]
    assert "proxy_on_request_headers" in [export.name for export in facts.exports]


@pytest.mark.parametrize(
    ("language", "hint"),
    [
        pytest.param("Rust", "rust", id="Rust"),
        pytest.param("C11", "c", id="C11"),
        pytest.param("C", "c", id="C"),
        pytest.param("C++", "cpp", id="C++"),
        # What clang writes: the DWARF language name without its DW_LANG_ prefix.
        pytest.param("C_plus_plus_14", "cpp", id="clang C++14"),
        pytest.param("C_plus_plus", "cpp", id="clang C++"),
        pytest.param("Go", "go", id="Go"),
        pytest.param("Cobol85", None, id="not C"),
        pytest.param("JavaScript", None, id="unknown"),
    ],
)
def test_language_hint_from_producers(language: str, hint: str | None) -> None:
    data = proxy_module() + producers_section({"language": [(language, "")], "processed-by": [("clang", "19")]})

    assert accepted(data).language_hint == hint


@pytest.mark.parametrize(
    ("producers", "hint"),
    [
        pytest.param({"language": [("C99", "")], "processed-by": [("TinyGo", "0.28.1")]}, "go", id="TinyGo"),
        pytest.param(
            {
                "language": [("C99", "")],
                "processed-by": [("clang", "15.0.0 (https://github.com/tinygo-org/llvm-project)")],
            },
            "go",
            id="tinygo-org's clang",
        ),
        pytest.param(
            {
                "language": [("Rust", ""), ("C11", "")],
                "processed-by": [("rustc", "1.63.0 (4b91a6ea7 2022-08-08)"), ("clang", "14.0.6")],
            },
            "rust",
            id="Rust with C in it",
        ),  # fmt: skip
        pytest.param({"processed-by": [("rustc", "1.80.0")]}, "rust", id="rustc alone"),
        pytest.param(
            {
                "language": [("C11", ""), ("C_plus_plus_14", "")],
                "processed-by": [("clang", "17.0.0")],
                "sdk": [("Emscripten", "3.1.50")],
            },
            "cpp",
            id="emscripten C++ with C",
        ),  # fmt: skip
        pytest.param({"processed-by": [("Go", "go1.22.0")]}, "go", id="Go's own compiler"),
        pytest.param({"processed-by": [("AssemblyScript", "0.27.0")]}, "assemblyscript", id="AssemblyScript"),
        pytest.param({"processed-by": [("Zig", "0.13.0")]}, "zig", id="Zig"),
        pytest.param({"language": [("Fortran95", "")], "processed-by": [("flang", "18")]}, None, id="unknown"),
        pytest.param({"processed-by": [("wasm-opt", "116")]}, None, id="only an optimizer"),
    ],
)
def test_language_hint_reads_the_whole_producers_section(
    producers: dict[str, list[tuple[str, str]]], hint: str | None
) -> None:
    assert accepted(proxy_module() + producers_section(producers)).language_hint == hint


def test_no_language_hint_without_producers() -> None:
    assert accepted(proxy_module()).language_hint is None


def test_malformed_producers_section_does_not_invalidate_the_module() -> None:
    facts = accepted(proxy_module() + custom_section("producers", b"\x05\x01"))

    assert facts.language_hint is None


def test_inspection_does_not_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    data = proxy_module(imports=[host_import("proxy_log")])

    def no_compiling(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("inspection compiled the module")

    monkeypatch.setattr(wasmtime.Module, "__init__", no_compiling)

    assert accepted(data).abi == "0.2.1"
    refused(data[:-3], rules.InvalidModule)


# --- robustness --------------------------------------------------------------------------------------


def fuzz_base() -> bytes:
    """A module exercising every reader path: imports of each kind, exports, custom sections."""
    imports = [
        host_import("proxy_log"),
        host_import("fd_write", "wasi_snapshot_preview1"),
        '(import "env" "__indirect_function_table" (table 1 funcref))',
    ]
    extra = ['(global (export "g") i32 (i32.const 0))']
    return (
        proxy_module(imports=imports, extra=extra)
        + producers_section({"language": [("Rust", "")]})
        + custom_section("other", b"\x00\x01")
    )


def assert_inspected(data: bytes) -> None:
    facts, findings = inspect_module(data)
    for finding in findings:
        assert finding.format().endswith(f"[{finding.rule.id}]")
    if facts is None:
        assert any(f.severity is Severity.ERROR for f in findings), data.hex()


def test_every_prefix_is_inspected_without_raising() -> None:
    data = fuzz_base()
    assert accepted(data).language_hint == "rust"

    for length in range(len(data)):
        assert_inspected(data[:length])


def test_single_byte_mutations_are_inspected_without_raising() -> None:
    data = fuzz_base()
    rng = random.Random(0)

    for _ in range(400):
        mutated = bytearray(data)
        position = rng.randrange(len(data))
        mutated[position] = (mutated[position] + rng.randrange(1, 256)) % 256
        assert_inspected(bytes(mutated))


# --- the shipped filter --------------------------------------------------------------------------------


def test_shipped_add_header_filter_matches_its_recorded_facts() -> None:
    directory = REPO_ROOT / "catalog" / "filters" / "add-header"
    metadata = yaml.safe_load((directory / "filter.yaml").read_text(encoding="utf-8"))
    (version,) = [v for v in metadata["versions"] if v["source"]["build"]["path"] == "src/add_header.wat"]
    data = compile_wat(Path(directory / version["source"]["build"]["path"]).read_text(encoding="utf-8"))

    facts = accepted(data)

    recorded = {key: version[key] for key in ("sha256", "size", "abi", "kind", "capabilities")}
    assert {
        "sha256": facts.sha256,
        "size": facts.size,
        "abi": facts.abi,
        "kind": facts.kind,
        "capabilities": list(facts.capabilities),
    } == recorded
