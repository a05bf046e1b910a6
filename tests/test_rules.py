"""The rule table: stable, unique, documented, and printed by `catalog rules`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from click.testing import CliRunner

from generator.cli import main
from generator.metadata.findings import Finding, Position, Rule
from generator.metadata.rules import BadUrl, all_rules

GENERATOR = Path(__file__).resolve().parent.parent / "generator"


def test_ids_are_unique_and_well_formed() -> None:
    ids = [rule.id for rule in all_rules()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"CAT\d{3}", rule_id) for rule_id in ids)


def test_every_rule_explains_itself() -> None:
    for rule in all_rules():
        assert rule.explanation(), rule.id


def referenced_names(source: str) -> set[str]:
    """Names the code refers to (`X` or `rules.X`): docstrings, comments and imports do not count."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "rules":
            found.add(node.attr)
    return found


def test_every_rule_is_used_by_the_generator() -> None:
    used: set[str] = set()
    for path in GENERATOR.rglob("*.py"):
        if path != GENERATOR / "metadata" / "rules.py":
            used |= referenced_names(path.read_text())
    unused = [rule.__name__ for rule in all_rules() if rule.__name__ not in used]
    assert unused == []


def test_a_rule_named_only_in_a_docstring_or_an_import_is_not_used() -> None:
    source = '''"""BadUrl is explained here."""
from generator.metadata.rules import BadUrl  # BadUrl
def f() -> None:
    """Raises BadUrl."""
    return rules.NotSemver.at("a", "b")
'''
    assert "BadUrl" not in referenced_names(source)
    assert "NotSemver" in referenced_names(source)


def test_finding_format_and_annotation_escape() -> None:
    finding = Finding(BadUrl, "a/b:c.yaml", "got 'x,y'\nand 100%", field="homepage", position=Position(3, 9))
    assert finding.format() == "a/b:c.yaml:3:9: error: homepage: got 'x,y'\nand 100% [CAT110]"
    assert finding.github_annotation() == (
        "::error file=a/b%3Ac.yaml,line=3,col=9,title=CAT110::homepage: got 'x,y'%0Aand 100%25"
    )


def test_rules_command() -> None:
    runner = CliRunner()
    table = runner.invoke(main, ["rules"])
    assert table.exit_code == 0
    assert "CAT104" in table.stdout
    one = runner.invoke(main, ["rules", "cat110"])
    assert one.stdout.startswith("CAT110 (error): A link is not an https URL")
    bad = runner.invoke(main, ["rules", "XYZ"])
    assert bad.exit_code == 2


def test_rule_base_class_is_not_listed() -> None:
    assert Rule not in all_rules()
