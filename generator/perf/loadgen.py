"""Running a load generator (`wrk` or `h2load`, from Debian) against Envoy, and reading its results.

The command is built as an argv list from the profile and run without a shell. It runs in its own
session with a parent-death signal, and whatever ends the run (its deadline, an exception, Ctrl-C)
kills it before the exception goes on, so no generator outlives a benchmark.

What each prints is parsed into one `LoadResult`: requests completed, their rate, latency
percentiles and errors. wrk prints its latency distribution with `--latency`; h2load prints no
percentiles, so they come from its per-request `--log-file`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from generator.envoy.process import die_with_parent
from generator.perf.profile import Profile

PERCENTILES = (50, 90, 99)
REQUEST_COUNT_DEADLINE = 900  # seconds a round given as a number of requests may take
_DEADLINE_MARGIN = 30  # seconds beyond a round's duration before the generator is killed


class LoadGenError(Exception):
    """The load generator is missing, failed, or printed something unreadable."""


@dataclass(frozen=True)
class Request:
    """The request a benchmark sends, resolved from the profile (and the filter's cases)."""

    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body_bytes: int = 0


@dataclass(frozen=True)
class Latency:
    """Latency percentiles in milliseconds."""

    p50: float
    p90: float
    p99: float


@dataclass(frozen=True)
class LoadResult:
    """What the load generator reports about one run."""

    requests: int  # responses received within the run
    seconds: float
    rps: float
    latency: Latency | None  # None when no request completed
    errors: int  # connections or requests that failed (socket errors, timeouts, resets)
    non_2xx: int  # responses outside 2xx as the generator counts them (wrk: outside 2xx and 3xx)
    error_detail: str = ""


def executable(generator: str) -> str:
    """The generator's path, or LoadGenError naming the Debian package to install."""
    path = shutil.which(generator)
    if path is None:
        package = {"wrk": "wrk", "h2load": "nghttp2-client"}.get(generator, generator)
        raise LoadGenError(f"{generator} is not installed (Debian: apt-get install {package}; `make setup` does)")
    return path


def version(generator: str) -> str:
    """`wrk 4.1.0-3+b2`, `h2load 1.52.0`: the generator and its version, as recorded with results."""
    try:
        done = subprocess.run(
            [executable(generator), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise LoadGenError(f"{generator} --version did not run: {err}") from None
    text = done.stdout + done.stderr
    match = re.search(r"(?:debian/|nghttp2/)?(\d+\.\d+[\w.+~-]*)", text)
    return f"{generator} {match.group(1) if match else 'unknown'}"


def command(
    profile: Profile, request: Request, url: str, workdir: Path, *, seconds: int | None, requests: int | None
) -> tuple[list[str], Path | None]:
    """The argv of one run (`seconds` of load, or `requests` requests), and h2load's log file.

    Files the run needs (wrk's request script, h2load's body) are written into `workdir`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    target = url.rstrip("/") + request.path
    if profile.generator == "wrk":
        if seconds is None:
            raise LoadGenError("wrk runs for a duration, not a number of requests")
        argv = [executable("wrk"), "--latency", "-c", str(profile.connections), "-t", str(profile.threads)]
        argv += ["-d", f"{seconds}s"]
        for name, value in request.headers:
            argv += ["-H", f"{name}: {value}"]
        if request.method != "GET" or request.body_bytes:
            script = workdir / "request.lua"
            lines = [f'wrk.method = "{request.method}"']
            if request.body_bytes:
                lines.append(f'wrk.body = string.rep("x", {request.body_bytes})')
            script.write_text("\n".join(lines) + "\n", encoding="ascii")
            argv += ["-s", str(script)]
        return [*argv, *profile.extra_args, target], None
    log = workdir / "h2load.log"
    argv = [executable("h2load"), "-c", str(profile.connections), "-t", str(profile.threads), "--log-file", str(log)]
    argv += ["-D", str(seconds)] if seconds is not None else ["-n", str(requests)]
    if profile.rate is not None:
        argv.append(f"--rps={profile.rate / profile.connections:g}")
    if profile.protocol == "http1.1":
        argv.append("--h1")
    if request.body_bytes:
        body = workdir / "body"
        body.write_bytes(b"x" * request.body_bytes)
        argv += ["-d", str(body)]
    if request.method != ("POST" if request.body_bytes else "GET"):
        argv += ["-H", f":method: {request.method}"]
    for name, value in request.headers:
        # h2load sends a `host` header beside its own authority; `:authority` replaces it instead.
        argv += ["-H", f"{':authority' if name.lower() == 'host' else name}: {value}"]
    return [*argv, *profile.extra_args, target], log


def run(argv: list[str], deadline: float) -> str:
    """Run the generator and return what it printed; LoadGenError if it fails or overruns.

    The generator is killed (its whole session) on the way out whatever happens, including a
    KeyboardInterrupt raised while waiting for it.
    """
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        stdout, stderr = process.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        raise LoadGenError(f"{Path(argv[0]).name} did not finish within {deadline:g} s") from None
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != 0:
        lines = (stderr.strip() or stdout.strip()).splitlines()
        detail = " | ".join(lines[-3:])[:400]
        raise LoadGenError(f"{Path(argv[0]).name} exited with status {process.returncode}: {detail}")
    return stdout


def measure(
    profile: Profile, request: Request, url: str, workdir: Path, *, seconds: int | None, requests: int | None
) -> LoadResult:
    """One run of the profile's generator: command, run, parse."""
    argv, log = command(profile, request, url, workdir, seconds=seconds, requests=requests)
    deadline = seconds + _DEADLINE_MARGIN if seconds is not None else REQUEST_COUNT_DEADLINE
    stdout = run(argv, deadline)
    if log is None:
        return parse_wrk(stdout)
    log_text = log.read_text(encoding="ascii", errors="replace") if log.exists() else ""
    with contextlib.suppress(FileNotFoundError):
        log.unlink()  # a long run's log is large; only its percentiles are kept
    return parse_h2load(stdout, log_text)


# --- wrk ---------------------------------------------------------------------------------------

_WRK_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _wrk_milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise LoadGenError(f"wrk: expected a time such as 245.00us, got {text!r}")
    return float(match.group(1)) * _WRK_TIME_UNITS[match.group(2)]


def parse_wrk(text: str) -> LoadResult:
    """The summary `wrk --latency` prints."""
    total = re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", text, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.MULTILINE)
    if total is None or rate is None:
        raise LoadGenError(f"wrk printed no summary: {text.strip()[-300:]!r}")
    requests = int(total.group(1))
    latency = None
    percentiles = dict(re.findall(r"^\s*(\d+)%\s+([\d.]+\w+)\s*$", text, re.MULTILINE))
    if requests and all(str(p) in percentiles for p in PERCENTILES):
        latency = Latency(*(_wrk_milliseconds(percentiles[str(p)]) for p in PERCENTILES))
    errors, detail = 0, ""
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket is not None:
        errors = sum(int(n) for n in socket.groups())
        detail = socket.group(0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return LoadResult(
        requests=requests,
        seconds=_wrk_milliseconds(total.group(2)) / 1e3,
        rps=float(rate.group(1)),
        latency=latency,
        errors=errors,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        error_detail=detail,
    )


# --- h2load ------------------------------------------------------------------------------------


def parse_h2load(text: str, log: str) -> LoadResult:
    """h2load's summary, with latency percentiles from its per-request log.

    The log has one line per request: start time (µs since the epoch), status (-1 for a failed
    stream), and µs until the end of the response.
    """
    finished = re.search(r"^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", text, re.MULTILINE)
    counts = re.search(
        r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, "
        r"(\d+) timeout",
        text,
        re.MULTILINE,
    )
    statuses = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.MULTILINE)
    if finished is None or counts is None or statuses is None:
        raise LoadGenError(f"h2load printed no summary: {text.strip()[-300:]!r}")
    seconds = float(finished.group(1)) / {"us": 1e6, "ms": 1e3, "s": 1.0}[finished.group(2)]
    _total, _started, done, _succeeded, _failed, errored, timeout = (int(n) for n in counts.groups())
    _ok, *others = (int(n) for n in statuses.groups())
    elapsed: list[int] = []
    for line in log.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1] != "-1":
            elapsed.append(int(fields[2]))
    elapsed.sort()
    latency = Latency(*(_nearest_rank(elapsed, p) / 1e3 for p in PERCENTILES)) if elapsed else None
    errors = errored + timeout
    return LoadResult(
        requests=done,
        seconds=seconds,
        rps=float(finished.group(3)),
        latency=latency,
        errors=errors,
        non_2xx=sum(others),
        error_detail=f"{errored} errored, {timeout} timeout" if errors else "",
    )


def _nearest_rank(ordered: list[int], percentile: int) -> float:
    """The nearest-rank percentile of sorted values."""
    return float(ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)])
