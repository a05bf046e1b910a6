"""`catalog filter list / view / delete / clone / publish / unpublish / unlist`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from generator.cli import main
from generator.metadata.loader import load_filter
from tests.conftest import CatalogBuilder, snapshot
from tests.wasm_modules import env_import, proxy_module

Cli = Callable[..., Result]


@pytest.fixture
def three(catalog: CatalogBuilder) -> CatalogBuilder:
    catalog.add("rate-limit", title="Rate limit", summary="Token bucket per user.", keywords=["quota", "throttle"])
    catalog.add("rate-shaper", title="Rate shaper", summary="Smooths bursts.", language="rust")
    catalog.add("jwt-claims", title="JWT claims", summary="Copies claims into headers.", visibility="unlisted")
    return catalog


def test_list_table(cli: Cli, three: CatalogBuilder) -> None:
    result = cli("filter", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "LATEST", "LANGUAGE", "ABI", "VISIBILITY", "SUMMARY"]
    assert [line.split()[0] for line in lines[1:]] == ["jwt-claims", "rate-limit", "rate-shaper"]
    assert lines[2].split()[:5] == ["rate-limit", "1.0.0", "wat", "0.2.1", "public"]
    assert "3 filters" in result.stderr


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("rate", ["rate-limit", "rate-shaper"]),
        ("THROTTLE", ["rate-limit"]),  # keywords, any case
        ("bursts", ["rate-shaper"]),  # summary
        ("jwt claims", ["jwt-claims"]),  # every word must match
        ("rate claims", []),
    ],
)
def test_list_search(cli: Cli, three: CatalogBuilder, search: str, expected: list[str]) -> None:
    result = cli("filter", "list", search, "-o", "json")
    assert result.exit_code == 0
    assert [row["name"] for row in json.loads(result.stdout)] == expected


def test_list_json_and_yaml_rows(cli: Cli, three: CatalogBuilder) -> None:
    rows = json.loads(cli("filter", "list", "-o", "json").stdout)
    assert rows[1] == {
        "name": "rate-limit",
        "latest": "1.0.0",
        "language": "wat",
        "abi": "0.2.1",
        "visibility": "public",
        "summary": "Token bucket per user.",
    }
    assert yaml.safe_load(cli("filter", "list", "-o", "yaml").stdout) == rows


def test_list_pages(cli: Cli, three: CatalogBuilder) -> None:
    first = json.loads(cli("filter", "list", "--page-size", "2", "-o", "json").stdout)
    second = json.loads(cli("filter", "list", "--page-size", "2", "--page", "2", "-o", "json").stdout)
    assert [r["name"] for r in first + second] == ["jwt-claims", "rate-limit", "rate-shaper"]
    table = cli("filter", "list", "--page-size", "2")
    assert "page 1 of 2, 3 filters" in table.stderr
    too_far = cli("filter", "list", "--page-size", "2", "--page", "3")
    assert too_far.exit_code == 2
    assert "--page: expected at most 2, got 3" in too_far.stderr


def test_list_and_view_survive_a_broken_filter(cli: Cli, three: CatalogBuilder) -> None:
    three.write("broken", "name: broken\nname: again\n")
    result = cli("filter", "list", "-o", "json")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 3
    assert "warning: catalog/filters/broken/filter.yaml does not load" in result.stderr
    assert "catalog validate broken" in result.stderr
    assert cli("filter", "view", "rate-limit").exit_code == 0
    broken = cli("filter", "view", "broken")
    assert broken.exit_code == 1
    assert "filter 'broken' does not load" in broken.stderr
    assert "catalog/filters/broken/filter.yaml:2:1: error: name: expected each key once" in broken.stderr


def test_view_by_name_and_unique_prefix(cli: Cli, three: CatalogBuilder) -> None:
    full = yaml.safe_load(cli("filter", "view", "jwt-claims").stdout)
    assert full["name"] == "jwt-claims"
    assert full["latest"] == "1.0.0"
    assert full["path"] == "catalog/filters/jwt-claims"
    assert full["versions"][0]["local"] is True
    assert full["history"] == {"first_commit": None, "last_commit": None}  # not a git repository
    by_prefix = json.loads(cli("filter", "view", "jwt", "-o", "json").stdout)
    assert by_prefix == full


def test_view_ambiguous_prefix_lists_candidates(cli: Cli, three: CatalogBuilder) -> None:
    result = cli("filter", "view", "rate-")
    assert result.exit_code == 2
    assert "'rate-' is ambiguous; it matches: rate-limit, rate-shaper" in result.stderr
    unknown = cli("filter", "view", "nope")
    assert unknown.exit_code == 2
    assert "no filter named 'nope'" in unknown.stderr


def test_delete(cli: Cli, three: CatalogBuilder) -> None:
    no_tty = cli("filter", "delete", "jwt")
    assert no_tty.exit_code == 2
    assert "pass --yes" in no_tty.stderr
    assert three.directory("jwt-claims").exists()
    prefix = cli("filter", "delete", "jwt", "--yes")
    assert prefix.exit_code == 2
    assert "no filter named exactly 'jwt'; did you mean 'jwt-claims'?" in prefix.stderr
    result = cli("filter", "delete", "jwt-claims", "--yes")
    assert result.exit_code == 0
    assert "deleted jwt-claims" in result.stderr
    assert not three.directory("jwt-claims").exists()
    assert sorted(p.name for p in (three.root / "catalog" / "filters").iterdir()) == ["rate-limit", "rate-shaper"]


def test_clone_records_origin_and_owners(cli: Cli, three: CatalogBuilder) -> None:
    path = three.metadata_path("rate-limit")
    path.write_text("# keep me\n" + path.read_text().replace("- '@alice'", "- '@alice'  # on call"))
    result = cli("filter", "clone", "rate-limit", "my-limit", "--owner", "@bob")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "warning: catalog/filters/my-limit/filter.yaml: owners: the comment '# on call' was in the value replaced; "
        "it is gone\ncloned rate-limit to my-limit\n"
    )
    text = three.metadata_path("my-limit").read_text()
    assert text.startswith("# keep me\n")
    assert "# on call" not in text
    data = yaml.safe_load(text)
    assert data["name"] == "my-limit"
    assert data["owners"] == ["@bob"]
    assert data["cloned_from"] == {"name": "rate-limit", "version": "1.0.0"}
    assert list(data).index("cloned_from") < list(data).index("config")
    assert (three.directory("my-limit") / "README.md").read_bytes() == (
        three.directory("rate-limit") / "README.md"
    ).read_bytes()
    assert load_filter(three.root, "my-limit").findings == []
    # the original is untouched
    assert yaml.safe_load(path.read_text())["name"] == "rate-limit"


def test_failed_clone_leaves_catalog_unchanged(cli: Cli, three: CatalogBuilder) -> None:
    before = snapshot(three.root)
    for args, message, code in [
        (("rate-limit", "rate-shaper"), "filter 'rate-shaper' already exists", 1),
        (("rate-limit", "Bad"), "NEW-NAME: expected lower case", 2),
        (("rate-limit", "ok-name", "--owner", "bob"), "--owner: expected '@user' or '@org/team', got 'bob'", 2),
        (("nope", "ok-name"), "no filter named 'nope'", 2),
    ]:
        result = cli("filter", "clone", *args)
        assert result.exit_code == code, result.output
        assert message in result.stderr
    (three.directory("rate-limit") / "evil").symlink_to("/etc/passwd")
    result = cli("filter", "clone", "rate-limit", "copy")
    assert result.exit_code == 1
    assert "expected a regular file, got a symlink or special file" in result.stderr
    after = snapshot(three.root)
    assert {k: v for k, v in after.items() if not k.endswith("evil")} == before
    assert not three.directory("copy").exists()
    assert [p.name for p in (three.root / "catalog" / "filters").iterdir() if p.name.startswith(".")] == []


def test_visibility_commands_edit_only_that_line(cli: Cli, three: CatalogBuilder) -> None:
    path = three.metadata_path("rate-limit")
    original = path.read_text()
    result = cli("filter", "unpublish", "rate-limit")
    assert result.exit_code == 0
    assert "rate-limit: was public, now private" in result.stderr
    changed = path.read_text()
    assert changed == original.replace("visibility: public", "visibility: private")
    assert "already unlisted" in cli("filter", "unlist", "jwt").stderr
    cli("filter", "unlist", "rate-limit")
    assert yaml.safe_load(path.read_text())["visibility"] == "unlisted"
    cli("filter", "publish", "rate-limit")
    assert path.read_text() == original


def test_publish_inserts_visibility_when_absent(cli: Cli, catalog: CatalogBuilder) -> None:
    directory = catalog.add("a")
    path = directory / "filter.yaml"
    data = yaml.safe_load(path.read_text())
    del data["visibility"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert cli("filter", "unpublish", "a").exit_code == 0
    text = path.read_text()
    assert list(yaml.safe_load(text)).index("visibility") == list(yaml.safe_load(text)).index("owners") + 1


def test_an_edit_that_would_drop_a_comment_is_refused_and_writes_nothing(cli: Cli, catalog: CatalogBuilder) -> None:
    directory = catalog.add("a")
    path = directory / "filter.yaml"
    data = yaml.safe_load(path.read_text())
    del data["visibility"]
    # A flow mapping with a comment inside: neither a text patch nor a round trip can keep the comment.
    flow = yaml.safe_dump(data, default_flow_style=True, width=10_000).replace(", owners:", ",  # the owners\n owners:")
    path.write_text(flow)
    result = cli("filter", "unpublish", "a")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: catalog/filters/a/filter.yaml: cannot set visibility to private and keep the file's comments; "
        "make the change by hand\n"
    )
    assert path.read_text() == flow


def test_help_is_available(cli: Cli) -> None:
    result = cli("filter", "import", "--help")
    assert result.exit_code == 0
    assert "--sha256" in result.stdout
    assert "--allow-http" in result.stdout


def test_commands_outside_a_catalog_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["--root", str(tmp_path), "filter", "list"])
    assert result.exit_code == 2
    assert f"no catalog/ directory in {tmp_path}" in result.stderr


def test_inspect_command(tmp_path: Path) -> None:
    path = tmp_path / "f.wasm"
    path.write_bytes(proxy_module(imports=[env_import("proxy_set_tick_period_milliseconds")]))
    runner = CliRunner()
    text = runner.invoke(main, ["inspect", str(path)])
    assert text.exit_code == 0
    assert "abi           0.2.1" in text.stdout
    assert "capabilities  -" in text.stdout  # imported, but no callback calls it
    assert "imported, never called: timers" in text.stdout
    assert "import     env.proxy_set_tick_period_milliseconds  func    (i32) -> i32" in text.stdout
    data = json.loads(runner.invoke(main, ["inspect", str(path), "-o", "json"]).stdout)
    assert data["facts"]["kind"] == "http"
    assert (data["facts"]["capabilities"], data["facts"]["imported_capabilities"]) == ([], ["timers"])
    headers = {"name": "proxy_on_request_headers", "kind": "func", "type": "(i32, i32, i32) -> i32"}
    assert headers in data["facts"]["exports"]
    path.write_bytes(b"(module)")
    bad = runner.invoke(main, ["inspect", str(path)])
    assert bad.exit_code == 1
    assert "expected a binary module, got WebAssembly text (WAT); compile it first [CAT205]" in bad.stderr


def test_contributor_text_prints_as_typed(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("odd", summary="Says :smile: and [red]not red[/] literally.")
    result = cli("filter", "list")
    assert "Says :smile: and [red]not red[/] literally." in result.stdout
