"""Pull requests in real git repositories for the review's tests, and reading its JSON report.

`review_repo` commits the base branch `main` (two published filters and the teams file) and
starts the pull request branch `pr`; the helpers change it, commit it and review it through the CLI.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import yaml
from click.testing import Result

from tests.conftest import CatalogBuilder, git, version_data

Cli = Callable[..., Result]

TEAMS = """\
maintainers: '@acme/maintainers'
teams:
  '@acme/maintainers':
    members: ['@maint']
  '@acme/edge':
    members: ['@Carol']
"""
V1 = b"version one"
V2 = b"version two, a little larger"


def review_repo(catalog: CatalogBuilder) -> CatalogBuilder:
    """`main`: rate-limit (owners @alice and @acme/edge) and jwt-claims; then the branch `pr`."""
    catalog.add("rate-limit", V1, title="Rate limit")
    catalog.add("jwt-claims", V1, owners=["@dave"])
    (catalog.root / "catalog" / "teams.yaml").write_text(TEAMS)
    (catalog.root / "README.md").write_text("# The catalog\n")
    git(catalog.root, "init", "-q", "-b", "main")
    commit(catalog, "base")
    git(catalog.root, "checkout", "-q", "-b", "pr")
    return catalog


def commit(catalog: CatalogBuilder, message: str = "change") -> None:
    git(catalog.root, "add", "-A")
    git(catalog.root, "commit", "-q", "--allow-empty", "-m", message)


def metadata(catalog: CatalogBuilder, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(catalog.metadata_path(name).read_text())
    return data


def edit(catalog: CatalogBuilder, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Change `name`'s filter.yaml on the branch and commit it."""
    data = metadata(catalog, name)
    change(data)
    catalog.write(name, data)
    commit(catalog)


def add_version(version: str, binary: bytes = V2, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["versions"].append(version_data(version, binary, **changes))


def prove(catalog: CatalogBuilder, name: str, version: str, binary: bytes = V2, *, cases: tuple[str, ...] = ()) -> None:
    """Record in proofs.yaml that `version` (`binary`) passed the smoke case, the default case and `cases`."""
    path = catalog.directory(name) / "proofs.yaml"
    proofs = yaml.safe_load(path.read_text()) if path.exists() else {"versions": {}}
    names = ["smoke", "passes a request through", *cases]
    proofs["versions"][version] = {
        "sha256": hashlib.sha256(binary).hexdigest(),
        "envoy": "1.40.0",
        "runtime": "envoy.wasm.runtime.v8",
        "date": "2026-12-06",
        "cases": [{"name": case, "passed": True} for case in names],
    }
    path.write_text(yaml.safe_dump(proofs, sort_keys=False))


def bump(catalog: CatalogBuilder, version: str = "1.1.0", **changes: Any) -> None:
    """A new version of rate-limit, proven, committed on the branch: a simple version bump."""
    data = metadata(catalog, "rate-limit")
    add_version(version, **changes)(data)
    catalog.metadata_path("rate-limit").write_text(yaml.safe_dump(data, sort_keys=False))
    prove(catalog, "rate-limit", version)
    commit(catalog)


def review(cli: Cli, *args: str, status: int = 0) -> dict[str, Any]:
    """The JSON report of `catalog review --base main ARGS`, after checking the exit status. The
    pull request's own checks passed, as the trusted workflow would say, unless ARGS say otherwise."""
    checks = () if "--ci" in args else ("--ci", "success")
    result = cli("review", "--base", "main", "--format", "json", *checks, *args)
    assert result.exit_code == status, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def only_filter(report: dict[str, Any]) -> dict[str, Any]:
    assert len(report["filters"]) == 1
    entry: dict[str, Any] = report["filters"][0]
    return entry


def kinds(entry: dict[str, Any]) -> list[str]:
    return [change["kind"] for change in entry["changes"]]


def cited(entry: dict[str, Any], severity: str | None = None) -> list[str]:
    """The rule ids of the findings of `severity` (all by default), in report order."""
    return [f["rule"] for f in entry["findings"] if severity is None or f["severity"] == severity]
