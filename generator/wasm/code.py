"""Which functions a module can reach from what the host calls: a call graph over its code.

Capabilities come from the host functions a module imports, but importing is not calling: SDKs
declare every host function, so a filter built with the Rust SDK "imports" gRPC, HTTP callouts,
shared queues and property writes whether or not it uses them. This reads the code section and
follows the calls from the roots the host can enter (every exported function and the start
function):

- `call` and `return_call` name their callee;
- `call_indirect` / `return_call_indirect` with type T may reach any function whose address is
  taken (in an element segment, by `ref.func`, or exported) and whose type is T: counted
  conservatively, all of them; `call_ref` likewise for its type;
- a host function (an import) is reachable when a reachable function calls it, directly or so.

The decoder knows the instructions of WebAssembly 2.0 with tail calls, exceptions, the bulk-memory,
reference-types, SIMD and threads proposals. An instruction it does not know (the GC proposal, a
new one) makes `reachable_functions` raise `UnknownInstruction`: the caller then falls back to the
imports, which can only say more, never less.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from generator.wasm.binary import FuncType, ModuleInfo, Reader

# Opcodes whose only immediate is one u32 (an index, a label, a memory): catch/throw/rethrow,
# branches, delegate, local/global access, table.get/set, memory.size/grow, br_on_null/non_null.
_ONE_INDEX = frozenset(
    {0x07, 0x08, 0x09, 0x0C, 0x0D, 0x18, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x3F, 0x40, 0xD5, 0xD6}
)
# Opcodes without immediates: unreachable, nop, else, throw_ref, end, return, catch_all, drop,
# select, the numeric instructions, ref.is_null, ref.eq, ref.as_non_null.
_PLAIN = frozenset({0x00, 0x01, 0x05, 0x0A, 0x0B, 0x0F, 0x19, 0x1A, 0x1B, *range(0x45, 0xC5), 0xD1, 0xD3, 0xD4})
_BLOCKS = frozenset({0x02, 0x03, 0x04, 0x06})  # block, loop, if, try: a block type
_MEMORY_ACCESS = range(0x28, 0x3F)  # loads and stores: a memarg
_CALL, _CALL_INDIRECT, _RETURN_CALL, _RETURN_CALL_INDIRECT, _CALL_REF, _RETURN_CALL_REF = (
    0x10,
    0x11,
    0x12,
    0x13,
    0x14,
    0x15,
)
_REF_FUNC = 0xD2


class UnknownInstruction(ValueError):
    """The code uses an instruction this decoder does not know; no call graph can be drawn."""


@dataclass
class _Body:
    """What one function body does that the call graph needs."""

    calls: set[int]
    indirect_types: set[int]  # type indices of call_indirect / call_ref in it
    taken: set[int]  # functions it takes the address of (ref.func)


def reachable_functions(data: bytes, info: ModuleInfo) -> frozenset[int]:
    """The function indices (imports first, as the index space has them) reachable from the
    module's exported functions and its start function. Raises UnknownInstruction."""
    sections = info.sections
    imported = sum(1 for imp in info.imports if imp.kind == "func")
    bodies = list(_bodies(data, sections.code))
    if len(bodies) != len(sections.function_types):
        raise UnknownInstruction("the code section does not match the function section")
    types = [imp.type for imp in info.imports if imp.kind == "func"]
    types += [sections.types[index] if index < len(sections.types) else None for index in sections.function_types]
    taken = (
        set(sections.export_functions)
        | _taken_in_segments(data, sections.elements)
        | _taken_in_globals(data, sections.globals)
    )
    for body in bodies:
        taken |= body.taken
    taken_by_type: dict[FuncType | None, list[int]] = {}
    for function in taken:
        if 0 <= function < len(types):
            taken_by_type.setdefault(types[function], []).append(function)
    roots = set(sections.export_functions) | ({sections.start} if sections.start is not None else set())
    reached: set[int] = set()
    pending = [index for index in roots if 0 <= index < len(types)]
    called_types: set[FuncType] = set()
    while pending:
        index = pending.pop()
        if index in reached:
            continue
        reached.add(index)
        if index < imported:
            continue
        body = bodies[index - imported]
        pending += [callee for callee in body.calls if 0 <= callee < len(types) and callee not in reached]
        # An indirect call of type T may reach any function of type T whose address is taken.
        for new_type in {sections.types[t] for t in body.indirect_types if t < len(sections.types)} - called_types:
            called_types.add(new_type)
            pending += taken_by_type.get(new_type, [])
    return frozenset(reached)


