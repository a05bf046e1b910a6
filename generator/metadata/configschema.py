"""Plugin configuration schemas: JSON Schema (draft 2020-12) written by strangers, used safely.

Three things can go wrong with an untrusted schema besides being invalid: a `pattern` that
backtracks for minutes on a short string (`^(a+)+$`), a `$ref` that points at itself forever,
and a `$ref` to a URL. Patterns are therefore matched with RE2 (linear time; it refuses
lookaround and backreferences, which Envoy's own RE2 matchers refuse too), recursion is caught,
and only references inside the schema resolve: nothing is ever fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
import re2
import referencing.exceptions
from jsonschema import Draft202012Validator, ValidationError

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: `path` inside the schema or inside the value."""

    path: JsonPath
    message: str


class UnusableSchema(Exception):
    """The schema cannot be used to validate anything (bad pattern, $ref cycle, remote $ref)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@cache
def _regex(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as err:
        detail = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        expected = "expected a regular expression RE2 accepts (no lookaround or backreferences)"
        raise UnusableSchema(Problem((), f"pattern {pattern!r}: {expected}, got: {detail}")) from None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, properties: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        for key, value in instance.items():
            if _regex(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


_Validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties}
)


def schema_problems(schema: dict[str, Any]) -> list[Problem]:
    """Why `schema` is not a usable JSON Schema; empty when it is."""
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as err:
        return [Problem(tuple(err.absolute_path), f"expected a valid JSON Schema, got: {err.message}")]
    problems = []
    for path, pattern in _patterns(schema, ()):
        try:
            _regex(pattern)
        except UnusableSchema as err:
            problems.append(Problem(path, err.problem.message))
    return problems


def _patterns(node: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield (*path, key), value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from (((*path, key, p), p) for p in value)
            yield from _patterns(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _patterns(item, (*path, index))


def value_problems(schema: dict[str, Any], value: Any) -> list[Problem]:
    """Where `value` breaks `schema`; raises UnusableSchema when the schema cannot decide."""
    try:
        errors = sorted(_Validator(schema).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
        return [Problem(tuple(e.absolute_path), e.message) for e in errors]
    except referencing.exceptions.Unresolvable as err:
        ref = getattr(err, "ref", str(err))
        message = f"expected a $ref to a place inside the schema, got {ref!r} (nothing is fetched)"
        raise UnusableSchema(Problem((), message)) from None
    except RecursionError:
        raise UnusableSchema(Problem((), "expected a schema that ends, got a $ref cycle")) from None
    except jsonschema.exceptions.UnknownType as err:
        message = f"expected a valid JSON Schema, got an unknown type {err.type!r}"
        raise UnusableSchema(Problem((), message)) from None
