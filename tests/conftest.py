"""Shared fixtures: small catalogs built inline (valid by default), a private store, a CLI runner."""

from __future__ import annotations

import hashlib
import http.server
import ipaddress
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from generator.binaries.store import BinaryStore
from generator.cli import main
from generator.envoy.locate import Envoy, EnvoyMissing, find_envoy
from tests.wasm_modules import proxy_module

REPO_ROOT = Path(__file__).resolve().parent.parent
RELEASE_URL = "https://releases.example.org/{name}-v{version}/{name}.wasm"
# The behaviour case every test filter has unless a test says otherwise: a request passes through.
CASES = "cases:\n- name: passes a request through\n  requests:\n  - expect:\n      status: 200\n"


@pytest.fixture(autouse=True, scope="session")
def machine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user cache (`CATALOG_CACHE_DIR`: compiled modules, installed Envoy releases) of this test
    session, not the developer's own; subprocesses inherit it."""
    from generator.metadata.layout import CACHE_ENV

    directory = tmp_path_factory.mktemp("user-cache")
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(directory)
    yield directory
    if before is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = before


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})


class NetworkRefused(socket.gaierror):
    """A test tried to look up a host other than this machine (as a failed lookup, which clients handle)."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach nothing beyond this machine: a name lookup of any other host fails at once, as
    it would offline. Addresses given as numbers need no lookup (the download checks refuse the
    private ones themselves). Subprocesses are not covered: npm reaches its package registry."""
    lookup = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and str(name).lower() not in LOOPBACK_NAMES and not _is_address(str(name)):
            raise NetworkRefused(socket.EAI_NONAME, f"the tests look up no host but this machine, not {name!r}")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def require(missing: str | None) -> None:
    """`missing` names a tool a test needs that is not installed (and how to get it), or is None.

    A missing tool skips the test on a developer's machine; under CI (`CI` set) it fails the
    test, because CI installs every tool and must run every test.
    """
    if missing is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{missing}; CI must run this test, not skip it")
    pytest.skip(missing)


def git(
    root: Path, *args: str, date: str | None = None, env: dict[str, str] | None = None, input: str | None = None
) -> str:
    """Run git in `root` as a fixed test identity (at `date`, if given, with `input` on stdin); its stdout."""
    environment = {**os.environ, **(env or {})}
    if date is not None:
        environment |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(
        command, cwd=root, check=True, capture_output=True, text=True, env=environment, input=input
    ).stdout


def filter_data(name: str, binary: bytes, **changes: Any) -> dict[str, Any]:
    """A valid `filter.yaml` mapping for a filter whose only version is `binary`."""
    data: dict[str, Any] = {
        "name": name,
        "title": name.replace("-", " ").capitalize(),
        "summary": f"The {name} test filter.",
        "owners": ["@alice", "@acme/edge"],
        "visibility": "public",
        "license": "Apache-2.0",
        "language": "wat",
        "categories": ["headers"],
        "keywords": ["test"],
        "config": {
            "schema": {"type": "object", "properties": {"header": {"type": "string"}}, "additionalProperties": False},
            "examples": [{"title": "Add a header", "value": {"header": "x-test"}}],
        },
        "versions": [version_data("1.0.0", binary)],
    }
    data.update(changes)
    return data


def version_data(version: str, binary: bytes, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": version,
        "sha256": hashlib.sha256(binary).hexdigest(),
        "size": len(binary),
        "abi": "0.2.1",
        "kind": "http",
        "capabilities": [],
        "source": {"url": f"https://example.org/releases/{version}/filter.wasm"},
    }
    data.update(changes)
    return data


class CatalogBuilder:
    """Writes filters into a temporary repository and puts their binaries in the store."""

    def __init__(self, root: Path, store: BinaryStore) -> None:
        self.root = root
        self.store = store
        (root / "catalog" / "filters").mkdir(parents=True, exist_ok=True)
        (root / "catalog" / "catalog.yaml").write_text(f"release_url: {RELEASE_URL}\n")

    def directory(self, name: str) -> Path:
        return self.root / "catalog" / "filters" / name

    def add(
        self,
        name: str,
        binary: bytes | None = None,
        *,
        readme: str | None = None,
        cases: str | None = CASES,
        **changes: Any,
    ) -> Path:
        """Add a valid filter `name`, with `changes` applied to its metadata (and `cases` as its
        cases.yaml; None: none)."""
        binary = binary if binary is not None else proxy_module()
        self.store.put(binary)
        directory = self.write(name, filter_data(name, binary, **changes), readme=readme)
        if cases is not None:
            (directory / "cases.yaml").write_text(cases, encoding="utf-8")
        return directory

    def write(self, name: str, data: Any, *, readme: str | None = None, dirname: str | None = None) -> Path:
        directory = self.directory(dirname or name)
        directory.mkdir(parents=True, exist_ok=True)
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        (directory / "filter.yaml").write_text(text, encoding="utf-8")
        (directory / "README.md").write_text(readme or f"# {name}\n\nA test filter.\n", encoding="utf-8")
        return directory

    def metadata_path(self, name: str) -> Path:
        return self.directory(name) / "filter.yaml"


@pytest.fixture(scope="session")
def envoy() -> Envoy:
    """The real Envoy. Missing Envoy skips a test locally and fails it under CI."""
    try:
        return find_envoy()
    except EnvoyMissing as err:
        require(str(err))
        raise


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BinaryStore:
    path = tmp_path / "store"
    monkeypatch.setenv("CATALOG_STORE", str(path))
    return BinaryStore(path)


@pytest.fixture
def catalog(tmp_path: Path, store: BinaryStore) -> CatalogBuilder:
    return CatalogBuilder(tmp_path / "repo", store)


@pytest.fixture
def cli(catalog: CatalogBuilder) -> Callable[..., Result]:
    """Run `catalog --root <tmp repo> ARGS...` and return the result (stdout and stderr apart)."""

    def run(*args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(main, ["--root", str(catalog.root), *args], input=input, catch_exceptions=False)

    return run


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes, to prove a failed command changed nothing."""
    out = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


class StaticServer:
    """Plain HTTP on 127.0.0.1 serving `files` (path -> bytes); counts the requests it answered."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def http_server() -> Iterator[StaticServer]:
    server = StaticServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=5)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current output instead of comparing",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with `tests/golden/<name>`, or rewrite it with `pytest --update-golden`."""
    update = bool(request.config.getoption("--update-golden"))

    def check(name: str, text: str) -> None:
        path = REPO_ROOT / "tests" / "golden" / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.is_file(), f"{path} is missing: run `pytest --update-golden` and review it"
        assert text == path.read_text(encoding="utf-8"), (
            f"{name} differs from its golden file (`pytest --update-golden`)"
        )

    return check