def _bodies(data: bytes, place: tuple[int, int] | None) -> Iterator[_Body]:
    if place is None:
        return
    reader = Reader(data, *place)
    for _ in range(reader.u32()):
        size = reader.u32()
        body = Reader(data, reader.pos, reader.pos + size)
        reader.pos += size
        for _ in range(body.u32()):  # local declarations: count, type
            body.u32()
            _valtype(body)
        yield _decode(body)


def _decode(reader: Reader) -> _Body:
    body = _Body(set(), set(), set())
    while not reader.at_end():
        _instruction(reader, body)
    return body


def _instruction(reader: Reader, body: _Body) -> None:
    op = reader.byte()
    if op in _PLAIN:
        return
    if op in _ONE_INDEX:
        reader.u32()
    elif op in _BLOCKS:
        _block_type(reader)
    elif op in (_CALL, _RETURN_CALL):
        body.calls.add(reader.u32())
    elif op in (_CALL_INDIRECT, _RETURN_CALL_INDIRECT):
        body.indirect_types.add(reader.u32())
        reader.u32()  # the table
    elif op in (_CALL_REF, _RETURN_CALL_REF):
        body.indirect_types.add(reader.u32())
    elif op == _REF_FUNC:
        body.taken.add(reader.u32())
    elif op in _MEMORY_ACCESS:
        _memarg(reader)
    elif op == 0x0E:  # br_table
        for _ in range(reader.u32() + 1):
            reader.u32()
    elif op == 0x1C:  # select with types
        for _ in range(reader.u32()):
            _valtype(reader)
    elif op == 0x1F:  # try_table: a block type, then catch clauses
        _block_type(reader)
        for _ in range(reader.u32()):
            kind = reader.byte()
            if kind in (0x00, 0x01):  # catch / catch_ref name a tag
                reader.u32()
            reader.u32()  # the label
    elif op in (0x41, 0x42):  # i32.const, i64.const: a signed LEB128
        _leb(reader)
    elif op == 0x43:
        reader.bytes(4)
    elif op == 0x44:
        reader.bytes(8)
    elif op == 0xD0:  # ref.null: a heap type
        _heap_type(reader)
    elif op == 0xFC:
        _misc(reader)
    elif op == 0xFD:
        _simd(reader)
    elif op == 0xFE:
        _atomic(reader)
    else:
        raise UnknownInstruction(f"opcode {op:#04x} at offset {reader.pos - 1:#x}")


def _misc(reader: Reader) -> None:
    sub = reader.u32()
    if sub <= 7:  # saturating truncations
        return
    if sub == 8:  # memory.init: data, memory
        reader.u32()
        reader.u32()
    elif sub in (9, 11, 13, 15, 16, 17):  # data.drop, memory.fill, elem.drop, table.grow/size/fill
        reader.u32()
    elif sub in (10, 12, 14):  # memory.copy, table.init, table.copy: two indices
        reader.u32()
        reader.u32()
    else:
        raise UnknownInstruction(f"opcode 0xfc {sub} at offset {reader.pos:#x}")


