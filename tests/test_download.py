"""`catalog filter download`: a published binary, from a site's index.json or the local catalog, kept
only when its sha256 is the recorded one. Every server is on 127.0.0.1."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner, Result

from generator.binaries.fetch import FetchPolicy
from generator.cli import main
from generator.commands.download import DownloadRequest, download_filter
from generator.metadata.errors import CatalogError
from generator.metadata.loader import load_catalog
from generator.site.views import SiteOptions, catalog_index, filter_views
from tests.conftest import CatalogBuilder, StaticServer, filter_data, version_data
from tests.test_fetch import LocalServer, respond, server_context
from tests.wasm_modules import proxy_module

V1 = proxy_module()
V2 = proxy_module(extra=['(func (export "v2"))'])
V3 = proxy_module(extra=['(func (export "v3"))'])
OTHER = proxy_module(extra=['(func (export "x2"))'])  # as long as V2, other bytes
BIGGER = proxy_module(extra=['(func (export "bigger"))'])
TEMPLATE = "/{name}-v{version}/{name}-{version}.wasm"


@contextmanager
def https_mirror(tmp_path: Path) -> Iterator[tuple[LocalServer, FetchPolicy]]:
    """An https server on 127.0.0.1 with a test CA, and the fetch policy that trusts it."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = LocalServer({}, server_context(ca.issue_cert("127.0.0.1")))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server, FetchPolicy(ca_file=str(ca_file), allow_private_hosts=True)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def add_alpha(catalog: CatalogBuilder) -> None:
    """alpha: 1.0.0, 1.1.0 (the latest), 1.2.0 (yanked); released under the catalog's release URL."""
    versions = [
        version_data("1.0.0", V1, source=None),
        version_data("1.1.0", V2, source=None),
        version_data("1.2.0", V3, source=None, yanked=True, yank_reason="leaks memory"),
    ]
    catalog.write("alpha", filter_data("alpha", V1, versions=versions))


def publish(server: StaticServer, catalog: CatalogBuilder, binaries: dict[str, bytes] | None = None) -> str:
    """Serve the site's index.json for `catalog` and its release assets; the index's URL."""
    options = SiteOptions(release_url=server.url(TEMPLATE))
    index = catalog_index(filter_views(load_catalog(catalog.root), {}, options))
    server.files["/index.json"] = index.to_json().encode()
    for version, data in (binaries or {"1.0.0": V1, "1.1.0": V2, "1.2.0": V3}).items():
        server.files[TEMPLATE.format(name="alpha", version=version)] = data
    return server.url("/index.json")


@pytest.fixture
def index_url(http_server: StaticServer, catalog: CatalogBuilder) -> str:
    add_alpha(catalog)
    return publish(http_server, catalog)


@pytest.fixture
def nowhere(tmp_path: Path) -> Callable[..., Result]:
    """The CLI with --root at a directory without a catalog: --index needs none."""
    empty = tmp_path / "no-catalog"
    empty.mkdir()

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, ["--root", str(empty), *args], catch_exceptions=False)

    return run


