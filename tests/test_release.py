"""`catalog release plan` against real git repositories, and `catalog release prepare`'s directory."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from generator.binaries.obtain import BinaryOptions
from generator.binaries.recipes import ToolchainMissing
from generator.binaries.store import BinaryStore
from generator.gitops import release as release_module
from generator.gitops.release import ZERO_SHA, prepare
from generator.metadata.errors import FindingsError
from generator.wasm.wat import compile_wat
from tests.conftest import CatalogBuilder, filter_data, git, version_data
from tests.test_download import https_mirror
from tests.test_fetch import respond
from tests.wasm_modules import proxy_module, proxy_wat

Cli = Callable[..., Result]

RELEASES = "https://github.com/acme/catalog/releases/download/{name}-v{version}/{name}-{version}.wasm"
V1 = proxy_module()
V2 = proxy_module(extra=['(func (export "v2"))'])
BETA_WAT = proxy_wat(extra=['(func (export "beta"))'])
BETA = compile_wat(BETA_WAT)
BUILD_BETA = {"build": {"recipe": "wat", "path": "src/beta.wat"}}


@pytest.fixture
def repo(catalog: CatalogBuilder) -> CatalogBuilder:
    (catalog.root / "catalog" / "catalog.yaml").write_text(f"release_url: {RELEASES}\n")
    git(catalog.root, "init", "-q", "-b", "main")
    return catalog


def commit(catalog: CatalogBuilder, message: str) -> str:
    git(catalog.root, "add", "-A")
    git(catalog.root, "commit", "-qm", message)
    return git(catalog.root, "rev-parse", "HEAD").strip()


def write(catalog: CatalogBuilder, name: str, *versions: dict[str, Any], **changes: Any) -> None:
    catalog.write(name, filter_data(name, V1, versions=list(versions), **changes))


def add_beta(catalog: CatalogBuilder, recorded: bytes = BETA) -> None:
    """beta 0.1.0, built by the wat recipe from src/beta.wat (not in the store)."""
    write(catalog, "beta", version_data("0.1.0", recorded, source=BUILD_BETA))
    (catalog.directory("beta") / "src").mkdir()
    (catalog.directory("beta") / "src" / "beta.wat").write_text(BETA_WAT)


@pytest.fixture
def pushed(repo: CatalogBuilder) -> str:
    """A base commit (alpha 1.0.0; secret, private; gamma 1.0.0 and yanked 1.1.0), then a head commit
    that adds alpha 1.1.0 and a yanked 1.2.0, a new filter beta, and secret 1.1.0. The base's SHA."""
    write(repo, "alpha", version_data("1.0.0", V1))
    write(repo, "secret", version_data("1.0.0", V1), visibility="private")
    write(repo, "gamma", version_data("1.0.0", V1), version_data("1.1.0", V2, yanked=True))
    base = commit(repo, "base")
    write(
        repo,
        "alpha",
        version_data("1.0.0", V1),
        version_data("1.1.0", V2),
        version_data("1.2.0", V2, yanked=True),
    )
    add_beta(repo)
    write(repo, "secret", version_data("1.0.0", V1), version_data("1.1.0", V2), visibility="private")
    commit(repo, "head")
    return base


