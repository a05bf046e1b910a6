"""The review of a pull request as its reader gets it: a Markdown comment, or JSON for tools.

Both carry the review's facts (`generator.gitops.review`) and its verdict (`generator.gitops.verdict`).
In the comment every contributor's value is escaped: no Markdown, HTML, links, mentions or issue
references can start from it (`templates/review.md.j2`). The JSON has a stable shape: the review's
keys, then `labels`, `managed_labels`, `status` and `simple_version_bump`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2

from generator.gitops.review import Review
from generator.gitops.verdict import Verdict
from generator.metadata.text import Safe, md_text, printable

TEMPLATES = Path(__file__).parent / "templates"

_ZWJ = "\u200d"
# What GitHub turns into links after Markdown: web addresses, mentions, issue references (#1, GH-1).
_AUTOLINK = re.compile(r"(?i)(www)(\.)|(:)(//)|([@#])|(GH)(-)")


def render_json(result: Review, verdict: Verdict) -> str:
    """The report as JSON: the review, then the verdict's keys."""
    # ASCII with escapes: a path that is not UTF-8 (a lone surrogate) stays representable.
    return json.dumps({**result.to_json(), **verdict.to_json()}, indent=2) + "\n"


def md_inline(value: Any) -> str:
    """Contributors' text in a pull-request comment: no Markdown, HTML, links, mentions or references.

    `md_text` turns Markdown's punctuation into character references; GitHub finds mentions
    (`@user`), issue references (`#1`) and bare links (`www.`, `https://`) in the rendered text
    after that, so a zero-width joiner breaks each of them up.
    """
    if isinstance(value, Safe):
        return value
    text = printable("" if value is None else str(value))
    return md_text(_AUTOLINK.sub(_break_up, text)).replace("$", "&#36;")  # `$` starts math on GitHub


def _break_up(match: re.Match[str]) -> str:
    parts = [g for g in match.groups() if g]
    return _ZWJ.join(parts) if len(parts) > 1 else parts[0] + _ZWJ


def code_span(value: Any) -> Safe:
    """Inline code (nothing inside is Markdown, a link or a mention) that its content cannot close."""
    text = re.sub(r"\s+", " ", printable(str(value)))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A space on each side (which Markdown strips) keeps a backtick at either end off the fence.
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return Safe(f"{fence}{pad}{text}{pad}{fence}")


def render_markdown(result: Review, verdict: Verdict) -> str:
    """The review as a pull-request comment."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # noqa: S701 - Markdown, not HTML: `finalize` escapes every value instead
        finalize=md_inline,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = code_span
    # A macro's output is Markdown that the macro has escaped already.
    env.filters["rendered"] = Safe
    template = env.get_template("review.md.j2")
    return template.render(review=result, verdict=verdict, short=lambda sha: sha[:12])
