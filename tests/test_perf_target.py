"""The benchmark's Envoy: its bootstrap variants, and what is read from a running process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.envoy import config as envoy_config
from generator.perf import target
from generator.perf.target import Counters, TlsFiles

ENTRY = envoy_config.wasm_filter("f", envoy_config.WasmCode("0" * 64, local_path="/f.wasm"), {})


def manager(bootstrap: dict[str, object]) -> dict[str, object]:
    chain = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]  # type: ignore[index]
    return chain["filters"][-1]["typed_config"]  # type: ignore[no-any-return]


def test_direct_response_without_filter_or_tls() -> None:
    bootstrap = target.bench_bootstrap(None, upstream_port=None)
    route = manager(bootstrap)["route_config"]["virtual_hosts"][0]["routes"][0]  # type: ignore[index]
    assert route == {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
    assert [f["name"] for f in manager(bootstrap)["http_filters"]] == [envoy_config.ROUTER]  # type: ignore[index]
    assert "transport_socket" not in bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]


def test_the_filter_goes_before_the_router_and_the_echo_upstream_is_routed_to() -> None:
    bootstrap = target.bench_bootstrap(ENTRY, upstream_port=4321)
    filters = manager(bootstrap)["http_filters"]  # type: ignore[index]
    assert filters[0] == ENTRY
    route = manager(bootstrap)["route_config"]["virtual_hosts"][0]["routes"][0]  # type: ignore[index]
    assert route["route"] == {"cluster": "upstream"}
    cluster = bootstrap["static_resources"]["clusters"][0]
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "127.0.0.1", "port_value": 4321}


@pytest.mark.parametrize(("http2", "alpn"), [(True, ["h2", "http/1.1"]), (False, ["http/1.1"])])
def test_tls_listener(http2: bool, alpn: list[str]) -> None:
    files = TlsFiles(Path("/run/cert.pem"), Path("/run/key.pem"))
    bootstrap = target.bench_bootstrap(None, upstream_port=None, tls=files, http2=http2)
    socket = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"]
    context = socket["typed_config"]["common_tls_context"]
    assert socket["typed_config"]["@type"].endswith("DownstreamTlsContext")
    assert context["tls_certificates"] == [
        {"certificate_chain": {"filename": "/run/cert.pem"}, "private_key": {"filename": "/run/key.pem"}}
    ]
    assert context["alpn_protocols"] == alpn


BUSY = "import time\nstart = time.process_time()\nwhile time.process_time() - start < 0.3: pass\ninput()"


def test_cpu_time_and_memory_of_a_process() -> None:
    """A child that burns 0.3 s of CPU and then waits: its CPU time and memory as /proc has them."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while target.cpu_seconds(busy.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert 0.3 <= target.cpu_seconds(busy.pid) < 5
        assert 1024 * 1024 < target.rss_bytes(busy.pid) < 1024**3
    finally:
        busy.kill()
        busy.wait()
    with pytest.raises(FileNotFoundError):
        target.cpu_seconds(busy.pid)


def test_counters_since() -> None:
    before = Counters(10, {"1xx": 0, "2xx": 8, "3xx": 0, "4xx": 2, "5xx": 0})
    after = Counters(25, {"1xx": 0, "2xx": 20, "3xx": 1, "4xx": 4, "5xx": 0})
    assert after.since(before) == Counters(15, {"1xx": 0, "2xx": 12, "3xx": 1, "4xx": 2, "5xx": 0})