def plan_json(cli: Cli, *args: str) -> Result:
    result = cli("release", "plan", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return result


def planned(cli: Cli, *args: str) -> list[tuple[str, str]]:
    return [(entry["name"], entry["version"]) for entry in json.loads(plan_json(cli, *args).stdout)]


def test_plan_lists_what_head_adds_with_tags_and_assets(cli: Cli, pushed: str) -> None:
    result = cli("release", "plan", "--base", pushed, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1  # one line, for $GITHUB_OUTPUT
    assert json.loads(result.stdout) == [
        {
            "name": "alpha",
            "version": "1.1.0",
            "tag": "alpha-v1.1.0",
            "asset": "alpha-1.1.0.wasm",
            "release_url": RELEASES.format(name="alpha", version="1.1.0"),
            "sha256": version_data("1.1.0", V2)["sha256"],
            "size": len(V2),
            "source": {"url": "https://example.org/releases/1.1.0/filter.wasm"},
            "toolchain": "url",
        },
        {
            "name": "beta",
            "version": "0.1.0",
            "tag": "beta-v0.1.0",
            "asset": "beta-0.1.0.wasm",
            "release_url": RELEASES.format(name="beta", version="0.1.0"),
            "sha256": version_data("0.1.0", BETA)["sha256"],
            "size": len(BETA),
            "source": BUILD_BETA,
            "toolchain": "wat",
        },
    ]
    assert "note: alpha 1.2.0 is yanked: not released" in result.stderr
    assert "note: secret is private: 1.1.0 not released" in result.stderr
    assert "gamma" not in result.stderr  # its yanked version was there before: nothing new to say


def test_plan_as_text(cli: Cli, pushed: str) -> None:
    result = cli("release", "plan", "--base", pushed)
    assert result.exit_code == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["TAG", "ASSET", "SIZE", "SHA256", "SOURCE"]
    assert rows[1][:3] == ["alpha-v1.1.0", "alpha-1.1.0.wasm", str(len(V2))]
    assert rows[2][:3] == ["beta-v0.1.0", "beta-0.1.0.wasm", str(len(BETA))]
    assert rows[2][4:] == ["build:", "wat", "src/beta.wat"]
    assert "2 versions to release" in result.stderr


@pytest.mark.parametrize("base", ["", ZERO_SHA])
def test_no_base_plans_every_releasable_version(cli: Cli, pushed: str, base: str) -> None:
    assert planned(cli, "--base", base) == [
        ("alpha", "1.0.0"),
        ("alpha", "1.1.0"),
        ("beta", "0.1.0"),
        ("gamma", "1.0.0"),
    ]


def test_head_defaults_to_the_work_tree_and_can_be_a_ref(cli: Cli, repo: CatalogBuilder, pushed: str) -> None:
    write(repo, "alpha", version_data("1.0.0", V1), version_data("1.1.0", V2), version_data("1.3.0", V2))
    assert ("alpha", "1.3.0") in planned(cli, "--base", pushed)
    assert planned(cli, "--base", pushed, "--head", "HEAD") == [("alpha", "1.1.0"), ("beta", "0.1.0")]
    assert planned(cli, "--base", "HEAD", "--head", "HEAD") == []
    assert planned(cli, "--base", "HEAD~1", "--head", "HEAD~1") == []


def test_publishing_a_private_filter_releases_its_versions(cli: Cli, repo: CatalogBuilder, pushed: str) -> None:
    write(repo, "secret", version_data("1.0.0", V1), version_data("1.1.0", V2), visibility="public")
    commit(repo, "publish secret")
    assert planned(cli, "--base", "HEAD~1") == [("secret", "1.0.0"), ("secret", "1.1.0")]


def test_base_is_read_leniently_and_head_strictly(cli: Cli, repo: CatalogBuilder) -> None:
    old = filter_data("alpha", V1, versions=[version_data("1.0.0", V1)])
    old["retired_field"] = True  # the model of today refuses it; the base still released 1.0.0
    repo.write("alpha", old)
    write(repo, "delta", version_data("1.0.0", V1))
    base = commit(repo, "base")
    write(repo, "alpha", version_data("1.0.0", V1), version_data("1.1.0", V2))
    repo.write("delta", "name: delta\nname: twice\n")
    repo.write("epsilon", filter_data("other", V1))
    commit(repo, "head")
    for head in ([], ["--head", "HEAD"]):
        result = plan_json(cli, "--base", base, *head)
        assert [(e["name"], e["version"]) for e in json.loads(result.stdout)] == [("alpha", "1.1.0")]
        assert "catalog/filters/delta/filter.yaml does not load" in result.stderr
        assert "catalog validate delta" in result.stderr
        assert "catalog/filters/epsilon/filter.yaml: name 'other' is not its directory's" in result.stderr


def test_committed_files_are_held_to_the_loaders_limits(cli: Cli, repo: CatalogBuilder) -> None:
    write(repo, "alpha", version_data("1.0.0", V1))
    base = commit(repo, "base")
    write(repo, "alpha", version_data("1.0.0", V1), version_data("1.1.0", V2))
    write(repo, "beta", version_data("1.0.0", V1))
    repo.metadata_path("beta").unlink()
    repo.metadata_path("beta").symlink_to("../alpha/filter.yaml")
    write(repo, "gamma", version_data("1.0.0", V1))
    repo.metadata_path("gamma").unlink()
    commit(repo, "head")
    result = plan_json(cli, "--base", base, "--head", "HEAD")
    assert [(e["name"], e["version"]) for e in json.loads(result.stdout)] == [("alpha", "1.1.0")]
    assert "catalog/filters/beta/filter.yaml does not load at HEAD" in result.stderr  # a symlink
    assert "catalog/filters/gamma/filter.yaml does not load at HEAD" in result.stderr  # missing


def test_bad_refs_are_usage_errors(cli: Cli, pushed: str) -> None:
    unknown = cli("release", "plan", "--base", "nope")
    assert unknown.exit_code == 2
    assert "--base: unknown git ref 'nope' (for a first push, pass --base '' to plan every version)" in unknown.stderr
    missing = cli("release", "plan", "--base", "1" * 40)
    assert missing.exit_code == 2
    assert cli("release", "plan", "--base", pushed, "--head", "HEAD~9").exit_code == 2
    option = cli("release", "plan", "--base", "--output=/tmp/x")
    assert option.exit_code == 2
    assert "option-like" in option.stderr


def test_plan_outside_git_says_so(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("alpha")
    result = cli("release", "plan", "--base", "main")
    assert result.exit_code == 1
    assert "is not a git repository" in result.stderr
    assert planned(cli, "--base", "") == [("alpha", "1.0.0")]  # no base needs no git


# --- prepare -----------------------------------------------------------------------------------


def test_prepare_writes_the_asset_its_checksum_and_notes(cli: Cli, repo: CatalogBuilder, tmp_path: Path) -> None:
    repo.add("alpha", V1, title="Alpha [click](https://evil.example)")
    out = tmp_path / "release"
    result = cli("release", "prepare", "alpha@1.0.0", "-o", str(out), "--site-url", "https://cat.example.org/")
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(out)) == ["alpha-1.0.0.wasm", "alpha-1.0.0.wasm.sha256", "alpha-v1.0.0.notes.md"]
    assert (out / "alpha-1.0.0.wasm").read_bytes() == V1
    sha256 = version_data("1.0.0", V1)["sha256"]
    assert (out / "alpha-1.0.0.wasm.sha256").read_text() == f"{sha256}  alpha-1.0.0.wasm\n"
    check = subprocess.run(["sha256sum", "-c", "alpha-1.0.0.wasm.sha256"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    notes = (out / "alpha-v1.0.0.notes.md").read_text()
    assert notes.startswith("# Alpha \\[click\\]\\(https\\://evil.example\\) 1.0.0\n")  # text, not a link
    assert f"- sha256: `{sha256}`" in notes
    assert f"- size: {len(V1)} bytes" in notes
    assert "- proxy-wasm ABI: 0.2.1" in notes
    assert "- catalog page: <https://cat.example.org/filters/alpha/>" in notes
    assert (
        f"next: gh release create alpha-v1.0.0 {out}/alpha-1.0.0.wasm {out}/alpha-1.0.0.wasm.sha256 "
        f"--title 'alpha 1.0.0' --notes-file {out}/alpha-v1.0.0.notes.md"
    ) in result.stderr


def test_prepare_links_the_page_from_mkdocs_site_url(cli: Cli, repo: CatalogBuilder, tmp_path: Path) -> None:
    repo.add("alpha", V1)
    assert cli("release", "prepare", "alpha@1.0.0", "-o", str(tmp_path / "a")).exit_code == 0
    assert "catalog page" not in (tmp_path / "a" / "alpha-v1.0.0.notes.md").read_text()
    mkdocs = "site_name: x\nsite_url: https://site.example.org/catalog/\nextra:\n  key: !ENV [KEY, none]\n"
    (repo.root / "mkdocs.yml").write_text(mkdocs)
    (tmp_path / "b").mkdir()  # an empty directory is fine
    assert cli("release", "prepare", "alpha@1.0.0", "-o", str(tmp_path / "b")).exit_code == 0
    assert "<https://site.example.org/catalog/filters/alpha/>" in (tmp_path / "b" / "alpha-v1.0.0.notes.md").read_text()


def test_prepare_builds_from_the_recipe(cli: Cli, repo: CatalogBuilder, store: BinaryStore, tmp_path: Path) -> None:
    add_beta(repo)
    assert store.get(version_data("0.1.0", BETA)["sha256"]) is None
    result = cli("release", "prepare", "beta@0.1.0", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "beta-0.1.0.wasm").read_bytes() == BETA


def test_prepare_refuses_bytes_that_differ_and_writes_nothing(cli: Cli, repo: CatalogBuilder, tmp_path: Path) -> None:
    add_beta(repo, recorded=V2)  # the recipe builds BETA, filter.yaml records V2
    out = tmp_path / "out"
    result = cli("release", "prepare", "beta@0.1.0", "-o", str(out))
    assert result.exit_code == 1
    assert "refused the binary of beta 0.1.0" in result.stderr
    assert "[CAT" in result.stderr  # the findings that say what differs
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".out")] == []


def test_prepare_downloads_source_url_and_checks_it(repo: CatalogBuilder, store: BinaryStore, tmp_path: Path) -> None:
    with https_mirror(tmp_path) as (server, policy):
        write(repo, "alpha", version_data("1.0.0", V2, source={"url": server.url("/alpha.wasm")}))
        options = BinaryOptions(fetch_policy=policy)
        server.routes["/alpha.wasm"] = respond(V1)  # not the recorded bytes
        with pytest.raises(FindingsError, match="refused the binary of alpha 1.0.0") as refused:
            prepare(repo.root, store, "alpha@1.0.0", tmp_path / "bad", options)
        assert any("expected " + version_data("1.0.0", V2)["sha256"] in f.message for f in refused.value.findings)
        assert not (tmp_path / "bad").exists()
        server.routes["/alpha.wasm"] = respond(V2)
        prepared = prepare(repo.root, store, "alpha@1.0.0", tmp_path / "good", options)
        assert (tmp_path / "good" / prepared.release.asset).read_bytes() == V2


@pytest.mark.parametrize(
    ("changes", "spec", "code", "message"),
    [
        ({"visibility": "private"}, "alpha@1.0.0", 1, "'alpha' is private: releases are public"),
        ({"versions": [version_data("1.0.0", V1, yanked=True)]}, "alpha@1.0.0", 1, "alpha 1.0.0 is yanked"),
        ({}, "alpha", 2, "NAME@VERSION: expected a version, got 'alpha'"),
        ({}, "alpha@2.0.0", 2, "filter 'alpha' has no version 2.0.0"),
    ],
)
def test_prepare_refuses(
    cli: Cli, repo: CatalogBuilder, tmp_path: Path, changes: dict[str, Any], spec: str, code: int, message: str
) -> None:
    repo.add("alpha", V1, **changes)
    result = cli("release", "prepare", spec, "-o", str(tmp_path / "out"))
    assert result.exit_code == code
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_versions_are_prepared_side_by_side_and_never_twice(cli: Cli, repo: CatalogBuilder, tmp_path: Path) -> None:
    repo.add("alpha", V1, versions=[version_data("1.0.0", V1), version_data("1.1.0", V2)])
    repo.store.put(V2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert cli("release", "prepare", "alpha@1.0.0", "-o", str(out)).exit_code == 0
    assert cli("release", "prepare", "alpha@1.1.0", "-o", str(out)).exit_code == 0
    assert sorted(os.listdir(out)) == [
        "alpha-1.0.0.wasm",
        "alpha-1.0.0.wasm.sha256",
        "alpha-1.1.0.wasm",
        "alpha-1.1.0.wasm.sha256",
        "alpha-v1.0.0.notes.md",
        "alpha-v1.1.0.notes.md",
        "keep.txt",
    ]
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    again = cli("release", "prepare", "alpha@1.0.0", "-o", str(out))
    assert again.exit_code == 1
    assert "has alpha-1.0.0.wasm, alpha-1.0.0.wasm.sha256, alpha-v1.0.0.notes.md already" in again.stderr
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before


def test_release_notes_read_as_typed_in_markdown(cli: Cli, repo: CatalogBuilder, tmp_path: Path) -> None:
    repo.add("alpha", V1, summary="Adds x-powered-by: envoy-wasm to every response.")
    assert cli("release", "prepare", "alpha@1.0.0", "-o", str(tmp_path)).exit_code == 0
    notes = (tmp_path / "alpha-v1.0.0.notes.md").read_text()
    assert "Adds x-powered-by: envoy-wasm to every response." in notes  # no &#58; in the raw text


@pytest.mark.parametrize(
    "summary",
    [
        "- a list, a link https://evil.example/x and www.evil.example",
        "1. a numbered list pinging @acme/maintainers and @someone",
        "_www.evil.example_ at 1.5x the speed",
        "<img src=x onerror=alert(1)> [click](https://evil.example) **bold** `code`",
        "---",
    ],
)
def test_release_notes_render_on_github_as_plain_text(
    cli: Cli, repo: CatalogBuilder, tmp_path: Path, summary: str
) -> None:
    """Rendered by cmark-gfm, GitHub's own Markdown: the summary is its text, and nothing more."""
    import cmarkgfm
    from bs4 import BeautifulSoup

    repo.add("alpha", V1, summary=summary, title="Alpha https://evil.example/title")
    assert (
        cli(
            "release", "prepare", "alpha@1.0.0", "-o", str(tmp_path), "--site-url", "https://cat.example.org/"
        ).exit_code
        == 0
    )
    html = BeautifulSoup(
        cmarkgfm.github_flavored_markdown_to_html((tmp_path / "alpha-v1.0.0.notes.md").read_text()), "html.parser"
    )
    assert html.h1 is not None
    assert html.h1.get_text() == "Alpha https://evil.example/title 1.0.0"
    paragraph = html.find("p")
    assert paragraph is not None
    assert paragraph.get_text() == summary
    assert [a["href"] for a in html.find_all("a")] == ["https://cat.example.org/filters/alpha/"]  # ours only
    assert [li.get_text().split(":")[0] for li in html.find_all("li")][0] == "filter"  # the facts list, no other
    mentions = [code.get_text() for code in paragraph.find_all("code")]
    expected = ["@acme/maintainers", "@someone"] if "@" in summary else []
    assert mentions == expected  # a mention is shown as code, where GitHub does not notify anyone
    assert html.find("img") is None
    assert html.find("hr") is None


def sources_moved_on(repo: CatalogBuilder, store: BinaryStore) -> None:
    """beta 0.1.0 committed, then 0.2.0 from new sources; an empty store: the sources here build
    0.2.0, not 0.1.0."""
    add_beta(repo)
    commit(repo, "beta 0.1.0")
    newer = proxy_wat(extra=['(func (export "beta2"))'])
    data = {**filter_data("beta", V1), "versions": [
        version_data("0.1.0", BETA, source=copy.deepcopy(BUILD_BETA)),
        version_data("0.2.0", compile_wat(newer), source=copy.deepcopy(BUILD_BETA)),
    ]}  # fmt: skip
    repo.write("beta", data)
    (repo.directory("beta") / "src" / "beta.wat").write_text(newer)
    commit(repo, "beta 0.2.0: new sources")
    for path in Path(str(store.root)).rglob("*.wasm"):
        path.unlink()


def test_an_older_version_is_built_from_the_commit_whose_sources_made_it(
    cli: Cli, repo: CatalogBuilder, store: BinaryStore, tmp_path: Path
) -> None:
    sources_moved_on(repo, store)
    result = cli("release", "prepare", "beta@0.1.0", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "beta-0.1.0.wasm").read_bytes() == BETA
    first = git(repo.root, "rev-list", "--max-count=1", "HEAD~1").strip()
    assert f"from built from commit {first[:12]}" in result.stderr
    assert f"--target {first} --title 'beta 0.1.0'" in result.stderr  # tagged where its sources are


def test_a_missing_toolchain_is_named_not_blamed_on_the_history(
    repo: CatalogBuilder, store: BinaryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources_moved_on(repo, store)
    attempts = []

    def no_toolchain(*args: object) -> bytes:
        attempts.append(args)
        raise ToolchainMissing("wat2wasm 1.0.36 is pinned: install it")  # as a recipe says it

    monkeypatch.setattr(release_module, "build", no_toolchain)
    with pytest.raises(FindingsError) as raised:
        prepare(repo.root, store, "beta@0.1.0", tmp_path / "out", BinaryOptions(offline=True))
    messages = [finding.message for finding in raised.value.findings]
    assert "0.1.0: cannot build from the history: wat2wasm 1.0.36 is pinned: install it" in messages
    assert len(attempts) == 1  # not one build per commit


def test_without_sources_the_published_asset_is_downloaded_and_checked(
    repo: CatalogBuilder, store: BinaryStore, tmp_path: Path
) -> None:
    with https_mirror(tmp_path) as (server, policy):
        template = server.url("/releases/{name}-v{version}/{name}-{version}.wasm")
        (repo.root / "catalog" / "catalog.yaml").write_text(f"release_url: {template}\n")
        write(repo, "alpha", version_data("1.0.0", V2, source={"build": {"recipe": "wat", "path": "src/gone.wat"}}))
        options = BinaryOptions(fetch_policy=policy)
        server.routes["/releases/alpha-v1.0.0/alpha-1.0.0.wasm"] = respond(V1)  # not the recorded bytes
        with pytest.raises(FindingsError, match="cannot obtain the binary of alpha 1.0.0"):
            prepare(repo.root, store, "alpha@1.0.0", tmp_path / "bad", options)
        assert not (tmp_path / "bad").exists()
        server.routes["/releases/alpha-v1.0.0/alpha-1.0.0.wasm"] = respond(V2)
        prepared = prepare(repo.root, store, "alpha@1.0.0", tmp_path / "good", options)
        assert (tmp_path / "good" / "alpha-1.0.0.wasm").read_bytes() == V2
        assert prepared.origin.startswith("the published asset https://127.0.0.1:")
