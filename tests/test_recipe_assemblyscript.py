"""The `assemblyscript` recipe: lockfile checks, the Node.js pin, and real builds with npm and asc.

The project fixture is a minimal SDK filter with a real lockfile (valid by default); each refusal
case changes one thing. Refusals happen before npm runs, so only the tests marked slow need
Node.js and the npm registry.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.binaries.build import BuildError, ToolchainMissing, build
from generator.metadata.model import BuildRecipe
from generator.wasm.abi import WASI_MODULES
from generator.wasm.inspect import inspect_binary
from tests.conftest import CatalogBuilder, require, version_data

INDEX_TS = """\
export * from "@solo-io/proxy-runtime/proxy";
import { Context, RootContext, registerRootContext } from "@solo-io/proxy-runtime";

class Root extends RootContext {
  createContext(context_id: u32): Context {
    return new Context(context_id, this);
  }
}

registerRootContext((context_id: u32): RootContext => new Root(context_id), "");
"""

DEV_DEPENDENCIES = {"@solo-io/proxy-runtime": "0.1.8", "assemblyscript": "0.14.13"}

LOCK: dict[str, Any] = {
    "name": "demo",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {"name": "demo", "version": "1.0.0", "devDependencies": DEV_DEPENDENCIES},
        "node_modules/@solo-io/proxy-runtime": {
            "version": "0.1.8",
            "integrity": "sha512-"
            "aC6D/tmyRYttp1gOtZbIHT+2AlZssW3Q4Mzy4kih2t1B+1zSsgaCkw/qau/5f+GZC3Q4L8A2Zg19+Wz6E8oehg==",
            "dev": True,
        },
        "node_modules/assemblyscript": {
            "version": "0.14.13",
            "integrity": "sha512-"
            "hV/2Zolfkzn55LrKymdsHLftkf8TXGf/ZDUooN10L9r1Zgf6yOIyIf/bgGq3A2l5lmUt669gk/Uwx2G0KCbCug==",
            "dev": True,
            "dependencies": {"binaryen": "97.0.0-nightly.20200929", "long": "^4.0.0"},
            "bin": {"asc": "bin/asc", "asinit": "bin/asinit"},
        },
        "node_modules/binaryen": {
            "version": "97.0.0-nightly.20200929",
            "integrity": "sha512-"
            "HQ7VTISqwfVOylWJAE2jIyhuO5zrxTD2Vvc0cwtXTUqfmlbZdt/Z0vxUZD+uFYHRLM0p9ddJc7RPVGsvPI2oEQ==",
            "dev": True,
            "bin": {"wasm-opt": "bin/wasm-opt"},
        },
        "node_modules/long": {
            "version": "4.0.0",
            "integrity": "sha512-"
            "XsP+KhQif4bjX1kbuSiySJFNAehNxgLb6hPRGJ9QsUr8ajHkuXGdrHmFUTUUXhDwVX2R5bY4JNZEwbUiMhV+MA==",
            "dev": True,
        },
    },
}

DISPLAY = "catalog/filters/demo"
RECIPE = BuildRecipe(recipe="assemblyscript", path="src")


def add_project(catalog: CatalogBuilder, lock: dict[str, Any] | None = None, index_ts: str = INDEX_TS) -> Path:
    """A catalog filter `demo` whose sources are an npm project in `src/`."""
    binary = b"\0asm\1\0\0\0"
    source = {"build": {"recipe": "assemblyscript", "path": "src"}}
    directory = catalog.add("demo", binary, versions=[version_data("1.0.0", binary, source=source)])
    project = directory / "src"
    (project / "assembly").mkdir(parents=True)
    package = {"name": "demo", "version": "1.0.0", "private": True, "devDependencies": DEV_DEPENDENCIES}
    (project / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    (project / "package-lock.json").write_text(json.dumps(lock if lock is not None else LOCK, indent=2) + "\n")
    (project / "assembly" / "index.ts").write_text(index_ts)
    return directory


def changed_lock(key: str, **changes: Any) -> dict[str, Any]:
    """LOCK with `changes` applied to one package entry (None removes a field)."""
    lock = copy.deepcopy(LOCK)
    entry = lock["packages"][key]
    for field, value in changes.items():
        if value is None:
            entry.pop(field, None)
        else:
            entry[field] = value
    return lock


@pytest.fixture
def node_toolchain() -> None:
    """Node.js and npm are needed. Missing, they skip a test locally and fail it under CI."""
    missing = [name for name in ("node", "npm") if shutil.which(name) is None]
    require(f"{' and '.join(missing)} not installed" if missing else None)


def test_a_lockfile_pinning_another_compiler_is_refused(catalog: CatalogBuilder) -> None:
    directory = add_project(catalog, changed_lock("node_modules/assemblyscript", version="0.17.14"))
    with pytest.raises(BuildError) as caught:
        build(directory, DISPLAY, RECIPE)
    assert str(caught.value).startswith(
        "catalog/filters/demo/src/package-lock.json: packages['node_modules/assemblyscript']: "
        "expected one of the packages the recipe trusts (@solo-io/proxy-runtime@0.1.8, assemblyscript@0.14.13"
    )
    assert "got assemblyscript@0.17.14" in str(caught.value)


def test_a_forged_integrity_hash_is_refused(catalog: CatalogBuilder) -> None:
    forged = "sha512-" + "A" * 86 + "=="
    directory = add_project(catalog, changed_lock("node_modules/assemblyscript", integrity=forged))
    with pytest.raises(BuildError, match="expected the integrity hash the recipe trusts for assemblyscript"):
        build(directory, DISPLAY, RECIPE)


def test_a_project_npmrc_is_refused_before_npm_runs(catalog: CatalogBuilder) -> None:
    directory = add_project(catalog, LOCK)
    (directory / "src" / ".npmrc").write_text("registry=http://127.0.0.1:9/\n")
    with pytest.raises(BuildError, match=r"src/\.npmrc: expected no hidden files in the project"):
        build(directory, DISPLAY, RECIPE)


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        pytest.param(
            changed_lock("node_modules/@solo-io/proxy-runtime", version="0.1.1"),
            "got @solo-io/proxy-runtime@0.1.1; a new package or version is added to TRUSTED_PACKAGES",
            id="another SDK version",
        ),
        pytest.param(
            {**LOCK, "packages": {k: v for k, v in LOCK["packages"].items() if k != "node_modules/assemblyscript"}},
            "expected assemblyscript 0.14.x or 0.15.x (the compilers @solo-io/proxy-runtime 0.1.8 works with), "
            "got none",
            id="no compiler",
        ),
        pytest.param(
            changed_lock("node_modules/assemblyscript", resolved="https://attacker.example/assemblyscript.tgz"),
            "packages['node_modules/assemblyscript']: expected a package from https://registry.npmjs.org/, "
            "got 'https://attacker.example/assemblyscript.tgz'",
            id="tarball from elsewhere",
        ),
        pytest.param(
            changed_lock("node_modules/binaryen", resolved="git+ssh://git@example.org/binaryen.git#abc"),
            "packages['node_modules/binaryen']: expected a package from https://registry.npmjs.org/",
            id="git dependency",
        ),
        pytest.param(
            changed_lock("node_modules/assemblyscript", name="evil-compiler"),
            "packages['node_modules/assemblyscript']: expected a package from the npm registry under its own name",
            id="npm alias",
        ),
        pytest.param(
            changed_lock("node_modules/long", link=True, resolved=None, integrity=None),
            "packages['node_modules/long']: expected a package from the npm registry under its own name",
            id="link",
        ),
        pytest.param(
            changed_lock("node_modules/long", integrity=None),
            "packages['node_modules/long']: expected a sha512 integrity hash, got none",
            id="no integrity",
        ),
        pytest.param(
            {"lockfileVersion": 1, "dependencies": {}},
            "expected lockfileVersion 2 or 3 (npm 7 or later), got 1",
            id="npm 6 lockfile",
        ),
    ],
)
def test_lockfiles_that_do_not_pin_the_toolchain_are_refused(
    catalog: CatalogBuilder, lock: dict[str, Any], message: str
) -> None:
    directory = add_project(catalog, lock)
    with pytest.raises(BuildError) as caught:
        build(directory, DISPLAY, RECIPE)
    assert str(caught.value).startswith("catalog/filters/demo/src/package-lock.json: ")
    assert message in str(caught.value)


def test_a_lockfile_that_is_not_json_is_refused(catalog: CatalogBuilder) -> None:
    directory = add_project(catalog)
    (directory / "src" / "package-lock.json").write_text('{\n  "lockfileVersion": 3,\n}\n')
    with pytest.raises(BuildError, match=r"^catalog/filters/demo/src/package-lock.json:3:1: not JSON: "):
        build(directory, DISPLAY, RECIPE)


def test_an_asconfig_is_refused_since_the_flags_are_fixed(catalog: CatalogBuilder) -> None:
    directory = add_project(catalog)
    (directory / "src" / "asconfig.json").write_text('{"options": {"transform": ["./steal.js"]}}')
    with pytest.raises(BuildError, match=r"^catalog/filters/demo/src/asconfig.json: .* remove asconfig.json$"):
        build(directory, DISPLAY, RECIPE)


def test_a_project_without_its_entry_file_is_refused(catalog: CatalogBuilder) -> None:
    directory = add_project(catalog)
    (directory / "src" / "assembly" / "index.ts").unlink()
    with pytest.raises(BuildError, match=r"^catalog/filters/demo/src: expected assembly/index.ts in the project$"):
        build(directory, DISPLAY, RECIPE)


def test_missing_node_names_what_to_install(
    catalog: CatalogBuilder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    directory = add_project(catalog)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolchainMissing, match=r"^node is not installed: install Node.js 20.x and npm"):
        build(directory, DISPLAY, RECIPE)


def test_another_node_major_version_is_refused(
    catalog: CatalogBuilder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    directory = add_project(catalog)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, output in (("node", "v18.19.0"), ("npm", "9.2.0")):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho {output}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(ToolchainMissing, match=r"^Node.js 20 is pinned, got 'v18.19.0': install Node.js 20.x"):
        build(directory, DISPLAY, RECIPE)


@pytest.mark.slow
@pytest.mark.usefixtures("node_toolchain")
def test_builds_are_reproducible_and_import_only_what_envoy_provides(catalog: CatalogBuilder) -> None:
    directory = add_project(catalog)
    first = build(directory, DISPLAY, RECIPE)
    second = build(directory, DISPLAY, RECIPE)
    assert first == second
    facts, findings = inspect_binary(first, "demo.wasm")
    assert findings == []  # every import is one Envoy registers, with its signature
    assert facts is not None
    assert (facts.abi, facts.kind) == ("0.2.0", "http")
    assert ("env", "abort") not in {(i.module, i.name) for i in facts.imports}
    assert [i.name for i in facts.imports if i.module in WASI_MODULES] == ["proc_exit"]  # the mapped abort
    assert not {"__alloc", "__retain", "__release"} & {e.name for e in facts.exports}  # runtime "half"
    assert b"/tmp" not in first


@pytest.mark.slow
@pytest.mark.usefixtures("node_toolchain")
def test_compile_errors_reach_the_user(catalog: CatalogBuilder) -> None:
    directory = add_project(catalog, index_ts=INDEX_TS + "let broken: i32 = notDeclared;\n")
    with pytest.raises(BuildError) as caught:
        build(directory, DISPLAY, RECIPE)
    assert str(caught.value).startswith("asc failed (exit 1):")
    assert "Cannot find name 'notDeclared'" in str(caught.value)
    assert "assembly/index.ts(11," in str(caught.value)
