"""A sandboxed pre-check: run a proxy-wasm module in wasmtime against our own proxy-wasm host.

Before a filter meets a real Envoy, it runs here: compiled once, instantiated in a store with fuel,
memory and table limits, started and configured as Envoy does it, then fed `limits.requests`
identical HTTP requests (request headers and body, a simulated upstream response, completion). A
filter that traps, loops or leaks shows up in milliseconds, with a message that names the callback
and the request. The fuel each request consumes is a deterministic cost figure: the same module and
inputs give the same numbers on every machine and every run, so it can be recorded per version.

The host calls follow proxy-wasm-cpp-host and Envoy 1.40 (status codes, header map and buffer rules,
the serialized pairs format), as restated in `generator.wasm.abi`. Everything the module could use
to tell runs apart is fixed: the clock is a constant per request, `random_get` is a seeded stream,
and there is no file system, network or environment. An HTTP callout (`proxy_http_call`) to a
cluster the caller declared (cases.yaml's `clusters`) is answered as its stand-in would, right after
the callback that made it; one to any other cluster gets BadArgument, as Envoy gives for a cluster
it does not know, and is named in the report. gRPC callouts get a token and are never answered;
timers are accepted and never fire.

Every pointer and length that the module passes is checked against its linear memory; a bad one
gets `InvalidMemoryAccess` (or WASI `EFAULT`), never a Python exception. Data handed to the module
is placed with the module's own allocator (`malloc`, else `proxy_on_memory_allocate`, the order
Envoy uses), which runs on the callback's fuel.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import statistics
import struct
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import wasmtime

from generator.metadata.files import write_atomic
from generator.metadata.findings import Severity
from generator.metadata.layout import user_cache_dir
from generator.wasm import abi
from generator.wasm.binary import WASM_MAGIC
from generator.wasm.inspect import inspect_binary

# proxy_status_t (WasmResult in the hosts and SDKs).
OK = 0
NOT_FOUND = 1
BAD_ARGUMENT = 2
INVALID_MEMORY_ACCESS = 6
EMPTY = 7
CAS_MISMATCH = 8
UNIMPLEMENTED = 12

# WASI errno values.
WASI_SUCCESS = 0
WASI_EBADF = 8
WASI_EFAULT = 21
WASI_ENOSYS = 52
WASI_ENOTSUP = 58

# proxy_map_type_t.
REQUEST_HEADERS, REQUEST_TRAILERS, RESPONSE_HEADERS, RESPONSE_TRAILERS = 0, 1, 2, 3
MAX_MAP_TYPE = 7  # ... gRPC metadata (4, 5), HTTP call response headers and trailers (6, 7)
HTTP_CALL_RESPONSE_HEADERS, HTTP_CALL_RESPONSE_TRAILERS = 6, 7
MAX_CALLOUTS_PER_CALLBACK = 100  # answers delivered after one callback, theirs included

# proxy_buffer_type_t.
REQUEST_BODY, RESPONSE_BODY, DOWNSTREAM_DATA, UPSTREAM_DATA = 0, 1, 2, 3
HTTP_CALL_RESPONSE_BODY, GRPC_RECEIVE_BUFFER, VM_CONFIGURATION, PLUGIN_CONFIGURATION, CALL_DATA = 4, 5, 6, 7, 8

MAX_STREAM_TYPE = 3  # request, response, downstream, upstream
MAX_LOG_LEVEL = 5  # trace, debug, info, warn, error, critical
# proxy_metric_type_t; Envoy keeps the type in the low two bits of a metric's id.
COUNTER, GAUGE, HISTOGRAM = 0, 1, 2
_METRIC_TYPE_MASK = 3
HOST_LOG_LEVEL = 2  # what proxy_get_log_level reports: info, Envoy's default

# proxy_on_* results: 0 continues; for headers, 1 stops iteration (the host waits for the filter).
CONTINUE = 0

ROOT_CONTEXT_ID = 1
PLUGIN_NAME = "sandbox"
# The clock: a fixed instant (2026-01-01T00:00:00Z), one millisecond later for each request.
CLOCK_START_NS = 1_767_225_600 * 1_000_000_000
CLOCK_STEP_NS = 1_000_000

# The simulated upstream's answer to every request that reaches it.
UPSTREAM_RESPONSE_BODY = b"hello from the sandbox upstream\n"
UPSTREAM_RESPONSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b":status", b"200"),
    (b"content-type", b"text/plain"),
    (b"content-length", str(len(UPSTREAM_RESPONSE_BODY)).encode()),
)

# Keep what the module can make the host hold within bounds.
MAX_LOG_ENTRIES = 1000
MAX_LOG_MESSAGE_BYTES = 4096

_MASK32 = 0xFFFF_FFFF
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_PAGE = 65536

_Pairs = list[tuple[bytes, bytes]]
_Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandbox run may use. Exceeding a limit is reported as the module's problem."""

    # Fuel for one callback (about one unit per wasm instruction); running out means it loops.
    fuel_per_call: int = 50_000_000
    # Linear memory the store may hold (wasmtime StoreLimits memory_size); memory.grow fails beyond.
    memory_bytes: int = 64 * 1024 * 1024
    # Table elements the store may hold.
    table_elements: int = 100_000
    # How many identical requests to run. The first is a warm-up (caches, lazy initialisation); a
    # leak shows in the memory of the later ones.
    requests: int = 20
    # When memory still grows after the warm-up, more requests, up to this many, tell a leak (it
    # keeps growing, often in steps) from a heap that grows once and settles.
    max_requests: int = 200
    # Host calls within one callback. Fuel does not count time spent in the host, so a module
    # that calls the host in a loop is stopped here instead.
    host_calls_per_callback: int = 10_000
    # Wall-clock time for one callback (the module's start section counts as one): fuel does not
    # count time spent in host calls. Compiling the module is not the guest's time and is not counted;
    # the run's whole allowance grows with the callbacks it makes.
    seconds_per_callback: float = 5.0
    # Bytes the host may read out of the module's memory in one callback (headers, logs, bodies):
    # a module must not make the host copy gigabytes.
    host_bytes_per_callback: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class SandboxRequest:
    """The HTTP request sent through the filter, identically, `limits.requests` times."""

    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class RequestOutcome:
    """What one request did in the sandbox."""

    # Fuel consumed by this request's callbacks (context creation to deletion), deterministic.
    fuel: int
    # Status, headers and body, if the filter called proxy_send_local_response.
    local_response: tuple[int, _Headers, bytes] | None
    # The request headers as the upstream saw them; empty when the request never reached it.
    request_headers: _Headers
    # The response headers as the client saw them (the local response's, if one was sent).
    response_headers: _Headers
    # Linear memory size after the request.
    memory_bytes: int
    # (callback, value it returned) for each callback that returns a value, in call order;
    # e.g. ("proxy_on_request_headers", 1) when the filter stopped iteration.
    callback_results: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class SandboxReport:
    """The result of one sandbox run. `ok` is False exactly when `problem` says what went wrong."""

    ok: bool
    problem: str | None
    phase: str | None  # "inspect", "compile", "instantiate", "start", "configure", "request 2: <callback>", "requests"
    start_fuel: int  # fuel for instantiation, start functions, root context, vm start and configure
    requests: tuple[RequestOutcome, ...]  # the requests that completed
    logs: tuple[tuple[int, str], ...]  # (level, message) from proxy_log and WASI fd_write to stdout/stderr
    undeclared_clusters: tuple[str, ...] = ()  # clusters the module called out to that were not declared
    callouts: int = 0  # callouts answered by a declared cluster's stand-in

    @property
    def first_request_fuel(self) -> int | None:
        """Fuel of the first request, a warm-up (lazy initialisation, first allocations)."""
        return self.requests[0].fuel if self.requests else None

    @property
    def fuel_per_request(self) -> int | None:
        """The median fuel of the requests after the first (the steady state; a garbage collection
        in one of them does not move it), or the first's if it is the only one; None if none completed."""
        measured = self._measured()
        return int(statistics.median_low(o.fuel for o in measured)) if measured else None

    @property
    def fuel_range(self) -> tuple[int, int] | None:
        """The least and most fuel of the requests after the first."""
        measured = self._measured()
        return (min(o.fuel for o in measured), max(o.fuel for o in measured)) if measured else None

    @property
    def memory_growth_per_request(self) -> float | None:
        """Bytes of linear memory gained per request after the first, on average (0.0: none)."""
        if len(self.requests) < 2:
            return None
        return (self.requests[-1].memory_bytes - self.requests[0].memory_bytes) / (len(self.requests) - 1)

    def _measured(self) -> tuple[RequestOutcome, ...]:
        return self.requests[1:] or self.requests


