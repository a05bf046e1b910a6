"""The `wat` recipe: WebAssembly text compiled by wasmtime. No toolchain beyond our own."""

from __future__ import annotations

from generator.binaries.recipes import BuildContext, BuildError
from generator.metadata.files import MIB, read_text
from generator.wasm.wat import WatError, compile_wat

MAX_SOURCE_BYTES = 4 * MIB


def build(context: BuildContext) -> bytes:
    text, findings = read_text(context.sources / context.entry, f"{context.display}/{context.entry}", MAX_SOURCE_BYTES)
    if text is None:
        raise BuildError("; ".join(f.message for f in findings))
    try:
        return compile_wat(text)
    except WatError as err:
        raise BuildError(f"{context.display}/{context.entry}: {err}") from None
