"""The `assemblyscript` recipe: an npm project using the proxy-wasm SDK `@solo-io/proxy-runtime` 0.1.8.

The recipe's path is the project directory: `package.json`, the committed `package-lock.json` and
the entry file `assembly/index.ts` (the layout `asinit` creates). The toolchain is the project's
own: `npm ci` installs exactly what the lockfile pins, and the compiler (`asc`) comes from it. So
the lockfile is checked before anything is installed or run:

* `@solo-io/proxy-runtime` is 0.1.8 and `assemblyscript` is 0.14.x or 0.15.x, the compilers that
  SDK is written for (later ones changed the runtime and the standard library it relies on);
* every package comes from the npm registry with an integrity hash and under its own name (no
  git, file, link or tarball URLs, no aliases). A pull request therefore cannot swap in a compiler
  of its own, and npm verifies every tarball against the committed hash.

Nothing from the project runs but the compiler: `npm ci --ignore-scripts` skips install scripts,
and a project `asconfig.json` (which could add compiler flags or load a JavaScript transform) is
refused. The compiler flags are fixed (`ASC_FLAGS`). Node.js is pinned by major version, the
compiler by the lockfile; with both, two builds give the same bytes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from generator.binaries.recipes import BuildContext, BuildError, ToolchainMissing, run, tool
from generator.metadata.files import MIB, read_text

NODE_MAJOR = 20
INSTALL = f"install Node.js {NODE_MAJOR}.x and npm (e.g. NodeSource's nodejs {NODE_MAJOR}.x; Debian 12's nodejs is 18)"

ENTRY = "assembly/index.ts"
LOCKFILE = "package-lock.json"
MANIFEST = "package.json"
MAX_LOCKFILE_BYTES = 4 * MIB

SDK_PACKAGE = "@solo-io/proxy-runtime"
SDK_VERSION = "0.1.8"
COMPILER_PACKAGE = "assemblyscript"
COMPILER_VERSIONS = re.compile(r"0\.1[45]\.\d+")
REGISTRY = "https://registry.npmjs.org/"

# Every package the recipe will install and run, with the sha512 npm verifies it against. The
# integrity values in a pull request's lockfile are the pull request's own, so they prove nothing:
# the compiler that runs in CI must be one the catalog reviewed. A new SDK or compiler version is
# added here, in a change to the generator.
TRUSTED_PACKAGES: dict[tuple[str, str], str] = {
    (
        SDK_PACKAGE,
        "0.1.8",
    ): "sha512-aC6D/tmyRYttp1gOtZbIHT+2AlZssW3Q4Mzy4kih2t1B+1zSsgaCkw/qau/5f+GZC3Q4L8A2Zg19+Wz6E8oehg==",
    (
        COMPILER_PACKAGE,
        "0.14.13",
    ): "sha512-hV/2Zolfkzn55LrKymdsHLftkf8TXGf/ZDUooN10L9r1Zgf6yOIyIf/bgGq3A2l5lmUt669gk/Uwx2G0KCbCug==",
    (
        "binaryen",
        "97.0.0-nightly.20200929",
    ): "sha512-HQ7VTISqwfVOylWJAE2jIyhuO5zrxTD2Vvc0cwtXTUqfmlbZdt/Z0vxUZD+uFYHRLM0p9ddJc7RPVGsvPI2oEQ==",
    (
        "long",
        "4.0.0",
    ): "sha512-XsP+KhQif4bjX1kbuSiySJFNAehNxgLb6hPRGJ9QsUr8ajHkuXGdrHmFUTUUXhDwVX2R5bY4JNZEwbUiMhV+MA==",
}

# -O3s (asc's --optimize): speed first, then size. The "half" runtime is the SDK's reference-counting
# runtime (its malloc/free need it) without exporting __alloc, __retain, __release, __collect and
# __rtti_base, which Envoy never calls. Envoy provides no `env.abort`: abort is mapped to the SDK's
# `abort_proc_exit`, which logs the message and position through proxy_log and calls WASI
# proc_exit; Envoy's proc_exit returns, and the `unreachable` after every abort traps the VM.
# No --debug, --sourceMap or text output, so no path or name of the build machine enters the binary.
ASC_FLAGS = (
    "--optimizeLevel",
    "3",
    "--shrinkLevel",
    "1",
    "--runtime",
    "half",
    "--use",
    "abort=abort_proc_exit",
    "--noColors",
)
# --registry on the command line outranks any .npmrc; a project's own .npmrc is refused anyway.
NPM_CI = (
    "ci",
    "--ignore-scripts",
    "--no-audit",
    "--no-fund",
    "--no-update-notifier",
    "--loglevel=error",
    f"--registry={REGISTRY}",
)


def build(context: BuildContext) -> bytes:
    source = context.sources / context.entry
    display = f"{context.display}/{context.entry}"
    compiler_version = check_project(source, display)
    node = tool("node", INSTALL)
    npm = tool("npm", INSTALL)
    check_node(run([node, "--version"], context.workdir, "node --version"))
    project = context.workdir / "project"
    shutil.copytree(source, project, ignore=shutil.ignore_patterns("node_modules"))
    # A cache of our own, new for every build: npm's shared cache is not ours to fill, and an empty
    # one cannot serve a stale entry. It costs little: npm ci takes about 1.4 s with it and 1.2 s
    # with a warm cache, next to about 8 s of compiling.
    cache = context.workdir / "npm-cache"
    run([npm, *NPM_CI, "--cache", str(cache)], project, "npm ci")
    asc = project / "node_modules" / COMPILER_PACKAGE / "bin" / "asc"
    reported = run([node, str(asc), "--version"], project, "asc --version")
    if reported.split()[-1:] != [compiler_version]:
        raise BuildError(f"{display}: npm ci installed asc '{reported.strip()}', the lockfile pins {compiler_version}")
    output = context.workdir / "filter.wasm"
    run([node, str(asc), ENTRY, "--binaryFile", str(output), *ASC_FLAGS], project, "asc")
    if not output.is_file():
        raise BuildError(f"{display}: asc reported success but wrote no binary")
    return output.read_bytes()


def check_node(version: str) -> None:
    """ToolchainMissing unless `node --version` printed the pinned major version."""
    found = re.fullmatch(r"v(\d+)\.\d+\.\d+", version.strip())
    if found is None or int(found.group(1)) != NODE_MAJOR:
        raise ToolchainMissing(f"Node.js {NODE_MAJOR} is pinned, got '{version.strip()}': {INSTALL}")


def check_project(project: Path, display: str) -> str:
    """The compiler version the project's lockfile pins, or BuildError saying what is wrong."""
    if not project.is_dir():
        raise BuildError(f"{display}: expected the npm project's directory for the assemblyscript recipe")
    for name in (MANIFEST, LOCKFILE, ENTRY):
        if not (project / name).is_file():
            raise BuildError(f"{display}: expected {name} in the project")
    hidden = sorted(str(p.relative_to(project)) for p in project.rglob(".*") if "node_modules" not in p.parts)
    if hidden:
        raise BuildError(
            f"{display}/{hidden[0]}: expected no hidden files in the project (an .npmrc could point npm "
            "at another registry); remove it"
        )
    if (project / "asconfig.json").exists():
        raise BuildError(
            f"{display}/asconfig.json: the assemblyscript recipe compiles with fixed flags "
            f"({' '.join(ASC_FLAGS)}); remove asconfig.json"
        )
    text, findings = read_text(project / LOCKFILE, f"{display}/{LOCKFILE}", MAX_LOCKFILE_BYTES)
    if text is None:
        raise BuildError("; ".join(f"{f.path}: {f.message}" for f in findings))
    try:
        lock = json.loads(text)
    except json.JSONDecodeError as err:
        raise BuildError(f"{display}/{LOCKFILE}:{err.lineno}:{err.colno}: not JSON: {err.msg}") from None
    return check_lockfile(lock, f"{display}/{LOCKFILE}")


