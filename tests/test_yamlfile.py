"""YAML parsing of untrusted files: positions, duplicates, aliases, tags, syntax errors."""

from __future__ import annotations

from pathlib import Path

from generator.metadata.findings import Position
from generator.metadata.yamlfile import format_path, parse_yaml, read_yaml


def rule_ids(findings: list) -> list[str]:
    return [f.rule.id for f in findings]


def test_positions_of_keys_and_values() -> None:
    doc, findings = parse_yaml("name: x\nversions:\n  - version: 1.0.0\n    size: 3\n", "f.yaml")
    assert findings == []
    assert doc is not None
    assert doc.data == {"name": "x", "versions": [{"version": "1.0.0", "size": 3}]}
    assert doc.position(("versions", 0, "size")) == Position(4, 11)
    assert doc.position(("versions", 0, "size"), key=True) == Position(4, 5)
    # A path that does not exist points at its nearest parent.
    assert doc.position(("versions", 0, "missing")) == Position(3, 5)


def test_scalars_keep_json_types_and_dates_stay_text() -> None:
    doc, _ = parse_yaml("a: 1\nb: true\nc: null\nd: 1.5\ne: 2024-01-01\nf: '1'\n", "f.yaml")
    assert doc is not None
    assert doc.data == {"a": 1, "b": True, "c": None, "d": 1.5, "e": "2024-01-01", "f": "1"}


def test_every_duplicate_key_is_reported_with_both_lines() -> None:
    doc, findings = parse_yaml("name: a\ntitle: t\nname: b\nnested:\n  k: 1\n  k: 2\n", "f.yaml")
    assert rule_ids(findings) == ["CAT003", "CAT003"]
    first, second = findings
    assert first.position == Position(3, 1)
    assert "first at line 1" in first.message
    assert first.field == "name"
    assert second.field == "nested.k"
    assert doc is not None
    assert doc.data["name"] == "a"  # type: ignore[index]


def test_billion_laughs_is_refused_without_expanding() -> None:
    text = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n"
    for level in "bcdefghi":
        prev = chr(ord(level) - 1)
        text += f"{level}: &{level} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
    doc, findings = parse_yaml(text, "f.yaml")
    assert doc is None
    assert set(rule_ids(findings)) == {"CAT004"}
    assert findings[0].position == Position(1, 4)
    assert "anchor '&a'" in findings[0].message


def test_explicit_tags_are_refused() -> None:
    doc, findings = parse_yaml("a: !!python/object:os.system 'ls'\nb: !!str 3\n", "f.yaml")
    assert doc is None
    assert rule_ids(findings) == ["CAT004", "CAT004"]
    assert "tag:yaml.org,2002:python/object:os.system" in findings[0].message


def test_syntax_error_has_line_and_column() -> None:
    doc, findings = parse_yaml("name: a\nsummary: this: breaks\n", "catalog/filters/a/filter.yaml")
    assert doc is None
    assert rule_ids(findings) == ["CAT002"]
    assert findings[0].position == Position(2, 14)
    assert findings[0].format().startswith("catalog/filters/a/filter.yaml:2:14: error: expected valid YAML, got")


def test_several_documents_are_refused() -> None:
    doc, findings = parse_yaml("a: 1\n---\nb: 2\n", "f.yaml")
    assert doc is None
    assert rule_ids(findings) == ["CAT002"]


def test_complex_key_is_refused() -> None:
    _, findings = parse_yaml("? [a, b]\n: 1\n", "f.yaml")
    assert rule_ids(findings) == ["CAT002"]


def test_empty_document_is_none() -> None:
    doc, findings = parse_yaml("# only a comment\n", "f.yaml")
    assert findings == []
    assert doc is not None
    assert doc.data is None


def test_read_yaml_applies_file_checks(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: " + "x" * 100 + "\n")
    doc, findings = read_yaml(path, "f.yaml", max_bytes=50)
    assert doc is None
    assert rule_ids(findings) == ["CAT001"]


def test_format_path() -> None:
    assert format_path(("versions", 0, "source", "url")) == "versions[0].source.url"
    assert format_path(()) == ""


def test_deep_nesting_is_refused_before_recursion() -> None:
    doc, findings = parse_yaml("a: " + "[" * 500 + "]" * 500 + "\n", "f.yaml")
    assert doc is None
    assert [f.format() for f in findings] == [
        "f.yaml:1:35: error: expected at most 32 levels of nesting, got more [CAT002]"
    ]


def test_huge_and_non_finite_numbers_are_refused() -> None:
    doc, findings = parse_yaml("size: " + "9" * 5000 + "\nratio: .inf\nok: 12\n", "f.yaml")
    assert [(f.field, f.rule.id) for f in findings] == [("size", "CAT002"), ("ratio", "CAT002")]
    assert "at most 30 digits" in findings[0].message
    assert findings[1].message == "expected a finite number, got .inf"


def test_a_control_character_is_a_finding_at_its_line_and_column() -> None:
    doc, findings = parse_yaml("name: a\ntitle: b\x00c\nesc: \x1b[31m\n", "f.yaml")
    assert doc is None
    assert [(f.rule.id, f.position, f.message) for f in findings] == [
        ("CAT009", Position(2, 9), "expected text YAML allows, got U+0000 (a control character)"),
        ("CAT009", Position(3, 6), "expected text YAML allows, got U+001B (a control character)"),
    ]


def test_tabs_line_breaks_and_unicode_are_allowed() -> None:
    doc, findings = parse_yaml('a: "x\\ty"\t# a tab before\r\nb: é 😀\n', "f.yaml")
    assert findings == []
    assert doc is not None
    assert doc.data == {"a": "x\ty", "b": "é 😀"}


def test_a_sha256_of_digits_only_is_explained() -> None:
    _, findings = parse_yaml("versions:\n- sha256: " + "0" * 64 + "\n", "f.yaml")
    [finding] = findings
    assert finding.field == "versions[0].sha256"
    assert finding.message.startswith("expected a sha256 (64 hex digits, as text), got a number")
    assert finding.message.endswith("write it in quotes: '" + "0" * 64 + "'")
    _, findings = parse_yaml("size: " + "9" * 40 + "\n", "f.yaml")
    assert findings[0].message == "expected a number of at most 30 digits (text of digits goes in quotes), got 40"