def run_sandbox(
    wasm: bytes,
    plugin_config: bytes,
    request: SandboxRequest = SandboxRequest(),
    limits: SandboxLimits = SandboxLimits(),
    vm_config: bytes = b"",
    *,
    plugin_name: str = PLUGIN_NAME,
    root_id: str = "",
    services: Mapping[str, Answer] | None = None,
) -> SandboxReport:
    """Run `wasm` as Envoy would (start, configure, `limits.requests` requests) in a sandbox.

    `plugin_name` and `root_id` are what Envoy's configuration would give the plugin (its `name` and
    `root_id`; the VM id is the name, as the catalog's Envoy configuration sets it): SDK filters
    look their root context up by `root_id`. `services` answers callouts: cluster name -> (status,
    headers, body) of its stand-in.

    Never raises for a bad module: every failure is a report with `ok=False` and a message that names
    the callback and the request number.
    """
    run = _Run(limits, plugin_config, vm_config)
    run.host.plugin_name, run.host.root_id = plugin_name, root_id
    run.host.services = {
        name.encode(): (
            [(b":status", str(status).encode()), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
            body,
        )
        for name, (status, headers, body) in (services or {}).items()
    }
    try:
        run.start(wasm, _check(wasm))
        for number in range(1, limits.requests + 1):
            run.request(number, request)
        if not run.leaks() and run.grew_after_warm_up():  # settling, or a slow leak? more requests tell
            for number in range(limits.requests + 1, max(limits.requests, limits.max_requests) + 1):
                run.request(number, request)
        run.check_growth()
    except _Failure as failure:
        return run.report(failure)
    return run.report(None)


Answer = tuple[int, Mapping[str, str], bytes]  # a stand-in's status, headers and body


class _Failure(Exception):
    """Ends a run: `problem` says what the module did, `phase` where."""

    def __init__(self, problem: str, phase: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.phase = phase


class _ProcExit(Exception):
    """The module called WASI proc_exit."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _TooManyHostCalls(Exception):
    """A host-side limit was reached: host calls per callback, the run's time, or its host bytes."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        super().__init__(name)
        self.name = name
        self.reason = reason


def _check(wasm: bytes) -> str:
    """The module's ABI version, after the inspection `catalog inspect` does.

    Inspection checks the magic bytes first (wasmtime would also compile WAT text) and never
    compiles; any error it finds (an import Envoy does not provide, a callback with the wrong
    signature, no allocator...) would make Envoy refuse the module, so the run stops here.
    """
    facts, findings = inspect_binary(wasm, "module")
    errors = [f.message for f in findings if f.severity is Severity.ERROR]
    if facts is None or errors or wasm[:4] != WASM_MAGIC:
        raise _Failure(f"the module failed inspection: {'; '.join(errors)}", "inspect")
    return facts.abi


@cache
def _engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.consume_fuel = True
    _use_disk_cache(config)
    return wasmtime.Engine(config)


def _use_disk_cache(config: wasmtime.Config) -> None:
    """wasmtime's own compilation cache, in the user's cache directory: a module is compiled once
    per machine (once per CI run), not once per sandbox run. Without a writable directory, none."""
    directory = user_cache_dir() / "wasmtime"
    settings = directory.parent / "wasmtime-cache.toml"
    text = f"[cache]\ndirectory = {json.dumps(str(directory))}\n"  # a TOML basic string
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not settings.is_file() or settings.read_text() != text:
            write_atomic(settings, text)
        config.cache = str(settings)
    except (OSError, wasmtime.WasmtimeError):
        return


# Compiled modules by sha256, the most recent last: proving a version runs it several times.
_COMPILED: OrderedDict[str, wasmtime.Module] = OrderedDict()
MAX_COMPILED = 4


def compile_module(wasm: bytes) -> wasmtime.Module:
    """`wasm` compiled for the sandbox's engine: from this process's last few, from wasmtime's disk
    cache, or compiled now. Raises wasmtime.WasmtimeError if it does not compile."""
    key = hashlib.sha256(wasm).hexdigest()
    module = _COMPILED.get(key)
    if module is None:
        module = wasmtime.Module(_engine(), wasm)
        _COMPILED[key] = module
        while len(_COMPILED) > MAX_COMPILED:
            _COMPILED.popitem(last=False)
    _COMPILED.move_to_end(key)
    return module


_VALTYPES: dict[str, Callable[[], wasmtime.ValType]] = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


@cache
def _functype(sig: abi.Signature) -> wasmtime.FuncType:
    return wasmtime.FuncType([_VALTYPES[t]() for t in sig.params], [_VALTYPES[t]() for t in sig.results])


# --- serialized header pairs ------------------------------------------------------------------


def serialize_pairs(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The proxy-wasm pairs format: u32 count, (u32 key size, u32 value size) each, then each key
    and value followed by a NUL byte; little-endian."""
    sizes = b"".join(struct.pack("<II", len(k), len(v)) for k, v in pairs)
    data = b"".join(k + b"\0" + v + b"\0" for k, v in pairs)
    return struct.pack("<I", len(pairs)) + sizes + data


def parse_pairs(data: bytes) -> _Pairs:
    """Pairs from the serialized format; an inconsistent buffer gives no pairs (as the host does)."""
    if len(data) < 4:
        return []
    (count,) = struct.unpack_from("<I", data)
    offset = 4 + 8 * count
    if offset > len(data):
        return []
    pairs: _Pairs = []
    for index in range(count):
        key_size, value_size = struct.unpack_from("<II", data, 4 + 8 * index)
        end = offset + key_size + 1 + value_size + 1
        if end > len(data):
            return []
        key = data[offset : offset + key_size]
        value = data[offset + key_size + 1 : offset + key_size + 1 + value_size]
        pairs.append((key, value))
        offset = end
    return pairs


def _text(pairs: Sequence[tuple[bytes, bytes]]) -> _Headers:
    return tuple((k.decode("utf-8", "replace"), v.decode("utf-8", "replace")) for k, v in pairs)


# --- the module's memory, as the host sees it during one host call -----------------------------


class _Guest:
    """Bounds-checked access to the module's memory and allocator from inside one host call."""

    def __init__(self, host: _Host, caller: wasmtime.Caller) -> None:
        self.host = host
        self.caller = caller
        memory = host.memory
        if memory is None:  # a host call from the module's start section, before exports are known
            export = caller.get("memory")
            memory = export if isinstance(export, wasmtime.Memory) else None
        self.memory = memory

    def size(self) -> int:
        return self.memory.data_len(self.caller) if self.memory is not None else 0

    def valid(self, ptr: int, size: int) -> bool:
        return ptr + size <= self.size()

    def read(self, ptr: int, size: int) -> bytes | None:
        if self.memory is None or not self.valid(ptr, size):
            return None
        self.host.host_bytes += size
        if self.host.host_bytes > self.host.limits.host_bytes_per_callback:
            limit = self.host.limits.host_bytes_per_callback
            raise _TooManyHostCalls(self.host.last_host_call, f"host calls read more than {limit} bytes of its memory")
        return bytes(self.memory.read(self.caller, ptr, ptr + size)) if size else b""

    def write(self, ptr: int, data: bytes) -> bool:
        if self.memory is None or not self.valid(ptr, len(data)):
            return False
        if data:
            self.memory.write(self.caller, data, ptr)
        return True

    def write_u32(self, ptr: int, value: int) -> bool:
        return self.write(ptr, struct.pack("<I", value & _MASK32))

    def write_u64(self, ptr: int, value: int) -> bool:
        return self.write(ptr, struct.pack("<Q", value & _MASK64))

    def copy_out(self, data: bytes, ptr_ptr: int, size_ptr: int) -> int:
        """Place `data` in module memory and write its address and size (copyToPointerSize)."""
        if not (self.valid(ptr_ptr, 4) and self.valid(size_ptr, 4)):
            return INVALID_MEMORY_ACCESS
        address = 0
        if data:
            allocated = self.alloc(len(data))
            if allocated is None or not self.write(allocated, data):
                return INVALID_MEMORY_ACCESS
            address = allocated
        if not (self.write_u32(ptr_ptr, address) and self.write_u32(size_ptr, len(data))):
            return INVALID_MEMORY_ACCESS
        return OK

    def alloc(self, size: int) -> int | None:
        """An address of `size` bytes from the module's allocator, or None if it failed."""
        host = self.host
        if host.allocator is None:
            return None
        host.allocating = True  # stays set if the allocator traps, so the problem can say where
        result = host.allocator(self.caller, size)
        host.allocating = False
        address = result & _MASK32 if isinstance(result, int) else 0
        if address == 0 or not self.valid(address, size):
            said = "0 (out of memory)" if address == 0 else f"{address:#x}, beyond its {self.size()}-byte memory"
            host.notes.append(f"the module's allocator {host.allocator_name}({size}) returned {said}")
            return None
        return address


# --- per-request state --------------------------------------------------------------------------


@dataclass
class _Stream:
    """One HTTP stream: its header maps and bodies as the filter sees them."""

    context_id: int
    maps: dict[int, _Pairs]  # only the maps that exist now
    bodies: dict[int, bytearray] = field(default_factory=dict)
    properties: dict[bytes, bytes] = field(default_factory=dict)  # set by the filter (filter state)
    local_response: tuple[int, _Pairs, bytes] | None = None


def _request_headers(request: SandboxRequest) -> _Pairs:
    """The request headers as Envoy hands them to an HTTP filter (pseudo-headers first)."""
    given = [(k.lower().encode(), v.encode()) for k, v in request.headers]
    special = {k: v for k, v in given if k in (b":authority", b"host", b":scheme")}
    authority = special.get(b":authority", special.get(b"host", b"sandbox.local"))
    pairs: _Pairs = [
        (b":authority", authority),
        (b":path", request.path.encode()),
        (b":method", request.method.encode()),
        (b":scheme", special.get(b":scheme", b"http")),
    ]
    pseudo = {b":authority", b"host", b":path", b":method", b":scheme"}
    pairs += [(k, v) for k, v in given if k not in pseudo]
    if request.body and not any(k == b"content-length" for k, _ in pairs):
        pairs.append((b"content-length", str(len(request.body)).encode()))
    if not any(k == b"x-forwarded-proto" for k, _ in pairs):
        pairs.append((b"x-forwarded-proto", pairs[3][1]))
    # Envoy's connection manager adds a request id before any filter runs; filters rely on it.
    if not any(k == b"x-request-id" for k, _ in pairs):
        pairs.append((b"x-request-id", b"00000000-0000-4000-8000-000000000000"))
    return pairs


def _first(pairs: _Pairs, key: bytes) -> bytes | None:
    return next((v for k, v in pairs if k == key), None)


# --- the host -------------------------------------------------------------------------------------


_HostFunction = Callable[..., int | None]


class _Host:
    """Our implementation of the proxy-wasm host calls and the WASI subset Envoy offers."""

    def __init__(self, limits: SandboxLimits, plugin_config: bytes, vm_config: bytes) -> None:
        self.limits = limits
        self.abi_version = ""
        self.plugin_config = plugin_config
        self.vm_config = vm_config
        self.memory: wasmtime.Memory | None = None
        self.allocator: wasmtime.Func | None = None
        self.allocator_name = ""
        self.allocating = False  # a trap while True happened in the module's allocator
        self.stream: _Stream | None = None
        self.configuring = False
        self.clock_ns = CLOCK_START_NS
        self.logs: list[tuple[int, str]] = []
        self.partial: dict[int, bytearray] = {}  # per level: the start of a line still being written
        self.dropped_logs = 0
        self.callback_logs = 0  # index into logs where the current callback's messages start
        self.plugin_name = PLUGIN_NAME
        self.root_id = ""
        self.host_calls = 0
        self.host_bytes = 0
        self.deadline = time.monotonic() + limits.seconds_per_callback
        self.last_host_call = ""
        self.notes: list[str] = []  # facts about the current callback worth adding to a problem
        self.random_counter = 0
        self.next_token = 1
        self.metrics: dict[int, int] = {}  # id -> value
        self.metric_ids: dict[tuple[int, bytes], int] = {}
        self.shared_data: dict[bytes, tuple[bytes, int]] = {}
        self.next_cas = 1
        self.queues: dict[int, deque[bytes]] = {}
        self.queue_ids: dict[bytes, int] = {}
        self.grpc_tokens: set[int] = set()
        self.services: dict[bytes, tuple[_Pairs, bytes]] = {}  # cluster -> the stand-in's headers and body
        self.undeclared: list[str] = []
        self.pending_callouts: list[tuple[int, int, bytes]] = []  # (token, calling context, cluster)
        self.callout: tuple[_Pairs, bytes] | None = None  # the answer being delivered
        self.callouts = 0
        self.context_id = ROOT_CONTEXT_ID  # the context of the callback being run

    # -- plumbing

    def begin_callback(self) -> None:
        self.deadline = time.monotonic() + self.limits.seconds_per_callback
        self.host_bytes = 0
        self.allocating = False
        self.host_calls = 0
        self.notes = []
        self.callback_logs = len(self.logs)

    def link(self, linker: wasmtime.Linker, abi_version: str) -> None:
        """Define every function Envoy offers a module of `abi_version`."""
        self.abi_version = abi_version
        env = self._env_functions()
        wasi = self._wasi_functions()
        for (module, name), sig in abi.host_imports(abi_version).items():
            impl = env.get(name) if module == abi.ENV_MODULE else wasi.get(name)
            if impl is None:
                impl = self._stub(module, name, sig)
            linker.define_func(module, name, _functype(sig), self._entry(name, sig, impl), access_caller=True)

    def _entry(self, name: str, sig: abi.Signature, impl: _HostFunction) -> Callable[..., int | None]:
        unsigned = tuple(t == "i32" for t in sig.params)

        def entry(caller: wasmtime.Caller, *args: int) -> int | None:
            self.host_calls += 1
            self.last_host_call = name
            if self.host_calls > self.limits.host_calls_per_callback:
                raise _TooManyHostCalls(name)
            if time.monotonic() > self.deadline:
                seconds = self.limits.seconds_per_callback
                raise _TooManyHostCalls(name, f"took longer than {seconds:g} s of wall-clock time")
            values = [a & _MASK32 if u else a for a, u in zip(args, unsigned, strict=True)]
            return impl(_Guest(self, caller), *values)

        return entry

    @staticmethod
    def _stub(module: str, name: str, sig: abi.Signature) -> _HostFunction:
        """A function we do not implement: Unimplemented (proxy-wasm) or an errno (WASI)."""
        if not sig.results:
            return lambda guest, *args: None
        if module == abi.ENV_MODULE:
            return lambda guest, *args: UNIMPLEMENTED
        takes_fd = name.startswith(("fd_", "path_", "sock_"))
        # No descriptor but stdin, stdout and stderr exists; no directory is pre-opened.
        return lambda guest, *args: WASI_EBADF if takes_fd and (not args or args[0] > 2) else WASI_ENOSYS

    def _write(self, level: int, data: bytes) -> None:
        """Output that may come in pieces (a WASI stream, or a runtime that logs one byte per call,
        as TinyGo's does): kept until its line is complete, then logged as one message."""
        partial = self.partial.setdefault(level, bytearray())
        partial += data
        *lines, rest = bytes(partial).split(b"\n")
        for line in lines:
            self._log(level, line)
        self.partial[level] = bytearray(rest[-MAX_LOG_MESSAGE_BYTES:])

    def flush_logs(self) -> None:
        """Log what is left of unfinished lines (at the end of a callback, or when the module traps)."""
        for level, partial in sorted(self.partial.items()):
            if partial:
                self._log(level, bytes(partial))
        self.partial.clear()

    def _log(self, level: int, message: bytes, total: int | None = None) -> None:
        if len(self.logs) >= MAX_LOG_ENTRIES:
            self.dropped_logs += 1
            return
        total = len(message) if total is None else total
        text = message[:MAX_LOG_MESSAGE_BYTES].decode("utf-8", "replace")
        if total > MAX_LOG_MESSAGE_BYTES:
            text += f"... ({total} bytes)"
        self.logs.append((level, text))

    def _env_functions(self) -> dict[str, _HostFunction]:
        return {
            "proxy_log": self.log,
            "proxy_get_log_level": self.get_log_level,
            "proxy_set_effective_context": self.set_effective_context,
            "proxy_done": self.ok,
            "proxy_get_current_time_nanoseconds": self.get_current_time_nanoseconds,
            "proxy_set_tick_period_milliseconds": self.set_tick_period_milliseconds,
            "proxy_get_property": self.get_property,
            "proxy_set_property": self.set_property,
            "proxy_get_configuration": self.get_configuration,
            "proxy_get_buffer_status": self.get_buffer_status,
            "proxy_get_buffer_bytes": self.get_buffer_bytes,
            "proxy_set_buffer_bytes": self.set_buffer_bytes,
            "proxy_get_header_map_size": self.get_header_map_size,
            "proxy_get_header_map_pairs": self.get_header_map_pairs,
            "proxy_set_header_map_pairs": self.set_header_map_pairs,
            "proxy_get_header_map_value": self.get_header_map_value,
            "proxy_add_header_map_value": self.add_header_map_value,
            "proxy_replace_header_map_value": self.replace_header_map_value,
            "proxy_remove_header_map_value": self.remove_header_map_value,
            "proxy_send_local_response": self.send_local_response,
            "proxy_get_status": self.get_status,
            "proxy_continue_stream": self.stream_control,
            "proxy_close_stream": self.stream_control,
            "proxy_continue_request": self.ok,
            "proxy_continue_response": self.ok,
            "proxy_clear_route_cache": self.ok,
            "proxy_http_call": self.http_call,
            "proxy_grpc_call": self.grpc_call,
            "proxy_grpc_stream": self.grpc_stream,
            "proxy_grpc_send": self.grpc_send,
            "proxy_grpc_cancel": self.grpc_token_call,
            "proxy_grpc_close": self.grpc_token_call,
            "proxy_get_shared_data": self.get_shared_data,
            "proxy_set_shared_data": self.set_shared_data,
            "proxy_register_shared_queue": self.register_shared_queue,
            "proxy_resolve_shared_queue": self.resolve_shared_queue,
            "proxy_enqueue_shared_queue": self.enqueue_shared_queue,
            "proxy_dequeue_shared_queue": self.dequeue_shared_queue,
            "proxy_define_metric": self.define_metric,
            "proxy_increment_metric": self.increment_metric,
            "proxy_record_metric": self.record_metric,
            "proxy_get_metric": self.get_metric,
            "proxy_call_foreign_function": self.call_foreign_function,
            "pthread_equal": lambda guest, left, right: int(left == right),
            "emscripten_notify_memory_growth": lambda guest, index: None,
        }

    def _wasi_functions(self) -> dict[str, _HostFunction]:
        return {
            "fd_write": self.fd_write,
            "fd_fdstat_get": self.fd_fdstat_get,
            "clock_time_get": self.clock_time_get,
            "clock_res_get": self.clock_res_get,
            "random_get": self.random_get,
            "environ_sizes_get": self.zero_sizes,
            "args_sizes_get": self.zero_sizes,
            "environ_get": lambda guest, array, buffer: WASI_SUCCESS,
            "args_get": lambda guest, array, buffer: WASI_SUCCESS,
            "sched_yield": lambda guest: WASI_SUCCESS,
            "proc_exit": self.proc_exit,
        }

    # -- general

    def ok(self, guest: _Guest) -> int:
        return OK

    def log(self, guest: _Guest, level: int, ptr: int, size: int) -> int:
        if level > MAX_LOG_LEVEL:
            return BAD_ARGUMENT
        if not guest.valid(ptr, size):
            return INVALID_MEMORY_ACCESS
        # Read no more than is kept: a module must not make the host copy a huge message.
        message = guest.read(ptr, min(size, MAX_LOG_MESSAGE_BYTES)) or b""
        if size <= 1 or self.partial.get(level):  # a piece of a line, or the end of one
            self._write(level, message if message else b"\n")
        else:
            self._log(level, message, size)
        return OK

    def get_log_level(self, guest: _Guest, level_ptr: int) -> int:
        return OK if guest.write_u32(level_ptr, HOST_LOG_LEVEL) else INVALID_MEMORY_ACCESS

    def set_effective_context(self, guest: _Guest, context_id: int) -> int:
        live = {ROOT_CONTEXT_ID} | ({self.stream.context_id} if self.stream else set())
        if context_id not in live:
            return BAD_ARGUMENT
        self.context_id = context_id
        return OK

    def _current_stream(self) -> _Stream | None:
        """The stream whose headers, bodies and filter state host calls reach now: only while its
        context is the effective one (a callout's answer comes to the root context, as in Envoy,
        and a filter must make its stream effective to touch the request)."""
        stream = self.stream
        return stream if stream is not None and self.context_id == stream.context_id else None

    def get_current_time_nanoseconds(self, guest: _Guest, time_ptr: int) -> int:
        return OK if guest.write_u64(time_ptr, self.clock_ns) else INVALID_MEMORY_ACCESS

    def set_tick_period_milliseconds(self, guest: _Guest, period: int) -> int:
        return OK  # accepted; the sandbox runs no timers

    def get_status(self, guest: _Guest, code_ptr: int, ptr_ptr: int, size_ptr: int) -> int:
        if not guest.write_u32(code_ptr, 0):
            return INVALID_MEMORY_ACCESS
        return guest.copy_out(b"", ptr_ptr, size_ptr)

    def call_foreign_function(
        self, guest: _Guest, name_ptr: int, name_size: int, args_ptr: int, args_size: int, out_ptr: int, out_size: int
    ) -> int:
        if guest.read(name_ptr, name_size) is None or guest.read(args_ptr, args_size) is None:
            return INVALID_MEMORY_ACCESS
        return NOT_FOUND  # Envoy registers foreign functions by name; none exists here

    # -- properties

    def _property(self, path: bytes) -> bytes | None:
        current = self._current_stream()
        if current is not None and path in current.properties:
            return current.properties[path]
        parts = path.removesuffix(b"\0").split(b"\0")
        top = {
            b"plugin_name": self.plugin_name.encode(),
            b"plugin_root_id": self.root_id.encode(),
            b"plugin_vm_id": self.plugin_name.encode(),
        }
        if len(parts) == 1 and parts[0] in top:
            return top[parts[0]]
        stream = current
        if stream is None or len(parts) < 2:
            return None
        if parts[0] == b"request":
            return self._message_property(stream.maps.get(REQUEST_HEADERS), parts[1:], request=True)
        if parts[0] == b"response":
            return self._message_property(stream.maps.get(RESPONSE_HEADERS), parts[1:], request=False)
        if parts == [b"source", b"address"]:
            return b"127.0.0.1:50000"
        if parts == [b"destination", b"address"]:
            return b"127.0.0.1:10000"
        return None

    @staticmethod
    def _message_property(headers: _Pairs | None, parts: list[bytes], *, request: bool) -> bytes | None:
        if headers is None:
            return None
        if parts[0] == b"headers":
            if len(parts) == 1:
                return serialize_pairs(headers)
            values = [v for k, v in headers if k == parts[1].lower()]
            return b",".join(values) if values and len(parts) == 2 else None
        if len(parts) != 1:
            return None
        path = _first(headers, b":path") or b""
        if request:
            fields = {
                b"path": path,
                b"url_path": path.split(b"?", 1)[0],
                b"query": path.split(b"?", 1)[1] if b"?" in path else b"",
                b"method": _first(headers, b":method"),
                b"host": _first(headers, b":authority"),
                b"scheme": _first(headers, b":scheme"),
                b"protocol": b"HTTP/1.1",
            }
            return fields.get(parts[0])
        if parts[0] == b"code":
            status = _first(headers, b":status") or b""
            return struct.pack("<q", int(status)) if status.isdigit() else None
        return None

    def get_property(self, guest: _Guest, path_ptr: int, path_size: int, ptr_ptr: int, size_ptr: int) -> int:
        path = guest.read(path_ptr, path_size)
        if path is None:
            return INVALID_MEMORY_ACCESS
        value = self._property(path)
        if value is None:
            return NOT_FOUND
        return guest.copy_out(value, ptr_ptr, size_ptr)

    def set_property(self, guest: _Guest, path_ptr: int, path_size: int, value_ptr: int, value_size: int) -> int:
        path = guest.read(path_ptr, path_size)
        value = guest.read(value_ptr, value_size)
        if path is None or value is None:
            return INVALID_MEMORY_ACCESS
        current = self._current_stream()
        if current is None:
            return NOT_FOUND  # Envoy keeps them in the stream's filter state
        current.properties[path] = value
        return OK

    # -- buffers

    def _buffer(self, kind: int) -> bytes | bytearray | None:
        """The buffer `kind` as it exists now; None when the host has no such buffer now."""
        if kind == VM_CONFIGURATION:
            return self.vm_config
        if kind == PLUGIN_CONFIGURATION:
            return self.plugin_config if self.configuring else None
        if kind == HTTP_CALL_RESPONSE_BODY:
            return self.callout[1] if self.callout is not None else None
        current = self._current_stream()
        if kind in (REQUEST_BODY, RESPONSE_BODY) and current is not None:
            return current.bodies.setdefault(kind, bytearray())
        return b""  # the other buffers exist and are empty

    def get_configuration(self, guest: _Guest, ptr_ptr: int, size_ptr: int) -> int:
        """ABI 0.1.0: the plugin configuration while configuring, else the VM configuration."""
        value = self.plugin_config if self.configuring else self.vm_config
        return guest.copy_out(value, ptr_ptr, size_ptr)

    def get_buffer_status(self, guest: _Guest, kind: int, size_ptr: int, flags_ptr: int) -> int:
        if kind > CALL_DATA:
            return BAD_ARGUMENT
        buffer = self._buffer(kind)
        if buffer is None:
            return NOT_FOUND
        if not (guest.write_u32(size_ptr, len(buffer)) and guest.write_u32(flags_ptr, 0)):
            return INVALID_MEMORY_ACCESS
        return OK

    def get_buffer_bytes(self, guest: _Guest, kind: int, start: int, length: int, ptr_ptr: int, size_ptr: int) -> int:
        if kind > CALL_DATA:
            return BAD_ARGUMENT
        buffer = self._buffer(kind)
        if buffer is None:
            return NOT_FOUND
        if start > len(buffer):
            return BAD_ARGUMENT
        length = min(length, len(buffer) - start)
        if length == 0:
            return OK  # as Envoy: nothing is written
        return guest.copy_out(bytes(buffer[start : start + length]), ptr_ptr, size_ptr)

    def set_buffer_bytes(self, guest: _Guest, kind: int, start: int, length: int, data_ptr: int, data_size: int) -> int:
        if kind > CALL_DATA:
            return BAD_ARGUMENT
        buffer = self._buffer(kind)
        if buffer is None:
            return NOT_FOUND
        data = guest.read(data_ptr, data_size)
        if data is None:
            return INVALID_MEMORY_ACCESS
        if not isinstance(buffer, bytearray):
            return BAD_ARGUMENT  # configuration and the empty buffers cannot be changed
        # Envoy's rules: prepend (start 0, length 0), replace all, or append; nothing in between.
        if start == 0 and length == 0:
            buffer[:0] = data
        elif start == 0 and length >= len(buffer):
            buffer[:] = data
        elif start >= len(buffer):
            buffer.extend(data)
        else:
            return BAD_ARGUMENT
        return OK

    # -- header maps

    def _map(self, kind: int) -> _Pairs | None:
        if kind in (HTTP_CALL_RESPONSE_HEADERS, HTTP_CALL_RESPONSE_TRAILERS):
            if self.callout is None:
                return None
            return self.callout[0] if kind == HTTP_CALL_RESPONSE_HEADERS else []
        current = self._current_stream()
        return current.maps.get(kind) if current is not None else None

    def get_header_map_size(self, guest: _Guest, kind: int, size_ptr: int) -> int:
        if kind > MAX_MAP_TYPE:
            return BAD_ARGUMENT
        pairs = self._map(kind)
        if pairs is None:
            return BAD_ARGUMENT
        byte_size = sum(len(k) + len(v) for k, v in pairs)  # Envoy reports the map's byte size
        return OK if guest.write_u32(size_ptr, byte_size) else INVALID_MEMORY_ACCESS

    def get_header_map_pairs(self, guest: _Guest, kind: int, ptr_ptr: int, size_ptr: int) -> int:
        if kind > MAX_MAP_TYPE:
            return BAD_ARGUMENT
        pairs = self._map(kind) or []
        return guest.copy_out(serialize_pairs(pairs) if pairs else b"", ptr_ptr, size_ptr)

    def set_header_map_pairs(self, guest: _Guest, kind: int, ptr: int, size: int) -> int:
        if kind > MAX_MAP_TYPE:
            return BAD_ARGUMENT
        data = guest.read(ptr, size)
        if data is None:
            return INVALID_MEMORY_ACCESS
        pairs = self._map(kind)
        if pairs is None:
            return BAD_ARGUMENT
        pairs[:] = [(k.lower(), v) for k, v in parse_pairs(data)]
        return OK

    def get_header_map_value(
        self, guest: _Guest, kind: int, key_ptr: int, key_size: int, ptr_ptr: int, size_ptr: int
    ) -> int:
        if kind > MAX_MAP_TYPE:
            return BAD_ARGUMENT
        key = guest.read(key_ptr, key_size)
        if key is None:
            return INVALID_MEMORY_ACCESS
        pairs = self._map(kind)
        if pairs is None:
            return BAD_ARGUMENT
        value = _first(pairs, key.lower())
        if value is None:
            if self.abi_version != "0.1.0":
                return NOT_FOUND
            value = b""  # ABI 0.1.0 reports a missing header as an empty value
        return guest.copy_out(value, ptr_ptr, size_ptr)

    def _edit_map(
        self, guest: _Guest, kind: int, key: tuple[int, int], value: tuple[int, int] = (0, 0)
    ) -> tuple[int, _Pairs, bytes, bytes]:
        """Status, map, lowercased key and value for the calls that change a map (OK: go on)."""
        if kind > MAX_MAP_TYPE:
            return BAD_ARGUMENT, [], b"", b""
        key_bytes, value_bytes = guest.read(*key), guest.read(*value)
        if key_bytes is None or value_bytes is None:
            return INVALID_MEMORY_ACCESS, [], b"", b""
        pairs = self._map(kind)
        if pairs is None:
            return BAD_ARGUMENT, [], b"", b""
        return OK, pairs, key_bytes.lower(), value_bytes

    def add_header_map_value(
        self, guest: _Guest, kind: int, key_ptr: int, key_size: int, value_ptr: int, value_size: int
    ) -> int:
        status, pairs, key, value = self._edit_map(guest, kind, (key_ptr, key_size), (value_ptr, value_size))
        if status == OK:
            pairs.append((key, value))
        return status

    def replace_header_map_value(
        self, guest: _Guest, kind: int, key_ptr: int, key_size: int, value_ptr: int, value_size: int
    ) -> int:
        """The first entry of the key takes the value and later ones go; without one, it is added."""
        status, pairs, key, value = self._edit_map(guest, kind, (key_ptr, key_size), (value_ptr, value_size))
        if status != OK:
            return status
        replaced: _Pairs = []
        seen = False
        for k, v in pairs:
            if k == key:
                if seen:
                    continue
                seen, v = True, value
            replaced.append((k, v))
        if not seen:
            replaced.append((key, value))
        pairs[:] = replaced
        return OK

    def remove_header_map_value(self, guest: _Guest, kind: int, key_ptr: int, key_size: int) -> int:
        status, pairs, key, _value = self._edit_map(guest, kind, (key_ptr, key_size))
        if status == OK:
            pairs[:] = [(k, v) for k, v in pairs if k != key]
        return status

    # -- HTTP stream control

    def send_local_response(
        self,
        guest: _Guest,
        status_code: int,
        details_ptr: int,
        details_size: int,
        body_ptr: int,
        body_size: int,
        headers_ptr: int,
        headers_size: int,
        grpc_status: int,
    ) -> int:
        details = guest.read(details_ptr, details_size)
        body = guest.read(body_ptr, body_size)
        headers = guest.read(headers_ptr, headers_size)
        if details is None or body is None or headers is None:
            return INVALID_MEMORY_ACCESS
        current = self._current_stream()
        if current is not None:
            pairs = [(k.lower(), v) for k, v in parse_pairs(headers)]
            current.local_response = (status_code, pairs, body)
        return OK

    def stream_control(self, guest: _Guest, stream_type: int) -> int:
        return BAD_ARGUMENT if stream_type > MAX_STREAM_TYPE else OK

    # -- callouts: accepted, never answered

    def _token(self) -> int:
        token = self.next_token
        self.next_token += 1
        return token

    def http_call(
        self,
        guest: _Guest,
        upstream_ptr: int,
        upstream_size: int,
        headers_ptr: int,
        headers_size: int,
        body_ptr: int,
        body_size: int,
        trailers_ptr: int,
        trailers_size: int,
        timeout_ms: int,
        token_ptr: int,
    ) -> int:
        headers = guest.read(headers_ptr, headers_size)
        others = ((upstream_ptr, upstream_size), (body_ptr, body_size), (trailers_ptr, trailers_size))
        if headers is None or not all(guest.valid(ptr, size) for ptr, size in others):
            return INVALID_MEMORY_ACCESS
        names = {k for k, _ in parse_pairs(headers)}
        if not {b":authority", b":method", b":path"} <= names:
            return BAD_ARGUMENT
        cluster = guest.read(upstream_ptr, upstream_size) or b""
        if cluster not in self.services:
            name = cluster.decode("utf-8", "replace")
            if name not in self.undeclared:
                self.undeclared.append(name)
            return BAD_ARGUMENT  # as Envoy answers for a cluster it does not have
        token = self._token()
        if not guest.write_u32(token_ptr, token):
            return INVALID_MEMORY_ACCESS
        # The root context owns every callout, and gets its answer (proxy-wasm-cpp-host, Envoy).
        self.pending_callouts.append((token, ROOT_CONTEXT_ID, cluster))
        return OK

    def _grpc_open(self, guest: _Guest, regions: Sequence[tuple[int, int]], token_ptr: int) -> int:
        if not all(guest.valid(p, s) for p, s in regions):
            return INVALID_MEMORY_ACCESS
        token = self._token()
        if not guest.write_u32(token_ptr, token):
            return INVALID_MEMORY_ACCESS
        self.grpc_tokens.add(token)
        return OK

    def grpc_call(self, guest: _Guest, *args: int) -> int:
        # service, service name, method, metadata, message: (ptr, size) each; timeout; token out
        regions = [(args[i], args[i + 1]) for i in range(0, 10, 2)]
        return self._grpc_open(guest, regions, args[11])

    def grpc_stream(self, guest: _Guest, *args: int) -> int:
        # service, service name, method, metadata: (ptr, size) each; token out
        regions = [(args[i], args[i + 1]) for i in range(0, 8, 2)]
        return self._grpc_open(guest, regions, args[8])

    def grpc_send(self, guest: _Guest, token: int, ptr: int, size: int, end_of_stream: int) -> int:
        if not guest.valid(ptr, size):
            return INVALID_MEMORY_ACCESS
        return OK if token in self.grpc_tokens else NOT_FOUND

    def grpc_token_call(self, guest: _Guest, token: int) -> int:
        return OK if token in self.grpc_tokens else NOT_FOUND

    # -- shared data and queues

    def get_shared_data(
        self, guest: _Guest, key_ptr: int, key_size: int, ptr_ptr: int, size_ptr: int, cas_ptr: int
    ) -> int:
        key = guest.read(key_ptr, key_size)
        if key is None:
            return INVALID_MEMORY_ACCESS
        if key not in self.shared_data:
            return NOT_FOUND
        value, cas = self.shared_data[key]
        status = guest.copy_out(value, ptr_ptr, size_ptr)
        if status == OK and not guest.write_u32(cas_ptr, cas):
            return INVALID_MEMORY_ACCESS
        return status

    def set_shared_data(
        self, guest: _Guest, key_ptr: int, key_size: int, value_ptr: int, value_size: int, cas: int
    ) -> int:
        key = guest.read(key_ptr, key_size)
        value = guest.read(value_ptr, value_size)
        if key is None or value is None:
            return INVALID_MEMORY_ACCESS
        if key in self.shared_data and cas and cas != self.shared_data[key][1]:
            return CAS_MISMATCH
        self.shared_data[key] = (value, self.next_cas)
        self.next_cas += 1
        return OK

    def register_shared_queue(self, guest: _Guest, name_ptr: int, name_size: int, token_ptr: int) -> int:
        name = guest.read(name_ptr, name_size)
        if name is None:
            return INVALID_MEMORY_ACCESS
        if name not in self.queue_ids:
            self.queue_ids[name] = token = self._token()
            self.queues[token] = deque()
        return OK if guest.write_u32(token_ptr, self.queue_ids[name]) else INVALID_MEMORY_ACCESS

    def resolve_shared_queue(
        self, guest: _Guest, vm_ptr: int, vm_size: int, name_ptr: int, name_size: int, token_ptr: int
    ) -> int:
        vm_id = guest.read(vm_ptr, vm_size)
        name = guest.read(name_ptr, name_size)
        if vm_id is None or name is None:
            return INVALID_MEMORY_ACCESS
        if vm_id or name not in self.queue_ids:  # the only VM here has the empty id
            return NOT_FOUND
        return OK if guest.write_u32(token_ptr, self.queue_ids[name]) else INVALID_MEMORY_ACCESS

    def enqueue_shared_queue(self, guest: _Guest, token: int, ptr: int, size: int) -> int:
        data = guest.read(ptr, size)
        if data is None:
            return INVALID_MEMORY_ACCESS
        if token not in self.queues:
            return NOT_FOUND
        self.queues[token].append(data)
        return OK

    def dequeue_shared_queue(self, guest: _Guest, token: int, ptr_ptr: int, size_ptr: int) -> int:
        if token not in self.queues:
            return NOT_FOUND
        queue = self.queues[token]
        if not queue:
            return EMPTY
        status = guest.copy_out(queue[0], ptr_ptr, size_ptr)
        if status == OK:
            queue.popleft()
        return status

    # -- metrics

    def define_metric(self, guest: _Guest, kind: int, name_ptr: int, name_size: int, id_ptr: int) -> int:
        if kind > HISTOGRAM:
            return BAD_ARGUMENT
        name = guest.read(name_ptr, name_size)
        if name is None:
            return INVALID_MEMORY_ACCESS
        if (kind, name) not in self.metric_ids:
            metric_id = ((len(self.metric_ids) + 1) << 2) | kind
            self.metric_ids[(kind, name)] = metric_id
            self.metrics[metric_id] = 0
        return OK if guest.write_u32(id_ptr, self.metric_ids[(kind, name)]) else INVALID_MEMORY_ACCESS

    def increment_metric(self, guest: _Guest, metric_id: int, offset: int) -> int:
        if metric_id not in self.metrics:
            return NOT_FOUND
        kind = metric_id & _METRIC_TYPE_MASK
        if kind == HISTOGRAM or (kind == COUNTER and offset <= 0):
            return BAD_ARGUMENT  # histograms are recorded, counters only go up
        self.metrics[metric_id] = (self.metrics[metric_id] + offset) & _MASK64
        return OK

    def record_metric(self, guest: _Guest, metric_id: int, value: int) -> int:
        if metric_id not in self.metrics:
            return NOT_FOUND
        current = self.metrics[metric_id]
        counter = metric_id & _METRIC_TYPE_MASK == COUNTER
        self.metrics[metric_id] = (current + value if counter else value) & _MASK64
        return OK

    def get_metric(self, guest: _Guest, metric_id: int, value_ptr: int) -> int:
        if metric_id not in self.metrics:
            return NOT_FOUND
        if metric_id & _METRIC_TYPE_MASK == HISTOGRAM:
            return BAD_ARGUMENT
        return OK if guest.write_u64(value_ptr, self.metrics[metric_id]) else INVALID_MEMORY_ACCESS

    # -- WASI

    def fd_write(self, guest: _Guest, fd: int, iovs: int, iovs_len: int, written_ptr: int) -> int:
        levels = {1: 2, 2: 4}  # stdout logs at info, stderr at error
        if fd not in levels:
            return WASI_EBADF
        vectors = guest.read(iovs, 8 * iovs_len)
        if vectors is None:
            return WASI_EFAULT
        chunks = []
        for ptr, size in struct.iter_unpack("<II", vectors):
            chunk = guest.read(ptr, size)
            if chunk is None:
                return WASI_EFAULT
            chunks.append(chunk)
        message = b"".join(chunks)
        if message:
            self._write(levels[fd], message)
        return WASI_SUCCESS if guest.write_u32(written_ptr, len(message)) else WASI_EFAULT

    def fd_fdstat_get(self, guest: _Guest, fd: int, stat_ptr: int) -> int:
        if fd not in (1, 2):
            return WASI_EBADF
        # filetype, flags, then rights: only fd_write (bit 6), as Envoy reports
        stat = struct.pack("<QQQ", 0, 1 << 6, 0)
        return WASI_SUCCESS if guest.write(stat_ptr, stat) else WASI_EFAULT

    def clock_time_get(self, guest: _Guest, clock_id: int, precision: int, time_ptr: int) -> int:
        if clock_id not in (0, 1):  # realtime, monotonic
            return WASI_ENOTSUP
        return WASI_SUCCESS if guest.write_u64(time_ptr, self.clock_ns) else WASI_EFAULT

    def clock_res_get(self, guest: _Guest, clock_id: int, resolution_ptr: int) -> int:
        if clock_id not in (0, 1):
            return WASI_ENOTSUP
        return WASI_SUCCESS if guest.write_u64(resolution_ptr, 1) else WASI_EFAULT

    def random_get(self, guest: _Guest, ptr: int, size: int) -> int:
        if not guest.valid(ptr, size):
            return WASI_EFAULT
        # A seeded stream, so that a module that hashes with random keys still burns the same fuel.
        self.random_counter += 1
        data = hashlib.shake_256(b"sandbox %d" % self.random_counter).digest(size) if size else b""
        return WASI_SUCCESS if guest.write(ptr, data) else WASI_EFAULT

    def zero_sizes(self, guest: _Guest, count_ptr: int, size_ptr: int) -> int:
        ok = guest.write_u32(count_ptr, 0) and guest.write_u32(size_ptr, 0)
        return WASI_SUCCESS if ok else WASI_EFAULT

    def proc_exit(self, guest: _Guest, code: int) -> None:
        raise _ProcExit(code)


# --- one run ------------------------------------------------------------------------------------


class _Run:
    """The store, the instance and the lifecycle of one sandbox run."""

    def __init__(self, limits: SandboxLimits, plugin_config: bytes, vm_config: bytes) -> None:
        self.limits = limits
        self.plugin_config = plugin_config
        self.vm_config = vm_config
        self.host = _Host(limits, plugin_config, vm_config)
        self.store = wasmtime.Store(_engine())
        self.store.set_limits(
            memory_size=limits.memory_bytes,
            table_elements=limits.table_elements,
            instances=1,
            tables=8,
            memories=1,
        )
        self.exports: dict[str, wasmtime.Func] = {}
        self.version = ""
        self.start_fuel = 0
        self.outcomes: list[RequestOutcome] = []
        self.next_context_id = ROOT_CONTEXT_ID + 1

    def report(self, failure: _Failure | None) -> SandboxReport:
        logs = list(self.host.logs)
        if self.host.dropped_logs:
            logs.append((3, f"sandbox: {self.host.dropped_logs} more log messages were dropped"))
        return SandboxReport(
            ok=failure is None,
            problem=failure.problem if failure else None,
            phase=failure.phase if failure else None,
            start_fuel=self.start_fuel,
            requests=tuple(self.outcomes),
            logs=tuple(logs),
            undeclared_clusters=tuple(self.host.undeclared),
            callouts=self.host.callouts,
        )

    # -- start and configure

    def start(self, wasm: bytes, version: str) -> None:
        """Compile, instantiate, run the start functions, create the root context and configure it."""
        self.version = version
        try:
            module = compile_module(wasm)  # before any deadline: compiling is the machine's time, not the guest's
        except wasmtime.WasmtimeError as err:
            raise _Failure(f"the module does not compile: {_first_line(err)}", "compile") from None
        self._instantiate(module, version)

        if "_initialize" in self.exports:
            self._startup("_initialize")
            for name, args in (("main", (0, 0)), ("__main_void", ())):
                if name in self.exports:
                    self._startup(name, *args)
                    break
        elif "_start" in self.exports:
            self._startup("_start")

        self._startup("proxy_on_context_create", ROOT_CONTEXT_ID, 0)
        if self._startup("proxy_on_vm_start", ROOT_CONTEXT_ID, len(self.vm_config)) == 0:
            raise _Failure(self._refused("proxy_on_vm_start", "its VM configuration"), "start")
        self.host.configuring = True
        try:
            result = self._startup("proxy_on_configure", ROOT_CONTEXT_ID, len(self.plugin_config), phase="configure")
        finally:
            self.host.configuring = False
        if result == 0:
            raise _Failure(self._refused("proxy_on_configure", "its configuration"), "configure")

    def _refused(self, callback: str, what: str) -> str:
        problem = f"{callback} returned 0 (the filter refused {what})"
        logged = self.host.logs[self.host.callback_logs :]
        # The reason is usually the last warning or error the filter logged while refusing.
        said = [message for level, message in logged if level >= 3] or [message for _level, message in logged]
        return f"{problem}; it logged: {said[-1]}" if said else problem

    def _instantiate(self, module: wasmtime.Module, version: str) -> None:
        linker = wasmtime.Linker(_engine())
        self.host.link(linker, version)
        self.store.set_fuel(self.limits.fuel_per_call)
        self.host.begin_callback()
        try:
            for imported in module.imports:
                self._define_imported_storage(linker, imported)
            instance = linker.instantiate(self.store, module)
        except wasmtime.Trap as trap:
            raise _Failure(f"the module's start section trapped: {_describe(trap)}", "instantiate") from None
        except wasmtime.WasmtimeError as err:
            raise _Failure(f"instantiation failed: {_first_line(err)}", "instantiate") from None
        except _ProcExit as stop:
            raise _Failure(f"the module's start section called proc_exit({stop.code})", "instantiate") from None
        except _TooManyHostCalls as stop:
            if stop.reason is not None:
                raise _Failure(f"the module's start section: {stop.reason}", "instantiate") from None
            problem = f"the module's start section made more than {self.limits.host_calls_per_callback} host calls"
            raise _Failure(f"{problem} (the last to {stop.name}): it loops", "instantiate") from None
        finally:
            self.start_fuel += self.limits.fuel_per_call - self.store.get_fuel()
            self.host.flush_logs()

        exports = instance.exports(self.store)
        for name in exports:
            item = exports[name]
            if isinstance(item, wasmtime.Func):
                self.exports[name] = item
            elif isinstance(item, wasmtime.Memory) and name == "memory" and self.host.memory is None:
                self.host.memory = item
        for name in abi.ALLOCATOR_LOOKUP_ORDER:
            if name in self.exports:
                self.host.allocator, self.host.allocator_name = self.exports[name], name
                break

    def _define_imported_storage(self, linker: wasmtime.Linker, imported: wasmtime.ImportType) -> None:
        """Envoy supplies imported memories and tables; so do we, within the store's limits."""
        kind = imported.type
        if isinstance(kind, wasmtime.MemoryType):
            memory = wasmtime.Memory(self.store, kind)
            linker.define(self.store, imported.module, imported.name or "", memory)
            self.host.memory = memory
        elif isinstance(kind, wasmtime.TableType):
            linker.define(self.store, imported.module, imported.name or "", wasmtime.Table(self.store, kind, None))

    def _startup(self, name: str, *args: int, phase: str = "start") -> int | None:
        if name not in self.exports:
            return None
        result, fuel = self._call(name, args, where="", phase=phase)
        self.start_fuel += fuel + self._answer_callouts(where="", phase=phase)
        return result

    # -- requests

    def request(self, number: int, request: SandboxRequest) -> None:
        """One request through the filter, as Envoy drives an HTTP stream, recorded as an outcome."""
        context_id = self.next_context_id
        self.next_context_id += 1
        self.host.clock_ns = CLOCK_START_NS + number * CLOCK_STEP_NS
        stream = _Stream(context_id, maps={REQUEST_HEADERS: _request_headers(request)})
        self.host.stream = stream
        fuel = 0
        results: list[tuple[str, int]] = []

        def call(name: str, *args: int) -> int | None:
            nonlocal fuel
            if name not in self.exports:
                return None
            where, phase = f" on request {number}", f"request {number}: {name}"
            result, used = self._call(name, args, where=where, phase=phase)
            fuel += used + self._answer_callouts(where=where, phase=phase)
            if result is not None:
                results.append((name, result))
            return result

        call("proxy_on_context_create", context_id, ROOT_CONTEXT_ID)
        upstream = self._direction(call, stream, "request", request.body)
        client = None
        if stream.local_response is None:
            stream.maps[RESPONSE_HEADERS] = list(UPSTREAM_RESPONSE_HEADERS)
            client = self._direction(call, stream, "response", UPSTREAM_RESPONSE_BODY)
        local = stream.local_response
        if local is not None:
            # Envoy runs a local reply through the response path too: the filter sees its headers.
            client = _local_response_headers(*local)
            stream.maps[RESPONSE_HEADERS] = list(client)
            stream.local_response = None
            self._direction(call, stream, "response", b"")
            stream.local_response = local
        for name in ("proxy_on_log", "proxy_on_done", "proxy_on_delete"):
            call(name, context_id)
        self.host.stream = None

        memory = self.host.memory
        self.outcomes.append(
            RequestOutcome(
                fuel=fuel,
                local_response=(local[0], _text(local[1]), local[2]) if local else None,
                request_headers=_text(upstream or []),
                response_headers=_text(client or []),
                memory_bytes=memory.data_len(self.store) if memory is not None else 0,
                callback_results=tuple(results),
            )
        )

    def _direction(
        self, call: Callable[..., int | None], stream: _Stream, direction: str, body: bytes
    ) -> _Pairs | None:
        """Headers, then the body in one chunk, in one direction ("request" or "response").

        Returns the headers as they were passed on: right after the headers callback when it lets
        them continue, after the body when it stops them; None if a local response replaced them.
        """
        map_kind, body_kind = (
            (REQUEST_HEADERS, REQUEST_BODY) if direction == "request" else (RESPONSE_HEADERS, RESPONSE_BODY)
        )
        headers = stream.maps[map_kind]
        # ABI 0.1.0 header callbacks have no end-of-stream parameter.
        args = (len(headers),) if self.version == "0.1.0" else (len(headers), int(not body))
        status = call(f"proxy_on_{direction}_headers", stream.context_id, *args)
        passed_on = list(headers) if status in (None, CONTINUE) and stream.local_response is None else None
        if body and stream.local_response is None:
            stream.bodies[body_kind] = bytearray(body)
            call(f"proxy_on_{direction}_body", stream.context_id, len(body), 1)
        if passed_on is None and stream.local_response is None:
            passed_on = list(headers)
        return passed_on

    def grew_after_warm_up(self) -> bool:
        sizes = [outcome.memory_bytes for outcome in self.outcomes]
        return len(sizes) >= 2 and sizes[-1] > sizes[0]

    def _growth_steps(self) -> list[int]:
        """The requests after which memory was larger than before them (the first is the warm-up)."""
        sizes = [outcome.memory_bytes for outcome in self.outcomes]
        return [number for number, (earlier, later) in enumerate(itertools.pairwise(sizes), start=2) if later > earlier]

    def leaks(self) -> bool:
        """After the warm-up request, memory grew more than once, and still grew in the second half
        of the requests (a heap that grows once, or early, and settles does not leak)."""
        steps = self._growth_steps()
        return len(steps) >= 2 and steps[-1] > len(self.outcomes) / 2

    def check_growth(self) -> None:
        if self.leaks():
            sizes = [outcome.memory_bytes for outcome in self.outcomes]
            steps = self._growth_steps()
            per_request = (sizes[-1] - sizes[0]) / (len(sizes) - 1)
            raise _Failure(
                f"memory grew from {sizes[0]} to {sizes[-1]} bytes over {len(sizes)} requests, in {len(steps)} "
                f"steps, the last on request {steps[-1]} (about {per_request:.0f} bytes per request): it leaks",
                "requests",
            )

    def _answer_callouts(self, *, where: str, phase: str) -> int:
        """Deliver the answers to the callouts the last callback made (and those their handlers
        make), as Envoy would once the stand-ins answered; the fuel they used."""
        host, fuel, delivered = self.host, 0, 0
        while host.pending_callouts:
            token, context, cluster = host.pending_callouts.pop(0)
            delivered += 1
            if delivered > MAX_CALLOUTS_PER_CALLBACK:
                raise _Failure(f"more than {MAX_CALLOUTS_PER_CALLBACK} callouts answered{where}: it loops", phase)
            headers, body = host.services[cluster]
            host.callouts += 1
            if "proxy_on_http_call_response" not in self.exports:
                continue
            host.callout = (headers, body)
            try:
                _result, used = self._call(
                    "proxy_on_http_call_response",
                    (context, token, len(headers), len(body), 0),
                    where=where,
                    phase=phase,
                )
            finally:
                host.callout = None
            fuel += used
        return fuel

    # -- calling into the module

    def _call(self, name: str, args: Sequence[int], *, where: str, phase: str) -> tuple[int | None, int]:
        """(result, fuel used) of export `name`; any way it can fail becomes a `_Failure`."""
        func = self.exports[name]
        limit = self.limits.fuel_per_call
        host = self.host
        self.store.set_fuel(limit)
        host.begin_callback()
        host.context_id = args[0] if args and name.startswith("proxy_on_") else ROOT_CONTEXT_ID
        try:
            try:
                result = func(self.store, *args)
            finally:
                host.flush_logs()
        except wasmtime.Trap as trap:
            raise _Failure(self._trap_problem(name, where, trap), phase) from None
        except wasmtime.WasmtimeError as err:
            raise _Failure(f"{name} failed{where}: {_first_line(err)}", phase) from None
        except _ProcExit as stop:
            raise _Failure(f"{name} called proc_exit({stop.code}){where}: the module exited", phase) from None
        except _TooManyHostCalls as stop:
            if stop.reason is not None:
                raise _Failure(f"{name}{where}: {stop.reason} (the last host call: {stop.name})", phase) from None
            problem = (
                f"{name} made more than {self.limits.host_calls_per_callback} host calls{where} "
                f"(the last to {stop.name}): it loops"
            )
            raise _Failure(problem, phase) from None
        used = limit - self.store.get_fuel()
        return (result & _MASK32 if isinstance(result, int) else None), used

    def _trap_problem(self, name: str, where: str, trap: wasmtime.Trap) -> str:
        host = self.host
        if trap.trap_code is wasmtime.TrapCode.OUT_OF_FUEL:
            inside = f" (inside its allocator {host.allocator_name})" if host.allocating else ""
            return f"{name} used all {self.limits.fuel_per_call} fuel{where}{inside}: it loops"
        problem = f"{name} trapped{where}: {_describe(trap)}"
        logged = [message for _level, message in host.logs[host.callback_logs :]]
        # What the module said before it trapped: a panic or abort message names the cause.
        said = [m for m in logged if _PANIC.search(m)] or logged
        if said:
            problem += f"; it printed: {said[-1]}"
        if host.allocating:
            problem += f"; in the module's allocator {host.allocator_name}, called by {host.last_host_call}"
        memory = host.memory
        size = memory.data_len(self.store) if memory is not None else 0
        if memory is not None and size + _PAGE > self.limits.memory_bytes:
            problem += (
                f"; linear memory is at the sandbox limit ({size} of {self.limits.memory_bytes} bytes), "
                "so memory.grow fails"
            )
        return "; ".join([problem, *host.notes])


def _local_response_headers(status: int, headers: _Pairs, body: bytes) -> _Pairs:
    """What the client sees of a local response (Envoy adds the status and the body's headers)."""
    pairs: _Pairs = [(b":status", str(status).encode()), *headers]
    names = {k for k, _ in headers}
    if body and b"content-type" not in names:
        pairs.append((b"content-type", b"text/plain"))
    if b"content-length" not in names:
        pairs.append((b"content-length", str(len(body)).encode()))
    return pairs


_CAUSE_NUMBER = re.compile(r"^\d+: ")
_PANIC = re.compile(r"panic|abort|fatal|error|assert", re.IGNORECASE)


def _describe(trap: wasmtime.Trap) -> str:
    """wasmtime's reason for a trap and the innermost wasm frame, on one line."""
    lines = [line.strip() for line in trap.message.splitlines()]
    causes = lines[lines.index("Caused by:") + 1 :] if "Caused by:" in lines else lines
    causes = [_CAUSE_NUMBER.sub("", line) for line in causes if line]
    text = causes[-1].removeprefix("wasm trap: ") if causes else "trap"
    if len(causes) > 1:
        text += f" ({'; '.join(causes[:-1])})"
    frames = trap.frames
    if frames:
        frame = frames[0]
        function = frame.func_name or f"wasm function {frame.func_index}"
        text += f" (wasm backtrace: {function} at offset {frame.module_offset:#x})"
    return text


def _first_line(err: Exception) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
