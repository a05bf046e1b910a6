"""Where things are in a catalog repository: the directories and file names every layer agrees on."""

from __future__ import annotations

from pathlib import Path

FILTERS_DIR = Path("catalog") / "filters"
SETTINGS_FILE = Path("catalog") / "catalog.yaml"
TEAMS_FILE = Path("catalog") / "teams.yaml"
METADATA_FILE = "filter.yaml"
README_FILE = "README.md"


def find_repo_root(start: Path) -> Path:
    """The nearest directory at or above `start` that holds `catalog/`; `start` if there is none."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "catalog").is_dir():
            return candidate
    return start


# The platform: what decides how every pull request is checked and what CI trusts. A change to any
# of these needs a maintainer (the review's CAT417; CODEOWNERS names the maintainers for each).
# A directory ends with '/'.
PLATFORM_PATHS = (
    ".github/",
    ".ci/",
    "generator/",
    "site_templates/",
    "Makefile",
    "pyproject.toml",
    "constraints.txt",
    "mkdocs.yml",
    "catalog/sdk/",
    "catalog/profiles/",
    "catalog/schema/",
    TEAMS_FILE.as_posix(),
    SETTINGS_FILE.as_posix(),
)


def is_platform(path: str) -> bool:
    """Whether the repository path `path` is part of the platform (`PLATFORM_PATHS`)."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PLATFORM_PATHS)
