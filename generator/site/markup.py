"""Contributors' Markdown made safe for a page of the site: a README as clean HTML, inline code.

Every value a template prints is escaped unless it is `Safe`, so forgetting a filter cannot open a
hole: the Jinja environment of `generator.site.render` passes every printed value through
`finalize` (`generator.metadata.text.md_text`). Here:

- text in HTML, an element's or an attribute's (`html_text`);
- code blocks (`code_block`): a fence longer than any run of backticks inside, so nothing closes it;
- a README or a longer description (`readme_html`): converted to HTML here, then cleaned by nh3
  (an allow list: no scripts, event handlers, iframes, images, styles, or links other than https,
  http and mailto); the page places the result as a raw HTML block that Markdown leaves alone;
- inline code (`code_element`) as an HTML element whose text is escaped like `md_text`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import markdown
import nh3

from generator.metadata.text import Safe, md_text

_BACKTICKS = re.compile(r"`+")
_TITLE_LINE = re.compile(r"\A\ufeff?\s*# [^\n]*(?:\n|\Z)")

README_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
README_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "code": {"class"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}  # fmt: skip
LINK_SCHEMES = {"https", "http", "mailto"}
# Heading ids from a README are prefixed, so a README cannot take over an id that the page or the
# theme relies on (DOM clobbering).
HEADING_ID_PREFIX = "readme-"
_SAFE_ID = re.compile(r"^readme-[a-z0-9_-]{1,80}$")
_LANGUAGE_CLASS = re.compile(r"^language-[A-Za-z0-9_+-]{1,30}$")


def html_text(value: Any) -> Safe:
    """Plain text in HTML: an element's text or an attribute value (browsers decode the references).

    The same escaping as `md_text`: inline HTML inside a Markdown block is still read as Markdown,
    so `[a](b)` in an attribute would otherwise become a link that ends the attribute.
    """
    return Safe(md_text(str(value)))


def code_block(text: str, language: str = "", indent: int = 0) -> Safe:
    """A fenced code block that its content cannot close, indented by `indent` spaces (in a tab)."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    lang = language if re.fullmatch(r"[a-z0-9]*", language) else ""
    lines = [f"{fence}{lang}", *text.rstrip().split("\n"), fence]
    pad = " " * indent
    return Safe("\n".join(pad + line if line else line for line in lines))


def code_element(value: Any) -> Safe:
    """Inline code as an HTML element (a Markdown code span cannot hold every backtick run); its
    text is escaped like `md_text`, since Markdown still reads inside inline HTML."""
    return Safe(f"<code>{md_text(str(value))}</code>")


def readme_html(text: str, *, base_url: str | None = None, heading_level: int = 2, drop_title: bool = False) -> Safe:
    """A contributor's Markdown as clean HTML.

    Relative links point into the catalog's repository at `base_url` (a directory URL ending in
    '/'), or lose their target when there is none: the filter's files are not part of the site.
    Headings start at `heading_level`, below the page's own title; with `drop_title`, a first
    line `# Title` is left out, since the page shows the title already.
    """
    if drop_title:
        text = _TITLE_LINE.sub("", text, count=1)
    converted = _converter(heading_level).reset().convert(text)
    cleaned = nh3.clean(
        converted,
        tags=README_TAGS,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "template", "svg", "math"},
        attributes=README_ATTRIBUTES,
        attribute_filter=_attribute_filter(base_url),
        url_schemes=LINK_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Safe(cleaned)


@functools.cache
def _converter(heading_level: int) -> markdown.Markdown:
    """One converter per heading level, reset before each use (building one costs more than most READMEs)."""
    return markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists", "toc"],
        extension_configs={"toc": {"baselevel": heading_level, "slugify": _slugify}},
        output_format="html",
    )


def _slugify(value: str, separator: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", separator, value.lower()).strip(separator)[:80]
    return HEADING_ID_PREFIX + (slug or "section")


def _attribute_filter(base_url: str | None) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "id":
            return value if _SAFE_ID.match(value) else None
        if tag == "code" and attribute == "class":
            return value if _LANGUAGE_CLASS.match(value) else None
        if tag == "a" and attribute == "href":
            return _link(value, base_url)
        return value

    return keep


def _link(href: str, base_url: str | None) -> str | None:
    parts = urlsplit(href)
    if parts.scheme:
        return href if parts.scheme.lower() in LINK_SCHEMES else None
    if href.startswith("#"):
        return "#" + _slugify(href[1:], "-") if href != "#" else None
    if href.startswith("//") or base_url is None:
        return None
    joined = urljoin(base_url, href)
    return joined if urlsplit(joined).scheme in LINK_SCHEMES else None
