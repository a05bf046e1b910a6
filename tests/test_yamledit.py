"""Text-preserving edits of filter.yaml."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from generator.metadata.yamledit import YamlEditError, append_item, comments, dump, set_value

TEXT = """\
# header comment
name: a   # trailing comment
owners:
- '@alice'   # first owner
- '@bob'
# about visibility
visibility: public
versions:
  - version: 1.0.0
    source:
      url: https://example.org/a.wasm
# a comment after the list
config: {}
"""


def test_set_scalar_keeps_everything_else() -> None:
    edited = set_value(TEXT, ("visibility",), "private")
    assert edited.text == TEXT.replace("visibility: public", "visibility: private")
    assert edited.dropped == ()


def test_set_value_quotes_when_needed() -> None:
    out = set_value(TEXT, ("name",), "1.0").text
    assert yaml.safe_load(out)["name"] == "1.0"
    assert "# trailing comment" in out


def test_replacing_a_block_list_reports_the_comments_it_held() -> None:
    text = TEXT.replace("- '@bob'\n", "- '@bob'   # on call\n")
    edited = set_value(text, ("owners",), ["@carol"])
    assert yaml.safe_load(edited.text)["owners"] == ["@carol"]
    # The comments on '@alice' and '@bob' went with the list they described, and say so...
    assert edited.dropped == ("# first owner", "# on call")
    assert "owners: ['@carol']\n# about visibility\nvisibility: public" in edited.text  # not moved onto the new value
    # ...and every other comment stays where it was.
    assert comments(edited.text) == comments(text) - Counter(edited.dropped)


def test_insert_missing_key_before_a_later_key() -> None:
    text = TEXT.replace("# about visibility\nvisibility: public\n", "")
    out = set_value(text, ("visibility",), "unlisted", insert_before=["versions", "config"]).text
    assert list(yaml.safe_load(out)) == ["name", "owners", "visibility", "versions", "config"]
    assert "# header comment" in out


def test_insert_mapping_value() -> None:
    out = set_value(TEXT, ("cloned_from",), {"name": "b", "version": "1.0.0"}, insert_before=["config"]).text
    data = yaml.safe_load(out)
    assert data["cloned_from"] == {"name": "b", "version": "1.0.0"}
    assert list(data)[-2:] == ["cloned_from", "config"]
    assert "# a comment after the list" in out


def test_append_to_indented_list() -> None:
    item = {"version": "1.1.0", "source": {"url": "https://example.org/b.wasm"}}
    out = append_item(TEXT, ("versions",), item)
    assert yaml.safe_load(out)["versions"][-1] == item
    assert "# a comment after the list\nconfig: {}" in out
    assert "  - version: 1.1.0\n    source:\n      url: https://example.org/b.wasm\n" in out


def test_a_flow_list_is_edited_by_round_trip_with_its_comments() -> None:
    text = "# head\nname: a  # the name\nversions: [{version: 1.0.0}]  # inline\n# tail\nconfig: {}\n"
    out = append_item(text, ("versions",), {"version": "2.0.0"})
    assert yaml.safe_load(out)["versions"] == [{"version": "1.0.0"}, {"version": "2.0.0"}]
    assert comments(out) == comments(text) == Counter(["# head", "# the name", "# inline", "# tail"])
    assert not out.startswith("# yaml-language-server")  # not a fresh dump


def test_a_key_in_a_flow_mapping_is_inserted_by_round_trip() -> None:
    text = "# keep me\n{name: a, versions: []}\n"
    out = set_value(text, ("visibility",), "private", insert_before=["versions"]).text
    assert list(yaml.safe_load(out)) == ["name", "visibility", "versions"]
    assert "# keep me" in out


def test_the_round_trip_keeps_the_files_list_indentation() -> None:
    text = "name: a\nowners:\n  - '@a'  # first\nexamples: [1]\nversions:\n  - version: 1.0.0\n"
    out = append_item(text, ("examples",), 2)
    assert "owners:\n  - '@a'  # first\n" in out
    assert "versions:\n  - version: 1.0.0\n" in out


def test_an_edit_that_would_lose_a_comment_is_refused() -> None:
    text = "{name: a,   # lost by a rewrite\n  versions: []}\n"
    with pytest.raises(YamlEditError) as refused:
        set_value(text, ("visibility",), "private", display="catalog/filters/a/filter.yaml")
    assert str(refused.value) == (
        "catalog/filters/a/filter.yaml: cannot set visibility to private and keep the file's comments; "
        "make the change by hand"
    )
    assert refused.value.exit_code == 1


def test_comments_are_not_read_inside_values() -> None:
    text = "a: 'x # not a comment'  # one\nb: \"#no\"\nc: |  # header\n  # in a block\n# two\nd: e#f\n"
    assert comments(text) == Counter(["# one", "# header", "# two"])
    assert comments("\ufeff# after a byte order mark\na: 1\r# after a CR\rb: 2\n") == Counter(
        ["# after a byte order mark", "# after a CR"]
    )


def test_strings_yaml_would_read_as_another_type_stay_strings_in_a_round_trip() -> None:
    text = "# keep\nname: a\nkeywords: [one]\n"
    out = append_item(text, ("keywords",), "yes")
    assert yaml.safe_load(out)["keywords"] == ["one", "yes"]
    assert "# keep" in out


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("config", "examples"), "expected config in the file; it has none"),
        (("name",), "expected a mapping or a list at name, got a single value"),
    ],
)
def test_an_edit_where_the_file_has_no_such_place_is_refused(path: tuple[str, ...], message: str) -> None:
    with pytest.raises(YamlEditError) as refused:
        append_item("name: a\n", path, {"x": 1}, display="f.yaml")
    assert str(refused.value) == f"f.yaml: {message}"


def test_dump_keeps_key_order_and_quotes_ambiguous_strings() -> None:
    out = dump({"name": "a", "sha256": "1" * 64, "abi": "0.2.1", "yes": "yes"})
    assert list(yaml.safe_load(out)) == ["name", "sha256", "abi", "yes"]
    assert yaml.safe_load(out)["sha256"] == "1" * 64
    assert yaml.safe_load(out)["yes"] == "yes"
