"""Building a version's binary from the recipe declared in its metadata.

A recipe names a toolchain and a source path inside the filter's directory. The `wat` recipe needs
nothing beyond wasmtime; recipes for other toolchains are added with the sample filters.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from generator.files import MIB, read_text
from generator.model import BuildRecipe
from generator.wasm.wat import WatError, compile_wat

MAX_SOURCE_BYTES = 4 * MIB


class BuildError(Exception):
    """The recipe could not produce a binary; the message says why."""


def build(directory: Path, display: str, recipe: BuildRecipe) -> bytes:
    """The binary that `recipe` produces from the sources in `directory`."""
    source = directory / PurePosixPath(recipe.path)
    if not source.resolve().is_relative_to(directory.resolve()):
        raise BuildError(f"source '{recipe.path}' is outside the filter's directory")
    if recipe.recipe == "wat":
        text, findings = read_text(source, f"{display}/{recipe.path}", MAX_SOURCE_BYTES)
        if text is None:
            raise BuildError("; ".join(f.message for f in findings))
        try:
            return compile_wat(text)
        except WatError as err:
            raise BuildError(f"{display}/{recipe.path}: {err}") from None
    raise BuildError(f"no builder for recipe '{recipe.recipe}'")
