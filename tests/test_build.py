"""Builds in isolation: recipes, the clang toolchain pin, and `catalog filter build`."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from generator.binaries.build import BuildError, ToolchainMissing, build
from generator.metadata.model import BuildRecipe
from generator.wasm.inspect import inspect_binary
from generator.wasm.wat import compile_wat
from tests.conftest import REPO_ROOT, CatalogBuilder, git, require, version_data
from tests.wasm_modules import NETWORK_EXPORTS, proxy_wat

Cli = Callable[..., Result]

C_FILTER = r"""
__attribute__((export_name("proxy_abi_version_0_2_1"))) void abi_marker(void) {}
static unsigned char heap[65536];
static unsigned int used;
__attribute__((export_name("proxy_on_memory_allocate"))) void *allocate(unsigned int size) {
    void *p = heap + used;
    used += (size + 7) & ~7u;
    return p;
}
__attribute__((export_name("proxy_on_context_create"))) void context_create(int id, int parent) {}
__attribute__((export_name("proxy_on_vm_start"))) int vm_start(int id, int size) { return 1; }
__attribute__((export_name("proxy_on_configure"))) int configure(int id, int size) { return 1; }
__attribute__((export_name("proxy_on_request_headers"))) int request_headers(int id, int n, int eos) { return 0; }
"""


@pytest.fixture
def clang() -> None:
    """clang 14 and lld 14 (Debian), which the clang recipe pins: skipped locally without them, failed in CI."""
    missing = [tool for tool in ("clang-14", "wasm-ld-14") if shutil.which(tool) is None]
    require(f"{' and '.join(missing)} not installed (make setup installs clang-14 and lld-14)" if missing else None)


def add_built(catalog: CatalogBuilder, name: str, recipe: str, path: str, text: str, binary: bytes) -> Path:
    source = {"build": {"recipe": recipe, "path": path}}
    directory = catalog.add(name, binary, versions=[version_data("1.0.0", binary, source=source)])
    (directory / path).parent.mkdir(parents=True, exist_ok=True)
    (directory / path).write_text(text)
    return directory


def test_wat_recipe_builds_in_a_copy(catalog: CatalogBuilder) -> None:
    directory = add_built(catalog, "w", "wat", "src/f.wat", proxy_wat(), compile_wat(proxy_wat()))
    assert build(directory, "catalog/filters/w", BuildRecipe(recipe="wat", path="src/f.wat")) == compile_wat(
        proxy_wat()
    )


def test_symlinks_in_the_sources_stop_the_build(catalog: CatalogBuilder, tmp_path: Path) -> None:
    directory = add_built(catalog, "w", "wat", "src/f.wat", proxy_wat(), compile_wat(proxy_wat()))
    (tmp_path / "secret").write_text("s")
    (directory / "src" / "leak").symlink_to(tmp_path / "secret")
    with pytest.raises(BuildError, match="expected a regular file, got a symlink"):
        build(directory, "catalog/filters/w", BuildRecipe(recipe="wat", path="src/f.wat"))


@pytest.mark.usefixtures("clang")
def test_clang_recipe_is_reproducible(catalog: CatalogBuilder) -> None:
    directory = add_built(catalog, "c", "clang", "src/f.c", C_FILTER, b"\0asm\1\0\0\0")
    recipe = BuildRecipe(recipe="clang", path="src/f.c")
    first = build(directory, "catalog/filters/c", recipe)
    second = build(directory, "catalog/filters/c", recipe)
    assert first == second
    facts, findings = inspect_binary(first, "c.wasm")
    assert findings == []
    assert facts is not None
    assert (facts.abi, facts.kind) == ("0.2.1", "http")
    assert b"/tmp" not in first  # no build paths in the bytes


@pytest.mark.usefixtures("clang")
def test_clang_errors_name_the_file_and_line(catalog: CatalogBuilder) -> None:
    directory = add_built(catalog, "c", "clang", "src/f.c", C_FILTER + "int broken( {", b"\0asm\1\0\0\0")
    with pytest.raises(BuildError) as caught:
        build(directory, "catalog/filters/c", BuildRecipe(recipe="clang", path="src/f.c"))
    assert (
        "compiling f.c failed (exit 1):\ncatalog/filters/c/src/f.c:14:13: error: expected parameter declarator"
        in str(caught.value)
    )
    assert "/tmp/" not in str(caught.value)


def test_missing_clang_names_the_packages(
    catalog: CatalogBuilder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    directory = add_built(catalog, "c", "clang", "src/f.c", C_FILTER, b"\0asm\1\0\0\0")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainMissing, match=r"clang-14 is not installed: apt-get install clang-14 lld-14"):
        build(directory, "catalog/filters/c", BuildRecipe(recipe="clang", path="src/f.c"))


def test_filter_build_compares_and_records(cli: Cli, catalog: CatalogBuilder) -> None:
    wat = proxy_wat()
    directory = add_built(catalog, "w", "wat", "src/f.wat", wat, compile_wat(wat))
    same = cli("filter", "build", "w")
    assert same.exit_code == 0, same.output
    assert "matches filter.yaml" in same.stderr
    (directory / "src" / "f.wat").write_text(proxy_wat(exports=NETWORK_EXPORTS))
    differs = cli("filter", "build", "w")
    assert differs.exit_code == 1
    assert "  kind: recorded http, built network" in differs.stderr
    assert "run with --record" in differs.stderr
    recorded = cli("filter", "build", "w", "--record")
    assert recorded.exit_code == 0, recorded.output
    version = yaml.safe_load((directory / "filter.yaml").read_text())["versions"][0]
    network = compile_wat(proxy_wat(exports=NETWORK_EXPORTS))
    assert (version["kind"], version["size"]) == ("network", len(network))
    assert cli("validate", "w").exit_code == 0


def test_filter_build_never_records_over_a_published_version(cli: Cli, catalog: CatalogBuilder) -> None:
    wat = proxy_wat()
    directory = add_built(catalog, "w", "wat", "src/f.wat", wat, compile_wat(wat))
    git(catalog.root, "init", "-q", "-b", "main")
    git(catalog.root, "add", "-A")
    git(catalog.root, "commit", "-qm", "w 1.0.0 is published")
    (directory / "src" / "f.wat").write_text(proxy_wat(exports=NETWORK_EXPORTS))
    before = (directory / "filter.yaml").read_bytes()
    refused = cli("filter", "build", "w", "--record")
    assert refused.exit_code == 1
    assert "w 1.0.0 is published (listed at main): its sha256 and size never change" in refused.stderr
    assert "Add a new version to catalog/filters/w/filter.yaml" in refused.stderr
    assert (directory / "filter.yaml").read_bytes() == before


def test_validate_explains_a_build_that_no_longer_matches(cli: Cli, catalog: CatalogBuilder, store: object) -> None:
    wat = proxy_wat()
    directory = add_built(catalog, "w", "wat", "src/f.wat", wat, compile_wat(wat))
    (directory / "src" / "f.wat").write_text(proxy_wat(exports=NETWORK_EXPORTS))
    for path in Path(str(store.root)).rglob("*.wasm"):
        path.unlink()
    result = cli("validate", "w")
    assert result.exit_code == 1
    assert "the sources no longer build the recorded bytes" in result.stdout
    assert "`catalog filter build w --record`" in result.stdout


def test_build_needs_a_recipe(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("u")
    result = cli("filter", "build", "u")
    assert result.exit_code == 2
    assert "has no build recipe" in result.stderr


def test_shipped_c_filters_include_the_shipped_sdk() -> None:
    c_filters = [
        p.parent for p in (REPO_ROOT / "catalog" / "filters").glob("*/filter.yaml") if "recipe: clang" in p.read_text()
    ]
    assert len(c_filters) >= 5  # rate-limit, tenant-routing, api-key-auth, jwt-claims, path-policy
    assert (REPO_ROOT / "catalog" / "sdk" / "c" / "proxy_wasm.h").is_file()
    for directory in c_filters:
        sources = "\n".join(p.read_text() for p in (directory / "src").glob("*.c"))
        assert '#include "proxy_wasm.h"' in sources, directory.name


@pytest.mark.usefixtures("clang")
@pytest.mark.parametrize("include", ['"{secret}"', '"../../../../../../..{secret}"', "<{secret}>"])
def test_includes_from_outside_the_filter_are_refused_before_compiling(
    catalog: CatalogBuilder, tmp_path: Path, include: str
) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("https://x-access-token:ghs_FAKESECRET@example.org\n")
    source = f"#include {include.format(secret=secret)}\n" + C_FILTER
    directory = add_built(catalog, "c", "clang", "src/f.c", source, b"\0asm\1\0\0\0")
    with pytest.raises(BuildError) as caught:
        build(directory, "catalog/filters/c", BuildRecipe(recipe="clang", path="src/f.c"))
    assert "FAKESECRET" not in str(caught.value)
    assert "expected includes from the filter's directory, catalog/sdk/c or clang's own headers" in str(caught.value)
