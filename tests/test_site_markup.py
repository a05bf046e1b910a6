"""Contributors' text on a generated page: inline text, code blocks and READMEs cannot become markup."""

from __future__ import annotations

import html

import markdown
import pytest

from generator.metadata.text import Safe, md_text
from generator.site.markup import code_block, code_element, html_text, readme_html

# The Markdown extensions of mkdocs.yml that read generated pages.
PAGE_EXTENSIONS = ["admonition", "attr_list", "md_in_html", "tables", "toc", "pymdownx.superfences", "pymdownx.tabbed"]


def page_html(text: str) -> str:
    """How mkdocs would convert a generated page's Markdown (the extensions of mkdocs.yml)."""
    return markdown.markdown(text, extensions=PAGE_EXTENSIONS)


@pytest.mark.parametrize(
    "value",
    [
        "[click](javascript:alert(1))",
        "<img src=x onerror=alert(1)>",
        "*emphasis* and __strong__ and `code`",
        "<https://example.org>",
        "# heading",
        "a | table | cell",
        "&lt;script&gt; already escaped",
        "line one\n\n<script>alert(1)</script>",
    ],
)
def test_inline_text_is_never_markup(value: str) -> None:
    rendered = page_html(f"Before {md_text(value)} after")
    assert rendered.count("<") == 2, rendered  # only the paragraph's own <p> and </p>
    assert rendered.startswith("<p>Before ")


def test_inline_text_in_a_table_cell_stays_in_its_cell() -> None:
    rendered = page_html(f"| a | b |\n|---|---|\n| {md_text('x | y')} | z |\n")
    assert rendered.count("<td>") == 2


def test_safe_text_passes_unchanged() -> None:
    assert md_text(Safe("<b>ok</b>")) == "<b>ok</b>"
    assert isinstance(html_text("<b>"), Safe)
    assert html_text('a "b" <c>') == "a &#34;b&#34; &#60;c&#62;"
    assert code_element("a`b<c>") == "<code>a&#96;b&#60;c&#62;</code>"


@pytest.mark.parametrize("value", ["[x](javascript:alert(1))", "![i](https://evil.example/p.png)", "a|b", "^[a\\d]$"])
def test_code_elements_and_attributes_stay_literal_inside_markdown(value: str) -> None:
    rendered = page_html(f'| {code_element(value)} | <a href="{html_text(value)}">x</a> |\n|---|---|\n| 1 | 2 |\n')
    assert "<img" not in rendered
    assert rendered.count("<a ") == 1
    assert rendered.count("<th>") == 2
    decoded = html.unescape(rendered)
    assert f"<code>{value}</code>" in decoded
    assert f'href="{value}"' in decoded


def test_a_code_block_cannot_be_closed_by_its_content() -> None:
    content = "before\n```\n<script>alert(1)</script>\n````\nafter"
    rendered = page_html(code_block(content, "yaml") + "\n\nOutside.")
    assert "<script>" not in rendered
    assert "&lt;script&gt;" in rendered
    assert rendered.count("<pre") == 1
    assert "after" in rendered.split("</pre>")[0]


def test_an_indented_code_block_sits_in_a_tab() -> None:
    block = code_block("a: 1\nb: 2", "yaml", indent=4)
    assert block.splitlines() == ["    ```yaml", "    a: 1", "    b: 2", "    ```"]


PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "event handler": '<img src="x" onerror="alert(1)">',
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "javascript link": '<a href="javascript:alert(1)">x</a>',
    "javascript link, mixed case": '<a href="JaVaScRiPt:alert(1)">x</a>',
    "markdown javascript link": "[x](javascript:alert(1))",
    "data link": "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "svg onload": '<svg onload="alert(1)"></svg>',
    "style": "<style>body{display:none}</style>",
    "inline style": '<p style="position:fixed;inset:0">x</p>',
    "form": '<form action="https://evil.example/"><input name="q"></form>',
    "object": '<object data="x.swf"></object>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "base": '<base href="https://evil.example/">',
    "external image": "![tracker](https://evil.example/pixel.png)",
    "heading id clobbering": '<h2 id="__md_scope">x</h2>',
}
FORBIDDEN = ["<script", "onerror", "onload", "<iframe", "javascript:", "data:", "<svg", "<style", "style=", "<form",
             "<input", "<object", "<meta", "<base", "<img", "evil.example", "__md_scope"]  # fmt: skip


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_readme_payloads_do_not_survive(payload: str) -> None:
    cleaned = readme_html(f"Text before.\n\n{payload}\n\nText after.")
    lowered = cleaned.lower()
    assert [bad for bad in FORBIDDEN if bad in lowered] == [], cleaned
    assert "Text before." in cleaned
    assert "Text after." in cleaned


def test_readme_keeps_what_a_readme_needs() -> None:
    text = (
        "# Title\n\nSome **bold** and `code`.\n\n## Configuration\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "```yaml\nkey: value\n```\n\n- [docs](https://example.org/docs)\n- [file](src/main.c)\n- [up](#configuration)\n"
    )
    cleaned = readme_html(text, base_url="https://github.com/o/r/blob/main/catalog/filters/f/", drop_title=True)
    assert "Title" not in cleaned
    assert '<h3 id="readme-configuration">Configuration</h3>' in cleaned  # the title was h2
    assert "<strong>bold</strong>" in cleaned
    assert "<table>" in cleaned
    assert '<code class="language-yaml">' in cleaned
    assert 'href="https://example.org/docs"' in cleaned
    assert 'href="https://github.com/o/r/blob/main/catalog/filters/f/src/main.c"' in cleaned
    assert 'href="#readme-configuration"' in cleaned
    assert 'rel="noopener noreferrer nofollow"' in cleaned


def test_relative_links_lose_their_target_without_a_repository() -> None:
    cleaned = readme_html("[file](src/main.c) [net](//evil.example/x)")
    assert "href" not in cleaned
    assert "file" in cleaned


def test_readme_headings_sit_below_the_page_title() -> None:
    assert readme_html("# One\n\n## Two").startswith('<h2 id="readme-one">One</h2>')
