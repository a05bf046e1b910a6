"""The renderer: catalog -> Markdown pages and index.json, without mkdocs.

Golden files (tests/golden/site/) hold the generated Markdown and index.json of the site tests'
catalog; `pytest --update-golden` rewrites them after a deliberate change.
"""

from __future__ import annotations

import json
import shlex

import jsonschema
import markdown
import pytest
from bs4 import BeautifulSoup

from generator.gitops.gitrepo import catalog_history
from generator.metadata.loader import load_catalog
from generator.site.render import HOME_PAGE, INDEX_FILE, SUBMIT_PAGE, SiteOutput, render_site
from generator.site.views import SiteOptions, check_release_override, filter_views
from tests.conftest import REPO_ROOT, CatalogBuilder, version_data
from tests.sitebuild import REPOSITORY, make_site_catalog
from tests.test_site_markup import PAGE_EXTENSIONS
from tests.wasm_modules import proxy_module

RELEASES = "https://releases.example.org/{name}/{version}/{name}.wasm"


@pytest.fixture
def output(catalog: CatalogBuilder) -> SiteOutput:
    make_site_catalog(catalog)
    loaded = load_catalog(catalog.root)
    options = SiteOptions(repo_url=REPOSITORY, release_url=RELEASES)
    return render_site(loaded, catalog_history(catalog.root), options)


def pages(output: SiteOutput) -> dict[str, str]:
    return {page.path: page.content for page in output.pages}


def test_generated_markdown_and_index_match_golden_files(output: SiteOutput, golden) -> None:  # type: ignore[no-untyped-def]
    by_path = pages(output)
    for path in (HOME_PAGE, "filters/alpha-auth/index.md", "filters/evil-readme/index.md"):
        golden(f"site/{path.replace('/', '__')}", by_path[path])
    golden("site/index.json", output.files[INDEX_FILE].decode())


def test_pages_exist_for_public_and_unlisted_filters_only(output: SiteOutput) -> None:
    assert sorted(pages(output)) == [
        "filters/alpha-auth/index.md",
        "filters/beta-headers/index.md",
        "filters/evil-readme/index.md",
        "filters/gamma-net/index.md",
        "filters/hidden-unlisted/index.md",
        HOME_PAGE,
        SUBMIT_PAGE,
    ]
    everything = "".join(pages(output).values()) + "".join(str(f) for f in output.files.values())
    assert "wombat" not in everything
    assert "secret-private" not in everything


def test_unlisted_filters_are_in_no_list_and_out_of_search(output: SiteOutput) -> None:
    unlisted = next(p for p in output.pages if p.path == "filters/hidden-unlisted/index.md")
    assert "search:\n  exclude: true\nunlisted: true\n" in unlisted.content
    home = pages(output)[HOME_PAGE]
    assert "hidden-unlisted" not in home
    assert "quokka" not in home
    index = json.loads(output.files[INDEX_FILE])
    assert [f["name"] for f in index["filters"]] == ["alpha-auth", "beta-headers", "evil-readme", "gamma-net"]


def test_index_json_follows_its_committed_schema(output: SiteOutput) -> None:
    schema = json.loads((REPO_ROOT / "catalog" / "schema" / "index.schema.json").read_text())
    assert output.files["schema/index.schema.json"].decode() == json.dumps(schema, indent=2) + "\n"
    jsonschema.Draft202012Validator(schema).validate(json.loads(output.files[INDEX_FILE]))


def test_index_json_carries_versions_dates_proofs_and_download_links(output: SiteOutput) -> None:
    alpha = json.loads(output.files[INDEX_FILE])["filters"][0]
    assert alpha["latest"] == "1.1.0"
    assert (alpha["first_published"], alpha["updated"]) == ("2026-01-02", "2026-02-03")
    assert [(v["version"], v["published"], v["yanked"]) for v in alpha["versions"]] == [
        ("1.1.0", "2026-02-03", False),
        ("1.0.0", "2026-01-02", True),
    ]
    assert alpha["versions"][0]["download_url"] == "https://releases.example.org/alpha-auth/1.1.0/alpha-auth.wasm"
    assert alpha["proof"] == {"envoy": "1.40.0", "runtime": "envoy.wasm.runtime.v8", "date": "2026-02-03",
                              "passed": True, "cases": 2}  # fmt: skip


