"""`catalog filter import`: new filters, new versions, URLs, and refusals that change nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from generator.binaries.store import BinaryStore
from generator.metadata.loader import load_filter
from tests.conftest import CASES, CatalogBuilder, StaticServer, snapshot
from tests.wasm_modules import NETWORK_EXPORTS, env_import, proxy_module, proxy_wat

Cli = Callable[..., Result]


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_import_file_creates_filter_from_binary_facts(
    cli: Cli, catalog: CatalogBuilder, store: BinaryStore, tmp_path: Path
) -> None:
    calls = '(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)' + (
        " (drop (call 0" + " (i32.const 0)" * 10 + ")) (i32.const 0))"
    )  # the callout is called, so it is a capability (one only imported would not be)
    binary = proxy_module(
        imports=[env_import("proxy_http_call", "i32 i32 i32 i32 i32 i32 i32 i32 i32 i32")], exports=[calls]
    )
    source = write(tmp_path, "my_filter.wasm", binary)
    result = cli("filter", "import", source, "--name", "my-filter", "--owner", "@alice", "--license", "MIT")
    assert result.exit_code == 0, result.output
    directory = catalog.directory("my-filter")
    assert sorted(p.name for p in directory.iterdir()) == ["README.md", "filter.yaml"]
    data = yaml.safe_load((directory / "filter.yaml").read_text())
    version = data["versions"][0]
    assert data["name"] == "my-filter"
    assert data["owners"] == ["@alice"]
    assert data["license"] == "MIT"
    assert version["version"] == "0.1.0"
    assert version["sha256"] == hashlib.sha256(binary).hexdigest()
    assert version["size"] == len(binary)
    assert version["abi"] == "0.2.1"
    assert version["kind"] == "http"
    assert version["capabilities"] == ["http_calls"]
    assert "source" not in version
    # the binary went to the store, not into the catalog
    assert store.get(version["sha256"]) == binary
    assert "created my-filter 0.1.0" in result.stderr
    assert "next: add source.url" in result.stderr
    # what was written is valid apart from the missing source
    entry = load_filter(catalog.root, "my-filter")
    assert entry.findings == []
    readme = (directory / "README.md").read_text()
    assert readme.startswith("# My filter\n")
    assert "host capabilities: http_calls" in readme


def test_name_is_derived_from_the_file_name(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    source = write(tmp_path, "Rate_Limiter.v2.wasm", proxy_module())
    result = cli("filter", "import", source, "--owner", "@alice")
    assert result.exit_code == 0, result.output
    assert catalog.directory("rate-limiter-v2").is_dir()


def test_source_url_and_config_are_recorded(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    source = write(tmp_path, "f.wasm", proxy_module(exports=NETWORK_EXPORTS))
    config = tmp_path / "config.json"
    config.write_text('{"limit": 10}')
    result = cli(
        "filter", "import", source, "--name", "net", "--owner", "@acme/edge",
        "--source-url", "https://example.org/net-0.1.0.wasm", "--config", str(config),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(catalog.metadata_path("net").read_text())
    assert data["versions"][0]["source"] == {"url": "https://example.org/net-0.1.0.wasm"}
    assert data["versions"][0]["kind"] == "network"
    assert data["config"]["examples"][0]["value"] == {"limit": 10}
    assert data["config"]["schema"]["type"] == "object"


def test_wat_import_keeps_the_source_as_a_build_recipe(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    wat = tmp_path / "hello.wat"
    wat.write_text(proxy_wat())
    result = cli("filter", "import", str(wat), "--owner", "@alice")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(catalog.metadata_path("hello").read_text())
    assert data["versions"][0]["source"] == {"build": {"recipe": "wat", "path": "src/hello.wat"}}
    assert data["language"] == "wat"
    assert (catalog.directory("hello") / "src" / "hello.wat").read_text() == proxy_wat()
    # What CI checks next: the README is still the stub, and there are no behaviour cases.
    validate = cli("validate", "hello")
    assert validate.exit_code == 1
    assert validate.stdout.count("[CAT126]") == 3  # what it does, configuration, failure mode
    assert "catalog/filters/hello/cases.yaml: warning: expected behaviour cases" in validate.stdout
    (catalog.directory("hello") / "README.md").write_text("# Hello\n\nSays hello to every request.\n")
    (catalog.directory("hello") / "cases.yaml").write_text(CASES)
    validate = cli("validate", "hello")
    assert validate.exit_code == 0, validate.output


def test_url_import_over_local_http_with_sha256(cli: Cli, catalog: CatalogBuilder, http_server: StaticServer) -> None:
    binary = proxy_module()
    http_server.files["/releases/authz.wasm"] = binary
    url = http_server.url("/releases/authz.wasm")
    sha = hashlib.sha256(binary).hexdigest()
    release = "https://example.org/releases/authz-0.1.0.wasm"
    result = cli("filter", "import", url, "--allow-http", "--sha256", sha, "--owner", "@alice", "--source-url", release)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(catalog.metadata_path("authz").read_text())
    # a plain-http mirror is not a release location: the https release URL is recorded instead
    assert data["versions"][0]["source"] == {"url": release}
    assert data["versions"][0]["sha256"] == sha
    assert http_server.requests == ["/releases/authz.wasm"]


def test_http_mirror_without_release_url_records_no_source(
    cli: Cli, catalog: CatalogBuilder, http_server: StaticServer
) -> None:
    http_server.files["/authz.wasm"] = proxy_module()
    result = cli("filter", "import", http_server.url("/authz.wasm"), "--allow-http", "--owner", "@alice")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(catalog.metadata_path("authz").read_text())
    assert "source" not in data["versions"][0]
    assert "next: add source.url" in result.stderr


def test_plain_http_needs_the_flag(cli: Cli, catalog: CatalogBuilder, http_server: StaticServer) -> None:
    http_server.files["/a.wasm"] = proxy_module()
    result = cli("filter", "import", http_server.url("/a.wasm"), "--owner", "@alice")
    assert result.exit_code == 1
    assert "expected an https URL" in result.stderr
    assert "--allow-http" in result.stderr
    assert http_server.requests == []
    assert not catalog.directory("a").exists()


def test_wrong_sha256_refuses_and_writes_nothing(
    cli: Cli, catalog: CatalogBuilder, http_server: StaticServer, store: BinaryStore
) -> None:
    catalog.add("existing")
    before = snapshot(catalog.root)
    served = proxy_module(exports=NETWORK_EXPORTS)
    http_server.files["/a.wasm"] = served
    result = cli(
        "filter", "import", http_server.url("/a.wasm"), "--allow-http", "--sha256", "0" * 64, "--owner", "@alice"
    )
    assert result.exit_code == 1
    assert "expected sha256 0000" in result.stderr
    assert snapshot(catalog.root) == before
    assert not store.has(hashlib.sha256(served).hexdigest())


def test_download_size_cap(cli: Cli, catalog: CatalogBuilder, http_server: StaticServer) -> None:
    http_server.files["/big.wasm"] = proxy_module() + b"\0" * 4096
    result = cli(
        "filter", "import", http_server.url("/big.wasm"), "--allow-http", "--max-size", "1000", "--owner", "@a"
    )
    assert result.exit_code == 1
    assert "expected at most 1000 bytes" in result.stderr
    assert not catalog.directory("big").exists()


@pytest.mark.parametrize(
    ("payload", "rule"),
    [
        (b"", "CAT203"),
        (b"\x89PNG\r\n\x1a\n", "CAT204"),
        (b"(module)", "CAT205"),
        (b"\0asm\x0d\x00\x01\x00", "CAT206"),
        (proxy_module()[:40], "CAT207"),
        (proxy_module(abi=None), "CAT208"),
        (proxy_module(allocator=None), "CAT210"),
        (proxy_module(imports=['(import "env" "abort" (func (param i32 i32 i32 i32)))']), "CAT211"),
        (proxy_module(imports=[env_import("proxy_log", "i32 i32")]), "CAT212"),
    ],
)
def test_bad_binaries_are_refused_and_nothing_is_written(
    cli: Cli, catalog: CatalogBuilder, tmp_path: Path, payload: bytes, rule: str
) -> None:
    catalog.add("existing")
    before = snapshot(catalog.root)
    source = write(tmp_path, "bad.wasm", payload)
    result = cli("filter", "import", source, "--owner", "@alice")
    assert result.exit_code == 1
    assert f"[{rule}]" in result.stderr
    assert "the binary cannot be imported" in result.stderr
    assert snapshot(catalog.root) == before


def test_new_version_appends_and_keeps_comments(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    catalog.add("a", binary=proxy_module())
    path = catalog.metadata_path("a")
    path.write_text("# maintained by the edge team\n" + path.read_text().replace("\ntitle:", "\n# the title\ntitle:"))
    newer = proxy_module(exports=NETWORK_EXPORTS)
    source = write(tmp_path, "a.wasm", newer)
    result = cli(
        "filter",
        "import",
        source,
        "--name",
        "a",
        "--version",
        "1.1.0",
        "--source-url",
        "https://example.org/a-1.1.0.wasm",
    )
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert text.startswith("# maintained by the edge team\n")
    assert "# the title\ntitle:" in text
    data = yaml.safe_load(text)
    assert [v["version"] for v in data["versions"]] == ["1.0.0", "1.1.0"]
    assert data["versions"][1]["kind"] == "network"
    assert data["versions"][1]["source"] == {"url": "https://example.org/a-1.1.0.wasm"}
    assert "added version a 1.1.0" in result.stderr
    assert load_filter(catalog.root, "a").findings == []


def test_new_version_with_config_is_checked_against_schema(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    catalog.add("a")
    before = snapshot(catalog.root)
    source = write(tmp_path, "a.wasm", proxy_module(exports=NETWORK_EXPORTS))
    bad = cli("filter", "import", source, "--name", "a", "--version", "2.0.0", "--config", '{"header": 5}')
    assert bad.exit_code == 2
    assert "--config: the configuration fails the filter's schema: 5 is not of type 'string'" in bad.stderr
    assert snapshot(catalog.root) == before
    good = cli("filter", "import", source, "--name", "a", "--version", "2.0.0", "--config", '{"header": "x-b"}')
    assert good.exit_code == 0, good.output
    examples = yaml.safe_load(catalog.metadata_path("a").read_text())["config"]["examples"]
    assert examples[-1] == {"title": "Example configuration 2", "value": {"header": "x-b"}}


def test_versions_only_move_forward(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    catalog.add("a")
    before = snapshot(catalog.root)
    source = write(tmp_path, "a.wasm", proxy_module(exports=NETWORK_EXPORTS))
    for version in ("1.0.0", "0.9.0"):
        result = cli("filter", "import", source, "--name", "a", "--version", version)
        assert result.exit_code == 1
        assert f"version {version} is not above the latest version 1.0.0" in result.stderr
    missing = cli("filter", "import", source, "--name", "a")
    assert missing.exit_code == 2
    assert "--version: filter 'a' exists (latest 1.0.0)" in missing.stderr
    same_bytes = cli("filter", "import", write(tmp_path, "b.wasm", proxy_module()), "--name", "a", "--version", "3.0.0")
    assert same_bytes.exit_code == 1
    assert "these bytes are already version 1.0.0" in same_bytes.stderr
    assert snapshot(catalog.root) == before


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--name", "BadName", "--owner", "@a"], "--name: expected lower case, got 'BadName' (use 'badname')", 2),
        (["--name", "bad_name", "--owner", "@a"], "--name: expected a DNS label", 2),
        (["--name", "", "--owner", "@a"], "--name: expected a DNS label", 2),
        (["--name", "r\u0430te", "--owner", "@a"], "CYRILLIC SMALL LETTER A", 2),
        (["--owner", "@a", "--config", "{not json"], "--config:1:2: expected JSON, got: Expecting property name", 2),
        (["--owner", "@a", "--config", ""], "--config: expected JSON text or a JSON file, got an empty string", 2),
        (["--owner", "@a", "--config", "NaN"], "--config: expected JSON numbers, got NaN (not part of JSON)", 2),
        (["--owner", "@a", "--version", "1.0"], "--version: '1.0' is not a semantic version", 2),
        (["--owner", "bob"], "--owner: expected '@user' or '@org/team', got 'bob'", 2),
        (["--owner", "@a", "--title", "two\nlines"], "--title: expected one line of text", 2),
        (["--owner", "@a", "--sha256", "xyz"], "--sha256: expected 64 hex characters, got 'xyz'", 2),
        (["--owner", "@a", "--sha256", "0" * 64], "expected sha256 0000", 1),
    ],
)
def test_usage_errors(
    cli: Cli, catalog: CatalogBuilder, tmp_path: Path, args: list[str], message: str, code: int
) -> None:
    source = write(tmp_path, "f.wasm", proxy_module())
    result = cli("filter", "import", source, *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert list((catalog.root / "catalog" / "filters").iterdir()) == []


def test_owner_defaults_from_git_config_or_is_required(
    cli: Cli, catalog: CatalogBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    source = write(tmp_path, "f.wasm", proxy_module())
    result = cli("filter", "import", source)
    assert result.exit_code == 2
    assert "--owner: a new filter needs an owner" in result.stderr
    (home / ".gitconfig").write_text("[github]\n\tuser = octocat\n")
    result = cli("filter", "import", source)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(catalog.metadata_path("f").read_text())["owners"] == ["@octocat"]


def test_symlinked_source_file_on_the_command_line_is_followed(
    cli: Cli, catalog: CatalogBuilder, tmp_path: Path
) -> None:
    real = write(tmp_path, "real.wasm", proxy_module())
    link = tmp_path / "link.wasm"
    link.symlink_to(real)  # build outputs (Bazel, Nix) are symlinks
    result = cli("filter", "import", str(link), "--owner", "@a")
    assert result.exit_code == 0, result.output
    assert catalog.directory("link").is_dir()


def test_sha256_is_compared_without_regard_to_case(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    binary = proxy_module()
    source = write(tmp_path, "f.wasm", binary)
    result = cli("filter", "import", source, "--owner", "@a", "--sha256", hashlib.sha256(binary).hexdigest().upper())
    assert result.exit_code == 0, result.output


def test_options_for_a_new_filter_are_refused_for_a_new_version(
    cli: Cli, catalog: CatalogBuilder, tmp_path: Path
) -> None:
    catalog.add("a")
    before = snapshot(catalog.root)
    source = write(tmp_path, "a.wasm", proxy_module(exports=NETWORK_EXPORTS))
    result = cli("filter", "import", source, "--name", "a", "--version", "2.0.0", "--owner", "@x", "--license", "MIT")
    assert result.exit_code == 2
    assert "--owner, --license: only for a new filter; 'a' exists, edit its filter.yaml instead" in result.stderr
    assert snapshot(catalog.root) == before


def test_symlinked_filter_directory_is_refused(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (catalog.root / "catalog" / "filters" / "lnk").symlink_to(outside)
    source = write(tmp_path, "a.wasm", proxy_module())
    result = cli("filter", "import", source, "--name", "lnk", "--version", "2.0.0")
    assert result.exit_code == 1
    assert "catalog/filters/lnk: expected a filter directory, got a symlink or a file" in result.stderr
    assert list(outside.iterdir()) == []


def test_malformed_url_is_an_error_not_a_traceback(cli: Cli, catalog: CatalogBuilder) -> None:
    result = cli("filter", "import", "https://[::1", "--owner", "@a")
    assert result.exit_code == 1
    assert "expected a URL" in result.stderr


def test_import_json_config_text(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    source = write(tmp_path, "f.wasm", proxy_module())
    result = cli("filter", "import", source, "--owner", "@a", "--config", json.dumps(["a", 1]))
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(catalog.metadata_path("f").read_text())
    assert data["config"]["schema"]["type"] == "array"
    assert data["config"]["examples"][0]["value"] == ["a", 1]
