"""Starting, checking and stopping a real Envoy.

`validate_config` runs `envoy --mode validate`, which loads the wasm module and runs its start-up
and configure callbacks without opening a socket (about 0.1 s). `run_envoy` starts a real Envoy on
127.0.0.1 with ports the kernel picks, waits until the admin endpoint says it is live, finds the
listener's port, and always stops the process: on success, on a failed case, on Ctrl-C, and (via
the parent-death signal, SIGKILL) even if this Python process is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.envoy.locate import Envoy

LOG_LEVEL = "info"
_PR_SET_PDEATHSIG = 1
# Looked up once in the parent: the forked child must not load libraries (other threads may hold
# the loader's locks at fork time); it only makes this one call.
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None


class EnvoyStartError(Exception):
    """Envoy did not start; the message carries its relevant log lines."""


@dataclass(frozen=True)
class ValidateResult:
    ok: bool
    log: str
    timed_out: bool = False

    def problems(self) -> list[str]:
        return relevant_lines(self.log)


# A message a filter logged: `[time][thread][level][wasm] [source] wasm log <plugin> <vm>: <message>`.
_WASM_LOG = re.compile(r"^(?P<head>\[[^\]]*\]\[\d+\]\[\w+\]\[wasm\] \[[^\]]*\] wasm log [^:]*: )(?P<message>.*)$")


def relevant_lines(log: str, limit: int = 20, width: int = 400) -> list[str]:
    """The log lines that explain a failure: errors, critical lines and wasm messages.

    A filter that writes one byte per call (TinyGo's runtime prints a panic so) makes Envoy log a
    line per character: such runs are put back together into one line per line written. At most
    `limit` lines of at most `width` characters: a filter decides what it logs, and its messages
    end up in terminals and pull-request comments.
    """
    keep = [line for line in log.splitlines() if "[error]" in line or "[critical]" in line or "[wasm]" in line]
    lines = _assembled(keep)
    return [line if len(line) <= width else line[: width - 3] + "..." for line in lines[-limit:]]


def _assembled(lines: list[str]) -> list[str]:
    """Consecutive one-character messages of one plugin and level, joined; an empty one ends a line."""
    out: list[str] = []
    head, pieces = "", list[str]()  # the run being joined
    for line in lines:
        match = _WASM_LOG.match(line)
        fragment = match is not None and len(match["message"]) <= 1
        if fragment and match is not None and (not pieces or _same_source(head, match["head"])):
            if not pieces:
                head = match["head"]
            if match["message"]:
                pieces.append(match["message"])
                continue
        if pieces:
            out.append(head + "".join(pieces))
            pieces = []
            if fragment:  # the empty message (a newline) that ended it
                continue
        out.append(line)
    if pieces:
        out.append(head + "".join(pieces))
    return out


def _same_source(head: str, other: str) -> bool:
    """The same level, source and plugin: the line's head without its time and thread."""
    return head.split("]", 2)[2] == other.split("]", 2)[2]


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def validate_config(envoy: Envoy, config_path: Path, *, timeout: float = 30) -> ValidateResult:
    """Run `envoy --mode validate -c config_path`; ok when Envoy accepts it (and loads its wasm)."""
    try:
        done = subprocess.run(
            [envoy.path, "--mode", "validate", "-c", str(config_path), "--disable-hot-restart", "-l", "warning"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=die_with_parent,
        )
    except subprocess.TimeoutExpired:
        return ValidateResult(False, f"envoy --mode validate did not finish within {timeout:g} s", timed_out=True)
    return ValidateResult(done.returncode == 0, done.stdout + done.stderr)


@dataclass
class RunningEnvoy:
    """A live Envoy: where it listens and where its log goes."""

    process: subprocess.Popen[bytes]
    admin_port: int
    listener_port: int
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def run_envoy(
    envoy: Envoy, config: dict[str, Any], workdir: Path, *, ready_timeout: float = 30
) -> Iterator[RunningEnvoy]:
    """Start Envoy with `config` (a bootstrap) for the duration of the block."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = write_config(config, workdir / "envoy.yaml")
    admin_file = workdir / "admin-address.txt"
    log_path = workdir / "envoy.log"
    admin_file.unlink(missing_ok=True)
    command = [
        envoy.path, "-c", str(config_path), "--disable-hot-restart", "--concurrency", "1",
        "--admin-address-path", str(admin_file), "--log-path", str(log_path), "-l", LOG_LEVEL,
        "--file-flush-interval-msec", "50",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        admin_port = _wait_for_admin(process, admin_file, log_path, ready_timeout)
        running = RunningEnvoy(process, admin_port, _listener_port(admin_port), log_path)
        yield running
    finally:
        _stop(process)


def die_with_parent() -> None:
    """In a child process: ask Linux to kill it when the parent dies, so no Envoy or load generator is left behind."""
    if _prctl is not None:
        # SIGKILL, not SIGTERM: a worker stuck in a looping filter never finishes a graceful exit.
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def _wait_for_admin(process: subprocess.Popen[bytes], admin_file: Path, log_path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EnvoyStartError(_start_failure(f"Envoy exited with status {process.returncode}", log_path))
        text = admin_file.read_text() if admin_file.exists() else ""
        if text.strip():
            port = int(text.strip().rsplit(":", 1)[1])
            with contextlib.suppress(OSError):
                status, body = _get("127.0.0.1", port, "/ready")
                if status == 200 and body.strip() == "LIVE":
                    return port
        time.sleep(0.02)
    raise EnvoyStartError(_start_failure(f"Envoy was not ready within {timeout:g} s", log_path))


def _start_failure(reason: str, log_path: Path) -> str:
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    lines = relevant_lines(log) or log.splitlines()[-10:]
    return reason + ("\n" + "\n".join(lines) if lines else "")


def _listener_port(admin_port: int) -> int:
    status, body = _get("127.0.0.1", admin_port, "/listeners?format=json")
    if status != 200:
        raise EnvoyStartError(f"admin /listeners answered {status}")
    for listener in json.loads(body).get("listener_statuses", []):
        address = listener.get("local_address", {}).get("socket_address", {})
        if address.get("port_value"):
            return int(address["port_value"])
    raise EnvoyStartError("Envoy reports no listening port")


def _get(host: str, port: int, path: str, timeout: float = 5) -> tuple[int, str]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=2)  # a healthy Envoy exits in milliseconds; a stuck one gets SIGKILL
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
