"""WAT sources for test modules, compiled in the test: no opaque binary enters the repository.

`proxy_module()` is valid by default (a minimal ABI 0.2.1 HTTP filter); each argument changes one
thing, so a test says only what differs.
"""

from __future__ import annotations

from collections.abc import Sequence

from generator.wasm.wat import compile_wat

HTTP_EXPORTS = (
    '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))',
    '(func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))',
)
NETWORK_EXPORTS = (
    '(func (export "proxy_on_new_connection") (param i32) (result i32) (i32.const 0))',
    '(func (export "proxy_on_downstream_data") (param i32 i32 i32) (result i32) (i32.const 0))',
)


def proxy_wat(
    *,
    abi: str | None = "0.2.1",
    imports: Sequence[str] = (),
    exports: Sequence[str] = HTTP_EXPORTS,
    allocator: str | None = "proxy_on_memory_allocate",
    extra: Sequence[str] = (),
) -> str:
    """A proxy-wasm module as WAT text."""
    parts = ["(module", *imports, '(memory (export "memory") 1)']
    if abi is not None:
        parts.append(f'(func (export "proxy_abi_version_{abi.replace(".", "_")}"))')
    if allocator is not None:
        parts.append(f'(func (export "{allocator}") (param i32) (result i32) (i32.const 1024))')
    parts += [
        '(func (export "proxy_on_context_create") (param i32 i32))',
        '(func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))',
        '(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))',
        *exports,
        *extra,
        ")",
    ]
    return "\n".join(parts)


def proxy_module(**changes: object) -> bytes:
    """A compiled proxy-wasm module; see `proxy_wat` for what can change."""
    return compile_wat(proxy_wat(**changes))  # type: ignore[arg-type]


def env_import(name: str, params: str = "i32", result: str | None = "i32") -> str:
    result_text = f" (result {result})" if result else ""
    return f'(import "env" "{name}" (func (param {params}){result_text}))'


# Byte-level builders, for sections wasmtime would not write (or that the test appends by hand).


def leb128(value: int) -> bytes:
    """An unsigned LEB128 integer, as the binary format writes counts, sizes and indices."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def name(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return leb128(len(encoded)) + encoded


def section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + leb128(len(payload)) + payload


def custom_section(section_name: str, payload: bytes = b"") -> bytes:
    return section(0, name(section_name) + payload)


def producers_section(fields: dict[str, list[tuple[str, str]]]) -> bytes:
    """A `producers` custom section (WebAssembly tool conventions): field -> [(name, version)]."""
    payload = leb128(len(fields))
    for field_name, values in fields.items():
        payload += name(field_name) + leb128(len(values))
        payload += b"".join(name(value_name) + name(version) for value_name, version in values)
    return custom_section("producers", payload)


def png(width: int = 8, height: int = 8) -> bytes:
    """A valid PNG image of one colour (the site's filter icons), built by hand like the wasm fixtures."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x20\x60\xa0" * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def callout_module(cluster: str = "auth", *, effective: bool = True) -> bytes:
    """An HTTP filter that calls out to `cluster` (GET /check) from its request headers callback,
    waits, and on the answer (delivered to the root context, as SDKs expect: it makes the stream's
    context effective again) adds `x-auth-status: <the answer's :status>` to the request and resumes
    it. A callout that cannot be made (an unknown cluster) lets the request through unchanged."""
    from generator.wasm.sandbox import serialize_pairs

    name = cluster.encode()
    headers = serialize_pairs([(b":method", b"GET"), (b":path", b"/check"), (b":authority", name)])
    hexed = "".join(f"\\{b:02x}" for b in headers)
    imports = [
        '(import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))',
        '(import "env" "proxy_http_call" (func $http (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))',
        '(import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))',
        '(import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))',
        '(import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))',
    ]
    exports = [
        '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)'
        " (i32.store (i32.const 720) (local.get 0))"  # the stream's context, for the answer
        f" (if (call $http (i32.const 100) (i32.const {len(name)}) (i32.const 200) (i32.const {len(headers)})"
        " (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 700))"
        " (then (return (i32.const 0))))"
        " (i32.const 1))",
        '(func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)'
        + (" (drop (call $effective (i32.load (i32.const 720))))" if effective else "")  # to the root context
        + " (drop (call $get (i32.const 6) (i32.const 600) (i32.const 7) (i32.const 704) (i32.const 708)))"
        " (drop (call $add (i32.const 0) (i32.const 620) (i32.const 13)"
        " (i32.load (i32.const 704)) (i32.load (i32.const 708))))"
        " (drop (call $continue (i32.const 0))))",
        '(func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))',
    ]
    extra = [
        f'(data (i32.const 100) "{cluster}")',
        f'(data (i32.const 200) "{hexed}")',
        '(data (i32.const 600) ":status")',
        '(data (i32.const 620) "x-auth-status")',
    ]
    return proxy_module(imports=imports, exports=exports, extra=extra)
