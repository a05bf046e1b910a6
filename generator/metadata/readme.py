"""The README a new filter starts with, and how to tell that it has not been written yet.

`catalog filter import` writes the stub; `catalog validate` (CAT126) refuses a README that still
holds any of its placeholder paragraphs, so a filter's page never ships them.
"""

from __future__ import annotations

from collections.abc import Sequence

# Each placeholder is a whole paragraph of the stub, replaced by the filter's own text.
WHAT_IT_DOES = "Describe what the filter does to requests and responses, and when to use it."
CONFIGURATION = "Describe each field of the plugin configuration (see `config.schema` in `filter.yaml`)."
FAILURE_MODE = (
    "Say what happens when the filter cannot do its job: does it refuse the request (fail closed) "
    "or let it through (fail open)?"
)
PLACEHOLDERS = (WHAT_IT_DOES, CONFIGURATION, FAILURE_MODE)


def stub(title: str, summary: str, abi: str, kind: str, capabilities: Sequence[str]) -> str:
    """The README of a freshly imported filter: its title and summary, placeholders, and its binary's facts."""
    return (
        f"# {title}\n\n{summary}\n\n"
        f"## What it does\n\n{WHAT_IT_DOES}\n\n"
        f"## Configuration\n\n{CONFIGURATION}\n\n"
        f"## Failure mode\n\n{FAILURE_MODE}\n\n"
        f"## Binary\n\nproxy-wasm ABI {abi}, {kind} filter, host capabilities: {', '.join(capabilities) or 'none'}.\n"
    )


def placeholders_in(text: str) -> list[str]:
    """The stub's placeholder paragraphs that `text` still holds (whitespace between words ignored)."""
    words = " ".join(text.split())
    return [placeholder for placeholder in PLACEHOLDERS if placeholder in words]
