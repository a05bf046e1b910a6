"""generator.wasm.binary: reading a module's declarations without compiling it.

Well-formed modules are WAT compiled here; malformed ones are bytes built here from the binary
format's pieces (sections, LEB128 integers, names), which wasmtime would refuse to write.
"""

from __future__ import annotations

import pytest

from generator.wasm.binary import (
    MODULE_VERSION,
    WASM_MAGIC,
    Export,
    FuncType,
    Import,
    MalformedModule,
    read_module,
)
from generator.wasm.wat import compile_wat
from tests.wasm_modules import custom_section, name, producers_section, section

HEADER = WASM_MAGIC + MODULE_VERSION


I32_TO_I32 = FuncType(("i32",), ("i32",))


def test_imports_are_listed_in_order_with_kind_and_function_type() -> None:
    info = read_module(
        compile_wat(
            """(module
              (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
              (import "env" "memory" (memory 2 16))
              (import "env" "table" (table 1 funcref))
              (import "env" "g" (global (mut i64)))
              (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))"""
        )
    )

    assert info.imports == (
        Import("env", "proxy_log", "func", FuncType(("i32", "i32", "i32"), ("i32",))),
        Import("env", "memory", "memory"),
        Import("env", "table", "table"),
        Import("env", "g", "global"),
        Import("wasi_snapshot_preview1", "proc_exit", "func", FuncType(("i32",), ())),
    )
    # An imported memory is not one the module defines.
    assert info.memories == ()


def test_exports_carry_the_type_of_the_function_they_name() -> None:
    info = read_module(
        compile_wat(
            """(module
              (import "env" "imported" (func $imported (param i64) (result f64)))
              (memory (export "memory") 1)
              (global (export "counter") i32 (i32.const 0))
              (table (export "table") 1 funcref)
              (func $defined (export "defined") (param i32) (result i32) (local.get 0))
              (func (export "multi") (result i32 i64) (i32.const 0) (i64.const 0))
              (export "reexported" (func $imported)))"""
        )
    )

    assert info.exports == (
        Export("memory", "memory"),
        Export("counter", "global"),
        Export("table", "table"),
        Export("defined", "func", I32_TO_I32),
        Export("multi", "func", FuncType((), ("i32", "i64"))),
        # Imported functions come first in the function index space.
        Export("reexported", "func", FuncType(("i64",), ("f64",))),
    )
    assert info.export_named("defined") == Export("defined", "func", I32_TO_I32)
    assert info.export_named("missing") is None


def test_memories_record_their_limits() -> None:
    info = read_module(compile_wat("(module (memory 1) (memory 2 5) (memory 3 4 shared))"))

    assert info.memories == ((1, None), (2, 5), (3, 4))


def test_custom_sections_are_listed_by_name_in_order() -> None:
    info = read_module(compile_wat('(module (@custom "first" "abc") (@custom "second" "") (func $named))'))

    # wat2wasm writes a `name` section for the named function after the others.
    assert info.custom_sections == ("first", "second", "name")


def test_producers_section_is_parsed_into_fields() -> None:
    info = read_module(
        compile_wat(
            """(module (@producers
              (language "Rust" "")
              (processed-by "rustc" "1.80.0")
              (processed-by "walrus" "0.20.3")))"""
        )
    )

    assert info.custom_sections == ("producers",)
    assert info.producers == {
        "language": (("Rust", ""),),
        "processed-by": (("rustc", "1.80.0"), ("walrus", "0.20.3")),
    }


def test_module_without_producers_has_none() -> None:
    assert read_module(compile_wat("(module)")).producers == {}


