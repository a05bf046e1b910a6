"""The Makefile's toolchain targets: each job installs what it needs, and says what is missing.

A target names Debian packages by a command they provide. Missing ones are installed as root
(CI's container) and named, with the command to run, for anyone else; present ones cost nothing.
The tests run make with a PATH of stand-ins: an `id` that says who we are and an `apt-get` that
records what it was asked, so no package is really installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import get_args

import pytest

from generator.binaries.build import RECIPES
from generator.binaries.recipes.assemblyscript import NODE_MAJOR
from generator.metadata.model import BuildRecipe
from tests.conftest import REPO_ROOT

MAKE = shutil.which("make") or "/usr/bin/make"
RECIPE_NAMES = get_args(BuildRecipe.model_fields["recipe"].annotation)  # Literal["wat", "clang", ...]


def stand_ins(directory: Path, uid: int, present: tuple[str, ...] = ()) -> Path:
    """A PATH directory: `id -u` prints `uid`, `apt-get` logs its arguments, `present` commands exist."""
    directory.mkdir()
    scripts = {
        "id": f'#!/bin/sh\n[ "$1" = -u ] && echo {uid}\n',
        "apt-get": f'#!/bin/sh\necho "$@" >> "{directory}/apt-get.log"\n',
        **dict.fromkeys(present, "#!/bin/sh\nexit 0\n"),
    }
    for name, text in scripts.items():
        (directory / name).write_text(text)
        (directory / name).chmod(0o755)
    return directory


def make(path: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(REPO_ROOT), *targets],
        capture_output=True, text=True, env={"PATH": str(path)}, timeout=60, check=False,
    )  # fmt: skip


def apt_get_calls(path: Path) -> list[str]:
    log = path / "apt-get.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_missing_tool_is_named_with_the_command_that_installs_it(tmp_path: Path) -> None:
    path = stand_ins(tmp_path / "bin", uid=1000, present=("openssl",))
    result = make(path, "toolchain-bench")
    assert result.returncode == 2
    assert "missing: wrk nghttp2-client; run 'sudo apt-get install wrk nghttp2-client' (Debian 12)" in result.stderr
    assert apt_get_calls(path) == []


def test_root_installs_exactly_the_missing_packages(tmp_path: Path) -> None:
    path = stand_ins(tmp_path / "bin", uid=0, present=("jq",))
    result = make(path, "toolchain-github")
    assert result.returncode == 0, result.stderr
    assert "installing gh (Debian)" in result.stdout
    assert apt_get_calls(path) == ["update -qq", "install -y -qq --no-install-recommends gh"]


def test_present_tools_cost_nothing(tmp_path: Path) -> None:
    path = stand_ins(tmp_path / "bin", uid=1000, present=("clang-14", "wasm-ld-14", "gh", "jq"))
    result = make(path, "toolchain-clang", "toolchain-github", "toolchain-wat", "toolchain-url")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert apt_get_calls(path) == []


def test_node_is_checked_for_the_pinned_major_version_not_installed(tmp_path: Path) -> None:
    path = stand_ins(tmp_path / "bin", uid=0)
    (path / "node").write_text("#!/bin/sh\necho v18.20.4\n")
    (path / "node").chmod(0o755)
    result = make(path, "toolchain-assemblyscript")
    assert result.returncode == 2
    assert f"missing: Node.js {NODE_MAJOR} (found: v18.20.4)" in result.stderr
    assert apt_get_calls(path) == []  # Debian 12's nodejs is 18: installing it would not help
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(rf"^NODE_MAJOR := {NODE_MAJOR}$", makefile, re.M), "the Makefile pins another Node.js"


@pytest.mark.parametrize("recipe", [*RECIPE_NAMES, "url"])
def test_every_toolchain_a_release_can_name_has_a_target(recipe: str) -> None:
    """The publish workflow runs `make toolchain-$TOOLCHAIN` with a release's toolchain."""
    result = subprocess.run([MAKE, "-n", "-C", str(REPO_ROOT), f"toolchain-{recipe}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_recipes_and_the_model_agree() -> None:
    """Every recipe filter.yaml may name is one the build knows (and so a release's toolchain, above)."""
    assert set(RECIPE_NAMES) == set(RECIPES)


def test_the_site_needs_no_toolchain_and_the_tests_need_all() -> None:
    site = subprocess.run([MAKE, "-n", "-C", str(REPO_ROOT), "site"], capture_output=True, text=True)
    assert site.returncode == 0, site.stderr
    assert "apt-get" not in site.stdout
    database = subprocess.run([MAKE, "-pn", "-C", str(REPO_ROOT), "toolchains"], capture_output=True, text=True)
    prerequisites = re.search(r"^toolchains: (.*)$", database.stdout, re.M)
    assert prerequisites is not None
    assert set(prerequisites.group(1).split()) == {
        "toolchain-clang",
        "toolchain-assemblyscript",
        "toolchain-browser",
        "toolchain-bench",
    }
    test = re.search(r"^test: (.*)$", database.stdout, re.M)
    assert test is not None
    assert "toolchains" in test.group(1).split()