def _simd(reader: Reader) -> None:
    sub = reader.u32()
    if sub <= 11 or sub in (92, 93):  # loads and stores
        _memarg(reader)
    elif sub in (12, 13):  # v128.const, i8x16.shuffle
        reader.bytes(16)
    elif 21 <= sub <= 34:  # extract and replace lane
        reader.byte()
    elif 84 <= sub <= 91:  # load and store lane
        _memarg(reader)
        reader.byte()
    elif sub > 0x113:
        raise UnknownInstruction(f"opcode 0xfd {sub} at offset {reader.pos:#x}")


def _atomic(reader: Reader) -> None:
    sub = reader.u32()
    if sub == 0x03:  # atomic.fence
        reader.byte()
    elif sub <= 0x4E:
        _memarg(reader)
    else:
        raise UnknownInstruction(f"opcode 0xfe {sub} at offset {reader.pos:#x}")


def _memarg(reader: Reader) -> None:
    align = reader.u32()
    if align & 0x40:  # multi-memory: a memory index follows
        reader.u32()
    reader.u32()  # the offset


def _block_type(reader: Reader) -> None:
    first = _peek(reader)
    if first == 0x40 or first in (0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F):
        reader.byte()
    elif first in (0x63, 0x64):  # a reference type with its heap type
        _valtype(reader)
    else:
        _leb(reader)  # a type index, as a signed 33-bit integer


def _peek(reader: Reader) -> int | None:
    return reader.data[reader.pos] if reader.pos < reader.end else None


def _heap_type(reader: Reader) -> None:
    first = _peek(reader)
    if first is not None and 0x69 <= first <= 0x74:  # an abstract heap type: one byte
        reader.byte()
    else:
        _leb(reader)


def _valtype(reader: Reader) -> None:
    code = reader.byte()
    if code in (0x63, 0x64):  # (ref null? heaptype)
        _heap_type(reader)
    elif code not in (0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F, 0x69, *range(0x6A, 0x75)):
        raise UnknownInstruction(f"value type {code:#04x} at offset {reader.pos - 1:#x}")


def _leb(reader: Reader) -> None:
    for _ in range(10):
        if not reader.byte() & 0x80:
            return
    raise UnknownInstruction(f"integer too long at offset {reader.pos:#x}")


def _const_expr(reader: Reader) -> set[int]:
    """The functions a constant expression takes the address of; it ends with `end`."""
    body = _Body(set(), set(), set())
    while _peek(reader) != 0x0B:
        _instruction(reader, body)  # raises at the end of the data
    reader.byte()
    return body.taken


def _taken_in_segments(data: bytes, place: tuple[int, int] | None) -> set[int]:
    """Functions placed in tables or declared by element segments (all formats)."""
    taken: set[int] = set()
    if place is None:
        return taken
    reader = Reader(data, *place)
    for _ in range(reader.u32()):
        flags = reader.u32()
        if flags & 0x02 and not flags & 0x01:  # an explicit table index (format 2 or 6)
            reader.u32()
        if not flags & 0x01:  # active: an offset expression
            _const_expr(reader)
        uses_expressions = bool(flags & 0x04)
        if flags & 0x03:  # an element kind (0x00) or a reference type follows
            if uses_expressions:
                _valtype(reader)
            else:
                reader.byte()
        for _ in range(reader.u32()):
            if uses_expressions:
                taken |= _const_expr(reader)
            else:
                taken.add(reader.u32())
    return taken


def _taken_in_globals(data: bytes, place: tuple[int, int] | None) -> set[int]:
    taken: set[int] = set()
    if place is None:
        return taken
    reader = Reader(data, *place)
    for _ in range(reader.u32()):
        _valtype(reader)
        reader.byte()  # mutability
        taken |= _const_expr(reader)
    return taken


def reachable_imports(data: bytes, info: ModuleInfo) -> Iterable[tuple[str, str]]:
    """(module, name) of each imported function the code can reach. Raises UnknownInstruction."""
    functions = [imp for imp in info.imports if imp.kind == "func"]
    reached = reachable_functions(data, info)
    return [(imp.module, imp.name) for index, imp in enumerate(functions) if index in reached]
