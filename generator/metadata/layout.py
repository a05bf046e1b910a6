"""Where things are in a catalog repository: the directories and file names every layer agrees on."""

from __future__ import annotations

import os
from pathlib import Path

FILTERS_DIR = Path("catalog") / "filters"
SETTINGS_FILE = Path("catalog") / "catalog.yaml"
TEAMS_FILE = Path("catalog") / "teams.yaml"
METADATA_FILE = "filter.yaml"
README_FILE = "README.md"


CACHE_ENV = "CATALOG_CACHE_DIR"


def user_cache_dir() -> Path:
    """The machine's cache outside any repository (compiled modules, installed Envoy releases):
    `$CATALOG_CACHE_DIR`, else `$XDG_CACHE_HOME/envoy-wasm-catalog`, else `~/.cache/envoy-wasm-catalog`."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "envoy-wasm-catalog"


def find_repo_root(start: Path) -> Path:
    """The nearest directory at or above `start` that holds `catalog/`; `start` if there is none."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / "catalog").is_dir():
            return candidate
    return start


# The platform: what decides how every pull request is checked, what CI runs and what the site
# serves. A change needs a maintainer (the review's CAT417; CODEOWNERS names the maintainers for
# each of these). Everything outside a filter's directory counts, not only these: a `GNUmakefile`
# or a `pytest.py` at the root would change what CI runs as surely as the Makefile (`is_platform`).
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


# Outside the filters, only prose that GitHub shows and nothing runs or serves is not the platform.
PROSE_PATHS = ("README.md", "CONTRIBUTING.md")


def is_platform(path: str) -> bool:
    """Whether the repository path `path` is part of the platform: anything outside a filter's
    directory (`catalog/filters/NAME/...`) but the prose files of `PROSE_PATHS`."""
    parts = path.split("/")
    in_a_filter = len(parts) > 3 and "/".join(parts[:2]) == FILTERS_DIR.as_posix() and not parts[2].startswith(".")
    return not in_a_filter and path not in PROSE_PATHS
