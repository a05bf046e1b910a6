"""Editing `filter.yaml` in place without losing the author's comments and layout.

The commands change a few values (visibility, name, a version's facts) or append to a list (a new
version, a new example). One policy, shared with `generator.envoy.configedit`: a user's file never
loses a comment without being told.

1. The text is patched at the positions PyYAML's composer reports, so every other byte stays as it
   was (the common case: block mappings and lists).
2. A layout the patch cannot handle (a flow list `[...]`, a flow mapping) is edited by ruamel.yaml's
   round trip instead, which keeps comments but may re-indent lists or re-flow inline values.
3. Either result is parsed again: it must hold exactly the data we meant to write and keep every
   comment of the original. When neither does, the edit is refused with `YamlEditError`, which
   says what to change by hand; nothing is written.

Replacing a value replaces what was written inside it, comments included (a comment on an old
owner says nothing about the new one): those comments are returned in `Edited.dropped`, and the
command that made the edit tells the user which ones went.
"""

from __future__ import annotations

import copy
import io
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RoundTripError
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from generator.metadata.errors import CatalogError
from generator.metadata.yamlfile import format_path

SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schema/filter.schema.json\n"

Path = tuple[str | int, ...]


class YamlEditError(CatalogError):
    """The edit cannot be made while keeping the file's comments; the message says what to do by hand."""


@dataclass(frozen=True)
class Edited:
    """An edited text, and the comments that were inside the value it replaced."""

    text: str
    dropped: tuple[str, ...] = ()


_REST_OF_LINE = re.compile(r"[ \t]*(#[^\n\r]*)?")


def dump(data: dict[str, Any]) -> str:
    """A clean `filter.yaml` for `data`, keys in the given order, with the editor schema comment."""
    return SCHEMA_COMMENT + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def set_value(
    text: str, path: Path, value: Any, *, insert_before: Sequence[str] = (), display: str = "filter.yaml"
) -> Edited:
    """`text` with the value at `path` set to `value`.

    If the key does not exist yet, it is inserted in its parent mapping before the first of
    `insert_before` that exists (or at the end of the mapping).
    """
    expected = copy.deepcopy(_load(text, display))
    _container(expected, path[:-1], display)[path[-1]] = value
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    parent = _node_at(root, path[:-1])
    key = path[-1]
    patched: str | None = None
    replaced = (0, 0)  # comments inside the value being replaced go with it
    if isinstance(parent, yaml.MappingNode) and isinstance(key, str):
        for key_node, value_node in parent.value:
            if key_node.value == key:
                # Replace from the end of the key to the end of the value: a scalar, or a whole
                # block list or mapping, becomes one flow value on the key's line. A block
                # collection ends with its last line, comment included: it was about that item.
                start, end = key_node.end_mark.index, _end_of(value_node)
                if isinstance(value_node, yaml.CollectionNode) and not value_node.flow_style:
                    end = _end_of_line(text, end)
                replaced = (value_node.start_mark.index, end)
                patched = text[:start] + ": " + _inline(value) + text[end:]
                break
        else:
            patched = _insert_key(text, parent, key, value, insert_before)

    def change(data: Any) -> None:
        container = _container(data, path[:-1], display)
        if isinstance(container, CommentedMap) and key not in container:
            keys = list(container)
            position = next((keys.index(k) for k in insert_before if k in container), len(keys))
            container.insert(position, key, _quoted(value))
        else:
            container[key] = _quoted(value)

    kept = comments(text, outside=replaced)
    dropped = tuple((comments(text) - kept).elements())
    what = f"set {format_path(path)} to {_inline(value)}"
    return Edited(_checked(text, patched, change, expected, kept, what, display), dropped)


def append_item(text: str, path: Path, item: Any, *, display: str = "filter.yaml") -> str:
    """`text` with `item` appended to the list at `path`."""
    expected = copy.deepcopy(_load(text, display))
    _container(expected, path, display).append(item)
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

    def change(data: Any) -> None:
        _container(data, path, display).append(_quoted(item))

    return _checked(text, patched, change, expected, comments(text), f"append an item to {format_path(path)}", display)


def comments(text: str, *, outside: tuple[int, int] = (0, 0)) -> Counter[str]:
    """Every comment of a YAML text (`# ...` up to the end of its line), counted, whitespace trimmed;
    those starting within the character span `outside` (a value being replaced) are left out.

    A `#` starts a comment at the start of a line or after whitespace, outside a scalar; the
    scalars' spans come from PyYAML's scanner, so a `#` inside a quoted value is not one.
    """
    scalars = [_scalar_span(text, token) for token in yaml.scan(text) if isinstance(token, yaml.ScalarToken)]
    found: Counter[str] = Counter()
    inside = 0
    index = text.find("#")
    while index >= 0:
        while inside < len(scalars) and scalars[inside][1] <= index:
            inside += 1
        in_scalar = inside < len(scalars) and scalars[inside][0] <= index
        if not in_scalar and (index == 0 or text[index - 1] in " \t\n\r\ufeff"):
            end = _end_of_line(text, index)
            if not outside[0] <= index < outside[1]:
                found[text[index:end].rstrip()] += 1
            index = end
        index = text.find("#", index + 1)
    return found


