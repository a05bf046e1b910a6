"""Loading filter directories into the model: every bad field becomes a finding at its line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.metadata import readme
from generator.metadata.checks import check_metadata
from generator.metadata.findings import Position
from generator.metadata.layout import find_repo_root
from generator.metadata.loader import load_catalog, load_filter
from tests.conftest import CASES, CatalogBuilder, filter_data, version_data
from tests.wasm_modules import png, proxy_module


def findings_of(catalog: CatalogBuilder, name: str) -> list[str]:
    """Every finding of one filter, loader and metadata checks, as formatted lines."""
    entry = load_filter(catalog.root, name)
    return [f.format() for f in entry.findings + check_metadata(entry)]


def test_valid_filter_loads(catalog: CatalogBuilder) -> None:
    catalog.add("rate-limit")
    entry = load_filter(catalog.root, "rate-limit")
    assert entry.findings == []
    assert entry.meta is not None
    assert entry.meta.latest.version == "1.0.0"
    assert check_metadata(entry) == []


def test_unknown_field_points_at_the_key_and_lists_allowed(catalog: CatalogBuilder) -> None:
    catalog.add("a", colour="blue")
    [line] = findings_of(catalog, "a")
    assert line.startswith("catalog/filters/a/filter.yaml:")
    assert "error: colour: unknown field (expected one of: name, title, summary, owners" in line
    assert line.endswith("[CAT101]")


def test_unknown_nested_field(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, sha265="x")])
    [line] = findings_of(catalog, "a")
    assert "versions[0].sha265: unknown field (expected one of: version, sha256, size" in line


def test_a_field_must_be_spelled_as_the_schema_says_not_as_python_names_it(catalog: CatalogBuilder) -> None:
    data = filter_data("a", proxy_module())
    data["config"]["schema_"] = data["config"].pop("schema")
    catalog.write("a", data)
    lines = findings_of(catalog, "a")
    assert any("config.schema_: unknown field (expected one of: schema, examples)" in line for line in lines), lines
    assert any("config.schema: required field is missing" in line for line in lines), lines


def test_missing_required_field(catalog: CatalogBuilder) -> None:
    data = filter_data("a", proxy_module())
    del data["summary"]
    catalog.write("a", data)
    assert findings_of(catalog, "a") == [
        "catalog/filters/a/filter.yaml:1:1: error: summary: required field is missing [CAT102]"
    ]


def lines_of(text: str) -> dict[str, int]:
    return {line.split(":")[0].strip(): n for n, line in enumerate(text.splitlines(), start=1) if ":" in line}


def test_wrong_type_says_expected_and_got_at_the_value(catalog: CatalogBuilder) -> None:
    catalog.write("a", {**filter_data("a", proxy_module()), "owners": "@alice"})
    [line] = findings_of(catalog, "a")
    text = catalog.metadata_path("a").read_text()
    row = lines_of(text)["owners"]
    assert (
        line == f"catalog/filters/a/filter.yaml:{row}:9: error: owners: expected a list, got a string '@alice' [CAT103]"
    )


def test_size_as_string_is_refused_not_coerced(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, size="123")])
    [line] = findings_of(catalog, "a")
    assert "versions[0].size: expected an integer, got a string '123' [CAT103]" in line


def test_literal_choices_are_listed(catalog: CatalogBuilder) -> None:
    catalog.add("a", visibility="hidden")
    [line] = findings_of(catalog, "a")
    assert "visibility: expected one of 'public', 'unlisted' or 'private', got a string 'hidden' [CAT103]" in line


def test_mapping_where_a_choice_is_expected_says_so(catalog: CatalogBuilder) -> None:
    catalog.add("a", language={"a": 1})
    [line] = findings_of(catalog, "a")
    assert line.endswith("'other', got a mapping [CAT103]")


@pytest.mark.parametrize(
    ("version", "fragment"),
    [
        ("v1", "'v1' is not a semantic version (expected e.g. 1.2.0) [CAT104]"),
        ("1.0", "'1.0' is not a semantic version"),
        ("01.0.0", "'01.0.0' is not a semantic version"),
    ],
)
def test_non_semver(catalog: CatalogBuilder, version: str, fragment: str) -> None:
    binary = proxy_module()
    catalog.add("a", binary, versions=[version_data(version, binary)])
    [line] = findings_of(catalog, "a")
    assert f"versions[0].version: {fragment}" in line


def test_yaml_float_version_is_a_type_error(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    text = yaml.safe_dump(filter_data("a", binary), sort_keys=False).replace("version: 1.0.0", "version: 1.0")
    catalog.write("a", text)
    [line] = findings_of(catalog, "a")
    assert "versions[0].version: expected a string, got a number 1.0 [CAT103]" in line


@pytest.mark.parametrize(
    ("sha", "fragment"),
    [
        ("ABC", "expected 64 lower-case hex characters, got 'ABC' (3 characters)"),
        ("A" * 64, "expected 64 lower-case hex characters"),
        ("g" * 64, "expected 64 lower-case hex characters"),
    ],
)
def test_bad_sha256(catalog: CatalogBuilder, sha: str, fragment: str) -> None:
    binary = proxy_module()
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, sha256=sha)])
    [line] = findings_of(catalog, "a")
    assert f"versions[0].sha256: {fragment}" in line
    assert line.endswith("[CAT109]")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://example.org/", "expected an https URL, got a http: URL"),
        ("javascript:alert(1)", "expected an https URL, got a javascript: URL"),
        ("data:text/html,<script>", "expected an https URL, got a data: URL"),
        ("https://user:pw@example.org/", "expected a URL without credentials"),
        ("https:///path", "expected an https URL with a host"),
        ("https://exa mple.org", "expected an https URL, got 'https://exa mple.org' with spaces or control"),
        ("example.org", "expected an https URL, got no scheme"),
    ],
)
def test_links_must_be_https(catalog: CatalogBuilder, url: str, fragment: str) -> None:
    catalog.add("a", homepage=url)
    [line] = findings_of(catalog, "a")
    assert f"homepage: {fragment}" in line
    assert line.endswith("[CAT110]")


def test_version_source_url_must_be_https(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, source={"url": "javascript:alert(1)"})])
    [line] = findings_of(catalog, "a")
    assert "versions[0].source.url: expected an https URL, got a javascript: URL" in line


def test_source_needs_exactly_one_of_build_and_url(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    both = {"url": "https://example.org/a.wasm", "build": {"recipe": "wat", "path": "a.wat"}}
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, source=both)])
    [line] = findings_of(catalog, "a")
    assert "versions[0].source: expected exactly one of 'build' or 'url', got both [CAT120]" in line


def test_missing_source_is_an_error_before_submitting(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    version = version_data("1.0.0", binary)
    del version["source"]
    catalog.add("a", binary, versions=[version])
    [line] = findings_of(catalog, "a")
    assert (
        "versions[0]: expected source.url (the release's https URL) or source.build (a recipe), got neither [CAT121]"
        in line
    )


@pytest.mark.parametrize(
    ("name", "rule", "fragment"),
    [
        ("r\u0430te", "CAT107", "U+0430 CYRILLIC SMALL LETTER A, which looks like 'a'"),
        ("Rate", "CAT106", "expected lower case"),
        ("rate_limit", "CAT106", "expected a DNS label"),
        ("con", "CAT108", "not reserved"),
    ],
)
def test_bad_names(catalog: CatalogBuilder, name: str, rule: str, fragment: str) -> None:
    catalog.write("a", filter_data(name, proxy_module()), dirname="a")
    [line] = findings_of(catalog, "a")
    assert line.startswith("catalog/filters/a/filter.yaml:1:7: error: name: ")
    assert fragment in line
    assert line.endswith(f"[{rule}]")


def test_name_must_equal_directory(catalog: CatalogBuilder) -> None:
    directory = catalog.write("other", filter_data("rate-limit", proxy_module()), dirname="other")
    (directory / "cases.yaml").write_text(CASES)
    assert findings_of(catalog, "other") == [
        "catalog/filters/other/filter.yaml:1:7: error: name: "
        "expected 'other' (the directory name), got 'rate-limit' [CAT105]"
    ]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (
            {"summary": "two\nlines"},
            "summary: expected one line of text, got line breaks or control characters [CAT118]",
        ),
        ({"summary": "x" * 121}, "summary: expected at most 120 characters, got 121 [CAT118]"),
        ({"title": "  "}, "title: expected text, got an empty string [CAT118]"),
        ({"owners": ["alice"]}, "owners[0]: expected '@user' or '@org/team', got 'alice' [CAT113]"),
        ({"owners": []}, "owners: expected at least 1 item(s), got 0 [CAT103]"),
        ({"summary": "Right-to-left \u202etxt.exe"}, "summary: expected visible text, got invisible formatting"),
        ({"sdk": "x" * 201}, "sdk: expected at most 200 characters, got 201 [CAT118]"),
        ({"owners": ["@a", "@a"]}, "owners: expected each entry once, got '@a' twice [CAT103]"),
        ({"license": "Apache 2"}, "license: expected an SPDX license expression, got 'Apache 2'"),
        ({"license": "apache-2.0"}, "license: expected the SPDX spelling 'Apache-2.0', got 'apache-2.0' [CAT111]"),
        ({"categories": ["fun"]}, "categories[0]: expected one of"),
        ({"keywords": ["Has Space"]}, "keywords[0]: expected text matching"),
    ],
)
def test_field_rules(catalog: CatalogBuilder, changes: dict[str, Any], fragment: str) -> None:
    catalog.add("a", **changes)
    lines = findings_of(catalog, "a")
    assert any(fragment in line for line in lines), lines


def test_no_license_is_a_warning_only(catalog: CatalogBuilder) -> None:
    catalog.add("a", license="NOASSERTION")
    [line] = findings_of(catalog, "a")
    assert "warning: license: expected an SPDX license, got NOASSERTION [CAT112]" in line


def test_example_failing_schema_points_into_the_example(catalog: CatalogBuilder) -> None:
    config = {
        "schema": {"type": "object", "properties": {"rate": {"type": "integer", "minimum": 1}}},
        "examples": [{"title": "ok", "value": {"rate": 5}}, {"title": "bad", "value": {"rate": 0}}],
    }
    catalog.add("a", config=config)
    [line] = findings_of(catalog, "a")
    assert (
        "error: config.examples[1].value.rate: example fails the schema: 0 is less than the minimum of 1 [CAT115]"
        in line
    )
    text = catalog.metadata_path("a").read_text().splitlines()
    row = int(line.split(":")[1])
    assert "rate: 0" in text[row - 1]


def test_invalid_config_schema(catalog: CatalogBuilder) -> None:
    config = {"schema": {"type": "objekt"}, "examples": [{"title": "x", "value": {}}]}
    catalog.add("a", config=config)
    [line] = findings_of(catalog, "a")
    assert "config.schema.type: expected a valid JSON Schema, got: 'objekt' is not valid" in line
    assert line.endswith("[CAT114]")


def test_remote_ref_in_config_schema_is_not_fetched(catalog: CatalogBuilder) -> None:
    config = {"schema": {"$ref": "https://example.org/schema.json"}, "examples": [{"title": "x", "value": {}}]}
    catalog.add("a", config=config)
    [line] = findings_of(catalog, "a")
    assert "config.schema: expected a $ref to a place inside the schema, got 'https://example.org/schema.json'" in line


def test_backtracking_pattern_is_matched_in_linear_time(catalog: CatalogBuilder) -> None:
    schema = {"type": "string", "pattern": "^(a+)+$"}
    config = {"schema": schema, "examples": [{"title": "x", "value": "a" * 5000 + "!"}]}
    catalog.add("a", config=config, cases=None)
    started = time.monotonic()
    [line] = [line for line in findings_of(catalog, "a") if ": error: " in line]
    assert time.monotonic() - started < 5  # Python's re takes longer than the age of the universe here
    assert "config.examples[0].value: example fails the schema:" in line
    assert "does not match '^(a+)+$'" in line


def test_lookaround_patterns_are_refused(catalog: CatalogBuilder) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": "(?=a)b"}}}
    catalog.add("a", config={"schema": schema, "examples": [{"title": "x", "value": {}}]})
    [line] = findings_of(catalog, "a")
    assert "config.schema.properties.x.pattern: pattern '(?=a)b': expected a regular expression RE2 accepts" in line
    assert line.endswith("[CAT114]")


def test_ref_cycle_is_a_finding_not_a_crash(catalog: CatalogBuilder) -> None:
    schema = {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    catalog.add("a", config={"schema": schema, "examples": [{"title": "x", "value": {}}]})
    [line] = findings_of(catalog, "a")
    assert "config.schema: expected a schema that ends, got a $ref cycle [CAT114]" in line


def test_versions_unique_and_ascending(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    versions = [version_data(v, binary) for v in ("1.0.0", "1.2.0", "1.1.0", "1.2.0")]
    catalog.add("a", binary, versions=versions)
    lines = findings_of(catalog, "a")
    assert any(
        "versions[2].version: expected a version above 1.2.0, got 1.1.0 (oldest first) [CAT117]" in x for x in lines
    )
    assert any(
        "versions[3].version: expected each version once, got 1.2.0 again (first at versions[1]) [CAT116]" in x
        for x in lines
    )


def test_build_path_outside_directory(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    source = {"build": {"recipe": "wat", "path": "../other/x.wat"}}
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, source=source)])
    [line] = findings_of(catalog, "a")
    assert (
        "versions[0].source.build.path: expected a path inside the filter's directory, got '../other/x.wat' [CAT119]"
        in line
    )


def test_build_source_symlink_is_refused(catalog: CatalogBuilder, tmp_path: Path) -> None:
    binary = proxy_module()
    source = {"build": {"recipe": "wat", "path": "src/x.wat"}}
    directory = catalog.add("a", binary, versions=[version_data("1.0.0", binary, source=source)])
    (directory / "src").mkdir()
    outside = tmp_path / "elsewhere.wat"
    outside.write_text("(module)")
    (directory / "src" / "x.wat").symlink_to(outside)
    lines = findings_of(catalog, "a")
    assert any(("versions[0].source.build.path" in x and "[CAT119]" in x) or "[CAT005]" in x for x in lines), lines


def test_symlinked_metadata_is_refused(catalog: CatalogBuilder, tmp_path: Path) -> None:
    directory = catalog.add("a")
    real = tmp_path / "real.yaml"
    real.write_bytes(catalog.metadata_path("a").read_bytes())
    catalog.metadata_path("a").unlink()
    catalog.metadata_path("a").symlink_to(real)
    entry = load_filter(catalog.root, "a")
    assert entry.broken
    assert [f.format() for f in entry.findings] == [
        "catalog/filters/a/filter.yaml: error: expected a regular file, got a symlink [CAT005]"
    ]
    assert directory.exists()


def test_oversized_metadata(catalog: CatalogBuilder) -> None:
    catalog.add("a", summary="short")
    path = catalog.metadata_path("a")
    path.write_text(path.read_text() + "#" * (300 * 1024))
    entry = load_filter(catalog.root, "a")
    assert [f.rule.id for f in entry.findings] == ["CAT001"]


def test_missing_readme_and_metadata(catalog: CatalogBuilder) -> None:
    (catalog.root / "catalog" / "filters" / "empty").mkdir()
    entry = load_filter(catalog.root, "empty")
    assert sorted(f.format() for f in entry.findings) == [
        "catalog/filters/empty/README.md: error: file is missing [CAT006]",
        "catalog/filters/empty/filter.yaml: error: file is missing [CAT006]",
    ]


def test_top_level_must_be_a_mapping(catalog: CatalogBuilder) -> None:
    catalog.write("a", "- just\n- a list\n")
    entry = load_filter(catalog.root, "a")
    assert [f.format() for f in entry.findings] == [
        "catalog/filters/a/filter.yaml:1:1: error: expected a mapping of fields, got a list [CAT002]"
    ]


def test_one_broken_filter_does_not_stop_the_others(catalog: CatalogBuilder) -> None:
    catalog.add("good")
    catalog.write("bad", "name: [unclosed\n")
    (catalog.root / "catalog" / "filters" / "stray.txt").write_text("x")
    (catalog.root / "catalog" / "filters" / "link").symlink_to(catalog.directory("good"))
    loaded = load_catalog(catalog.root)
    assert [e.name for e in loaded.loaded()] == ["good"]
    assert [e.name for e in loaded.broken()] == ["bad"]
    assert sorted(f.format() for f in loaded.findings) == [
        "catalog/filters/link: warning: expected a filter directory, got a symlink [CAT008]",
        "catalog/filters/stray.txt: warning: expected a filter directory, got a file [CAT008]",
    ]


def test_every_finding_in_a_file_is_reported(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    catalog.add("a", binary, title="", owners=["bob"], versions=[version_data("v1", binary, sha256="x")])
    lines = findings_of(catalog, "a")
    assert [line.rsplit("[", 1)[1] for line in lines] == ["CAT118]", "CAT113]", "CAT104]", "CAT109]"]
    positions = [tuple(map(int, line.split(":")[1:3])) for line in lines]
    assert all(p[0] > 1 for p in positions)


def test_positions_follow_the_file(catalog: CatalogBuilder) -> None:
    text = "# a comment\n" + yaml.safe_dump(filter_data("a", proxy_module(), homepage="http://x.org"), sort_keys=False)
    catalog.write("a", text)
    [line] = findings_of(catalog, "a")
    row = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith("homepage:"))
    assert line.startswith(f"catalog/filters/a/filter.yaml:{row}:11: error: homepage:")
    entry = load_filter(catalog.root, "a")
    assert entry.document is not None
    assert entry.document.position(("homepage",)) == Position(row, 11)


def test_find_repo_root(tmp_path: Path) -> None:
    (tmp_path / "catalog" / "filters" / "x").mkdir(parents=True)
    assert find_repo_root(tmp_path / "catalog" / "filters" / "x") == tmp_path.resolve()


def test_a_png_icon_is_accepted(catalog: CatalogBuilder) -> None:
    directory = catalog.add("a", icon="icon.png")
    (directory / "icon.png").write_bytes(png())
    assert findings_of(catalog, "a") == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "icon: expected a PNG image, got 59 bytes"),
        (None, "icon: 'icon.png': file is missing"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (64 * 1024), "icon: 'icon.png': expected at most 64.0 KiB"),
        ("huge", "icon: expected at most 1024x1024 pixels, got 2048x16"),
    ],
)
def test_a_bad_icon_is_refused(catalog: CatalogBuilder, content: bytes | str | None, fragment: str) -> None:
    directory = catalog.add("a", icon="icon.png")
    if content == "huge":
        (directory / "icon.png").write_bytes(png(2048, 16))
    elif isinstance(content, bytes):
        (directory / "icon.png").write_bytes(content)
    lines = findings_of(catalog, "a")
    assert any(fragment in line for line in lines), lines
    assert all("[CAT124]" in line or "[CAT0" in line for line in lines)


def test_an_icon_outside_the_directory_is_refused(catalog: CatalogBuilder) -> None:
    catalog.add("b")
    catalog.add("a", icon="../b/README.md")
    lines = findings_of(catalog, "a")
    assert any("icon:" in line and "[CAT" in line for line in lines), lines


TEAMS = """maintainers: '@acme/maintainers'
teams:
  '@acme/maintainers':
    members: ['@root']
  '@acme/edge':
    members: ['@alice', '@bob']