def check_lockfile(lock: Any, display: str) -> str:
    """Check an npm lockfile (parsed JSON) as the module docstring says; the pinned compiler version."""
    packages = lock.get("packages") if isinstance(lock, dict) else None
    if not isinstance(packages, dict) or lock.get("lockfileVersion") not in (2, 3):
        got = lock.get("lockfileVersion") if isinstance(lock, dict) else None
        raise BuildError(
            f"{display}: expected lockfileVersion 2 or 3 (npm 7 or later), got {got!r}; "
            "regenerate it with `npm install --package-lock-only`"
        )
    for key, entry in packages.items():
        if key:
            _check_locked_package(key, entry, display)
    sdk = _locked_version(packages, SDK_PACKAGE)
    if sdk != SDK_VERSION:
        raise BuildError(
            f"{display}: expected {SDK_PACKAGE} {SDK_VERSION} (the SDK the assemblyscript recipe builds with), "
            f"got {_shown(sdk)}; run `npm install --save-exact --save-dev {SDK_PACKAGE}@{SDK_VERSION}`"
        )
    compiler = _locked_version(packages, COMPILER_PACKAGE)
    if compiler is None or not COMPILER_VERSIONS.fullmatch(compiler):
        raise BuildError(
            f"{display}: expected {COMPILER_PACKAGE} 0.14.x or 0.15.x (the compilers {SDK_PACKAGE} "
            f"{SDK_VERSION} works with), got {_shown(compiler)}; "
            f"run `npm install --save-exact --save-dev {COMPILER_PACKAGE}@0.14.13`"
        )
    return compiler


def _check_locked_package(key: str, entry: Any, display: str) -> None:
    where = f"{display}: packages[{key!r}]"
    if not isinstance(entry, dict):
        raise BuildError(f"{where}: expected an object, got {type(entry).__name__}")
    name = key.rpartition("node_modules/")[2]
    if not key.startswith("node_modules/") or "link" in entry or entry.get("name", name) != name:
        raise BuildError(
            f"{where}: expected a package from the npm registry under its own name, got a link, "
            "an alias or a path outside node_modules"
        )
    resolved = entry.get("resolved")
    if resolved is not None and not (isinstance(resolved, str) and resolved.startswith(REGISTRY)):
        raise BuildError(f"{where}: expected a package from {REGISTRY}, got {str(resolved)[:200]!r}")
    integrity = entry.get("integrity")
    if not (isinstance(integrity, str) and integrity.startswith("sha512-")):
        raise BuildError(f"{where}: expected a sha512 integrity hash, got {_shown(integrity)}")
    trusted = TRUSTED_PACKAGES.get((name, str(entry.get("version"))))
    if trusted is None:
        known = ", ".join(f"{n}@{v}" for n, v in TRUSTED_PACKAGES)
        raise BuildError(
            f"{where}: expected one of the packages the recipe trusts ({known}), got {name}@{entry.get('version')}; "
            "a new package or version is added to TRUSTED_PACKAGES in generator/binaries/recipes/assemblyscript.py"
        )
    if integrity != trusted:
        raise BuildError(f"{where}: expected the integrity hash the recipe trusts for {name}, got {_shown(integrity)}")


def _locked_version(packages: dict[str, Any], name: str) -> str | None:
    version = packages.get(f"node_modules/{name}", {}).get("version")
    return version if isinstance(version, str) else None


def _shown(value: object) -> str:
    return "none" if value is None else repr(str(value)[:100])
