"""Filter names and owner handles."""

from __future__ import annotations

import pytest

from generator.metadata.names import NameProblem, check_name, is_owner_handle


@pytest.mark.parametrize("name", ["a", "rate-limit", "x1", "a" * 63, "0day"])
def test_valid_names(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize(
    ("name", "kind", "fragment"),
    [
        ("r\u0430te-limit", "lookalike", "U+0430 CYRILLIC SMALL LETTER A, which looks like 'a'"),
        ("\u0440ay", "lookalike", "CYRILLIC SMALL LETTER ER, which looks like 'p'"),
        ("\uff52ate", "lookalike", "FULLWIDTH LATIN SMALL LETTER R"),
        ("caf\u00e9", "lookalike", "LATIN SMALL LETTER E WITH ACUTE"),
        ("Rate", "invalid", "expected lower case, got 'Rate' (use 'rate')"),
        ("rate_limit", "invalid", "expected a DNS label"),
        ("-rate", "invalid", "expected a DNS label"),
        ("rate-", "invalid", "expected a DNS label"),
        ("", "invalid", "expected a DNS label"),
        ("a" * 64, "invalid", "expected a DNS label"),
        ("../etc", "invalid", "expected a DNS label"),
        ("con", "reserved", "not reserved"),
        ("nul", "reserved", "not reserved"),
        ("lpt1", "reserved", "not reserved"),
        ("index", "reserved", "not reserved"),
    ],
)
def test_invalid_names(name: str, kind: str, fragment: str) -> None:
    with pytest.raises(NameProblem) as caught:
        check_name(name)
    assert caught.value.kind == kind
    assert fragment in str(caught.value)


@pytest.mark.parametrize("handle", ["@alice", "@a-b", "@acme/edge-team", "@acme/team_1.x"])
def test_owner_handles(handle: str) -> None:
    assert is_owner_handle(handle)


@pytest.mark.parametrize("handle", ["alice", "@", "@-alice", "@a--b", "@acme/", "@a/b/c", "@al ice", "@" + "a" * 40])
def test_bad_owner_handles(handle: str) -> None:
    assert not is_owner_handle(handle)
