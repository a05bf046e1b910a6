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
