"""How fast the `catalog` command line starts, against Python importing click and rich alone.

Each command runs as a subprocess from the repository root, on the shipped catalog, as
`python -m generator ...` (the checkout this file is in, whatever the virtual environment has
installed), interleaved with the baseline in every round so that a busy machine slows both alike:

- baseline: `python -c 'import click, rich.console'`, the floor for any click + rich program;
- `catalog --help`;
- `catalog filter list` (one page, the shipped catalog);
- `catalog filter view NAME` (one filter, every file of it loaded).

Reported per command: the median wall time and the median CPU time (user + system of the child)
over the rounds, their spread, and the ratio to the baseline's medians. Targets (issue 11):
`--help` within 2x the baseline, `filter list` within 5x.

    .venv/bin/python benchmarks/bench_cli.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = [sys.executable, "-m", "generator"]
COMMANDS = {
    "baseline (import click, rich.console)": [sys.executable, "-c", "import click, rich.console"],
    "catalog --help": [*CATALOG, "--help"],
    "catalog filter list": [*CATALOG, "filter", "list"],
    "catalog filter view rate-limit": [*CATALOG, "filter", "view", "rate-limit"],
}
TARGETS = {"catalog --help": 2.0, "catalog filter list": 5.0}


def run_once(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `command` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="runs of each command, interleaved (default 15)")
    args = parser.parse_args()
    env_note = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    print(f"{args.rounds} rounds, commands interleaved; {env_note}")
    for command in COMMANDS.values():  # warm the page cache and .pyc files once
        run_once(command)
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, command in COMMANDS.items():
            wall, cpu = run_once(command)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base = next(iter(COMMANDS))
    base_wall, base_cpu = statistics.median(walls[base]), statistics.median(cpus[base])
    print(f"{'command':<40} {'wall ms':>9} {'range':>13} {'cpu ms':>8} {'x wall':>7} {'x cpu':>6} {'target':>7}")
    for name in COMMANDS:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        spread = f"{min(walls[name]) * 1000:.0f}-{max(walls[name]) * 1000:.0f}"
        target = f"<= {TARGETS[name]:g}x" if name in TARGETS else ""
        print(
            f"{name:<40} {wall * 1000:>9.0f} {spread:>13} {cpu * 1000:>8.0f} "
            f"{wall / base_wall:>6.2f}x {cpu / base_cpu:>5.2f}x {target:>7}"
        )


if __name__ == "__main__":
    main()