def test_downloads_the_latest_version_from_an_index(
    nowhere: Callable[..., Result], index_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "alpha.wasm"
    result = nowhere("filter", "download", "alpha", "--index", index_url, "--allow-http", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == V2
    assert f"downloaded alpha 1.1.0 to {out}: {len(V2)} bytes" in result.stderr
    assert "yanked" not in result.stderr


def test_default_output_is_name_and_version_in_the_current_directory(
    nowhere: Callable[..., Result], index_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert nowhere("filter", "download", "alpha@1.0.0", "--index", index_url, "--allow-http").exit_code == 0
    assert os.listdir(work) == ["alpha-1.0.0.wasm"]
    assert (work / "alpha-1.0.0.wasm").read_bytes() == V1
    # -o naming a directory puts the default name in it.
    target = tmp_path / "into"
    target.mkdir()
    assert (
        nowhere("filter", "download", "alpha", "--index", index_url, "--allow-http", "-o", str(target)).exit_code == 0
    )
    assert (target / "alpha-1.1.0.wasm").read_bytes() == V2


def test_index_can_be_a_local_file(
    nowhere: Callable[..., Result], http_server: StaticServer, index_url: str, tmp_path: Path
) -> None:
    index = tmp_path / "index.json"
    index.write_bytes(http_server.files["/index.json"])
    out = tmp_path / "alpha.wasm"
    result = nowhere("filter", "download", "alpha", "--index", str(index), "--allow-http", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == V2
    assert "/index.json" not in http_server.requests


def test_a_yanked_version_given_explicitly_downloads_with_a_warning(
    nowhere: Callable[..., Result], index_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "old.wasm"
    result = nowhere("filter", "download", "alpha@1.2.0", "--index", index_url, "--allow-http", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == V3
    assert "warning: alpha 1.2.0 is yanked: leaks memory" in result.stderr


def test_wrong_bytes_are_refused_and_nothing_is_written(
    nowhere: Callable[..., Result], http_server: StaticServer, catalog: CatalogBuilder, tmp_path: Path
) -> None:
    add_alpha(catalog)
    url = publish(http_server, catalog, {"1.1.0": OTHER})
    target = tmp_path / "out"
    target.mkdir()
    result = nowhere("filter", "download", "alpha", "--index", url, "--allow-http", "-o", str(target / "a.wasm"))
    assert result.exit_code == 1
    assert "expected sha256" in result.stderr
    assert "the bytes were refused" in result.stderr
    assert os.listdir(target) == []
    # More bytes than the recorded size: stopped before the end.
    http_server.files["/alpha-v1.1.0/alpha-1.1.0.wasm"] = BIGGER
    result = nowhere("filter", "download", "alpha", "--index", url, "--allow-http", "-o", str(target / "a.wasm"))
    assert result.exit_code == 1
    assert f"expected at most {len(V2)} bytes" in result.stderr
    assert os.listdir(target) == []


def test_plain_http_is_refused_without_allow_http(
    nowhere: Callable[..., Result], http_server: StaticServer, index_url: str, tmp_path: Path
) -> None:
    result = nowhere("filter", "download", "alpha", "--index", index_url, "-o", str(tmp_path / "a.wasm"))
    assert result.exit_code == 1
    assert "expected an https URL" in result.stderr
    assert "--allow-http" in result.stderr
    assert http_server.requests == []
    assert not (tmp_path / "a.wasm").exists()


def test_an_existing_file_is_kept_unless_forced(
    nowhere: Callable[..., Result], http_server: StaticServer, index_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "alpha.wasm"
    out.write_bytes(b"mine")
    kept = nowhere("filter", "download", "alpha", "--index", index_url, "--allow-http", "-o", str(out))
    assert kept.exit_code == 1
    assert "exists; pass --force to replace it" in kept.stderr
    assert out.read_bytes() == b"mine"
    assert "/alpha-v1.1.0/alpha-1.1.0.wasm" not in http_server.requests
    forced = nowhere("filter", "download", "alpha", "--index", index_url, "--allow-http", "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert out.read_bytes() == V2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("beta", "no filter named 'beta' in"),
        ("alpha@9.9.9", "filter 'alpha' has no version 9.9.9"),
        ("alpha@v1", "'v1' is not a semantic version"),
    ],
)
def test_unknown_names_and_versions_are_usage_errors(
    nowhere: Callable[..., Result], index_url: str, tmp_path: Path, spec: str, message: str
) -> None:
    result = nowhere("filter", "download", spec, "--index", index_url, "--allow-http", "-o", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_index_that_is_not_one_is_refused(
    nowhere: Callable[..., Result], http_server: StaticServer, tmp_path: Path
) -> None:
    http_server.files["/index.json"] = b"<html>not json</html>"
    url = http_server.url("/index.json")
    result = nowhere("filter", "download", "alpha", "--index", url, "--allow-http", "-o", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert "--index: expected JSON" in result.stderr
    http_server.files["/index.json"] = b'{"format": 1, "filters": [{"name": "alpha", "versions": 3}]}'
    result = nowhere("filter", "download", "alpha", "--index", url, "--allow-http", "-o", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert "'alpha' lists no versions" in result.stderr


def test_local_catalog_refuses_a_private_host_without_allow_http(
    cli: Callable[..., Result], catalog: CatalogBuilder, tmp_path: Path
) -> None:
    add_alpha(catalog)
    (catalog.root / "catalog" / "catalog.yaml").write_text("release_url: https://127.0.0.1:1" + TEMPLATE + "\n")
    result = cli("filter", "download", "alpha", "-o", str(tmp_path / "a.wasm"))
    assert result.exit_code == 1
    assert "expected a public host, got '127.0.0.1'" in result.stderr
    assert not (tmp_path / "a.wasm").exists()


def test_local_catalog_downloads_the_release_or_the_versions_own_url(catalog: CatalogBuilder, tmp_path: Path) -> None:
    with https_mirror(tmp_path) as (server, policy):
        host = server.url("")
        versions = [
            version_data("1.0.0", V1, source={"url": f"{host}/own/alpha.wasm"}),
            version_data("1.1.0", V2, source=None),
        ]
        catalog.write("alpha", filter_data("alpha", V1, versions=versions))
        (catalog.root / "catalog" / "catalog.yaml").write_text(f"release_url: {host}{TEMPLATE}\n")
        server.routes["/own/alpha.wasm"] = respond(V1)
        server.routes["/alpha-v1.1.0/alpha-1.1.0.wasm"] = respond(V2)
        latest = download_filter(catalog.root, DownloadRequest("alpha", tmp_path / "new.wasm", policy=policy))
        assert (latest.wanted.version, latest.path.read_bytes()) == ("1.1.0", V2)
        own = download_filter(catalog.root, DownloadRequest("alpha@1.0.0", tmp_path / "old.wasm", policy=policy))
        assert own.path.read_bytes() == V1
        assert server.paths == ["/alpha-v1.1.0/alpha-1.1.0.wasm", "/own/alpha.wasm"]
        server.routes["/alpha-v1.1.0/alpha-1.1.0.wasm"] = respond(OTHER)
        with pytest.raises(CatalogError, match="expected sha256"):
            download_filter(catalog.root, DownloadRequest("alpha", tmp_path / "bad.wasm", policy=policy))
        assert not (tmp_path / "bad.wasm").exists()


# --- mirrors ---------------------------------------------------------------------------------------


def serve_directory(server: StaticServer, directory: Path) -> str:
    """Every file under `directory` served by `server` at its relative path; the mirror's address."""
    for path in directory.rglob("*"):
        if path.is_file():
            server.files["/mirror/" + path.relative_to(directory).as_posix()] = path.read_bytes()
    return server.url("/mirror/")


@pytest.fixture
def mirror(cli: Callable[..., Result], catalog: CatalogBuilder, http_server: StaticServer, tmp_path: Path) -> str:
    """`catalog release mirror` of alpha (1.0.0, 1.1.0, yanked 1.2.0), served on 127.0.0.1; its address."""
    add_alpha(catalog)
    for data in (V1, V2, V3):
        catalog.store.put(data)
    (catalog.root / "catalog" / "catalog.yaml").write_text(f"release_url: https://releases.example.org{TEMPLATE}\n")
    result = cli("release", "mirror", str(tmp_path / "mirror"))
    assert result.exit_code == 0, result.stderr
    assert "3 versions written, 0 already there, and index.json" in result.stderr
    return serve_directory(http_server, tmp_path / "mirror")


def test_a_mirror_holds_every_version_with_its_checksum_and_an_index(
    mirror: str, http_server: StaticServer, cli: Callable[..., Result], tmp_path: Path
) -> None:
    files = http_server.files
    assert files["/mirror/alpha-v1.1.0/alpha-1.1.0.wasm"] == V2
    sha = version_data("1.1.0", V2)["sha256"]
    assert files["/mirror/alpha-v1.1.0/alpha-1.1.0.wasm.sha256"] == f"{sha}  alpha-1.1.0.wasm\n".encode()
    index = json.loads(files["/mirror/index.json"])
    urls = [v["download_url"] for v in index["filters"][0]["versions"]]
    assert urls == ["alpha-v1.2.0/alpha-1.2.0.wasm", "alpha-v1.1.0/alpha-1.1.0.wasm", "alpha-v1.0.0/alpha-1.0.0.wasm"]
    again = cli("release", "mirror", str(tmp_path / "mirror"))  # up to date: nothing is written again
    assert "0 versions written, 3 already there" in again.stderr


def test_downloads_from_a_mirror_by_option_environment_or_index(
    mirror: str,
    cli: Callable[..., Result],
    nowhere: Callable[..., Result],
    http_server: StaticServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "a.wasm"
    result = cli("filter", "download", "alpha", "--mirror", mirror, "--allow-http", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == V2
    assert http_server.requests[-1] == "/mirror/alpha-v1.1.0/alpha-1.1.0.wasm"
    monkeypatch.setenv("CATALOG_MIRROR", mirror)
    result = cli("filter", "download", "alpha@1.0.0", "--allow-http", "-o", str(tmp_path / "b.wasm"))
    assert result.exit_code == 0, result.stderr
    assert http_server.requests[-1] == "/mirror/alpha-v1.0.0/alpha-1.0.0.wasm"
    monkeypatch.delenv("CATALOG_MIRROR")
    index = mirror + "index.json"  # relative download URLs, resolved against the index
    result = nowhere("filter", "download", "alpha", "--index", index, "--allow-http", "-o", str(tmp_path / "c.wasm"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "c.wasm").read_bytes() == V2
    assert http_server.requests[-2:] == ["/mirror/index.json", "/mirror/alpha-v1.1.0/alpha-1.1.0.wasm"]


def test_a_mirror_that_serves_other_bytes_is_refused(
    mirror: str, cli: Callable[..., Result], http_server: StaticServer, tmp_path: Path
) -> None:
    http_server.files["/mirror/alpha-v1.1.0/alpha-1.1.0.wasm"] = OTHER
    out = tmp_path / "a.wasm"
    result = cli("filter", "download", "alpha", "--mirror", mirror, "--allow-http", "-o", str(out))
    assert result.exit_code == 1
    assert "expected sha256" in result.stderr
    assert not out.exists()


def test_a_mirror_on_disk_is_read_through_its_index(
    mirror: str, nowhere: Callable[..., Result], tmp_path: Path
) -> None:
    """`--index DIR/index.json`: the relative download paths are files beside the index."""
    index = str(tmp_path / "mirror" / "index.json")
    out = tmp_path / "a.wasm"
    result = nowhere("filter", "download", "alpha@1.0.0", "--index", index, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == V1
    (tmp_path / "mirror" / "alpha-v1.1.0" / "alpha-1.1.0.wasm").write_bytes(OTHER)
    result = nowhere("filter", "download", "alpha", "--index", index, "-o", str(tmp_path / "b.wasm"))
    assert result.exit_code == 1
    assert "not the recorded" in result.stderr
    assert not (tmp_path / "b.wasm").exists()


def test_a_mirror_and_an_index_are_one_or_the_other(
    mirror: str, cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = str(tmp_path / "mirror" / "index.json")
    out = str(tmp_path / "a.wasm")
    result = cli("filter", "download", "alpha", "--index", index, "--mirror", mirror, "--allow-http", "-o", out)
    assert result.exit_code == 2
    assert "give one of them" in result.stderr
    monkeypatch.setenv("CATALOG_MIRROR", mirror)  # set for the user's session: --index still works
    result = cli("filter", "download", "alpha", "--index", index, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "CATALOG_MIRROR is not used with --index" in result.stderr


def test_a_mirror_reports_a_file_it_will_not_replace_and_writes_the_rest(
    mirror: str, cli: Callable[..., Result], tmp_path: Path
) -> None:
    directory = tmp_path / "mirror"
    (directory / "alpha-v1.1.0" / "alpha-1.1.0.wasm").write_bytes(OTHER)
    (directory / "alpha-v1.0.0" / "alpha-1.0.0.wasm.sha256").write_text("wrong\n")
    (directory / "alpha-v1.2.0" / "alpha-1.2.0.wasm").unlink()
    (directory / "index.json").unlink()
    result = cli("release", "mirror", str(directory))
    assert result.exit_code == 1
    assert "alpha-1.1.0.wasm" in result.stderr
    assert "holds other bytes than alpha 1.1.0" in result.stderr
    assert (directory / "alpha-v1.1.0" / "alpha-1.1.0.wasm").read_bytes() == OTHER  # never replaced
    assert (directory / "alpha-v1.2.0" / "alpha-1.2.0.wasm").read_bytes() == V3  # the rest is written
    sha = version_data("1.0.0", V1)["sha256"]
    assert (directory / "alpha-v1.0.0" / "alpha-1.0.0.wasm.sha256").read_text() == f"{sha}  alpha-1.0.0.wasm\n"
    index = json.loads((directory / "index.json").read_text())
    assert [v["version"] for v in index["filters"][0]["versions"]] == ["1.2.0", "1.0.0"]  # what the mirror holds
    assert index["filters"][0]["latest"] == "1.0.0"  # 1.2.0 is yanked, 1.1.0 is not there
    out = tmp_path / "latest.wasm"
    result = cli("filter", "download", "alpha", "--index", str(directory / "index.json"), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == V1


@pytest.mark.parametrize(
    "template",
    [
        "https://h.example/dl/{name}/../../../../tmp/pwn/{version}.wasm",
        "https://h.example/dl//{name}-{version}.wasm",
        "https://h.example/dl?file={name}-{version}.wasm",
        "https://h.example/dl/{name}-{version}.wasm#x",
    ],
)
def test_a_release_url_that_names_no_plain_file_is_refused(
    cli: Callable[..., Result], catalog: CatalogBuilder, tmp_path: Path, template: str
) -> None:
    """The template lays a mirror out: it cannot climb out of the mirror's directory."""
    add_alpha(catalog)
    (catalog.root / "catalog" / "catalog.yaml").write_text(f"release_url: {template}\n")
    result = cli("release", "mirror", str(tmp_path / "mirror"))
    assert result.exit_code == 1
    assert "catalog/catalog.yaml" in result.stderr
    assert "[CAT110]" in result.stderr
    assert not any((tmp_path / "mirror").rglob("*.wasm"))
    assert not Path("/tmp/pwn").exists()


def test_a_remote_index_never_names_a_file_here(
    http_server: StaticServer, nowhere: Callable[..., Result], tmp_path: Path
) -> None:
    secret = tmp_path / "secret.wasm"
    secret.write_bytes(V1)
    sha = version_data("1.0.0", V1)["sha256"]
    versions = [{"version": "1.0.0", "sha256": sha, "download_url": f"file:{secret}"}]
    http_server.files["/index.json"] = json.dumps({"filters": [{"name": "alpha", "versions": versions}]}).encode()
    out = tmp_path / "out.wasm"
    result = nowhere("filter", "download", "alpha", "--index", http_server.url("/index.json"), "--allow-http",
                     "-o", str(out))  # fmt: skip
    assert result.exit_code == 1
    assert "file:" in result.stderr
    assert not out.exists()
