"""Building a version's binary from the recipe declared in its metadata, in isolation.

The filter's directory (regular files only) is copied into a fresh temporary directory with the
catalog's shared SDK, and the recipe (`generator.binaries.recipes.<name>`) builds from that copy with its
pinned toolchain. Nothing outside the copy is read, so what builds here builds in CI.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from generator.binaries.recipes import BuildContext, BuildError, ToolchainMissing, assemblyscript, clang, wat
from generator.metadata.files import NotRegular, copy_regular_tree
from generator.metadata.model import BuildRecipe

__all__ = ["NETWORK_RECIPES", "RECIPES", "BuildError", "ToolchainMissing", "build"]

SDK_DIR = Path("catalog") / "sdk"

# Recipes that download their toolchain's packages (from a registry, pinned by a lockfile).
NETWORK_RECIPES = frozenset({"assemblyscript"})

RECIPES: dict[str, Callable[[BuildContext], bytes]] = {
    "wat": wat.build,
    "clang": clang.build,
    "assemblyscript": assemblyscript.build,
}


def build(directory: Path, display: str, recipe: BuildRecipe) -> bytes:
    """The binary that `recipe` produces from the sources in `directory` (a catalog filter)."""
    source = directory / PurePosixPath(recipe.path)
    if not source.resolve().is_relative_to(directory.resolve()):
        raise BuildError(f"source '{recipe.path}' is outside the filter's directory")
    builder = RECIPES.get(recipe.recipe)
    if builder is None:
        raise BuildError(f"no builder for recipe '{recipe.recipe}'")
    catalog_root = directory.resolve().parent.parent.parent
    with tempfile.TemporaryDirectory(prefix="catalog-build-") as tmp:
        work = Path(tmp)
        sources = work / "src"
        _copy_regular(directory, sources)
        sdk = work / "sdk"
        if (catalog_root / SDK_DIR).is_dir():
            _copy_regular(catalog_root / SDK_DIR, sdk)
        else:
            sdk.mkdir()
        out = work / "out"
        out.mkdir()
        try:
            return builder(BuildContext(sources=sources, entry=recipe.path, sdk=sdk, workdir=out, display=display))
        except BuildError as err:
            # Compiler messages name the temporary copy; show the files the contributor edits.
            message = str(err).replace(f"{sources}/", f"{display}/").replace(f"{sdk}/", f"{SDK_DIR.as_posix()}/")
            raise type(err)(message) from None


def _copy_regular(source: Path, target: Path) -> None:
    try:
        copy_regular_tree(source, target, skip=frozenset({"node_modules", ".git"}))
    except NotRegular as err:
        raise BuildError(f"{source.name}/{err}") from None
