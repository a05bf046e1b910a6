"""What several commands share: the errors the staged metadata of an import or a clone would have, `--config`."""

from __future__ import annotations

import json
from pathlib import Path

from generator.metadata.checks import check_metadata
from generator.metadata.errors import FindingsError, UsageError
from generator.metadata.files import MIB, read_user_file
from generator.metadata.findings import Finding, Severity
from generator.metadata.loader import load_filter, load_teams
from generator.metadata.rules import MissingSource, ReadmeStub
from generator.metadata.yamledit import Edited


def staged_errors(root: Path, name: str, staging: Path) -> list[Finding]:
    """The errors the staged directory would have as filter `name`. What the author completes after an
    import is allowed: a source (a freshly imported local file has none yet) and the README stub."""
    entry = load_filter(root, name, directory=staging)
    teams, _ = load_teams(root)
    findings = entry.findings + check_metadata(entry, teams)
    return [f for f in findings if f.severity is Severity.ERROR and f.rule not in (MissingSource, ReadmeStub)]


def dropped_comments(display: str, edits: dict[str, Edited]) -> list[str]:
    """A warning for each comment that went with a value an edit replaced, naming the field."""
    return [
        f"{display}: {field}: the comment '{comment}' was in the value replaced; it is gone"
        for field, edited in edits.items()
        for comment in edited.dropped
    ]


def parse_config(value: str) -> object:
    """A plugin configuration from `--config`: a path to a JSON file, or JSON text."""
    if not value.strip():
        raise UsageError("--config: expected JSON text or a JSON file, got an empty string")
    path = Path(value)
    if not value.lstrip().startswith(("{", "[", '"')) and path.is_file():
        data, findings = read_user_file(path, 1 * MIB)
        if data is None:
            raise FindingsError("--config: the file cannot be read", findings)
        text, source = data.decode("utf-8", "replace"), str(path)
    else:
        text, source = value, "--config"
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise UsageError(f"{source}:{err.lineno}:{err.colno}: expected JSON, got: {err.msg}") from None
    except ValueError as err:
        raise UsageError(f"{source}: expected JSON numbers, got {err}") from None


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} (not part of JSON)")
