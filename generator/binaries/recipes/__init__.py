"""Build recipes: one module per toolchain, each turning a filter's sources into a .wasm.

`generator.binaries.build` prepares a clean temporary directory with a copy of the filter's sources and
calls the recipe named in the version's `source.build.recipe`. Each recipe pins its toolchain:
it checks the version it finds and refuses to build with another one, so the bytes are the same
on every machine with the pinned toolchain.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class BuildError(Exception):
    """The recipe could not produce a binary; the message says why and what to do."""


class ToolchainMissing(BuildError):
    """The pinned toolchain is not installed (or another version is)."""


@dataclass(frozen=True)
class BuildContext:
    """What a recipe works with. `workdir` is empty and private to this build."""

    sources: Path  # a copy of the filter's directory (regular files only)
    entry: str  # the recipe's path, relative to `sources`
    sdk: Path  # catalog/sdk: shared code the recipes may use
    workdir: Path
    display: str  # the filter's directory as findings show it


def tool(name: str, install: str) -> str:
    """The absolute path of a tool on PATH, or ToolchainMissing naming the package to install."""
    path = shutil.which(name)
    if path is None:
        raise ToolchainMissing(f"{name} is not installed: {install}")
    return path


def run(command: Sequence[str], cwd: Path, what: str, timeout: float = 600) -> str:
    """Run one build step; its output becomes the error message if it fails."""
    try:
        done = subprocess.run(
            list(command), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=_build_env()
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what} did not finish within {timeout:g} s") from None
    except OSError as err:
        raise BuildError(f"{what} could not start: {err}") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        raise BuildError(f"{what} failed (exit {done.returncode}):\n" + "\n".join(output[-30:]))
    return done.stdout


def _build_env() -> dict[str, str]:
    """A small, fixed environment: builds must not depend on the caller's locale, time zone or flags."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return {**keep, "LC_ALL": "C", "TZ": "UTC", "SOURCE_DATE_EPOCH": "0"}