def test_page_titles_are_escaped_for_the_theme(output: SiteOutput) -> None:
    evil = pages(output)["filters/evil-readme/index.md"]
    front = evil.split("---\n")[1]
    assert "title: Evil &#60;/title&#62;&#60;script&#62;" in front
    assert "<script" not in evil


def test_contributor_values_in_links_code_and_tables_stay_text(output: SiteOutput) -> None:
    """URLs, root ids and schema fields: Markdown still reads inline HTML, so all of it is escaped."""
    evil = pages(output)["filters/evil-readme/index.md"]
    rendered = markdown.markdown(evil.split("---\n", 2)[2], extensions=PAGE_EXTENSIONS)
    soup = BeautifulSoup(rendered, "html.parser")
    hrefs = [a["href"] for a in soup.select("a[href]")]
    assert not [h for h in hrefs if "javascript" in h.lower()], hrefs
    assert "https://example.org/a_b_*c*!(d)" in hrefs
    assert soup.select("img") == []
    codes = [code.get_text() for code in soup.select("code")]
    assert "[prop](javascript:window.__xss='prop')" in codes
    assert "^[a|b]\\d$" in codes  # a schema pattern exactly as written: no table split, no eaten backslash
    assert "[root](javascript:window.__xss='root')" in codes
    row = next(tr for tr in soup.select("tr") if "prop" in tr.get_text())
    assert len(row.select("td")) == 5


def test_download_commands_quote_for_the_shell(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    url = "https://dl.example.org/a.wasm;$(touch$IFS/tmp/pwned)"
    catalog.add("q", binary, versions=[version_data("1.0.0", binary, source={"url": url})])
    loaded = load_catalog(catalog.root)
    view = filter_views(loaded, {}, SiteOptions())[0]
    words = shlex.split(view.download_commands.splitlines()[0])
    assert words == ["curl", "-fL", "-o", "/etc/envoy/wasm/q-1.0.0.wasm", url]


def test_a_filter_page_links_its_readme_into_the_repository(output: SiteOutput) -> None:
    alpha = pages(output)["filters/alpha-auth/index.md"]
    assert 'href="https://github.com/example/catalog/blob/main/catalog/filters/alpha-auth/src/alpha.c"' in alpha


@pytest.mark.parametrize(
    ("template", "accepted"),
    [
        ("https://mirror.example.org/{name}/{version}.wasm", True),
        ("http://127.0.0.1:8080/{name}-v{version}/{name}.wasm", True),
        ("http://localhost/{name}/{version}", True),
        ("http://mirror.example.org/{name}/{version}.wasm", False),
        ("ftp://127.0.0.1/{name}/{version}", False),
        ("https://mirror.example.org/{name}.wasm", False),
    ],
)
def test_release_url_override(template: str, accepted: bool) -> None:
    assert (check_release_override(template) is None) is accepted


def test_performance_results_show_overheads_only_beyond_noise(output: SiteOutput) -> None:
    alpha = pages(output)["filters/alpha-auth/index.md"]
    performance = alpha.split("## Performance")[1].split("## Compatibility")[0]
    newest, oldest = performance.split("### 1.0.0 under the default profile")
    assert 'catalog-bench-significant">&#43;20.0 %<' in newest  # 36 µs against 30 µs, significant
    assert "within noise" in oldest  # 31 against 30, not significant: no percentage
    assert "&#43;3.3 %" not in oldest
    assert "Version over version, default profile" in performance
    home = pages(output)[HOME_PAGE]
    row = next(r for r in home.split("<tr data-item")[1:] if 'data-name="alpha-auth"' in r).split("</tr>")[0]
    assert 'data-overhead="1.200000"' in row
    assert "<td>&#43;20.0 %</td>" in row


def test_a_filter_without_results_says_so(output: SiteOutput) -> None:
    beta = pages(output)["filters/beta-headers/index.md"]
    assert "No performance run is recorded yet" in beta