"""


def test_team_owners_must_be_in_the_teams_file(catalog: CatalogBuilder) -> None:
    (catalog.root / "catalog" / "teams.yaml").write_text(TEAMS)
    catalog.add("a", owners=["@alice", "@acme/edge", "@acme/nobody"])
    loaded = load_catalog(catalog.root)
    assert loaded.findings == []
    assert loaded.teams is not None
    assert loaded.teams.members_of("@acme/edge") == {"@alice", "@bob"}
    assert loaded.teams.members_of("@Alice") == {"@alice"}
    lines = [f.format() for f in check_metadata(loaded.entries["a"], loaded.teams)]
    assert len(lines) == 1
    assert "owners[2]: expected a team listed in catalog/teams.yaml" in lines[0]
    assert "got '@acme/nobody' [CAT125]" in lines[0]


def test_without_a_teams_file_teams_are_not_checked(catalog: CatalogBuilder) -> None:
    catalog.add("a", owners=["@acme/nobody"])
    loaded = load_catalog(catalog.root)
    assert loaded.teams is None
    assert check_metadata(loaded.entries["a"], loaded.teams) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (TEAMS.replace("maintainers: '@acme/maintainers'", "maintainers: '@acme/other'"),
         "expected the maintainers team '@acme/other' under teams"),
        (TEAMS.replace("'@acme/edge':", "'@acme':"), "expected a GitHub team '@org/team', got '@acme'"),
        (TEAMS.replace("['@alice', '@bob']", "['@acme/x']"), "expected a GitHub user '@login', got '@acme/x'"),
        (TEAMS.replace("['@alice', '@bob']", "[]"), "teams.@acme/edge.members"),
    ],
)  # fmt: skip
def test_a_bad_teams_file_is_a_finding(catalog: CatalogBuilder, text: str, fragment: str) -> None:
    (catalog.root / "catalog" / "teams.yaml").write_text(text)
    loaded = load_catalog(catalog.root)
    assert loaded.teams is None
    assert any(fragment in f.format() for f in loaded.findings), [f.format() for f in loaded.findings]


@pytest.mark.parametrize("url", ['https://x.org/a"b', "https://x.org/a'b", "https://x.org/<b>", "https://x.org/a|b",
                                 "https://x.org/a{b}", "https://x.org/[a](b)", "https://x.org/é"])  # fmt: skip
def test_urls_with_unsafe_characters_are_refused(catalog: CatalogBuilder, url: str) -> None:
    catalog.add("a", homepage=url)
    lines = findings_of(catalog, "a")
    assert any("homepage: expected a URL without" in line and "[CAT" in line for line in lines), lines


def test_an_ipv6_host_is_a_fine_url(catalog: CatalogBuilder) -> None:
    catalog.add("a", homepage="https://[2001:db8::1]/docs")
    assert findings_of(catalog, "a") == []


def test_a_readme_that_is_still_the_import_stub_is_an_error(catalog: CatalogBuilder) -> None:
    stub = readme.stub("A", "The a filter.", "0.2.1", "http", [])
    catalog.add("a", readme=stub.replace(readme.CONFIGURATION, "Set `header` to the header to add."))
    lines = findings_of(catalog, "a")
    assert lines == [
        f"catalog/filters/a/README.md: error: expected the filter's own text, got the placeholder {text!r} [CAT126]"
        for text in (readme.WHAT_IT_DOES, readme.FAILURE_MODE)
    ]


def test_no_behaviour_cases_is_a_warning(catalog: CatalogBuilder) -> None:
    catalog.add("a", cases=None)
    assert findings_of(catalog, "a") == [
        "catalog/filters/a/cases.yaml: warning: expected behaviour cases (what the filter does, how it refuses a bad "
        "configuration), got no cases.yaml [CAT127]"
    ]


def test_a_yank_needs_a_reason(catalog: CatalogBuilder) -> None:
    binary = proxy_module()
    catalog.add("a", binary, versions=[version_data("1.0.0", binary, yanked=True), version_data("1.1.0", binary)])
    [line] = findings_of(catalog, "a")
    assert line.endswith("error: versions[0]: expected a yank_reason for yanked version 1.0.0 [CAT128]")
