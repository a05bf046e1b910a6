"""The configuration schema as table rows: nesting, required fields, defaults, constraints, $ref."""

from __future__ import annotations

from generator.site.schematable import MAX_DEPTH, SchemaRow, schema_rows


def test_rows_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "required": ["rate"],
        "properties": {
            "rate": {"type": "number", "minimum": 0.001, "description": "Tokens per second."},
            "mode": {"enum": ["strict", "lenient"], "default": "strict"},
            "limits": {
                "type": "object",
                "required": ["burst"],
                "properties": {"burst": {"type": "integer", "maximum": 100}},
            },
            "rules": {
                "type": "array",
                "uniqueItems": True,
                "items": {"type": "object", "properties": {"path": {"type": "string", "pattern": "^/"}}},
            },
            "tags": {"type": "array", "items": {"type": "string"}},
            "either": {"type": ["string", "null"]},
        },
    }
    assert schema_rows(schema) == [
        SchemaRow("rate", "number", True, None, "Tokens per second.", [("≥", "0.001")]),
        SchemaRow("mode", "value", False, '"strict"', "", [("one of", '"strict", "lenient"')]),
        SchemaRow("limits", "object", False, None, "", []),
        SchemaRow("limits.burst", "integer", True, None, "", [("≤", "100")]),
        SchemaRow("rules", "array of object", False, None, "", [("unique items", None)]),
        SchemaRow("rules[].path", "string", False, None, "", [("pattern", "^/")]),
        SchemaRow("tags", "array of string", False, None, "", []),
        SchemaRow("either", "string or null", False, None, "", []),
    ]


def test_local_refs_are_followed_and_cycles_end() -> None:
    schema = {
        "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/node", "description": "The tree."}},
    }
    rows = schema_rows(schema)
    assert rows[0] == SchemaRow("root", "object", False, None, "The tree.", [])
    assert [row.path for row in rows][:3] == ["root", "root.child", "root.child.child"]
    assert len(rows) == MAX_DEPTH


def test_remote_refs_and_odd_schemas_give_no_rows() -> None:
    assert schema_rows({"properties": {"a": {"$ref": "https://example.org/s.json"}}}) == [
        SchemaRow("a", "any", False, None, "", [])
    ]
    assert schema_rows({"type": "string"}) == []
    assert schema_rows({"properties": ["not", "a", "mapping"]}) == []