def _scalar_span(text: str, token: yaml.ScalarToken) -> tuple[int, int]:
    """Where a scalar's text is; a block scalar (`|`, `>`) starts on the line after its header,
    which may end in a comment."""
    start = token.start_mark.index
    if token.style in ("|", ">"):
        start = _end_of_line(text, text.find(token.style, start) + 1)
    return start, token.end_mark.index


def _end_of_line(text: str, index: int) -> int:
    """Where the line ends when the rest of it from `index` is blank or a comment (else `index`)."""
    match = _REST_OF_LINE.match(text, index)
    return match.end() if match else index


def _checked(
    text: str,
    patched: str | None,
    change: Callable[[Any], None],
    expected: Any,
    kept: Counter[str],
    what: str,
    display: str,
) -> str:
    """The patched text if it holds `expected` and the comments `kept`; else ruamel's round trip; else refuse."""
    if patched is not None and _holds(patched, expected, kept):
        return patched
    round_trip = _round_trip(text, change)
    if round_trip is not None and _holds(round_trip, expected, kept):
        return round_trip
    raise YamlEditError(f"{display}: cannot {what} and keep the file's comments; make the change by hand")


def _holds(candidate: str, expected: Any, kept: Counter[str]) -> bool:
    try:
        return bool(yaml.safe_load(candidate) == expected and not kept - comments(candidate))
    except yaml.YAMLError:
        return False


def _round_trip(text: str, change: Callable[[Any], None]) -> str | None:
    editor = YAML(typ="rt")
    editor.preserve_quotes = True
    editor.width = 4096  # never fold a long value onto a second line
    mapping, sequence, offset = _indentation(text)
    editor.indent(mapping=mapping, sequence=sequence, offset=offset)
    try:
        data = editor.load(text)
        change(data)
        out = io.StringIO()
        editor.dump(data, out)
    except (RoundTripError, KeyError, IndexError, TypeError, AttributeError):
        return None
    return out.getvalue()


def _indentation(text: str) -> tuple[int, int, int]:
    """The file's own indentation, for ruamel: mapping indent, sequence indent, dash offset.

    Read from the first nested block mapping and the first block list under a key (defaults 2, 2, 0).
    """
    mapping: int | None = None
    offset: int | None = None
    pending = [yaml.compose(text, Loader=yaml.SafeLoader)]
    while pending and (mapping is None or offset is None):
        node = pending.pop()
        if isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
        if not isinstance(node, yaml.MappingNode) or node.flow_style:
            continue
        for key_node, value_node in node.value:
            pending.append(value_node)
            if getattr(value_node, "flow_style", True) or not value_node.value:
                continue
            if isinstance(value_node, yaml.MappingNode) and mapping is None:
                mapping = value_node.value[0][0].start_mark.column - key_node.start_mark.column
            elif isinstance(value_node, yaml.SequenceNode) and offset is None:
                first = value_node.value[0].start_mark.index
                dash = text.rfind("-", 0, first)
                offset = dash - (text.rfind("\n", 0, dash) + 1) - key_node.start_mark.column
    return mapping or 2, (offset or 0) + 2, offset or 0


def _load(text: str, display: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise YamlEditError(f"{display}: cannot edit a file that is not valid YAML: {err}") from None


def _container(data: Any, path: Path, display: str) -> Any:
    """The mapping or list at `path`; YamlEditError when the file has none there."""
    for index, part in enumerate(path):
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            raise YamlEditError(
                f"{display}: expected {format_path(path[: index + 1])} in the file; it has none"
            ) from None
    if not isinstance(data, (dict, list)):
        raise YamlEditError(f"{display}: expected a mapping or a list at {format_path(path)}, got a single value")
    return data


def _quoted(value: Any) -> Any:
    """`value` for ruamel's dump: strings that YAML 1.1 would read as another type (`yes`, `1.0`) quoted."""
    if isinstance(value, dict):
        return {key: _quoted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_quoted(item) for item in value]
    if isinstance(value, str) and _reads_as_other(value):
        return SingleQuotedScalarString(value)
    return value


def _reads_as_other(text: str) -> bool:
    try:
        return bool(yaml.safe_load(text) != text)
    except yaml.YAMLError:
        return True


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