def test_hand_built_producers_section_appended_to_a_module_is_read() -> None:
    data = compile_wat("(module)") + producers_section({"language": [("C11", "")], "sdk": [("emscripten", "3.1")]})

    assert read_module(data).producers == {"language": (("C11", ""),), "sdk": (("emscripten", "3.1"),)}


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x05\x01", id="more fields than bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x01" + name("language") + b"\x01\x04Ru", id="name cut short"),
        pytest.param(b"\x01" + name("language") + b"\x01\x02\xff\xfe\x00", id="name not UTF-8"),
    ],
)
def test_malformed_producers_section_is_ignored(payload: bytes) -> None:
    # The spec forbids a custom section's contents from invalidating a module, and Envoy 1.40 loads
    # such a module; reading it must not fail either.
    data = compile_wat('(module (func (export "f")))') + custom_section("producers", payload)

    info = read_module(data)

    assert info.producers == {}
    assert info.custom_sections == ("producers",)
    assert info.export_named("f") == Export("f", "func", FuncType((), ()))


@pytest.mark.parametrize("data", [b"", b"\0asm", b"not wasm at all", WASM_MAGIC + b"\x0d\x00\x01\x00"])
def test_not_a_core_module(data: bytes) -> None:
    with pytest.raises(MalformedModule, match="not a WebAssembly core module"):
        read_module(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # Six continuation bytes: a u32 takes at most five.
        pytest.param(HEADER + b"\x01\xff\xff\xff\xff\xff\x01", "integer too long", id="LEB128 too long"),
        # Five bytes whose value needs more than 32 bits.
        pytest.param(HEADER + b"\x01\xff\xff\xff\xff\x7f", "integer too large", id="LEB128 too large"),
        pytest.param(HEADER + b"\x01\x80", "unexpected end of data", id="LEB128 cut short"),
        pytest.param(HEADER + b"\x01\x10\x00", "section 1 runs past the end", id="section past the end"),
        pytest.param(
            HEADER + section(1, b"\x02\x60\x00\x00"), "unexpected end of data", id="count past the section end"
        ),
        pytest.param(
            HEADER + section(7, b"\x01" + name("f") + b"\x00\x05"),
            "export 'f' names function 5, which does not exist",
            id="export index out of range",
        ),
        pytest.param(HEADER + section(3, b"\x01\x00"), "type index 0 does not exist", id="function type out of range"),
        pytest.param(HEADER + section(1, b"\x01\x60\x01\x42\x00"), "unsupported value type 0x42", id="bad valtype"),
        pytest.param(HEADER + section(1, b"\x01\x50\x00\x60\x00\x00"), "unsupported type form 0x50", id="GC subtype"),
        pytest.param(
            HEADER + section(2, b"\x01" + name("env") + name("x") + b"\x09"),
            "unknown import kind 0x9 for 'env.x'",
            id="bad import kind",
        ),
        pytest.param(
            HEADER + section(7, b"\x01" + name("e") + b"\x09\x00"),
            "unknown export kind 0x9 for 'e'",
            id="bad export kind",
        ),
        pytest.param(
            HEADER + section(2, b"\x01\x02\xc3\x28" + name("x") + b"\x02\x00\x01"),
            "name is not UTF-8",
            id="import name not UTF-8",
        ),
        pytest.param(HEADER + section(5, b"\x01\x04\x01"), "64-bit memories are not supported", id="memory64"),
    ],
)
def test_malformed_module_raises_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(MalformedModule, match=message):
        read_module(data)


def test_memory64_from_wat_is_refused() -> None:
    with pytest.raises(MalformedModule, match="64-bit memories"):
        read_module(compile_wat("(module (memory i64 1))"))


@pytest.mark.parametrize(
    ("functype", "text"),
    [
        (FuncType(("i32", "i32"), ("i32",)), "(i32, i32) -> i32"),
        (FuncType((), ()), "() -> ()"),
        (FuncType(("i64",), ()), "(i64) -> ()"),
        (FuncType(("f32",), ("i32", "f64")), "(f32) -> (i32, f64)"),
    ],
)
def test_functype_str(functype: FuncType, text: str) -> None:
    assert str(functype) == text
