"""What a sandbox run of a large module costs, with and without the compile cache.

    .venv/bin/python benchmarks/bench_sandbox.py [--sizes 2,16] [--rounds 3]

For each size (MiB) a proxy-wasm module of about that size is synthesized (the callbacks of
tests/wasm_modules.proxy_wat plus many functions of arithmetic, so that compiling it is real work),
then `run_sandbox` is timed in fresh processes, side by side, round after round:

- cold: an empty cache directory (`CATALOG_CACHE_DIR`): wasmtime compiles the module;
- disk: the same directory again: the module comes from wasmtime's cache;
- in-process: a second run in the process that compiled it.

Each line gives the median (and range) of the whole run and of the compilation alone. The
sandbox's deadline is per callback and starts after compilation, so none of these depend on it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.wasm.wat import compile_wat
from tests.wasm_modules import proxy_wat

ROOT = Path(__file__).resolve().parent.parent
# One function: a few dozen instructions of arithmetic on its parameter; about 170 bytes of code.
FUNCTION = (
    "(func $f{n} (param $x i32) (result i32) (local $y i32)"
    + "".join(
        f" (local.set $y (i32.add (i32.mul (local.get $x) (i32.const {k + 3}))"
        f" (i32.xor (local.get $y) (i32.const {k}))))"
        for k in range(8)
    )
    + " (local.get $y))"
)
CHILD = """
import json, sys, time
from pathlib import Path
from generator.wasm import sandbox
wasm = Path(sys.argv[1]).read_bytes()
started = time.perf_counter()
sandbox.compile_module(wasm)
compiled = time.perf_counter() - started
started = time.perf_counter()
first = sandbox.run_sandbox(wasm, b"")
run = time.perf_counter() - started
started = time.perf_counter()
second = sandbox.run_sandbox(wasm, b"")
again = time.perf_counter() - started
assert first.ok and second.ok, (first.problem, second.problem)
print(json.dumps({"compile": compiled, "run": compiled + run, "again": again}))
"""


def synthesize(mib: float, directory: Path) -> Path:
    """A proxy-wasm module of about `mib` MiB, written once per size."""
    path = directory / f"module-{mib:g}mib.wasm"
    if path.exists():
        return path
    probe = len(compile_wat(proxy_wat(extra=[FUNCTION.format(n=n) for n in range(100)])))
    count = max(1, int(mib * 1024 * 1024 / (probe / 100)))
    wasm = compile_wat(proxy_wat(extra=[FUNCTION.format(n=n) for n in range(count)]))
    path.write_bytes(wasm)
    return path


def measure(module: Path, cache: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(module)],
        capture_output=True, text=True, check=True, cwd=ROOT,
        env={"CATALOG_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    values: dict[str, float] = json.loads(result.stdout)
    return values


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,16", help="module sizes in MiB, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        work = Path(tmp)
        modules = [synthesize(float(size), work) for size in args.sizes.split(",")]
        labels = ("cold", "cold compile", "disk", "disk compile", "in-process")
        rows = {module: {label: list[float]() for label in labels} for module in modules}
        for round_number in range(args.rounds):
            for module in modules:  # side by side in each round
                cache = work / f"cache-{module.stem}-{round_number}"
                cold = measure(module, cache)
                disk = measure(module, cache)
                row = rows[module]
                row["cold"].append(cold["run"])
                row["cold compile"].append(cold["compile"])
                row["disk"].append(disk["run"])
                row["disk compile"].append(disk["compile"])
                row["in-process"].append(cold["again"])
        for module, row in rows.items():
            size = module.stat().st_size / 1024 / 1024
            print(f"{module.name} ({size:.1f} MiB), {args.rounds} rounds, median (range):")
            for label, values in row.items():
                print(f"  {label:14} {summary(values)}")


if __name__ == "__main__":
    main()
