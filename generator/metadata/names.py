"""What a filter name and an owner handle may look like.

A filter's name is its identity: a directory, a URL path, a release tag (`NAME-vX.Y.Z`), an OCI
repository and a Kubernetes resource name. It is therefore a DNS label (RFC 1123): lower-case ASCII
letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. ASCII only
also rules out look-alike names (Cyrillic 'а' for Latin 'a'), which would let one filter pose as
another; the error names the offending character so the author can see what happened.
"""

from __future__ import annotations

import re
import unicodedata

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
NAME_PATTERN = DNS_LABEL.pattern

# Windows device names (a checkout fails on Windows) and words the site and CLI use for themselves.
RESERVED_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(10)}
    | {f"lpt{i}" for i in range(10)}
    | {"index", "search", "assets", "filters", "submit", "latest", "new", "all"}
)

USER_HANDLE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
TEAM_HANDLE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
OWNER_PATTERN = r"^@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$"


class NameProblem(ValueError):
    """Why a name is refused, with the rule that refuses it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "lookalike", "reserved" or "invalid"


def check_name(name: str) -> None:
    """Raise `NameProblem` if `name` cannot be a filter name."""
    for ch in name:
        if ord(ch) > 127:
            raise NameProblem("lookalike", f"expected ASCII only, got {_describe(ch)} in '{name}'")
    if name.lower() != name and DNS_LABEL.match(name.lower()):
        raise NameProblem("invalid", f"expected lower case, got '{name}' (use '{name.lower()}')")
    if not DNS_LABEL.match(name):
        raise NameProblem(
            "invalid",
            f"expected a DNS label (a-z, 0-9 and '-', 1 to 63 characters, "
            f"not starting or ending with '-'), got '{name}'",
        )
    if name in RESERVED_NAMES:
        raise NameProblem("reserved", f"expected a name that is not reserved, got '{name}'")


def _describe(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    label = unicodedata.name(ch, "unnamed character")
    ascii_twin = _ascii_lookalike(ch)
    looks = f", which looks like '{ascii_twin}'" if ascii_twin else ""
    return f"'{ch}' ({code} {label}{looks})"


def _ascii_lookalike(ch: str) -> str:
    """The ASCII letter or digit that `ch` can be mistaken for, from Unicode's confusables data.

    The data is large (tens of milliseconds to load), and only a refused name needs it.
    """
    from confusable_homoglyphs import confusables

    for entry in confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=True) or []:
        for glyph in entry["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].isalnum():
                return str(glyph["c"]).lower()
    return unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()


def is_owner_handle(handle: str) -> bool:
    """`@user` or `@org/team`, as GitHub and CODEOWNERS spell them."""
    return bool(USER_HANDLE.match(handle) or TEAM_HANDLE.match(handle))
