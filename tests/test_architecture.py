"""The layers of `generator/` and the walls around heavy dependencies, as `make lint` enforces them.

Each contract in pyproject.toml's `[tool.importlinter]` is broken on purpose in a copy of the
package, and `lint-imports` must fail naming it; the unchanged copy must pass.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """The generator package and its pyproject.toml, copied where lint-imports finds the copy first."""
    shutil.copytree(REPO_ROOT / "generator", tmp_path / "generator", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, check=False, timeout=120
    )


def test_the_unchanged_package_keeps_every_contract(package_copy: Path) -> None:
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract", "names"),
    [
        # metadata is the bottom layer: it imports nothing above it.
        (
            "metadata/model.py",
            "from generator.site import views",
            "Layers: each imports only the layers below it",
            "generator.metadata is not allowed to import generator.site",
        ),
        # The command line is never imported from below.
        (
            "binaries/store.py",
            "from generator.commands import common",
            "Layers: each imports only the layers below it",
            "generator.binaries is not allowed to import generator.commands",
        ),
        # proof and perf are independent of each other.
        (
            "perf/stats.py",
            "from generator.proof import prove",
            "Layers: each imports only the layers below it",
            "generator.perf is not allowed to import generator.proof",
        ),
        (
            "metadata/loader.py",
            "import git",
            "Only gitops.gitrepo imports GitPython",
            "generator.metadata.loader -> git",
        ),
        (
            "site/render.py",
            "import mkdocs",
            "Only the site's mkdocs adapter imports mkdocs and its theme",
            "generator.site.render -> mkdocs",
        ),
        (
            "commands/listing.py",
            "import rich",
            "Only the command line imports click and rich",
            "generator.commands.listing -> rich",
        ),
        ("envoy/process.py", "import wasmtime", "Only generator.wasm imports wasmtime", "generator.envoy.process"),
        # A cycle inside one package, even through a type-checking import.
        (
            "metadata/findings.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from generator.metadata import rules",
            "No import cycles between the modules of a package",
            "- .rules -> .findings",
        ),
    ],
)
def test_a_broken_contract_fails_the_lint(
    package_copy: Path, module: str, line: str, contract: str, names: str
) -> None:
    path = package_copy / "generator" / module
    path.write_text(path.read_text() + "\n" + line + "  # noqa\n")
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert names in broken


# --- what the command line imports ----------------------------------------------------------------

HEAVY = {"pydantic", "wasmtime", "httpx", "mkdocs", "material", "git", "jinja2", "jsonschema", "ruamel", "yaml", "nh3"}


def imported_by(*args: str) -> set[str]:
    """The heavy packages a `catalog ARGS` run has imported by the time it exits (on the shipped catalog)."""
    script = (
        "import sys\n"
        "from generator.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    found: set[str] = set(eval(result.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own printed list
    return found


def test_help_imports_nothing_heavy() -> None:
    """`catalog --help` pays for click and rich only; every command imports its layers when it runs."""
    assert imported_by("--help") == set()
    assert imported_by("filter", "--help") == set()


def test_listing_filters_needs_only_the_metadata_layer() -> None:
    assert imported_by("filter", "list") == {"pydantic", "yaml"}
