"""How any layer refuses a request: the errors a command ends with, and their exit status.

The command line turns them into a message and an exit status (never a traceback): 1 when what was
asked cannot be done, 2 for a usage error (an unknown name, a malformed value), and for
`FindingsError` it prints each finding under the headline. Like click's exceptions, they sit at the
bottom, so the layer that knows why something is refused can say so.
"""

from __future__ import annotations

from generator.metadata.findings import Finding


class CatalogError(Exception):
    """What was asked cannot be done. Exit status 1 (2 for usage errors)."""

    exit_code = 1


class UsageError(CatalogError):
    """An argument is wrong: unknown name, ambiguous prefix, malformed value. Exit status 2."""

    exit_code = 2


class FindingsError(CatalogError):
    """Refused for reasons that are findings; the CLI prints the headline, then each finding."""

    def __init__(self, headline: str, findings: list[Finding]) -> None:
        super().__init__(headline)
        self.findings = findings
