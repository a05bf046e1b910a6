"""Findings: what a check reports about a file, the rule it cites, and how a finding is printed.

Every stage of the pipeline (load, validate, inspect) returns its value together with a list of
findings; only the command line decides the exit status from them. The rules themselves (one class
per rule, with a stable id) are in `generator.metadata.rules`; their base class is here, beside the
finding that cites it.
"""

from __future__ import annotations

import enum
import inspect
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from generator.metadata.text import printable


class Severity(enum.Enum):
    """How bad a finding is. Only errors make a command fail."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Position:
    """A place in a text file, 1-based as editors show it."""

    line: int
    col: int


class Rule:
    """Base of all rules. Subclasses set `id` and `severity` and document themselves."""

    id: ClassVar[str]
    severity: ClassVar[Severity] = Severity.ERROR

    @classmethod
    def at(
        cls,
        path: str,
        message: str,
        field: str = "",
        position: Position | None = None,
    ) -> Finding:
        return Finding(rule=cls, path=path, message=message, field=field, position=position)

    @classmethod
    def explanation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")


@dataclass(frozen=True)
class Finding:
    """One problem found in one file, at one field."""

    rule: type[Rule]
    path: str
    message: str
    field: str = ""
    position: Position | None = None

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    @property
    def location(self) -> str:
        """`path:line:col` as far as known; empty for a finding about no file (a whole pull request)."""
        if not self.path:
            return ""
        if self.position is None:
            return self.path
        return f"{self.path}:{self.position.line}:{self.position.col}"

    def format(self) -> str:
        """`path:line:col: error: field: message [RULE]`, the form compilers and editors read."""
        where = f"{self.location}: " if self.path else ""
        subject = f"{self.field}: " if self.field else ""
        return printable(f"{where}{self.severity.value}: {subject}{self.message} [{self.rule.id}]")

    def github_annotation(self) -> str:
        """The same finding as a GitHub Actions workflow command, shown inline on the pull request."""
        level = {"error": "error", "warning": "warning", "note": "notice"}[self.severity.value]
        props = [f"file={_escape_property(self.path)}"] if self.path else []
        if self.path and self.position is not None:
            props += [f"line={self.position.line}", f"col={self.position.col}"]
        props.append(f"title={self.rule.id}")
        subject = f"{self.field}: " if self.field else ""
        return f"::{level} {','.join(props)}::{_escape_data(subject + self.message)}"

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule.id,
            "severity": self.severity.value,
            "path": self.path,
            "line": self.position.line if self.position else None,
            "col": self.position.col if self.position else None,
            "field": self.field,
            "message": self.message,
        }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass
class Findings:
    """An ordered collection of findings, with the counts a command needs to decide its exit."""

    items: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.items.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        self.items.extend(findings)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.items if f.severity is severity)

    @property
    def has_errors(self) -> bool:
        return self.count(Severity.ERROR) > 0

    def for_path_prefix(self, prefix: str) -> list[Finding]:
        return [f for f in self.items if f.path == prefix or f.path.startswith(prefix + "/")]

    def sorted(self) -> list[Finding]:
        """Findings grouped by file, then in file order, so the output reads top to bottom."""

        def key(f: Finding) -> tuple[str, int, int]:
            pos = f.position or Position(0, 0)
            return (f.path, pos.line, pos.col)

        return sorted(self.items, key=key)

    def to_json(self) -> str:
        return json.dumps([f.to_json() for f in self.sorted()], indent=2)
