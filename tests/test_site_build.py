"""A real `mkdocs build --strict` through the catalog plugin, checked with CSS selectors.

The repository's own site is built too, as `make site` does. Whole-page snapshots would break on
every theme update, so these tests select the elements a user relies on.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

from generator.binaries.store import BinaryStore
from tests.conftest import REPO_ROOT, CatalogBuilder
from tests.sitebuild import build_site, make_site_catalog, read_mkdocs_config, site_config
from tests.wasm_modules import png

pytestmark = pytest.mark.slow
PUBLIC = ["alpha-auth", "beta-headers", "evil-readme", "gamma-net"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("site")
    catalog = CatalogBuilder(base / "repo", BinaryStore(base / "store"))
    make_site_catalog(catalog)
    result = build_site(catalog.root, base / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    return base / "site"


def soup(site: Path, page: str) -> BeautifulSoup:
    return BeautifulSoup((site / page).read_text(encoding="utf-8"), "html.parser")


def test_home_lists_public_filters_as_cards_and_rows(site: Path) -> None:
    home = soup(site, "index.html")
    cards = home.select(".catalog-grid a.catalog-card[data-item]")
    assert [card["data-name"] for card in cards] == PUBLIC
    assert [a["href"] for a in cards] == [f"filters/{name}/" for name in PUBLIC]
    rows = home.select(".catalog-table tbody tr[data-item]")
    assert [row["data-name"] for row in rows] == PUBLIC
    alpha = cards[0]
    assert alpha.select_one(".catalog-card-title").get_text() == "Alpha auth"
    assert alpha.select_one(".catalog-badge").get_text() == "passes in Envoy 1.40.0"
    assert "v1.1.0" in alpha.select_one(".catalog-card-facts").get_text()
    assert alpha["data-category"] == "authentication|security"
    assert cards[1].select_one(".catalog-badge").get_text() == "not yet proven"
    assert cards[1].select_one("img.catalog-icon")["src"] == "filters/beta-headers/icon.png"
    assert alpha.select_one("span.catalog-icon").get_text() == "AA"  # no icon: the title's initials
    assert home.select_one(".catalog-table")["hidden"] == ""  # the script shows it on demand


def test_home_facets_count_public_filters(site: Path) -> None:
    home = soup(site, "index.html")
    facets = {
        fieldset["data-facet"]: {
            label.select_one("input")["value"]: label.select_one(".catalog-count").get_text()
            for label in fieldset.select("label")
        }
        for fieldset in home.select("fieldset.catalog-facet")
    }
    assert facets["language"] == {"wat": "2", "c": "1", "rust": "1"}
    assert facets["kind"] == {"http": "3", "network": "1"}
    assert facets["abi"] == {"0.2.1": "3", "0.2.0": "1"}
    assert facets["license"] == {"Apache-2.0": "2", "BSD-3-Clause": "1", "MIT": "1"}
    assert facets["category"]["headers"] == "2"


def test_filter_page_has_everything_a_user_needs(site: Path) -> None:
    page = soup(site, "filters/alpha-auth/index.html")
    assert page.select_one("h1").get_text().startswith("Alpha auth")
    headings = [h.get_text().rstrip("¶") for h in page.select(".md-content h2")]
    for section in ("Install", "Versions", "Configuration", "Behaviour", "Compatibility", "Capabilities", "About",
                    "Change log"):  # fmt: skip
        assert section in headings
    tabs = [label.get_text() for label in page.select(".tabbed-labels label")]
    assert tabs == ["Envoy", "Istio"]
    blocks = [pre.get_text() for pre in page.select(".tabbed-block pre")]
    assert "envoy.filters.http.wasm" in blocks[0]
    assert "kind: WasmPlugin" in blocks[1]
    downloads = page.select("a.catalog-download")
    assert [a["data-version"] for a in downloads] == ["1.1.0", "1.0.0"]
    yanked_row = downloads[1].find_parent("tr")
    assert yanked_row.select_one("del").get_text() == "1.0.0"
    assert "answers 500 on empty tokens" in yanked_row.get_text()
    edit = page.select_one("a.md-content__button[href*='/edit/']")
    assert edit["href"] == "https://github.com/example/catalog/edit/main/catalog/filters/alpha-auth/filter.yaml"
    assert page.select_one("meta[name=robots]") is None


def test_only_header_and_readme_are_searchable(site: Path) -> None:
    index = json.loads((site / "search" / "search_index.json").read_text())
    locations = {doc["location"] for doc in index["docs"]}
    assert not any(loc in ("", "index.html") or loc.startswith("#") for loc in locations)
    alpha = [doc for doc in index["docs"] if doc["location"].startswith("filters/alpha-auth/")]
    text = " ".join(doc["text"] for doc in alpha)
    assert "zanzibar" in text
    assert "bearer" in text
    assert "sha256" not in text  # the install and version sections are excluded
    everything = json.dumps(index)
    for hidden in ("quokka", "hidden-unlisted", "wombat", "secret-private"):
        assert hidden not in everything


def test_unlisted_page_exists_but_is_listed_nowhere(site: Path) -> None:
    page = soup(site, "filters/hidden-unlisted/index.html")
    assert page.select_one("meta[name=robots]")["content"] == "noindex, nofollow"
    assert not (site / "filters" / "secret-private").exists()
    sitemap = (site / "sitemap.xml").read_text()
    assert "filters/alpha-auth/" in sitemap
    assert "hidden-unlisted" not in sitemap
    names = [f["name"] for f in json.loads((site / "index.json").read_text())["filters"]]
    assert names == PUBLIC


def test_the_site_loads_nothing_from_elsewhere(site: Path) -> None:
    external = re.compile(r"^(https?:)?//", re.IGNORECASE)
    offenders = []
    pages = sorted(site.rglob("*.html"))
    # home, 404, submit, about, and the public and unlisted filters' pages
    assert {"index.html", "404.html", "submit/index.html", "filters/alpha-auth/index.html"} <= {
        p.relative_to(site).as_posix() for p in pages
    }
    scripts = 0
    for path in pages:
        page = soup(site, str(path.relative_to(site)))
        for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
            for element in page.select(f"{tag}[{attribute}]"):
                scripts += tag == "script"
                if external.match(element[attribute]) and element.get("rel") != ["canonical"]:
                    offenders.append(f"{path.name}: <{tag} {attribute}={element[attribute]}>")
        if page.select("[data-md-component=source]"):
            offenders.append(f"{path}: the theme's repository widget calls GitHub's API")
    assert scripts > 0  # the pages load scripts, all of them from the site itself
    assert offenders == []


def test_icons_are_served_beside_their_page(site: Path) -> None:
    assert (site / "filters" / "beta-headers" / "icon.png").read_bytes() == png()
    page = soup(site, "filters/beta-headers/index.html")
    assert page.select_one(".catalog-filter-header img.catalog-icon")["src"] == "icon.png"


def test_json_schemas_are_published(site: Path) -> None:
    for name in ("index.schema.json", "filter.schema.json"):
        assert (site / "schema" / name).read_text() == (REPO_ROOT / "catalog" / "schema" / name).read_text()


def test_submit_page_lists_the_rules(site: Path) -> None:
    page = soup(site, "submit/index.html")
    rows = page.select(".md-content table tbody tr")
    assert any(row.select_one("td").get_text() == "CAT104" for row in rows)
    assert "catalog filter test my-filter --record" in page.get_text()


def test_repository_site_builds(tmp_path: Path) -> None:
    """`make site`: the repository's own catalog, its own mkdocs.yml."""
    import subprocess
    import sys

    result = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = [f["name"] for f in json.loads((tmp_path / "site" / "index.json").read_text())["filters"]]
    shipped = sorted(p.parent.name for p in (REPO_ROOT / "catalog" / "filters").glob("*/filter.yaml"))
    assert len(shipped) >= 7  # README: "The filters"
    assert sorted(names) == shipped


