"""YAML for untrusted files: line numbers for every field, and nothing that can surprise a reader.

PyYAML's composer gives each node its start mark; we turn the node tree into plain JSON-like data
ourselves so that we can keep a position for every field path, report every duplicate key (PyYAML
keeps the last one silently), and refuse anchors, aliases and explicit tags outright (aliases can
expand a small file into gigabytes, and tags can ask for arbitrary Python objects).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.metadata.files import read_text
from generator.metadata.findings import Finding, Position
from generator.metadata.rules import ForbiddenCharacter, YamlAlias, YamlDuplicateKey, YamlSyntax

FieldPath = tuple[str | int, ...]

MAX_DEPTH = 32  # nesting deeper than this is refused before PyYAML's recursive composer sees it
MAX_NUMBER_DIGITS = 30

# What YAML allows in a stream (its "printable" set); anything else stops every YAML parser.
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Tags PyYAML's safe resolver gives plain scalars; anything else stays the text it was written as.
_TYPED_SCALARS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}


def json_type(value: object) -> str:
    """The JSON Schema type name of a parsed value: object, array, string, boolean, integer, number, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def format_path(path: FieldPath) -> str:
    """`("versions", 0, "sha256")` -> `versions[0].sha256`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class YamlDocument:
    """Parsed YAML data and the position of every key and value in it."""

    display: str
    data: object
    keys: dict[FieldPath, Position] = field(default_factory=dict)
    values: dict[FieldPath, Position] = field(default_factory=dict)

    def position(self, path: FieldPath, *, key: bool = False) -> Position | None:
        """Where `path` is written; for a path that does not exist, where its nearest parent is."""
        probe = tuple(path)
        while True:
            table = self.keys if key else self.values
            if probe in table:
                return table[probe]
            if key and probe in self.values:
                return self.values[probe]
            if not probe:
                return None
            probe = probe[:-1]
            key = False


# libyaml's parser when PyYAML has it (about six times faster on a large catalog); the constructors
# and the checks here are the same either way.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, display: str) -> tuple[YamlDocument | None, list[Finding]]:
    """Parse one YAML document. Returns None and findings when it cannot be trusted."""
    findings = _refuse_forbidden_characters(text, display) or _refuse_aliases_and_tags(text, display)
    if findings:
        return None, findings
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        return None, [_syntax_finding(err, display)]
    finally:
        loader.dispose()
    doc = YamlDocument(display=display, data=None)
    if root is None:
        doc.data = None
        return doc, []
    builder = _Builder(doc, loader)
    doc.data = builder.build(root, ())
    return doc, builder.findings


def read_yaml(path: Path, display: str, max_bytes: int) -> tuple[YamlDocument | None, list[Finding]]:
    """Read and parse a YAML file with the checks of `generator.metadata.files.read_text`."""
    text, findings = read_text(path, display, max_bytes)
    if text is None:
        return None, findings
    return parse_yaml(text, display)


def _mark(mark: Any) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _syntax_finding(err: yaml.MarkedYAMLError, display: str) -> Finding:
    mark = err.problem_mark or err.context_mark
    problem = err.problem or "invalid YAML"
    if err.context:
        problem = f"{err.context}: {problem}"
    return YamlSyntax.at(
        display,
        f"expected valid YAML, got {problem}",
        position=_mark(mark) if mark is not None else None,
    )


def _refuse_forbidden_characters(text: str, display: str) -> list[Finding]:
    """A finding for each line holding a character YAML forbids (PyYAML would stop with no position)."""
    findings = []
    for line_number, line in enumerate(text.split("\n"), start=1):
        match = _FORBIDDEN.search(line)
        if match is None:
            continue
        character = match.group()
        name = unicodedata.name(character, "a control character")
        message = f"expected text YAML allows, got U+{ord(character):04X} ({name})"
        findings.append(ForbiddenCharacter.at(display, message, position=Position(line_number, match.start() + 1)))
    return findings


def _refuse_aliases_and_tags(text: str, display: str) -> list[Finding]:
    """One pass over the parser's events, before anything is built from them."""
    findings: list[Finding] = []
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            pos = _mark(event.start_mark)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    message = f"expected at most {MAX_DEPTH} levels of nesting, got more"
                    return [*findings, YamlSyntax.at(display, message, position=pos)]
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if isinstance(event, yaml.AliasEvent):
                findings.append(
                    YamlAlias.at(display, f"expected plain values, got alias '*{event.anchor}'", position=pos)
                )
            elif isinstance(event, yaml.NodeEvent) and event.anchor is not None:
                findings.append(
                    YamlAlias.at(display, f"expected plain values, got anchor '&{event.anchor}'", position=pos)
                )
            elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)) and _explicit_tag(event):
                findings.append(YamlAlias.at(display, f"expected plain values, got tag '{event.tag}'", position=pos))
    except yaml.MarkedYAMLError as err:
        return [_syntax_finding(err, display)]
    return findings


def _explicit_tag(event: yaml.ScalarEvent | yaml.CollectionStartEvent) -> bool:
    if event.tag is None or event.tag == "!":
        return False
    if isinstance(event, yaml.ScalarEvent):
        # implicit is (plain, quoted): a tag that was inferred, not written, is fine.
        return not any(event.implicit)
    return not event.implicit


def _too_many_digits(text: str, path: FieldPath) -> str:
    """What to say about a number too long to be one: usually a sha256 whose hex digits are all 0-9."""
    if path and path[-1] == "sha256":
        return (
            f"expected a sha256 (64 hex digits, as text), got a number: YAML reads digits without quotes as one; "
            f"write it in quotes: '{text}'"
        )
    return f"expected a number of at most {MAX_NUMBER_DIGITS} digits (text of digits goes in quotes), got {len(text)}"


class _Builder:
    def __init__(self, doc: YamlDocument, loader: Any) -> None:
        self.doc = doc
        self.loader = loader
        self.findings: list[Finding] = []

    def build(self, node: yaml.Node, path: FieldPath) -> object:
        self.doc.values[path] = _mark(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.tag not in _TYPED_SCALARS:
            return node.value
        if node.tag.endswith((":int", ":float")) and sum(ch.isdigit() for ch in node.value) > MAX_NUMBER_DIGITS:
            self._refuse(node, path, _too_many_digits(node.value, path))
            return None
        value = self.loader.construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):
            self._refuse(node, path, f"expected a finite number, got {node.value}")
            return None
        return value

    def _refuse(self, node: yaml.Node, path: FieldPath, message: str) -> None:
        finding = YamlSyntax.at(self.doc.display, message, field=format_path(path), position=_mark(node.start_mark))
        self.findings.append(finding)

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, object]:
        out: dict[str, object] = {}
        seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            key_pos = _mark(key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                self.findings.append(
                    YamlSyntax.at(
                        self.doc.display,
                        "expected a plain key, got a mapping or list used as a key",
                        field=format_path(path),
                        position=key_pos,
                    )
                )
                continue
            key = str(key_node.value)
            if key in seen:
                first = seen[key]
                self.findings.append(
                    YamlDuplicateKey.at(
                        self.doc.display,
                        f"expected each key once, got '{key}' again (first at line {first.line})",
                        field=format_path((*path, key)),
                        position=key_pos,
                    )
                )
                continue
            seen[key] = key_pos
            self.doc.keys[(*path, key)] = key_pos
            out[key] = self.build(value_node, (*path, key))
        return out
