"""`catalog validate`: every finding printed, exit 1 on errors, paths and --changed-since."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from generator.binaries.store import BinaryStore
from generator.wasm.wat import compile_wat
from tests.conftest import REPO_ROOT, CatalogBuilder, git, version_data
from tests.wasm_modules import NETWORK_EXPORTS, proxy_module, proxy_wat

Cli = Callable[..., Result]


def test_clean_catalog_passes(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("a")
    catalog.add("b")
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "2 filters checked: 0 errors, 0 warnings" in result.stderr


def test_all_findings_are_printed_then_exit_1(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("a", homepage="javascript:alert(1)")
    catalog.add("b", license="NOASSERTION")
    catalog.write("c", "name: c\n  bad: indent\n")
    result = cli("validate")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.rsplit("[", 1)[1] for line in lines] == ["CAT110]", "CAT112]", "CAT002]"]
    assert lines[0].startswith("catalog/filters/a/filter.yaml:")
    assert "3 filters checked: 2 errors, 1 warning" in result.stderr


def test_warnings_alone_pass(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("b", license="NOASSERTION")
    assert cli("validate").exit_code == 0


def test_paths_select_filters(cli: Cli, catalog: CatalogBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog.add("good")
    catalog.add("bad", homepage="http://x.org")
    assert cli("validate", "good").exit_code == 0
    monkeypatch.chdir(catalog.root)
    assert cli("validate", "catalog/filters/good/filter.yaml").exit_code == 0
    assert cli("validate", "catalog/filters/bad").exit_code == 1
    unknown = cli("validate", "nope")
    assert unknown.exit_code == 2
    assert "PATH: 'nope' is neither a filter name nor a path under catalog/filters" in unknown.stderr


def test_binary_facts_are_checked_against_the_store(cli: Cli, catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, kind="network", capabilities=["metrics"], size=7)])
    result = cli("validate")
    assert result.exit_code == 1
    assert "versions[0].size: recorded 7, the binary shows" in result.stdout
    assert "versions[0].kind: recorded 'network', the binary shows 'http' [CAT202]" in result.stdout
    assert "versions[0].capabilities: recorded [metrics], the binary shows [] [CAT202]" in result.stdout


def test_store_corruption_is_detected(cli: Cli, catalog: CatalogBuilder, store: BinaryStore) -> None:
    binary = proxy_module()
    catalog.add("a", binary)
    store.path_for(version_data("1.0.0", binary)["sha256"]).write_bytes(proxy_module(exports=NETWORK_EXPORTS))
    result = cli("validate", "--offline")
    assert result.exit_code == 0
    assert (
        "note: versions[0].source.url: binary is not in the local store and --offline was given [CAT200]"
        in result.stdout
    )


def test_binary_is_downloaded_when_missing(
    cli: Cli, catalog: CatalogBuilder, store: BinaryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = proxy_module(exports=NETWORK_EXPORTS)
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, kind="network")])
    store.path_for(version_data("1.0.0", binary)["sha256"]).unlink()
    requested: list[str] = []

    def fake_download(url: str, policy: object) -> bytes:
        requested.append(url)
        return proxy_module()  # other bytes than recorded

    monkeypatch.setattr("generator.binaries.obtain.download", fake_download)
    result = cli("validate")
    assert requested == ["https://example.org/releases/1.0.0/filter.wasm"]
    assert result.exit_code == 1
    assert "versions[0].sha256: expected" in result.stdout
    assert "[CAT201]" in result.stdout


def test_build_recipe_is_rebuilt_and_compared(cli: Cli, catalog: CatalogBuilder, store: BinaryStore) -> None:
    wat = proxy_wat()
    binary = compile_wat(wat)
    source = {"build": {"recipe": "wat", "path": "src/f.wat"}}
    directory = catalog.add("a", binary, versions=[version_data("1.0.0", binary, source=source)])
    (directory / "src").mkdir()
    (directory / "src" / "f.wat").write_text(wat)
    store.path_for(version_data("1.0.0", binary)["sha256"]).unlink()
    assert cli("validate").exit_code == 0
    # the source changes but the recorded version does not: the rebuilt bytes no longer match
    store.path_for(version_data("1.0.0", binary)["sha256"]).unlink()
    (directory / "src" / "f.wat").write_text(proxy_wat(exports=NETWORK_EXPORTS))
    result = cli("validate")
    assert result.exit_code == 1
    assert "[CAT201]" in result.stdout
    (directory / "src" / "f.wat").write_text("(module (func")
    result = cli("validate")
    assert result.exit_code == 1
    assert "versions[0].source.build:" in result.stdout
    assert "[CAT217]" in result.stdout


def test_bad_binary_in_store_is_reported_at_the_version(cli: Cli, catalog: CatalogBuilder) -> None:
    bad = proxy_module(imports=['(import "env" "abort" (func (param i32 i32 i32 i32)))'])
    catalog.add("a", bad)
    result = cli("validate")
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("catalog/filters/a/filter.yaml:")
    assert "error: versions[0]: import 'env.abort': expected a host function of proxy-wasm ABI 0.2.1" in line
    assert line.endswith("[CAT211]")


def test_metadata_only_and_formats(cli: Cli, catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, size=7)], license="NOASSERTION")
    assert "CAT202" not in cli("validate", "--metadata-only").stdout
    github = cli("validate", "--format", "github").stdout.splitlines()
    assert github[0].startswith("::warning file=catalog/filters/a/filter.yaml,line=")
    assert "title=CAT112::license: expected an SPDX license" in github[0]
    assert github[1].startswith("::error file=catalog/filters/a/filter.yaml,line=")
    assert "title=CAT202::versions[0].size: recorded 7" in github[1]
    report = json.loads(cli("validate", "--format", "json").stdout)
    assert report["checked"] == ["a"]
    assert {f["rule"] for f in report["findings"]} == {"CAT112", "CAT202"}
    assert all(f["line"] for f in report["findings"])


def test_changed_since_checks_only_changed_filters(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("old", homepage="http://broken.example")  # broken, but not touched by the change
    catalog.add("stable")
    git(catalog.root, "init", "-q", "-b", "main")
    git(catalog.root, "add", "-A")
    git(catalog.root, "commit", "-qm", "base")
    git(catalog.root, "checkout", "-qb", "feature")
    catalog.add("fresh")  # untracked
    path = catalog.metadata_path("stable")
    path.write_text(path.read_text().replace("The stable test filter.", "Changed."))
    result = cli("validate", "--changed-since", "main", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checked"] == ["fresh", "stable"]
    assert cli("validate").exit_code == 1  # the whole catalog still has the broken one
    bad_ref = cli("validate", "--changed-since", "nope")
    assert bad_ref.exit_code == 2
    assert "--changed-since: unknown git ref 'nope'" in bad_ref.stderr


def test_changed_since_outside_git(cli: Cli, catalog: CatalogBuilder) -> None:
    result = cli("validate", "--changed-since", "main")
    assert result.exit_code == 2
    assert "is not a git repository" in result.stderr


def test_view_shows_dates_from_git(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("a")
    git(catalog.root, "init", "-q", "-b", "main")
    git(catalog.root, "add", "-A")
    git(catalog.root, "commit", "-qm", "add a", "--date", "2026-01-02T03:04:05+00:00")
    view = yaml.safe_load(cli("filter", "view", "a").stdout)
    assert view["history"]["first_commit"] is not None
    assert view["history"]["first_commit"] == view["history"]["last_commit"]


@pytest.mark.slow
@pytest.mark.envoy
def test_the_repository_catalog_is_valid(tmp_path: Path) -> None:
    """The catalog shipped in this repository passes: every filter rebuilt from its recipe in a fresh
    store (so changed sources that no longer build the recorded bytes fail here, naming the filter),
    and every filter's behaviour cases in real Envoy."""
    result = subprocess.run(
        [sys.executable, "-m", "generator", "--root", str(REPO_ROOT), "validate", "--rebuild", "--deep"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
        env={**os.environ, "CATALOG_STORE": str(tmp_path / "store")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 errors" in result.stderr


def test_paths_outside_the_catalog_are_refused(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("a")
    for path in ("/etc", "..", "a/../../x"):
        result = cli("validate", path)
        assert result.exit_code == 2, path
        assert f"PATH: '{path}' is neither a filter name nor a path under catalog/filters" in result.stderr


def test_changed_since_sees_a_lookalike_directory(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("add-header")
    git(catalog.root, "init", "-q", "-b", "main")
    git(catalog.root, "add", "-A")
    git(catalog.root, "commit", "-qm", "base")
    catalog.write("\u0430dd-header", {"name": "x"})
    result = cli("validate", "--changed-since", "main", "--metadata-only")
    assert result.exit_code == 1
    assert "1 filter checked" in result.stderr


def test_a_filter_directory_holds_only_regular_files_under_the_caps(cli: Cli, catalog: CatalogBuilder) -> None:
    directory = catalog.add("a")
    src = directory / "src"
    src.mkdir()
    (src / "passwd").symlink_to("/etc/passwd")
    (src / "big.bin").write_bytes(b"x" * (1024 * 1024 + 1))
    os.mkfifo(src / "pipe")
    (directory / "vendor").mkdir()
    (directory / "vendor" / ".git").write_text("gitdir: ../../.git/modules/vendor\n")
    result = cli("validate", "a", "--metadata-only")
    assert result.exit_code == 1
    lines = sorted(result.stdout.splitlines())
    assert lines == [
        "catalog/filters/a/src/big.bin: error: expected a source or text file of at most 1 MiB, got 1048577 bytes "
        "[CAT001]",
        "catalog/filters/a/src/passwd: error: expected a regular file, got a symlink (it could point anywhere) "
        "[CAT005]",
        "catalog/filters/a/src/pipe: error: expected a regular file, got a device, pipe or socket [CAT005]",
        "catalog/filters/a/vendor: error: expected files of this repository, got a git submodule or another "
        "repository [CAT010]",
    ]
