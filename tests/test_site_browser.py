"""The built site in a real browser (Debian's chromium through Playwright), offline.

The site of tests/sitebuild.py's small catalog is built once per module by a real `mkdocs build
--strict` and served on 127.0.0.1, with its release binaries on a second local server. Every test
gets a fresh browser context that refuses any request leaving 127.0.0.1 (the site must work
offline: no external fonts, scripts or images) and fails on any dialog (an XSS payload's `alert`)
or page error.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Dialog, Page, Route, expect, sync_playwright

from generator.binaries.store import BinaryStore
from tests.conftest import REPO_ROOT, CatalogBuilder, StaticServer, require
from tests.sitebuild import build_site, make_site_catalog

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PUBLIC = ["alpha-auth", "beta-headers", "evil-readme", "gamma-net"]
HIDDEN_WORDS = ["quokka", "hidden-unlisted", "wombat", "secret-private"]
TIMEOUT_MS = 10_000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Site:
    url: str  # the site's root, ending in "/"
    directory: Path
    releases: StaticServer

    def page(self, path: str = "") -> str:
        return self.url + path.lstrip("/")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The site built once, served on 127.0.0.1, its releases served by a second local server."""
    base = tmp_path_factory.mktemp("site-browser")
    releases = StaticServer()
    releases.thread.start()
    httpd: http.server.ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            store = BinaryStore(base / "store")
            mp.setenv("CATALOG_STORE", str(base / "store"))
            catalog = CatalogBuilder(base / "repo", store)
            releases.files.update(make_site_catalog(catalog))
            release_url = releases.url("/{name}-v{version}/{name}.wasm")
            site_dir = base / "site"
            result = build_site(catalog.root, site_dir, release_url=release_url)
        assert result.returncode == 0, f"mkdocs build failed\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        handler = functools.partial(_QuietHandler, directory=str(site_dir))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield Site(f"http://127.0.0.1:{httpd.server_address[1]}/", site_dir, releases)
    finally:
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        releases.httpd.shutdown()
        releases.httpd.server_close()
        releases.thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless. Missing chromium skips locally and fails under CI."""
    require(None if CHROMIUM.exists() else f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watch:
    """What a page did that a user must never see: requests leaving 127.0.0.1, dialogs, script errors."""

    external: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Browser, watch: Watch) -> Iterator[Page]:
    """A page in a fresh context: only 127.0.0.1 is reachable; dialogs and page errors are recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)

    def route(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            watch.external.append(route.request.url)
            route.abort()

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    context.route("**/*", route)
    page = context.new_page()
    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert watch.external == [], f"the site tried to reach beyond 127.0.0.1: {watch.external}"
    assert watch.dialogs == [], f"a dialog opened: {watch.dialogs}"
    assert watch.errors == [], f"script errors: {watch.errors}"


def search(page: Page, word: str) -> list[str]:
    """Type `word` into the theme's search and return the result links (empty if nothing matches)."""
    box = page.locator("input.md-search__input")
    meta = page.locator(".md-search-result__meta")
    box.click()
    # The theme reads the query on keyup. Clearing first (and waiting for the placeholder, which
    # also waits for the search index) keeps the previous word's results from being read as these.
    box.fill("")
    box.press("End")
    expect(meta).to_have_text("Type to start searching")
    box.fill(word)
    box.press("End")  # one keyup with the whole word: no results of a half-typed word
    expect(meta).to_have_text(re.compile(r"No matching documents|\d+ matching documents?"))
    links = page.locator(".md-search-result__item > a.md-search-result__link")
    return [urlsplit(href).path for href in links.evaluate_all("els => els.map(e => e.href)")]


def filter_pages(paths: list[str]) -> list[str]:
    return sorted({p.split("/filters/", 1)[1].strip("/") for p in paths if "/filters/" in p})


def visible_names(page: Page, selector: str) -> list[str]:
    return sorted(
        page.locator(selector).evaluate_all(
            "els => els.filter(e => e.offsetParent !== null).map(e => e.getAttribute('data-name'))"
        )
    )


def test_search_finds_public_filters_only(site: Site, page: Page) -> None:
    page.goto(site.page("/"))
    assert search(page, "zanzibar") == ["/filters/alpha-auth/"]
    assert filter_pages(search(page, "gamma")) == ["gamma-net"]
    assert filter_pages(search(page, "bearer")) == ["alpha-auth"]
    for hidden in ("quokka", "wombat"):
        assert search(page, hidden) == [], hidden
        expect(page.locator(".md-search-result__meta")).to_have_text("No matching documents")

    assert search(page, "zanzibar")
    page.locator(".md-search-result__item > a.md-search-result__link").first.click()
    page.wait_for_url(site.page("/filters/alpha-auth/") + "**")
    expect(page.locator("h1")).to_have_text(re.compile("Alpha auth"))


def test_grid_table_switch_is_remembered_and_table_sorts(site: Site, page: Page) -> None:
    page.goto(site.page("/"))
    grid, table = page.locator(".catalog-grid"), page.locator("table.catalog-table")
    expect(grid).to_be_visible()
    expect(table).to_be_hidden()
    assert visible_names(page, ".catalog-card[data-item]") == PUBLIC

    page.locator("button[data-view-button=table]").click()
    expect(table).to_be_visible()
    expect(grid).to_be_hidden()
    expect(page.locator("[data-view-button=table]")).to_have_attribute("aria-pressed", "true")
    assert visible_names(page, "tr[data-item]") == PUBLIC

    page.reload()
    expect(table).to_be_visible()
    expect(grid).to_be_hidden()
    page.goto(site.page("/about/"))
    page.go_back()
    expect(table).to_be_visible()
    page.goto(site.page("/filters/gamma-net/"))
    page.goto(site.page("/"))
    expect(table).to_be_visible()
    expect(grid).to_be_hidden()

    def rows() -> list[tuple[int, str]]:
        return [
            (int(size), name)
            for size, name in page.locator("tbody tr[data-item]").evaluate_all(
                "els => els.map(e => [e.getAttribute('data-size'), e.getAttribute('data-name')])"
            )
        ]

    size = page.locator("th button[data-sort=size]")
    size.click()
    expect(size).to_have_attribute("data-order", "asc")
    ascending = rows()
    assert [s for s, _ in ascending] == sorted(s for s, _ in ascending)
    assert ascending == sorted(ascending)  # equal sizes fall back to the name
    size.click()
    expect(size).to_have_attribute("data-order", "desc")
    descending = rows()
    assert [s for s, _ in descending] == sorted((s for s, _ in descending), reverse=True)
    assert descending == ascending[::-1]

    # Equal sizes make the size sort a weak check; the title sort moves rows for real.
    title = page.locator("th button[data-sort=title]")
    title.click()
    assert [n for _, n in rows()] == ["alpha-auth", "beta-headers", "evil-readme", "gamma-net"]
    title.click()
    assert [n for _, n in rows()] == ["gamma-net", "evil-readme", "beta-headers", "alpha-auth"]
    expect(size).not_to_have_attribute("data-order", re.compile(".*"))

    # The home table sorts by the measured CPU overhead; filters without a run come last.
    overhead = page.locator("th button[data-sort=overhead]")
    overhead.click()
    assert [n for _, n in rows()][0] == "alpha-auth"
    cell = page.locator("tbody tr[data-name=alpha-auth] td").nth(9)
    expect(cell).to_have_text("+20.0 %")


def test_icons_load_and_placeholders_show_initials(site: Site, page: Page) -> None:
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.goto(site.page("/"))
    icon = page.locator('.catalog-card[data-name="beta-headers"] img.catalog-icon')
    expect(icon).to_be_visible()
    page.wait_for_function(loaded, arg=icon.element_handle())
    expect(page.locator('.catalog-card[data-name="alpha-auth"] .catalog-icon')).to_have_text("AA")
    page.goto(site.page("/filters/beta-headers/"))
    header_icon = page.locator(".catalog-filter-header img.catalog-icon")
    expect(header_icon).to_be_visible()
    page.wait_for_function(loaded, arg=header_icon.element_handle())


def test_table_scrolls_inside_its_column_on_a_phone(site: Site, page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(site.page("/"))
    page.locator("button[data-view-button=table]").click()
    table = page.locator("table.catalog-table")
    expect(table).to_be_visible()
    page_width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert page_width[0] <= page_width[1], f"the page scrolls sideways: {page_width}"
    results = page.locator(".catalog-results").evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert results[0] > results[1], "the table should be wider than a phone and scroll inside its column"
    assert page.locator("tbody tr[data-item]").first.locator("a").is_visible()


def test_facets_narrow_both_views(site: Site, page: Page) -> None:
    page.goto(site.page("/"))
    shown = page.locator("[data-shown]")
    expect(shown).to_have_text("4 filters")

    def check(both: list[str], count: str) -> None:
        expect(shown).to_have_text(count)
        assert visible_names(page, ".catalog-card[data-item]") == both
        # The table is hidden in grid view: its rows' own `hidden` says what the table would show.
        rows = page.locator("tbody tr[data-item]").evaluate_all(
            "els => els.filter(e => !e.hidden).map(e => e.getAttribute('data-name'))"
        )
        assert sorted(rows) == both

    page.locator("input[name=language][value=rust]").check()
    check(["gamma-net"], "1 of 4 filters")
    page.locator("input[name=language][value=c]").check()
    check(["alpha-auth", "gamma-net"], "2 of 4 filters")
    page.locator("input[name=kind][value=network]").check()
    check(["gamma-net"], "1 of 4 filters")

    page.locator("button[data-view-button=table]").click()
    assert visible_names(page, "tbody tr[data-item]") == ["gamma-net"]
    expect(page.locator(".catalog-grid")).to_be_hidden()

    page.locator("input[name=license][value=MIT]").check()  # beta-headers is wat and http: nothing left
    expect(shown).to_have_text("0 of 4 filters")
    expect(page.locator("[data-empty]")).to_be_visible()
    assert visible_names(page, "tbody tr[data-item]") == []

    page.locator("button[data-clear-facets]").click()
    expect(shown).to_have_text("4 filters")
    expect(page.locator("[data-empty]")).to_be_hidden()
    assert visible_names(page, "tbody tr[data-item]") == PUBLIC
    assert page.locator(".catalog-facets input:checked").count() == 0
    page.locator("button[data-view-button=grid]").click()
    assert visible_names(page, ".catalog-card[data-item]") == PUBLIC


def test_downloads_match_the_shown_sha256(site: Site, page: Page) -> None:
    page.goto(site.page("/filters/alpha-auth/"))
    links = page.locator("a.catalog-download")
    expect(links).to_have_count(2)
    versions = []
    for i in range(links.count()):
        link = links.nth(i)
        version = link.get_attribute("data-version")
        href = link.get_attribute("href")
        assert version, href
        assert href, version
        versions.append(version)
        response = page.request.get(href)
        assert response.status == 200, href
        shown = page.locator(f'code.catalog-sha256[data-version="{version}"]')
        expect(shown).to_be_visible()
        assert hashlib.sha256(response.body()).hexdigest() == shown.inner_text().strip(), version
    assert sorted(versions) == ["1.0.0", "1.1.0"]
    # On a desktop screen the versions table fits: no download link hides behind a sideways scroll.
    column = page.locator(".md-content").bounding_box()
    assert column is not None
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= column["x"] + column["width"], "a download link is cut off"
    assert sorted(site.releases.requests) == [
        "/alpha-auth-v1.0.0/alpha-auth.wasm",
        "/alpha-auth-v1.1.0/alpha-auth.wasm",
    ]

    # The install block's sha256 is the latest version's.
    latest = page.locator("code.catalog-sha256[data-sha256]").inner_text().strip()
    assert latest == page.locator('code.catalog-sha256[data-version="1.1.0"]').inner_text().strip()

    yanked = page.locator("tr", has=page.locator('a.catalog-download[data-version="1.0.0"]'))
    expect(yanked).to_contain_text("yanked")
    expect(yanked).to_contain_text("answers 500 on empty tokens")
    current = page.locator("tr", has=page.locator('a.catalog-download[data-version="1.1.0"]'))
    expect(current).not_to_contain_text("yanked")


def test_xss_readme_is_inert(site: Site, page: Page, watch: Watch) -> None:
    page.goto(site.page("/filters/evil-readme/"))
    page.wait_for_load_state("load")
    readme = page.locator(".catalog-readme")
    expect(readme.get_by_text("harmless-text")).to_be_visible()

    # Give any handler a chance to fire: hover and click over the readme, open its details.
    box = readme.bounding_box()
    assert box is not None
    for fx, fy in ((0.1, 0.1), (0.5, 0.5), (0.9, 0.9)):
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    readme.get_by_text("harmless-text").click()
    for link in readme.locator("a").all():
        link.hover()
        link.click()
    summaries = readme.locator("summary")
    for i in range(summaries.count()):
        summaries.nth(i).click()
    page.mouse.move(5, 5)
    page.wait_for_timeout(300)
    assert page.url.startswith(site.page("/filters/evil-readme/"))

    assert watch.dialogs == []
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator(".catalog-readme script").count() == 0
    on_attributes = page.evaluate(
        """() => Array.from(document.querySelectorAll('.md-content *')).flatMap(
            e => Array.from(e.attributes).filter(a => a.name.toLowerCase().startsWith('on'))
                .map(a => e.tagName + ' ' + a.name))"""
    )
    assert on_attributes == []
    assert page.locator(".catalog-readme :is(iframe, svg, form, img, object, embed)").count() == 0
    assert page.locator('a[href^="javascript:" i], a[href^="data:" i]').count() == 0
    assert "</title>" in page.title()
    expect(page.locator("h1")).to_contain_text("<script>window.__xss='title'</script>")
    expect(page.locator(".catalog-summary")).to_contain_text('<script>window.__xss="summary"</script>')


def test_unlisted_and_private_filters_stay_out_of_lists(site: Site, page: Page) -> None:
    index = page.request.get(site.page("/index.json"))
    assert index.status == 200
    data = json.loads(index.body())
    filters = data["filters"] if isinstance(data, dict) else data
    assert sorted(f["name"] for f in filters) == PUBLIC

    page.goto(site.page("/"))
    for selector in (".catalog-grid", "table.catalog-table"):
        html = page.locator(selector).evaluate("e => e.outerHTML")
        for word in HIDDEN_WORDS:
            assert word not in html, (selector, word)
    assert (
        sorted(page.locator(".catalog-card[data-item]").evaluate_all("els => els.map(e => e.dataset.name)")) == PUBLIC
    )
    assert sorted(page.locator("tr[data-item]").evaluate_all("els => els.map(e => e.dataset.name)")) == PUBLIC

    unlisted = page.goto(site.page("/filters/hidden-unlisted/"))
    assert unlisted is not None
    assert unlisted.status == 200
    robots = page.locator('meta[name="robots"]')
    expect(robots).to_have_count(1)
    assert robots.get_attribute("content") == "noindex, nofollow"
    assert page.request.get(site.page("/filters/secret-private/")).status == 404
    # Public pages are indexed as usual.
    page.goto(site.page("/filters/alpha-auth/"))
    expect(page.locator('meta[name="robots"]')).to_have_count(0)

    for path in ("/sitemap.xml", "/search/search_index.json"):
        response = page.request.get(site.page(path))
        assert response.status == 200, path
        text = response.text().lower()
        for word in HIDDEN_WORDS:
            assert word not in text, (path, word)
        assert "alpha-auth" in text, path
    sitemap = page.request.get(site.page("/sitemap.xml")).text()
    for name in PUBLIC:
        assert f"/filters/{name}/</loc>" in sitemap, name


def artifacts_dir() -> Path:
    configured = os.environ.get("CATALOG_TEST_ARTIFACTS")
    return Path(configured) if configured else REPO_ROOT / "test-artifacts" / "site"


def png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the pixel data of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, offset = b"", 8
    while offset < len(data):
        length = struct.unpack(">I", data[offset : offset + 4])[0]
        if data[offset + 4 : offset + 8] == b"IDAT":
            idat += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_screenshots_for_reviewers(site: Site, page: Page) -> None:
    """Screenshots a reviewer can trust: each taken once its view is on screen, the whole page, not blank."""
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    shots = {
        "home-grid.png": (site.page("/"), None, ".catalog-grid"),
        "home-table.png": (site.page("/"), "table", "table.catalog-table"),
        "filter-alpha-auth.png": (site.page("/filters/alpha-auth/"), None, ".catalog-filter-header"),
    }
    taken: dict[str, bytes] = {}
    for name, (url, view, shown) in shots.items():
        page.goto(url)
        page.wait_for_load_state("load")
        if view:
            page.locator(f"button[data-view-button={view}]").click()
        expect(page.locator(shown)).to_be_visible()
        path = out / name
        path.unlink(missing_ok=True)
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        taken[name] = path.read_bytes()
        width, height, colours = png_size_and_colours(taken[name])
        viewport = page.viewport_size
        assert viewport is not None
        assert width == viewport["width"], name
        assert height >= page.evaluate("document.documentElement.scrollHeight") - 1, name  # the whole page
        assert colours > 16, f"{name} is nearly blank"
    assert taken["home-grid.png"] != taken["home-table.png"]
