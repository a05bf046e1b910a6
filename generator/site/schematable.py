"""A filter's configuration schema as rows of a readable table.

Walks `properties` (nested objects become dotted paths, array items `name[]`) and keeps what a
user needs to write a configuration: type, whether it is required, the default, the description
and the constraints. Local `$ref`s into `$defs` are followed once per path; nothing is fetched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 6
MAX_ROWS = 200
_CONSTRAINTS = (
    ("enum", "one of"),
    ("const", "exactly"),
    ("pattern", "pattern"),
    ("format", "format"),
    ("minimum", "≥"),
    ("exclusiveMinimum", ">"),
    ("maximum", "≤"),
    ("exclusiveMaximum", "<"),
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("minItems", "min items"),
    ("maxItems", "max items"),
    ("uniqueItems", "unique items"),
)


@dataclass(frozen=True)
class SchemaRow:
    path: str
    type: str
    required: bool
    default: str | None
    description: str
    constraints: list[tuple[str, str | None]]  # label and value, e.g. ('max length', '64')


def schema_rows(schema: dict[str, Any]) -> list[SchemaRow]:
    """One row per property, in the order the schema declares them."""
    rows: list[SchemaRow] = []
    _walk(schema, schema, "", rows, 0)
    return rows[:MAX_ROWS]


def _resolve(root: dict[str, Any], node: Any) -> dict[str, Any]:
    for _ in range(MAX_DEPTH):
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
        # The referring node's own keywords (a description, a default) win over the target's.
        node = {**(target if isinstance(target, dict) else {}), **{k: v for k, v in node.items() if k != "$ref"}}
    return node if isinstance(node, dict) else {}


def _walk(root: dict[str, Any], node: Any, prefix: str, rows: list[SchemaRow], depth: int) -> None:
    node = _resolve(root, node)
    properties = node.get("properties")
    if depth >= MAX_DEPTH or not isinstance(properties, dict):
        return
    required = node.get("required") if isinstance(node.get("required"), list) else []
    for name, child in properties.items():
        if len(rows) >= MAX_ROWS:
            return
        child = _resolve(root, child)
        path = f"{prefix}{name}"
        rows.append(
            SchemaRow(
                path=path,
                type=_type(child),
                required=name in required,
                default=_json(child["default"]) if "default" in child else None,
                description=str(child.get("description", "")),
                constraints=_constraints(child),
            )
        )
        _walk(root, child, path + ".", rows, depth + 1)
        items = _resolve(root, child.get("items"))
        if items:
            _walk(root, items, path + "[].", rows, depth + 1)


def _type(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        text = " or ".join(str(k) for k in kind)
    elif isinstance(kind, str):
        text = kind
    elif "enum" in node or "const" in node:
        text = "value"
    else:
        text = "any"
    items = node.get("items")
    if text == "array" and isinstance(items, dict) and isinstance(items.get("type"), str):
        text = f"array of {items['type']}"
    return text


def _constraints(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for key, label in _CONSTRAINTS:
        if key not in node:
            continue
        value = node[key]
        if key == "enum" and isinstance(value, list):
            found.append((label, ", ".join(_json(v) for v in value)))
        elif key == "uniqueItems":
            if value is True:
                found.append((label, None))
        else:
            found.append((label, value if isinstance(value, str) else _json(value)))
    return found


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
