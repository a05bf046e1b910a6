"""How long inspection takes, against compiling the same module, measured side by side.

Inspection must not compile: this prints the median time of `inspect_binary` and of
`wasmtime.Module(...)` (a full compile) for modules of growing size, and their ratio.

    .venv/bin/python benchmarks/bench_inspect.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import wasmtime

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.wasm.inspect import inspect_binary
from tests.wasm_modules import proxy_wat


def module_with(functions: int) -> bytes:
    body = "(local $x i32) " + " ".join(f"(local.set $x (i32.add (local.get $x) (i32.const {i})))" for i in range(40))
    extra = [f"(func $f{i} (param i32) (result i32) {body} (local.get $x))" for i in range(functions)]
    return wasmtime.wat2wasm(proxy_wat(extra=extra))


def median_seconds(action: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    engine = wasmtime.Engine()
    print(f"{'functions':>9} {'bytes':>9} {'inspect ms':>11} {'compile ms':>11} {'compile/inspect':>16}")
    for functions in (0, 100, 1000, 5000):
        data = bytes(module_with(functions))
        inspect_s = median_seconds(lambda data=data: inspect_binary(data, "bench.wasm"), 21)
        compile_s = median_seconds(lambda data=data: wasmtime.Module(engine, data), 5)
        print(
            f"{functions:>9} {len(data):>9} {inspect_s * 1000:>11.3f} {compile_s * 1000:>11.1f} "
            f"{compile_s / inspect_s:>16.0f}x"
        )


if __name__ == "__main__":
    main()