def test_repository_site_links_to_a_mirror_from_the_environment(tmp_path: Path) -> None:
    """`CATALOG_MIRROR=URL make site`: every download of the repository's own site is the mirror's copy."""
    import subprocess
    import sys

    mirror = "https://mirror.example.org/wasm/"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CATALOG_MIRROR": mirror, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    index = json.loads((tmp_path / "site" / "index.json").read_text())
    urls = [v["download_url"] for f in index["filters"] for v in f["versions"] if v.get("download_url")]
    assert urls
    assert all(url.startswith(mirror) and url.endswith(".wasm") for url in urls), urls
    page = soup(tmp_path / "site", "filters/add-header/index.html")
    links = [a["href"] for a in page.select("a.catalog-download")]
    assert links
    assert all(link.startswith(mirror) for link in links), links
    assert "github.com/envoy-wasm-catalog/catalog/releases/download" not in page.get_text()


def test_a_plain_http_mirror_elsewhere_is_refused(catalog: CatalogBuilder, tmp_path: Path) -> None:
    catalog.add("good")
    result = build_site(catalog.root, tmp_path / "site", mirror="http://mirror.example.org/")
    assert result.returncode == 1
    assert "mirror: expected https (or http on 127.0.0.1 / localhost)" in result.stderr


def _config_with(root: Path, site_dir: Path, **changes: object) -> Path:
    path = site_config(root, site_dir)
    config = read_mkdocs_config(path)
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path


def _build(config: Path) -> str:
    import subprocess
    import sys

    result = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-f", str(config)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    return result.stderr


def test_a_broken_filter_fails_the_strict_build_and_is_named(catalog: CatalogBuilder, tmp_path: Path) -> None:
    catalog.add("good")
    catalog.write("broken", "name: broken\nversions: nope\n")
    stderr = _build(site_config(catalog.root, tmp_path / "site"))
    assert "catalog/filters/broken: not on the site: it does not load" in stderr


def test_directory_urls_are_required(catalog: CatalogBuilder, tmp_path: Path) -> None:
    catalog.add("good")
    stderr = _build(_config_with(catalog.root, tmp_path / "site", use_directory_urls=False))
    assert "use_directory_urls: true" in stderr


def test_a_plain_http_release_mirror_is_refused(catalog: CatalogBuilder, tmp_path: Path) -> None:
    catalog.add("good")
    result = build_site(catalog.root, tmp_path / "site", release_url="http://mirror.example.org/{name}/{version}")
    assert result.returncode == 1
    assert "release_url: expected https (or http on 127.0.0.1 / localhost)" in result.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_mkdocs_serve_rebuilds_when_a_filter_changes(catalog: CatalogBuilder, tmp_path: Path) -> None:
    """`mkdocs serve` as a contributor runs it: the page changes after filter.yaml does."""
    import subprocess
    import sys
    import time
    import urllib.request

    catalog.add("live", summary="Before the edit.")
    config = site_config(catalog.root, tmp_path / "site")
    mount = urlsplit(read_mkdocs_config(config)["site_url"]).path  # serve mounts the site at its path
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mkdocs"), "serve", "-f", str(config), "-a", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip

    def page() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{mount}filters/live/", timeout=5) as response:  # noqa: S310
            return str(response.read().decode())

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if text in page():
                    return
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared")

    try:
        wait_for("Before the edit.")
        time.sleep(1)  # the watcher starts after the first build
        path = catalog.metadata_path("live")
        path.write_text(path.read_text().replace("Before the edit.", "After the edit."))
        wait_for("After the edit.")
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
