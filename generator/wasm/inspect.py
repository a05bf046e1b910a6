"""Binary inspection: what a .wasm file is and whether a proxy-wasm host can load it.

Order matters and is cheapest first: the magic and version bytes (wasmtime would also accept WAT
text, and a component shares the magic), then wasmtime's validator (no compilation), then our own
reader of the declarations, then the proxy-wasm rules. Nothing here compiles or runs the module.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import wasmtime

from generator.metadata import rules
from generator.metadata.findings import Finding, Rule
from generator.wasm import abi, code
from generator.wasm.binary import (
    COMPONENT_VERSION,
    MODULE_VERSION,
    WASM_MAGIC,
    Export,
    FuncType,
    Import,
    MalformedModule,
    ModuleInfo,
    read_module,
)

MAX_BINARY_BYTES = 32 * 1024 * 1024

# Makes a finding for the binary being inspected: (rule, message) -> Finding.
_At = Callable[[type[Rule], str], Finding]

# The `producers` section (tool conventions) names the languages, the tools that processed the
# module and the SDK. The toolchain says more than the language field: TinyGo's output says
# `language: C99` (its runtime is C; LLVM writes the DWARF language) but `processed-by: TinyGo`, or a
# clang from tinygo-org's LLVM fork. Tools first, then the languages; nothing known: no hint.
_TOOLS = (
    (re.compile(r"tinygo"), "go"),  # the tool's name, or its version string (a clang built by tinygo-org)
    (re.compile(r"^rustc\b"), "rust"),
    (re.compile(r"^go\b"), "go"),  # the gc toolchain (GOOS=wasip1)
    (re.compile(r"assemblyscript"), "assemblyscript"),
    (re.compile(r"^zig\b"), "zig"),
)
# `language` names, lowercased: the tool conventions suggest "Rust" or "C++"; LLVM writes the DWARF
# language without its DW_LANG_ prefix ("C11", "C_plus_plus_14", "Go"). C++ before C: a C++ module
# often has C objects too.
_LANGUAGES = (
    (re.compile(r"rust"), "rust"),
    (re.compile(r"(c\+\+|c_plus_plus)(_?\d+)?"), "cpp"),
    (re.compile(r"c\d*"), "c"),
    (re.compile(r"go"), "go"),
    (re.compile(r"zig"), "zig"),
)


@dataclass(frozen=True)
class BinaryFacts:
    """Everything inspection learns about one binary. The catalog records a subset per version."""

    sha256: str
    size: int
    abi: str
    kind: str
    capabilities: tuple[str, ...]  # what the code can reach (see generator.wasm.code); recorded in filter.yaml
    imports: tuple[Import, ...]
    exports: tuple[Export, ...]
    language_hint: str | None
    imported_capabilities: tuple[str, ...] = ()  # what the imports would allow; a superset

    def to_json(self) -> dict[str, object]:
        """The facts with every import and export, for `catalog inspect -o json` and tools."""
        return {
            "sha256": self.sha256,
            "size": self.size,
            "abi": self.abi,
            "kind": self.kind,
            "capabilities": list(self.capabilities),
            "imported_capabilities": list(self.imported_capabilities),
            "language_hint": self.language_hint,
            "imports": [
                {"module": i.module, "name": i.name, "kind": i.kind, "type": str(i.type) if i.type else None}
                for i in self.imports
            ],
            "exports": [
                {"name": e.name, "kind": e.kind, "type": str(e.type) if e.type else None} for e in self.exports
            ],
        }


@cache
def _engine() -> wasmtime.Engine:
    return wasmtime.Engine()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _looks_like_wat(data: bytes) -> bool:
    head = data[:4096].lstrip()
    while head.startswith(b";;"):
        head = head.split(b"\n", 1)[1].lstrip() if b"\n" in head else b""
    return head.startswith((b"(module", b"(component", b"(;"))


def inspect_binary(data: bytes, display: str, field: str = "") -> tuple[BinaryFacts | None, list[Finding]]:
    """Inspect `data`; `display` and `field` say where findings point (the file, or the version field)."""

    def at(rule: type[Rule], message: str) -> Finding:
        return rule.at(display, message, field=field)

    if not data:
        return None, [at(rules.EmptyBinary, "expected a WebAssembly module, got an empty file")]
    if len(data) > MAX_BINARY_BYTES:
        return None, [at(rules.BinaryTooLarge, f"expected at most {MAX_BINARY_BYTES} bytes, got {len(data)}")]
    if data[:4] != WASM_MAGIC:
        if _looks_like_wat(data):
            return None, [at(rules.WatText, "expected a binary module, got WebAssembly text (WAT); compile it first")]
        return None, [at(rules.NotWasm, f"expected the wasm magic bytes 00 61 73 6d, got {data[:4].hex(' ')}")]
    version = data[4:8]
    if version == COMPONENT_VERSION:
        return None, [at(rules.ComponentNotModule, "expected a core module, got a WebAssembly component")]
    if version != MODULE_VERSION:
        return None, [
            at(rules.InvalidModule, f"expected wasm version 01 00 00 00, got {version.hex(' ') or 'nothing'}")
        ]
    try:
        wasmtime.Module.validate(_engine(), data)
    except wasmtime.WasmtimeError as err:
        return None, [at(rules.InvalidModule, f"expected a valid module, got: {str(err).splitlines()[0]}")]
    try:
        info = read_module(data)
    except MalformedModule as err:
        return None, [at(rules.InvalidModule, f"expected a readable module, got: {err}")]
    return _proxy_wasm_facts(data, info, at)


def _proxy_wasm_facts(data: bytes, info: ModuleInfo, at: _At) -> tuple[BinaryFacts | None, list[Finding]]:
    findings: list[Finding] = []
    # Envoy takes the first function export whose name is a marker; its signature does not matter.
    markers = [e.name for e in info.exports if e.name in abi.ABI_MARKERS and e.kind == "func"]
    if not markers:
        findings.append(_no_marker(info, at))
        return None, findings
    findings += _check_limits(info, at)
    if len(set(markers)) > 1:
        findings.append(
            at(
                rules.ConflictingAbiMarkers,
                f"expected one ABI marker, got {', '.join(markers)}; Envoy uses the first, {markers[0]}",
            )
        )
    version = abi.ABI_MARKERS[markers[0]]

    findings += _check_allocator(info, at)
    findings += _check_imports(info.imports, version, at)
    findings += _check_callbacks(info.exports, version, at)

    exported = {e.name for e in info.exports if e.kind == "func"}
    http = bool(exported & abi.HTTP_CALLBACKS)
    network = bool(exported & abi.NETWORK_CALLBACKS)
    kind = "both" if http and network else "http" if http else "network" if network else "none"
    if kind == "none":
        findings.append(
            at(rules.NoCallbacks, "expected HTTP or network callbacks (proxy_on_request_headers, ...), got none")
        )
    imported = capabilities(info.imports)
    try:
        reachable = capabilities(info.imports, called=set(code.reachable_imports(data, info)))
    except (code.UnknownInstruction, MalformedModule):
        reachable = imported  # no call graph: what the imports allow, which can only say more
    facts = BinaryFacts(
        sha256=sha256_hex(data),
        size=len(data),
        abi=version,
        kind=kind,
        capabilities=reachable,
        imports=info.imports,
        exports=info.exports,
        language_hint=_language_hint(info),
        imported_capabilities=imported,
    )
    return facts, findings


def _no_marker(info: ModuleInfo, at: _At) -> Finding:
    """A proxy-wasm build from before the ABI marker, or not proxy-wasm at all: they are told apart."""
    expected = f"expected one of the exports {', '.join(sorted(abi.ABI_MARKERS))}"
    callbacks = [e.name for e in info.exports if e.kind == "func" and e.name.startswith("proxy_on_")]
    host_calls = [
        i.name for i in info.imports if i.kind == "func" and i.module == "env" and i.name.startswith("proxy_")
    ]
    if callbacks or host_calls:
        shown = ", ".join((callbacks or host_calls)[:3]) + (", ..." if len(callbacks or host_calls) > 3 else "")
        return at(
            rules.NoAbiMarker,
            f"{expected}, got proxy-wasm {'callbacks' if callbacks else 'host calls'} ({shown}) without one: a "
            "build from before the ABI marker (as Istio's early stats and metadata_exchange are), which Envoy "
            "refuses; rebuild it with a current proxy-wasm SDK",
        )
    exported = {e.name for e in info.exports if e.kind == "func"}
    what = (
        "a WASI program (it exports _start)" if "_start" in exported
        else "a WASI reactor (it exports _initialize)" if "_initialize" in exported
        else "a module for another host"
    )  # fmt: skip
    return at(rules.NotProxyWasm, f"{expected} and proxy_on_* callbacks, got neither: {what}, not a proxy-wasm filter")


# The largest minimums a proxy-wasm runtime allocates: V8 (Envoy's runtime) takes at most 4 GiB of
# linear memory (65536 pages) and 10 million table elements.
MAX_MEMORY_PAGES = 65535
MAX_TABLE_ELEMENTS = 9_999_999


def _check_limits(info: ModuleInfo, at: _At) -> list[Finding]:
    found = []
    limits = [("memory", limit) for limit in info.memories] + [("table", limit) for limit in info.tables]
    for kind, (minimum, _maximum) in [*limits, *info.imported_limits]:
        if kind == "memory" and minimum > MAX_MEMORY_PAGES:
            found.append(
                at(
                    rules.UnallocatableLimits,
                    f"a memory of at least {minimum} pages ({minimum * 64 // 1024} MiB): expected at most "
                    f"{MAX_MEMORY_PAGES}; no proxy-wasm runtime allocates 4 GiB",
                )
            )
        elif kind == "table" and minimum > MAX_TABLE_ELEMENTS:
            found.append(
                at(
                    rules.UnallocatableLimits,
                    f"a table of at least {minimum} elements: expected at most {MAX_TABLE_ELEMENTS}; "
                    "no proxy-wasm runtime allocates 10 million",
                )
            )
    return found


def _signature(sig: abi.Signature) -> FuncType:
    return FuncType(tuple(sig.params), tuple(sig.results))


def _check_allocator(info: ModuleInfo, at: _At) -> list[Finding]:
    exported = {e.name for e in info.exports if e.kind == "func"}
    if not exported & set(abi.ALLOCATOR_EXPORTS):
        return [at(rules.NoAllocator, f"expected an export {' or '.join(abi.ALLOCATOR_EXPORTS)}, got none")]
    return []  # its signature is checked with the other callbacks


def _check_imports(imports: tuple[Import, ...], version: str, at: _At) -> list[Finding]:
    provided = abi.host_imports(version)
    findings = []
    for imp in imports:
        label = f"{imp.module}.{imp.name}"
        if imp.kind in ("memory", "table"):
            continue  # Envoy's V8 runtime supplies imported memories and tables
        if imp.kind != "func":
            findings.append(
                at(rules.UnknownImport, f"import '{label}': expected a function, memory or table, got a {imp.kind}")
            )
            continue
        expected_sig = provided.get((imp.module, imp.name))
        if expected_sig is None:
            findings.append(
                at(
                    rules.UnknownImport,
                    f"import '{label}': expected a host function of proxy-wasm ABI {version} or WASI, "
                    "got an unknown name",
                )
            )
            continue
        expected = _signature(expected_sig)
        if imp.type != expected:
            findings.append(at(rules.ImportSignature, f"import '{label}': expected {expected}, got {imp.type}"))
    return findings


def _check_callbacks(exports: tuple[Export, ...], version: str, at: _At) -> list[Finding]:
    callbacks = abi.callback_exports(version)
    skipped = _not_looked_up(exports)
    findings = []
    for export in exports:
        expected_sig = callbacks.get(export.name)
        if expected_sig is None or export.kind != "func" or export.name in skipped:
            continue
        expected = _signature(expected_sig)
        if export.type != expected:
            findings.append(
                at(
                    rules.CallbackSignature,
                    f"export '{export.name}': expected {expected} for ABI {version}, got {export.type}",
                )
            )
    return findings


def _not_looked_up(exports: tuple[Export, ...]) -> frozenset[str]:
    """Callbacks that Envoy never looks up in this module, so their signatures do not matter.

    Envoy takes `malloc` before `proxy_on_memory_allocate`; with `_initialize` (a WASI reactor) it
    calls `main` / `__main_void` and ignores `_start`; without it, it calls `_start` only.
    """
    names = {e.name for e in exports if e.kind == "func"}
    skipped = set()
    if "malloc" in names:
        skipped.add("proxy_on_memory_allocate")
    if "_initialize" in names:
        skipped.add("_start")
    else:
        skipped |= {"main", "__main_void"}
    return frozenset(skipped)


def capabilities(imports: tuple[Import, ...], called: set[tuple[str, str]] | None = None) -> tuple[str, ...]:
    """The host capabilities of the functions a module imports, or of those of them it can call
    (`called`: (module, name) pairs from its call graph)."""
    used = [imp for imp in imports if imp.kind == "func" and (called is None or (imp.module, imp.name) in called)]
    names = {imp.name for imp in used if imp.module == "env"}
    found = {cap for cap, needs in abi.CAPABILITY_IMPORTS.items() if names & needs}
    if any(imp.module in abi.WASI_MODULES for imp in used):
        found.add("wasi")
    return tuple(sorted(found))


def _language_hint(info: ModuleInfo) -> str | None:
    """The source language, from the whole `producers` section (see `_TOOLS`); None when it does not say."""
    tools = [
        f"{name} {version}".lower()
        for field in ("processed-by", "sdk")
        for name, version in info.producers.get(field, ())
    ]
    for pattern, language in _TOOLS:
        if any(pattern.search(tool) for tool in tools):
            return language
    named = [name.lower() for name, _version in info.producers.get("language", ())]
    for pattern, language in _LANGUAGES:
        if any(pattern.fullmatch(name) for name in named):
            return language
    return None
