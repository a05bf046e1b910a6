"""Editing `filter.yaml` in place without losing the author's comments and layout.

The commands change a few values (visibility, name) or append to a list (a new version, a new
example). Re-dumping the whole file would drop comments and reorder keys, so we patch the text at
the positions PyYAML's composer reports, then parse the result and check that it holds exactly the
data we meant to write. If it does not (an unusual layout), we fall back to a clean dump.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schema/filter.schema.json\n"

Path = tuple[str | int, ...]


def dump(data: dict[str, Any]) -> str:
    """A clean `filter.yaml` for `data`, keys in the given order, with the editor schema comment."""
    return SCHEMA_COMMENT + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def set_value(text: str, path: Path, value: Any, *, insert_before: Sequence[str] = ()) -> str:
    """`text` with the scalar at `path` set to `value`.

    If the key does not exist yet, it is inserted in its parent mapping before the first of
    `insert_before` that exists (or at the end of the mapping).
    """
    data = _load(text)
    expected = copy.deepcopy(data)
    _assign(expected, path, value)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    parent = _node_at(root, path[:-1])
    key = path[-1]
    patched: str | None = None
    if isinstance(parent, yaml.MappingNode) and isinstance(key, str):
        for key_node, value_node in parent.value:
            if key_node.value == key:
                # Replace from the end of the key to the end of the value's last line: a scalar,
                # or a whole block list or mapping, becomes one flow value on the key's line.
                start, end = key_node.end_mark.index, _end_of(value_node)
                patched = text[:start] + ": " + _inline(value) + text[end:]
                break
        else:
            patched = _insert_key(text, parent, key, value, insert_before)
    return _verified(patched, expected)


def append_item(text: str, path: Path, item: Any) -> str:
    """`text` with `item` appended to the block sequence at `path`."""
    data = _load(text)
    expected = copy.deepcopy(data)
    target = expected
    for part in path:
        target = target[part]
    target.append(item)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    node = _node_at(root, path)
    patched: str | None = None
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        first = node.value[0]
        line_start = text.rfind("\n", 0, first.start_mark.index) + 1
        dash = text.find("-", line_start, first.start_mark.index)
        if dash >= 0:
            indent = " " * (dash - line_start)
            end = _end_of(node)
            line_end = text.find("\n", end)
            cut = len(text) if line_end < 0 else line_end + 1
            block = yaml.safe_dump([item], sort_keys=False, allow_unicode=True, width=100)
            block = "".join(indent + line for line in block.splitlines(keepends=True))
            head = text[:cut] if text[:cut].endswith("\n") else text[:cut] + "\n"
            patched = head + block + text[cut:]
    return _verified(patched, expected)


def _load(text: str) -> Any:
    return yaml.safe_load(text)


def _assign(data: Any, path: Path, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _node_at(node: yaml.Node | None, path: Path) -> yaml.Node | None:
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node


def _end_of(node: yaml.Node) -> int:
    """Where a node's own text ends: for block collections, the end of their last item.

    PyYAML ends a block collection where the next token starts, which would swallow the comments
    and blank lines that follow it.
    """
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _end_of(node.value[-1])
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        return _end_of(node.value[-1][1])
    return int(node.end_mark.index)


def _inline(value: Any) -> str:
    """`value` as a YAML flow scalar on one line (quoted when it would otherwise change type)."""
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
    return dumped.removesuffix("\n...\n").removesuffix("\n")


def _insert_key(text: str, mapping: yaml.MappingNode, key: str, value: Any, before: Sequence[str]) -> str | None:
    if mapping.flow_style or not mapping.value:
        return None
    indent = mapping.value[0][0].start_mark.column
    line = f"{' ' * indent}{key}: {_inline(value)}\n"
    for key_node, _ in mapping.value:
        if key_node.value in before:
            at = text.rfind("\n", 0, key_node.start_mark.index) + 1
            return text[:at] + line + text[at:]
    end = _end_of(mapping)
    line_end = text.find("\n", end)
    cut = len(text) if line_end < 0 else line_end + 1
    head = text[:cut] if text[:cut].endswith("\n") else text[:cut] + "\n"
    return head + line + text[cut:]


def _verified(patched: str | None, expected: Any) -> str:
    if patched is not None:
        try:
            if _load(patched) == expected:
                return patched
        except yaml.YAMLError:
            pass
    return dump(expected)
