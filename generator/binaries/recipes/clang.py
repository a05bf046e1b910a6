"""The `clang` recipe: C against the shared proxy-wasm ABI layer in `catalog/sdk/c`.

Debian's clang 14 and lld 14 (packages clang-14, lld-14), freestanding wasm32 without libc: the
filter's `.c` entry file and every `.c` file of the SDK are compiled with the same flags and
linked with no entry point, exporting only what the sources mark with `export_name`. No debug
information and no paths end up in the binary, so two builds give the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

from generator.binaries.recipes import BuildContext, BuildError, ToolchainMissing, run, tool

CLANG = "clang-14"
WASM_LD = "wasm-ld-14"
PINNED_VERSION = "14.0.6"
INSTALL = "apt-get install clang-14 lld-14 (Debian 12)"

CFLAGS = (
    "--target=wasm32",
    "-O2",
    "-std=c11",
    "-nostdlib",
    "-ffreestanding",
    "-fno-exceptions",
    "-fvisibility=hidden",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
)
LDFLAGS = ("--no-entry", "--strip-all", "--gc-sections", "-z", "stack-size=65536", "--initial-memory=1048576")


def build(context: BuildContext) -> bytes:
    clang = tool(CLANG, INSTALL)
    linker = tool(WASM_LD, INSTALL)
    version = run([clang, "--version"], context.workdir, "clang --version")
    found = re.search(r"clang version (\d+\.\d+\.\d+)", version)
    if found is None or found.group(1) != PINNED_VERSION:
        got = found.group(1) if found else version.splitlines()[0]
        raise ToolchainMissing(f"{CLANG} {PINNED_VERSION} is pinned, got {got}: {INSTALL}")
    sdk_c = context.sdk / "c"
    entry = context.sources / context.entry
    if entry.suffix != ".c":
        raise BuildError(f"{context.display}/{context.entry}: expected a .c file for the clang recipe")
    # Only clang's own freestanding headers besides the filter and the SDK: no /usr/include.
    resource = run([clang, "-print-resource-dir"], context.workdir, "clang -print-resource-dir").strip()
    builtin = Path(resource) / "include"
    flags = [*CFLAGS, "-nostdinc", "-isystem", str(builtin), "-I", str(sdk_c)]
    allowed = (context.sources.resolve(), context.sdk.resolve(), builtin.resolve())
    units = [entry, *sorted(sdk_c.glob("*.c"))]
    objects = []
    for index, unit in enumerate(units):
        # Before compiling, list what the unit includes: an #include of "/home/ci/.git-credentials"
        # would otherwise be compiled, and its lines quoted in the error that reaches the report.
        listing = run([clang, *flags, "-M", str(unit)], context.workdir, f"listing the includes of {unit.name}")
        for dependency in _dependencies(listing):
            if not any((context.workdir / dependency).resolve().is_relative_to(root) for root in allowed):
                raise BuildError(
                    f"{unit.name}: expected includes from the filter's directory, catalog/sdk/c or clang's "
                    f"own headers, got '{dependency}'"
                )
        obj = context.workdir / f"unit{index}.o"
        run([clang, *flags, "-c", str(unit), "-o", str(obj)], context.workdir, f"compiling {unit.name}")
        objects.append(str(obj))
    output = context.workdir / "filter.wasm"
    run([linker, *LDFLAGS, *objects, "-o", str(output)], context.workdir, "linking")
    return output.read_bytes()


def _dependencies(listing: str) -> list[str]:
    """The files of a `clang -M` make rule (`target: dep dep \\ dep`)."""
    _, _, deps = listing.replace("\\\n", " ").partition(":")
    return deps.split()
