"""The catalog's closed vocabularies: the values a field of `filter.yaml` may take.

Declared apart from the model (`generator.metadata.model`) so that the command line's choices and
the site's facets name them without building the model; the model, the JSON Schema and the
command line all read them from here.
"""

from __future__ import annotations

from typing import Literal

AbiVersion = Literal["0.1.0", "0.2.0", "0.2.1"]
Visibility = Literal["public", "unlisted", "private"]
FilterKind = Literal["http", "network", "both", "none"]
Language = Literal["c", "cpp", "rust", "go", "assemblyscript", "zig", "wat", "other"]
Category = Literal[
    "authentication",
    "authorization",
    "caching",
    "headers",
    "observability",
    "rate-limiting",
    "routing",
    "security",
    "transformation",
    "other",
]
Capability = Literal[
    "http_calls",
    "grpc",
    "shared_data",
    "shared_queues",
    "metrics",
    "timers",
    "foreign_functions",
    "properties_read",
    "properties_write",
    "local_response",
    "wasi",
]
IstioPhase = Literal["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"]
