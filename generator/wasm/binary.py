"""A reader for the parts of the WebAssembly binary format that inspection needs.

Listing imports and exports with their types only needs the type, import, function and export
sections, so we read them directly instead of compiling the module (compiling takes milliseconds to
seconds; reading takes microseconds). The caller validates the module with wasmtime first, but this
reader still bounds-checks every read and raises `MalformedModule` instead of crashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WASM_MAGIC = b"\0asm"
MODULE_VERSION = b"\x01\x00\x00\x00"
# Components share the magic; their "version" field is 0x0d with layer 1.
COMPONENT_VERSION = b"\x0d\x00\x01\x00"

ExternKind = Literal["func", "table", "memory", "global", "tag"]
_EXTERN_KINDS: dict[int, ExternKind] = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}

SECTION_CUSTOM, SECTION_TYPE, SECTION_IMPORT, SECTION_FUNCTION = 0, 1, 2, 3
SECTION_TABLE, SECTION_MEMORY, SECTION_GLOBAL, SECTION_EXPORT, SECTION_START = 4, 5, 6, 7, 8
SECTION_ELEMENT, SECTION_CODE = 9, 10


class MalformedModule(ValueError):
    """The bytes are not a module this reader understands; the message says where and why."""


@dataclass(frozen=True)
class FuncType:
    params: tuple[str, ...]
    results: tuple[str, ...]

    def __str__(self) -> str:
        results = self.results[0] if len(self.results) == 1 else f"({', '.join(self.results)})"
        return f"({', '.join(self.params)}) -> {results}"


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: ExternKind
    type: FuncType | None = None  # set for functions


@dataclass(frozen=True)
class Export:
    name: str
    kind: ExternKind
    type: FuncType | None = None  # set for functions


Limits = tuple[int, int | None]  # (minimum, maximum): pages of a memory, elements of a table


@dataclass(frozen=True)
class Sections:
    """Where the parts a call graph needs are (offsets into the module's bytes), and what they declare."""

    types: tuple[FuncType, ...] = ()
    function_types: tuple[int, ...] = ()  # the type index of each defined function
    export_functions: tuple[int, ...] = ()  # function indices the module exports
    start: int | None = None  # the start function's index
    globals: tuple[int, int] | None = None  # (start, end) of the global section's body
    elements: tuple[int, int] | None = None
    code: tuple[int, int] | None = None


@dataclass(frozen=True)
class ModuleInfo:
    """What the module declares: imports, exports, memories and custom sections."""

    imports: tuple[Import, ...]
    exports: tuple[Export, ...]
    memories: tuple[Limits, ...]  # (minimum pages, maximum pages) of defined memories
    custom_sections: tuple[str, ...]
    producers: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    tables: tuple[Limits, ...] = ()  # (minimum, maximum) elements of defined tables
    imported_limits: tuple[tuple[str, Limits], ...] = ()  # ("memory" or "table", limits) of imported ones
    sections: Sections = field(default_factory=Sections)

    def export_named(self, name: str) -> Export | None:
        for export in self.exports:
            if export.name == name:
                return export
        return None


class Reader:
    def __init__(self, data: bytes, offset: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = offset
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        return self.pos >= self.end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise MalformedModule(f"unexpected end of data at offset {self.pos:#x}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u32(self) -> int:
        result = shift = 0
        for _ in range(5):
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                if result > 0xFFFFFFFF:
                    raise MalformedModule(f"integer too large at offset {self.pos:#x}")
                return result
            shift += 7
        raise MalformedModule(f"integer too long at offset {self.pos:#x}")

    def bytes(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise MalformedModule(f"unexpected end of data at offset {self.pos:#x}")
        value = self.data[self.pos : self.pos + n]
        self.pos += n
        return value

    def name(self) -> str:
        raw = self.bytes(self.u32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedModule(f"name is not UTF-8 at offset {self.pos:#x}") from None

    def valtype(self) -> str:
        code = self.byte()
        if code not in _VALTYPES:
            raise MalformedModule(f"unsupported value type {code:#x} at offset {self.pos - 1:#x}")
        return _VALTYPES[code]

    def limits(self) -> tuple[int, int | None]:
        flags = self.byte()
        if flags & 0x04:  # memory64 uses u64 limits; we do not support it (proxy-wasm is 32-bit)
            raise MalformedModule("64-bit memories are not supported by proxy-wasm")
        minimum = self.u32()
        maximum = self.u32() if flags & 0x01 else None
        return minimum, maximum


def read_module(data: bytes) -> ModuleInfo:
    """Read a validated core module's declarations."""
    if data[:4] != WASM_MAGIC or data[4:8] != MODULE_VERSION:
        raise MalformedModule("not a WebAssembly core module")
    reader = Reader(data, 8)
    types: list[FuncType] = []
    imports: list[Import] = []
    func_types: list[int] = []
    raw_exports: list[tuple[str, ExternKind, int]] = []
    memories: list[Limits] = []
    tables: list[Limits] = []
    customs: list[str] = []
    producers: dict[str, tuple[tuple[str, str], ...]] = {}
    imported_limits: list[tuple[str, Limits]] = []
    places: dict[int, tuple[int, int]] = {}
    start: int | None = None

    while not reader.at_end():
        section_id = reader.byte()
        size = reader.u32()
        body = Reader(data, reader.pos, reader.pos + size)
        if body.end > len(data):
            raise MalformedModule(f"section {section_id} runs past the end of the file")
        reader.pos = body.end
        if section_id == SECTION_CUSTOM:
            name = body.name()
            customs.append(name)
            if name == "producers":
                # The spec forbids a custom section's contents from invalidating a module (Envoy
                # loads one with a malformed `producers` section), so such a section only loses us
                # the language hint.
                try:
                    producers = _producers(body)
                except MalformedModule:
                    producers = {}
        elif section_id == SECTION_TYPE:
            types = [_functype(body) for _ in range(body.u32())]
        elif section_id == SECTION_IMPORT:
            imports = []
            for _ in range(body.u32()):
                imported, limits = _import(body, types)
                imports.append(imported)
                if limits is not None:
                    imported_limits.append((imported.kind, limits))
        elif section_id == SECTION_FUNCTION:
            func_types = [body.u32() for _ in range(body.u32())]
        elif section_id == SECTION_TABLE:
            tables = [_table(body) for _ in range(body.u32())]
        elif section_id == SECTION_MEMORY:
            memories = [body.limits() for _ in range(body.u32())]
        elif section_id == SECTION_EXPORT:
            raw_exports = [_raw_export(body) for _ in range(body.u32())]
        elif section_id == SECTION_START:
            start = body.u32()
        elif section_id in (SECTION_GLOBAL, SECTION_ELEMENT, SECTION_CODE):
            places[section_id] = (body.pos, body.end)

    function_space = [imp.type for imp in imports if imp.kind == "func"]
    function_space += [_type_at(types, index) for index in func_types]
    exports = []
    for name, kind, index in raw_exports:
        ftype = None
        if kind == "func":
            if index >= len(function_space):
                raise MalformedModule(f"export '{name}' names function {index}, which does not exist")
            ftype = function_space[index]
        exports.append(Export(name, kind, ftype))
    sections = Sections(
        types=tuple(types),
        function_types=tuple(func_types),
        export_functions=tuple(index for _, kind, index in raw_exports if kind == "func"),
        start=start,
        globals=places.get(SECTION_GLOBAL),
        elements=places.get(SECTION_ELEMENT),
        code=places.get(SECTION_CODE),
    )
    return ModuleInfo(
        tuple(imports), tuple(exports), tuple(memories), tuple(customs), producers, tuple(tables),
        tuple(imported_limits), sections,
    )  # fmt: skip


def _type_at(types: list[FuncType], index: int) -> FuncType:
    if index >= len(types):
        raise MalformedModule(f"type index {index} does not exist")
    return types[index]


def _functype(body: Reader) -> FuncType:
    form = body.byte()
    if form != 0x60:
        raise MalformedModule(f"unsupported type form {form:#x} (GC proposal types are not supported)")
    params = tuple(body.valtype() for _ in range(body.u32()))
    results = tuple(body.valtype() for _ in range(body.u32()))
    return FuncType(params, results)


def _import(body: Reader, types: list[FuncType]) -> tuple[Import, Limits | None]:
    """An import, and the limits of an imported memory or table."""
    module = body.name()
    name = body.name()
    code = body.byte()
    kind = _EXTERN_KINDS.get(code)
    if kind is None:
        raise MalformedModule(f"unknown import kind {code:#x} for '{module}.{name}'")
    limits = None
    if kind == "func":
        return Import(module, name, kind, _type_at(types, body.u32())), None
    if kind == "table":
        limits = _table(body)
    elif kind == "memory":
        limits = body.limits()
    elif kind == "global":
        body.valtype()
        body.byte()
    else:
        body.byte()
        body.u32()
    return Import(module, name, kind), limits


def _table(body: Reader) -> Limits:
    body.valtype()  # the element type
    return body.limits()


def _raw_export(body: Reader) -> tuple[str, ExternKind, int]:
    name = body.name()
    code = body.byte()
    kind = _EXTERN_KINDS.get(code)
    if kind is None:
        raise MalformedModule(f"unknown export kind {code:#x} for '{name}'")
    return name, kind, body.u32()


def _producers(body: Reader) -> dict[str, tuple[tuple[str, str], ...]]:
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for _ in range(body.u32()):
        field_name = body.name()
        out[field_name] = tuple((body.name(), body.name()) for _ in range(body.u32()))
    return out
