"""Text from strangers' files, made safe to show: in a terminal, or in a generated Markdown page.

Names, titles, summaries and messages come from contributors. In a terminal an ESC sequence or a
right-to-left override must not rewrite what a reviewer sees (`printable`). In Markdown (the site's
pages, the review comment) no syntax may start from them: links, emphasis, tables and HTML are all
off (`md_text`, numeric character references). Where the Markdown is also read as text (release
notes, which `gh release view` prints raw), `md_plain` does the same with backslash escapes, which
read as typed. Text that is already safe is marked `Safe` and passes through unchanged. The site's
own forms (HTML attributes, code blocks) are in `generator.site.markup`.
"""

from __future__ import annotations

import re
from typing import Any

_WHITESPACE = re.compile(r"\s+")
# Every ASCII punctuation character that Markdown, its extensions or HTML give a meaning to. Left
# out, for readable pages: . , - / ; ? @ % $ (they only matter at the start of a line, where the
# templates never place a value).
_PUNCTUATION = {ord(c): f"&#{ord(c)};" for c in "!\"#&'()*+:<=>[\\]^_`{|}~"}
# The same characters (and `$`, math on GitHub) escaped with a backslash, which CommonMark allows
# before any ASCII punctuation. GitHub also links bare `scheme://` and `www.` text, and turns a line
# that starts with `-` or `1.` into a list: those get a backslash too. A mention (`@login`,
# `@org/team`) would notify people; it is shown as code, where GitHub does not look for mentions.
_BACKSLASHED = {ord(c): f"\\{c}" for c in "!\"#&'()*+<=>[\\]^_`{|}~$"}
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9])://|(?<![A-Za-z0-9.])(?i:www)\.")
_LIST_START = re.compile(r"^(-|\d{1,9}\.(?=[ \t]|$))")  # `-` always: `---` is a rule
_MENTION = re.compile(r"(?<!\w)@[A-Za-z0-9][\w-]*(?:/[\w.-]*[\w-])?")

_INVISIBLE = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}  # bidi controls


def printable(text: str) -> str:
    """`text` safe for a terminal: control and bidirectional characters shown as escapes.

    Names and messages can carry text from a stranger's file; an ESC sequence or a right-to-left
    override must not rewrite what a reviewer sees.
    """
    if text.isprintable() and not any(ord(ch) in _INVISIBLE for ch in text):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\n\t":
            out.append(ch)
        elif code < 32 or 127 <= code < 160 or code in _INVISIBLE or 0xD800 <= code <= 0xDFFF:
            # Lone surrogates stand for bytes of a file name that are not UTF-8; they cannot be printed.
            out.append(f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


class Safe(str):
    """Text that is already safe to place in a generated page as it is."""

    __slots__ = ()


def md_text(value: Any) -> str:
    """One line of plain text for a Markdown page: nothing in it is read as Markdown or HTML."""
    if isinstance(value, Safe):
        return value
    return _WHITESPACE.sub(" ", "" if value is None else str(value)).translate(_PUNCTUATION)


def md_plain(value: Any) -> str:
    """One line of text for Markdown that is also read raw: backslash escapes instead of references,
    no autolink, list or mention (see `_BACKSLASHED`)."""
    if isinstance(value, Safe):
        return value
    text = _WHITESPACE.sub(" ", "" if value is None else str(value)).strip().translate(_BACKSLASHED)
    text = _AUTOLINK.sub(lambda m: "\\://" if m.group(0) == "://" else m.group(0)[:-1] + "\\.", text)
    text = _LIST_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)  # `)` is escaped already
    return _MENTION.sub(lambda m: f"`{m.group(0)}`", text)
