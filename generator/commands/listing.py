"""`catalog filter list [SEARCH]`: the filters as rows, searched and paged."""

from __future__ import annotations

from dataclasses import dataclass

from generator.metadata.errors import UsageError
from generator.metadata.loader import Catalog, FilterEntry
from generator.metadata.model import FilterMeta


@dataclass(frozen=True)
class FilterRow:
    """One line of the list: what a user scans for."""

    name: str
    latest: str
    language: str
    abi: str
    visibility: str
    summary: str

    @classmethod
    def of(cls, meta: FilterMeta) -> FilterRow:
        latest = meta.latest
        return cls(meta.name, latest.version, meta.language, latest.abi, meta.visibility, meta.summary)


@dataclass(frozen=True)
class Page:
    rows: list[FilterRow]
    page: int
    pages: int
    total: int
    broken: list[FilterEntry]


def matches(meta: FilterMeta, search: str) -> bool:
    """Every word of `search` occurs (ignoring case) in the name, title, summary or keywords."""
    haystack = " ".join([meta.name, meta.title, meta.summary, *meta.keywords]).casefold()
    return all(word in haystack for word in search.casefold().split())


def list_filters(catalog: Catalog, search: str = "", page: int = 1, page_size: int = 25) -> Page:
    if page < 1:
        raise UsageError(f"--page: expected 1 or more, got {page}")
    if page_size < 1:
        raise UsageError(f"--page-size: expected 1 or more, got {page_size}")
    rows = [FilterRow.of(e.meta) for e in catalog.loaded() if e.meta is not None and matches(e.meta, search)]
    pages = max(1, -(-len(rows) // page_size))
    if page > pages:
        raise UsageError(f"--page: expected at most {pages}, got {page}")
    start = (page - 1) * page_size
    return Page(rows[start : start + page_size], page, pages, len(rows), catalog.broken())
