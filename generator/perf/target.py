"""The Envoy a benchmark loads: its bootstrap, and what is read from the running process.

The bootstrap is the test harness's (`generator.envoy.config.bootstrap`, with the filter entry users
paste), changed in two ways a benchmark needs: the route answers itself with a direct response
unless the profile asks for the echo upstream, so the figures measure the filter and not an
upstream; and with TLS the listener gets a `DownstreamTlsContext` with the run's certificate.

What is read from the process: its CPU time (every thread's time on CPU from
`/proc/PID/task/*/schedstat`, in nanoseconds, falling back to utime + stime from `/proc/PID/stat`
in clock ticks where the kernel keeps no schedstat), its resident memory (`VmRSS`), and the
listener's request counters from the admin API, so requests are counted by Envoy itself.
"""

from __future__ import annotations

import http.client
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.envoy import config as envoy_config

STAT_PREFIX = "ingress"  # the connection manager's stat_prefix in the harness's bootstrap
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
DIRECT_RESPONSE_BODY = "ok"
_DISCARD_PORT = 9  # the unused upstream cluster of a direct-response bootstrap points here


@dataclass(frozen=True)
class TlsFiles:
    """The listener's certificate chain and private key (PEM files)."""

    certificate: Path
    private_key: Path


def bench_bootstrap(
    filter_entry: dict[str, Any] | None,
    *,
    upstream_port: int | None,
    tls: TlsFiles | None = None,
    http2: bool = False,
) -> dict[str, Any]:
    """The bootstrap of one benchmark variant: `filter_entry` (None: no filter) before the router.

    `upstream_port` None answers every request with a direct response (200, a two-byte body);
    otherwise requests go to the upstream on 127.0.0.1 at that port. The connection manager picks
    HTTP/1.1 or HTTP/2 by itself (ALPN with TLS, the connection preface without).
    """
    config = envoy_config.bootstrap(filter_entry, upstream_port=upstream_port or _DISCARD_PORT)
    chain = config["static_resources"]["listeners"][0]["filter_chains"][0]
    manager = chain["filters"][-1]["typed_config"]
    if upstream_port is None:
        route = manager["route_config"]["virtual_hosts"][0]["routes"][0]
        route.pop("route")
        route["direct_response"] = {"status": 200, "body": {"inline_string": DIRECT_RESPONSE_BODY}}
    if tls is not None:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": {
                    "tls_certificates": [
                        {
                            "certificate_chain": {"filename": str(tls.certificate)},
                            "private_key": {"filename": str(tls.private_key)},
                        }
                    ],
                    "alpn_protocols": ["h2", "http/1.1"] if http2 else ["http/1.1"],
                },
            },
        }
    return config


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far (user and system, every thread), in seconds."""
    total_ns = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as handle:
                total_ns += int(handle.read().split()[0])
        return total_ns / 1e9
    except FileNotFoundError:
        pass  # no schedstat in this kernel (or a thread ended while being read): use the ticks
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """The process's resident memory (VmRSS) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ProcessLookupError(f"process {pid} has exited (its status shows no resident memory)")


@dataclass(frozen=True)
class Counters:
    """The listener's request counters at one moment: completed requests and each status class."""

    completed: int
    by_class: dict[str, int]

    def since(self, before: Counters) -> Counters:
        return Counters(
            self.completed - before.completed,
            {key: self.by_class.get(key, 0) - before.by_class.get(key, 0) for key in STATUS_CLASSES},
        )


def counters(admin_port: int) -> Counters:
    """Envoy's own count of the requests its listener completed, by status class."""
    prefix = f"http.{STAT_PREFIX}.downstream_rq_"
    connection = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
    try:
        connection.request("GET", f"/stats?format=json&filter=^http\\.{STAT_PREFIX}\\.downstream_rq_")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise ConnectionError(f"Envoy's admin /stats answered {response.status}")
    values = {
        stat["name"].removeprefix(prefix): int(stat["value"])
        for stat in json.loads(body).get("stats", [])
        if isinstance(stat.get("value"), int) and stat.get("name", "").startswith(prefix)
    }
    return Counters(values.get("completed", 0), {key: values.get(key, 0) for key in STATUS_CLASSES})
