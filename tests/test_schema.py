"""The JSON Schema generated from the model: committed, current, and in step with the model."""

from __future__ import annotations

import json

import jsonschema
import yaml
from click.testing import CliRunner

from generator.cli import main
from generator.metadata import model
from generator.site.index import index_json_schema_text
from tests.conftest import REPO_ROOT, filter_data
from tests.wasm_modules import proxy_module

SCHEMA = REPO_ROOT / "catalog" / "schema" / "filter.schema.json"
INDEX_SCHEMA = REPO_ROOT / "catalog" / "schema" / "index.schema.json"


def test_committed_schemas_are_current() -> None:
    assert SCHEMA.read_text() == model.json_schema_text(), "the schema is stale: run `catalog schema` and commit it"
    assert INDEX_SCHEMA.read_text() == index_json_schema_text(), "stale: run `catalog schema` and commit it"


def test_schema_check_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "catalog").mkdir()
    runner = CliRunner()
    stale = runner.invoke(main, ["--root", str(tmp_path), "schema", "--check"])
    assert stale.exit_code == 1
    assert "run `catalog schema` and commit it" in stale.stderr
    assert "filter.schema.json is stale" in stale.stderr
    assert "index.schema.json is stale" in stale.stderr
    assert runner.invoke(main, ["--root", str(tmp_path), "schema"]).exit_code == 0
    assert runner.invoke(main, ["--root", str(tmp_path), "schema", "--check"]).exit_code == 0
    (tmp_path / "catalog" / "schema" / "index.schema.json").write_text("{}\n")
    one_stale = runner.invoke(main, ["--root", str(tmp_path), "schema", "--check"])
    assert one_stale.exit_code == 1
    assert "index.schema.json is stale" in one_stale.stderr
    assert "filter.schema.json" not in one_stale.stderr


def test_schema_accepts_what_the_model_accepts_and_refuses_unknown_fields() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    good = filter_data("a", proxy_module())
    model.FilterMeta.model_validate(good)
    validator.validate(good)
    assert not validator.is_valid({**good, "colour": "blue"})
    assert not validator.is_valid({**good, "name": "Bad_Name"})
    assert not validator.is_valid({**good, "homepage": "http://x.org"})
    bad_version = {**good, "versions": [{**good["versions"][0], "version": "v1"}]}
    assert not validator.is_valid(bad_version)


def test_schema_documents_every_field() -> None:
    schema = json.loads(SCHEMA.read_text())
    top = schema["properties"]
    assert set(top) == {f.alias or n for n, f in model.FilterMeta.model_fields.items()}
    undocumented = [name for name, prop in top.items() if "description" not in prop]
    assert undocumented == []


def test_shipped_filters_validate_against_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    directories = sorted(p for p in (REPO_ROOT / "catalog" / "filters").iterdir() if p.is_dir())
    assert len(directories) >= 7  # the shipped filters (README: "The filters")
    for directory in directories:
        data = yaml.safe_load((directory / "filter.yaml").read_text())
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], directory.name
