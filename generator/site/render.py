"""The catalog as site pages: a pure function from the loaded catalog to Markdown pages and files.

`render_site` returns every generated page (Markdown with YAML front matter) and file
(`index.json`, the JSON Schemas). It reads templates from `site_templates/pages/` and knows
nothing of mkdocs: `generator.site.mkdocs_plugin` hands the result to mkdocs, and another engine
could take it as well.

Templates are Jinja2 with escape-by-default for Markdown: every printed value goes through
`text.md_text` unless it is `text.Safe` (a sanitized README, a code block), so a contributor's
text can never become markup by a template's oversight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from generator.gitops.gitrepo import FilterHistory
from generator.metadata import rules, text
from generator.metadata.loader import Catalog
from generator.metadata.model import json_schema_text
from generator.site import markup
from generator.site.index import index_json_schema_text
from generator.site.views import CAPABILITY_TEXT, KIND_LABELS, FilterView, SiteOptions, catalog_index, filter_views

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "site_templates"
HOME_PAGE = "index.md"
SUBMIT_PAGE = "submit.md"
INDEX_FILE = "index.json"
ICON_FILE = "icon.png"  # beside each filter's page
FACETS = (
    ("category", "Category"),
    ("language", "Language"),
    ("abi", "ABI"),
    ("kind", "Traffic"),
    ("license", "License"),
)


@dataclass(frozen=True)
class GeneratedPage:
    path: str  # relative to the site's source root, e.g. filters/rate-limit/index.md
    content: str
    edit_path: str | None = None  # the repository file behind the page, for "edit this page"


@dataclass
class SiteOutput:
    pages: list[GeneratedPage] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)


def render_site(
    catalog: Catalog,
    history: Mapping[str, FilterHistory],
    options: SiteOptions,
    templates_dir: Path = TEMPLATES_DIR,
) -> SiteOutput:
    """Every generated page and file of the site, from the catalog."""
    env = template_environment(templates_dir / "pages")
    views = filter_views(catalog, history, options)
    listed = [view for view in views if view.listed]
    output = SiteOutput()
    output.pages.append(
        _page(
            env,
            HOME_PAGE,
            "home.md.j2",
            _home_meta(),
            edit_path=f"{TEMPLATES_DIR.name}/pages/home.md.j2",
            filters=listed,
            facets=facets(listed),
            facet_label=facet_label,
        )
    )
    listed_names = {view.name for view in listed}
    output.pages.append(
        _page(
            env,
            SUBMIT_PAGE,
            "submit.md.j2",
            {"title": "Submit a filter"},
            edit_path=f"{TEMPLATES_DIR.name}/pages/submit.md.j2",
            rules=rules.all_rules(),
        )
    )
    for view in views:
        meta: dict[str, Any] = {"title": view.meta.title, "description": view.meta.summary}
        if not view.listed:
            # Unlisted: reachable by its link only. Not in search, the sitemap or any list.
            meta.update({"search": {"exclude": True}, "unlisted": True})
        output.pages.append(
            _page(
                env,
                view.page_path,
                "filter.md.j2",
                meta,
                edit_path=view.edit_path,
                f=view,
                listed_names=listed_names,
                capability_text=CAPABILITY_TEXT,
            )
        )
    for view in views:
        if view.icon is not None:
            output.files[view.url + ICON_FILE] = view.icon
    output.files[INDEX_FILE] = catalog_index(views).to_json().encode()
    output.files["schema/index.schema.json"] = index_json_schema_text().encode()
    output.files["schema/filter.schema.json"] = json_schema_text().encode()
    return output


def template_environment(directory: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=False,  # noqa: S701 - Markdown, not HTML: `finalize` escapes every value instead
        finalize=text.md_text,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        html=markup.html_text,
        code=markup.code_block,
        code_element=markup.code_element,
        attr_list=_attr_list,
    )
    return env


def _page(
    env: jinja2.Environment,
    path: str,
    template: str,
    meta: dict[str, Any],
    *,
    edit_path: str | None = None,
    **context: Any,
) -> GeneratedPage:
    body = env.get_template(template).render(**context)
    # mkdocs themes print the title and description as markup (in <title>, <h1>, the header and a
    # meta attribute), so contributors' text is escaped here, once.
    front_matter = dict(meta)
    for key in ("title", "description"):
        if key in front_matter:
            front_matter[key] = str(markup.html_text(front_matter[key]))
    front = yaml.safe_dump(front_matter, sort_keys=False, allow_unicode=True, width=1000)
    return GeneratedPage(path=path, content=f"---\n{front}---\n\n{body}", edit_path=edit_path)


def _home_meta() -> dict[str, Any]:
    # The lists stay out of the search index: one entry per filter keeps search fast and exact.
    return {"title": "Filters", "hide": ["navigation", "toc"], "search": {"exclude": True}}


def facet_values(view: FilterView) -> dict[str, list[str]]:
    """The values a filter has for each facet of the home page."""
    latest = view.latest.version
    return {
        "category": list(view.meta.categories),
        "language": [view.meta.language],
        "abi": [latest.abi],
        "kind": {"http": ["http"], "network": ["network"], "both": ["http", "network"]}.get(latest.kind, ["none"]),
        "license": [view.meta.license],
    }


@dataclass(frozen=True)
class Facet:
    key: str
    label: str
    values: list[tuple[str, int]]  # value and how many filters have it, most common first


def facets(views: list[FilterView]) -> list[Facet]:
    result = []
    for key, label in FACETS:
        counts = Counter(value for view in views for value in facet_values(view)[key])
        values = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        result.append(Facet(key=key, label=label, values=values))
    return result


def facet_label(key: str, value: str) -> str:
    """How a facet value reads on the page (traffic kinds get words; the rest as they are)."""
    return KIND_LABELS.get(value, value) if key == "kind" else value


def _attr_list(view: FilterView) -> text.Safe:
    """The data attributes the home page's script filters and sorts by."""
    values = facet_values(view)
    attrs = {f"data-{key}": "|".join(found) for key, found in values.items()}
    attrs.update(
        {
            "data-name": view.name,
            "data-title": view.meta.title.lower(),
            "data-version": view.version_sort_key,
            "data-size": str(view.latest.version.size),
            "data-updated": view.updated or "",
            "data-proven": view.proven,
            "data-overhead": "" if view.cpu_overhead is None else f"{view.cpu_overhead.ratio:.6f}",
        }
    )
    return text.Safe(" ".join(f'{name}="{markup.html_text(value)}"' for name, value in attrs.items()))
