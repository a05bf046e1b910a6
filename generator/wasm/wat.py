"""Compiling WebAssembly text (WAT) to a binary module, for test fixtures and WAT filters."""

from __future__ import annotations

import wasmtime


class WatError(ValueError):
    """The text is not valid WAT; the message is wasmtime's, with the line and column."""


def compile_wat(text: str) -> bytes:
    """The binary module for `text`. Deterministic: the same text always gives the same bytes."""
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as err:
        raise WatError(str(err).strip()) from None
