"""Load generators: the commands built from a profile, and real wrk / h2load output parsed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from generator.perf import loadgen
from generator.perf.loadgen import Latency, LoadGenError, Request
from generator.perf.profile import Profile

DATA = Path(__file__).parent / "data" / "perf"
URL = "http://127.0.0.1:10000"


def data(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def profile(**fields: Any) -> Profile:
    return Profile.model_validate(fields)


@pytest.fixture(autouse=True)
def _generators_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands are built without the real generators: stand-ins named wrk and h2load on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("wrk", "h2load"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


# --- parsing -------------------------------------------------------------------------------------


def test_wrk_summary_and_latency_distribution() -> None:
    result = loadgen.parse_wrk(data("wrk_latency.txt"))
    assert result.requests == 72925
    assert result.seconds == pytest.approx(2.10)
    assert result.rps == pytest.approx(34724.69)
    assert result.latency == Latency(pytest.approx(0.224), pytest.approx(0.267), pytest.approx(0.330))
    assert (result.errors, result.non_2xx) == (0, 0)


def test_wrk_counts_non_2xx_responses() -> None:
    result = loadgen.parse_wrk(data("wrk_non2xx.txt"))
    assert result.requests == 37810
    assert result.non_2xx == 37810


def test_wrk_counts_socket_errors() -> None:
    result = loadgen.parse_wrk(data("wrk_socket_errors.txt"))
    assert result.requests == 0
    assert result.latency is None
    assert result.errors == 33276
    assert result.error_detail == "Socket errors: connect 0, read 33276, write 0, timeout 0"


def test_wrk_without_a_summary_is_an_error() -> None:
    with pytest.raises(LoadGenError, match="wrk printed no summary"):
        loadgen.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_h2load_summary_with_percentiles_from_its_log() -> None:
    log = data("h2load_h2c.log")
    result = loadgen.parse_h2load(data("h2load_h2c.txt"), log)
    assert result.requests == 1000
    assert result.seconds == pytest.approx(0.0459)
    assert result.rps == pytest.approx(21784.59)
    elapsed = sorted(int(line.split("\t")[2]) for line in log.splitlines())
    # Nearest rank: the 500th, 900th and 990th of 1000 sorted latencies, in ms.
    assert result.latency == Latency(elapsed[499] / 1e3, elapsed[899] / 1e3, elapsed[989] / 1e3)
    assert (result.errors, result.non_2xx) == (0, 0)


def test_h2load_over_tls() -> None:
    result = loadgen.parse_h2load(data("h2load_tls.txt"), "")
    assert (result.requests, result.rps, result.seconds) == (91932, 45966.0, 2.0)
    assert result.latency is None  # no log given


def test_h2load_counts_non_2xx_and_failed_streams() -> None:
    result = loadgen.parse_h2load(data("h2load_non2xx.txt"), "")
    assert result.non_2xx == 32806
    log = "1795326506979588\t200\t863\n1795326506979577\t-1\t928\n"
    assert loadgen.parse_h2load(data("h2load_h2c.txt"), log).latency == Latency(0.863, 0.863, 0.863)


def test_h2load_that_reached_nothing_reports_no_requests() -> None:
    result = loadgen.parse_h2load(data("h2load_refused.txt"), "")
    assert result.requests == 0
    assert result.latency is None


def test_h2load_without_a_summary_is_an_error() -> None:
    with pytest.raises(LoadGenError, match="h2load printed no summary"):
        loadgen.parse_h2load("starting benchmark...\n", "")


# --- commands ------------------------------------------------------------------------------------


def test_wrk_command(tmp_path: Path) -> None:
    request = Request("GET", "/images/cat.png", (("x-api-key", "k1"),))
    argv, log = loadgen.command(
        profile(connections=16, threads=2, extra_args=["--timeout", "5s"]),
        request,
        URL,
        tmp_path,
        seconds=3,
        requests=None,
    )
    assert log is None
    assert Path(argv[0]).name == "wrk"
    assert argv[1:] == [
        "--latency", "-c", "16", "-t", "2", "-d", "3s", "-H", "x-api-key: k1", "--timeout", "5s",
        f"{URL}/images/cat.png",
    ]  # fmt: skip


def test_wrk_method_and_body_go_in_a_script(tmp_path: Path) -> None:
    argv, _ = loadgen.command(profile(), Request("PUT", "/", (), 100), URL, tmp_path, seconds=1, requests=None)
    script = Path(argv[argv.index("-s") + 1])
    assert script.read_text() == 'wrk.method = "PUT"\nwrk.body = string.rep("x", 100)\n'


def test_h2load_command(tmp_path: Path) -> None:
    request = Request("GET", "/", (("host", "acme.images.example.com"), ("x-tenant-id", "acme")))
    prof = profile(generator="h2load", protocol="http2", connections=8, rate=2000, extra_args=["-m", "4"])
    argv, log = loadgen.command(prof, request, URL, tmp_path, seconds=None, requests=5000)
    assert log == tmp_path / "h2load.log"
    assert argv[1:] == [
        "-c", "8", "-t", "1", "--log-file", str(log), "-n", "5000", "--rps=250",
        # h2load would send Host beside its own authority; :authority replaces it.
        "-H", ":authority: acme.images.example.com", "-H", "x-tenant-id: acme", "-m", "4", f"{URL}/",
    ]  # fmt: skip


def test_h2load_http1_body_and_method(tmp_path: Path) -> None:
    prof = profile(generator="h2load", protocol="http1.1")
    argv, _ = loadgen.command(prof, Request("PUT", "/up", (), 64), URL, tmp_path, seconds=2, requests=None)
    assert "--h1" in argv
    body = Path(argv[argv.index("-d") + 1])
    assert body.read_bytes() == b"x" * 64
    assert argv[argv.index(":method: PUT") - 1] == "-H"
    post, _ = loadgen.command(prof, Request("POST", "/up", (), 64), URL, tmp_path, seconds=2, requests=None)
    assert not any(arg.startswith(":method") for arg in post)  # -d already makes it a POST


def test_a_missing_generator_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LoadGenError, match="apt-get install nghttp2-client"):
        loadgen.executable("h2load")


# --- running -------------------------------------------------------------------------------------


def test_a_generator_past_its_deadline_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    script = tmp_path / "slow"
    script.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 30\n")
    script.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(LoadGenError, match="did not finish within 0.5 s"):
        loadgen.run([str(script)], 0.5)
    assert time.monotonic() - started < 5
    pid = int(marker.read_text())
    assert not Path(f"/proc/{pid}").exists()


def test_a_failing_generator_reports_its_message(tmp_path: Path) -> None:
    script = tmp_path / "failing"
    script.write_text("#!/bin/sh\necho 'unable to connect to 127.0.0.1:1 Connection refused' >&2\nexit 1\n")
    script.chmod(0o755)
    with pytest.raises(LoadGenError, match="exited with status 1: unable to connect"):
        loadgen.run([str(script)], 10)


def test_version_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "versions"
    bin_dir.mkdir()
    (bin_dir / "wrk").write_text(
        "#!/bin/sh\necho 'wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer'\nexit 1\n"
    )
    (bin_dir / "h2load").write_text("#!/bin/sh\necho 'h2load nghttp2/1.52.0'\n")
    for name in ("wrk", "h2load"):
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert loadgen.version("wrk") == "wrk 4.1.0-3+b2"
    assert loadgen.version("h2load") == "h2load 1.52.0"
