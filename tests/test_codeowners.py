"""`catalog codeowners`: .github/CODEOWNERS from the filters' owners and the maintainers team."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from generator.gitops.codeowners import CODEOWNERS_FILE, render
from generator.metadata.layout import PLATFORM_PATHS
from tests.conftest import REPO_ROOT, CatalogBuilder, snapshot

Cli = Callable[..., Result]

TEAMS = """\
maintainers: '@acme/maintainers'
teams:
  '@acme/maintainers':
    members: ['@boss']
  '@acme/edge':
    members: ['@alice', '@bob']
"""


@pytest.fixture
def teams(catalog: CatalogBuilder) -> CatalogBuilder:
    (catalog.root / "catalog" / "teams.yaml").write_text(TEAMS)
    return catalog


def codeowners_text(root: Path) -> str:
    return (root / CODEOWNERS_FILE).read_text()


def test_committed_codeowners_is_current() -> None:
    committed = (REPO_ROOT / CODEOWNERS_FILE).read_text(encoding="utf-8")
    assert committed == render(REPO_ROOT).text, "stale: run `catalog codeowners` and commit .github/CODEOWNERS"


def test_maintainers_own_everything_and_every_filter_with_its_owners(cli: Cli, teams: CatalogBuilder) -> None:
    teams.add("zeta", owners=["@carol"])
    teams.add("alpha", owners=["@alice", "@acme/edge"], visibility="private")
    teams.add("mid", owners=["@acme/maintainers", "@dave"], visibility="unlisted")
    result = cli("codeowners")
    assert result.exit_code == 0, result.stderr
    assert "wrote .github/CODEOWNERS" in result.stderr
    lines = codeowners_text(teams.root).splitlines()
    assert all(line.startswith("# ") for line in lines[:2])
    assert "run `catalog codeowners`" in lines[1]
    assert lines[2:6] == [
        "* @acme/maintainers",
        "/catalog/filters/alpha/ @alice @acme/edge @acme/maintainers",
        "/catalog/filters/mid/ @dave @acme/maintainers",
        "/catalog/filters/zeta/ @carol @acme/maintainers",
    ]
    # Last (the last matching line wins): the platform, for the maintainers alone.
    assert lines[6].startswith("# The platform")
    assert lines[7:] == [f"/{path} @acme/maintainers" for path in PLATFORM_PATHS]
    assert "/.github/ @acme/maintainers" in lines
    assert "/catalog/teams.yaml @acme/maintainers" in lines


def test_check_fails_on_a_stale_file_and_passes_once_written(cli: Cli, teams: CatalogBuilder) -> None:
    teams.add("alpha", owners=["@alice"])
    missing = cli("codeowners", "--check")
    assert missing.exit_code == 1
    assert ".github/CODEOWNERS is stale; run `catalog codeowners` and commit it" in missing.stderr
    assert not (teams.root / CODEOWNERS_FILE).exists()
    assert cli("codeowners").exit_code == 0
    assert cli("codeowners", "--check").exit_code == 0
    teams.add("beta", owners=["@bob"])
    stale = cli("codeowners", "--check")
    assert stale.exit_code == 1
    assert "/catalog/filters/beta/" not in codeowners_text(teams.root)
    again = cli("codeowners")
    assert again.exit_code == 0
    assert "/catalog/filters/beta/ @bob @acme/maintainers" in codeowners_text(teams.root)
    assert "is up to date" in cli("codeowners").stderr


def test_broken_filters_and_unknown_teams_are_left_out_with_a_warning(cli: Cli, teams: CatalogBuilder) -> None:
    teams.add("alpha", owners=["@alice", "@other/team"])
    teams.write("broken", "name: broken\nname: again\n")
    result = cli("codeowners")
    assert result.exit_code == 0
    text = codeowners_text(teams.root)
    assert "/catalog/filters/alpha/ @alice @acme/maintainers\n" in text
    assert "broken" not in text
    assert "warning: catalog/filters/broken/filter.yaml does not load" in result.stderr
    assert "catalog validate broken" in result.stderr
    assert "team '@other/team' is not in catalog/teams.yaml; left out" in result.stderr


@pytest.mark.parametrize("dirname", ["has space", "hash#tag", "caf\u00e9", "star*"])
def test_directories_codeowners_cannot_express_are_refused(cli: Cli, teams: CatalogBuilder, dirname: str) -> None:
    teams.add("alpha")
    teams.write("beta", (teams.metadata_path("alpha")).read_text(), dirname=dirname)
    before = snapshot(teams.root)
    result = cli("codeowners")
    assert result.exit_code == 1
    assert "cannot write CODEOWNERS" in result.stderr
    assert repr(dirname) in result.stderr
    assert snapshot(teams.root) == before


def test_without_a_teams_file_there_is_no_maintainers_team(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("alpha")
    result = cli("codeowners")
    assert result.exit_code == 1
    assert "catalog/teams.yaml is missing" in result.stderr
    assert not (catalog.root / CODEOWNERS_FILE).exists()


def test_a_broken_teams_file_is_reported(cli: Cli, catalog: CatalogBuilder) -> None:
    (catalog.root / "catalog" / "teams.yaml").write_text("maintainers: '@acme/nobody'\nteams: {}\n")
    result = cli("codeowners")
    assert result.exit_code == 1
    assert "catalog/teams.yaml does not load" in result.stderr
    assert "@acme/nobody" in result.stderr
