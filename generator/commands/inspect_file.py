"""`catalog inspect FILE.wasm`: what a binary is, read from its bytes (nothing is run or compiled)."""

from __future__ import annotations

from pathlib import Path

from generator.metadata.files import read_user_file
from generator.metadata.findings import Finding
from generator.wasm.inspect import MAX_BINARY_BYTES, BinaryFacts, inspect_binary


def inspect_file(path: Path) -> tuple[BinaryFacts | None, list[Finding]]:
    """The facts of the module in `path` (None when it is not a loadable proxy-wasm module), and findings."""
    data, findings = read_user_file(path, MAX_BINARY_BYTES)
    if data is None:
        return None, findings
    return inspect_binary(data, str(path))
