"""A parsed YAML document checked against a model: every pydantic error becomes a finding at its field.

Every catalog file with a model (`filter.yaml`, `cases.yaml`, `proofs.yaml`, `bench.yaml`, the
catalog's settings and teams, performance profiles) is read by `generator.metadata.yamlfile` and
then validated here, so every file's problems read alike: the field's line and column, what was
expected and what was received, a stable rule id. The models share one base, `StrictModel`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from generator.metadata import rules
from generator.metadata.findings import Finding, Rule
from generator.metadata.yamlfile import FieldPath, YamlDocument, format_path, json_type

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """The base of every catalog file's model: no coercion, no unknown fields, immutable once read.

    Code builds a model by its fields' Python names (`schema_`); a file must spell the alias
    (`schema`), since `validate_document` accepts aliases only.
    A model's validator is built the first time it is used, not at import: a command that reads
    only `filter.yaml` does not pay for the models of the other files.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def validate_document(model: type[M], document: YamlDocument) -> tuple[M | None, list[Finding]]:
    """The document's data as `model`, or None and a finding per problem, each at its field's line."""
    if not isinstance(document.data, dict):
        message = f"expected a mapping of fields, got {_type_name(document.data)}"
        return None, [rules.YamlSyntax.at(document.display, message, position=document.position(()))]
    try:
        # Files use the fields' aliases only (`schema`, `with`): the Python names are for code.
        return model.model_validate(document.data, by_alias=True, by_name=False), []
    except ValidationError as err:
        return None, [_finding_from_error(model, document, error) for error in err.errors(include_url=False)]


def _finding_from_error(model: type[BaseModel], document: YamlDocument, error: Any) -> Finding:
    """Turn one pydantic error into a finding at the field's line, with expected and received."""
    loc: FieldPath = tuple(part for part in error["loc"] if isinstance(part, (str, int)))
    kind: str = error["type"]

    def at(rule: type[Rule], message: str, *, key: bool = False) -> Finding:
        return field_finding(rule, document.display, document, loc, message, key=key)

    rule = next((r for r in rules.all_rules() if r.id == kind), None)
    if rule is not None:
        return at(rule, error["msg"])
    if kind == "extra_forbidden":
        parent = _model_fields_at(model, loc[:-1])
        hint = f" (expected one of: {', '.join(parent)})" if parent else ""
        return at(rules.UnknownField, f"unknown field{hint}", key=True)
    if kind == "missing":
        return at(rules.MissingField, "required field is missing")
    return at(rules.InvalidValue, _expected_got(kind, error))


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
}


def _expected_got(kind: str, error: Any) -> str:
    value = error.get("input")
    ctx = error.get("ctx") or {}
    got = f"{_type_name(value)} {_short(value)}".strip()
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx.get('expected', '')}, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    if kind in ("string_too_long", "string_too_short"):
        limit = ctx.get("max_length", ctx.get("min_length"))
        side = "at most" if kind == "string_too_long" else "at least"
        return f"expected {side} {limit} characters, got {len(value) if isinstance(value, str) else got}"
    if kind == "string_pattern_mismatch":
        return f"expected text matching {ctx.get('pattern')}, got {_short(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{error['msg'].lower().replace('input should be', 'expected a value')}, got {_short(value)}"
    return f"{error['msg']}, got {got}"


_TYPE_WORDS = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
}


def _type_name(value: object) -> str:
    kind = json_type(value)
    return _TYPE_WORDS.get(kind, kind)


def _short(value: object) -> str:
    """The value as YAML would show it, shortened; collections are described by their type alone."""
    if isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _model_fields_at(root: type[BaseModel], path: FieldPath) -> list[str]:
    """The field names the model allows at `path` (to suggest them after an unknown field)."""
    model: Any = root
    for part in path:
        if isinstance(part, int):
            continue
        field_info = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field_info is None:
            return []
        model = _model_in(field_info.annotation)
        if model is None:
            return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_in(annotation: Any) -> Any:
    """The pydantic model class inside `annotation` (`X`, `X | None`, `list[X]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def field_finding(
    rule: type[Rule],
    display: str,
    document: YamlDocument | None,
    path: FieldPath,
    message: str,
    *,
    key: bool = False,
) -> Finding:
    position = document.position(path, key=key) if document else None
    return rule.at(display, message, field=format_path(path), position=position)
