"""`index.json`: the whole public catalog, machine-readable, for tools.

The model below is the index's one definition; its JSON Schema is committed at
`catalog/schema/index.schema.json` (written by `catalog schema`, checked by a test) and published
beside `index.json` on the site. Only public filters appear: unlisted and private ones never do.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from generator.metadata.vocabulary import AbiVersion, Capability, Category, FilterKind, Language

INDEX_SCHEMA_ID = "https://envoy-wasm-catalog.github.io/catalog/schema/index.schema.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndexVersion(_Frozen):
    """One released version and where to download it."""

    version: str = Field(description="Semantic version.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Checksum of the binary; refuse bytes that differ.")
    size: int = Field(description="Size of the binary in bytes.")
    abi: AbiVersion = Field(description="proxy-wasm ABI version.")
    kind: FilterKind = Field(description="HTTP filter, network filter, both, or none.")
    capabilities: list[Capability] = Field(description="Host features the binary uses.")
    download_url: str = Field(
        description="Where the binary is published (https); in a mirror's index.json, its path relative to the index."
    )
    published: str | None = Field(description="Day the version was merged (UTC, YYYY-MM-DD), from git.")
    yanked: bool = Field(description="Withdrawn: do not install it.")
    yank_reason: str | None = Field(default=None, description="Why the version was yanked.")


class IndexProof(_Frozen):
    """Where the latest version's behaviour cases last ran."""

    envoy: str = Field(description="Envoy version.")
    runtime: str = Field(description="Envoy wasm runtime.")
    date: str = Field(description="Day of the run (UTC).")
    passed: bool = Field(
        description="Whether every case of the filter's current cases.yaml (and the smoke case) ran and passed."
    )
    cases: int = Field(description="Number of cases in the run, the smoke case included.")


class IndexFilter(_Frozen):
    """One public filter."""

    name: str = Field(description="The filter's identity (a DNS label).")
    title: str
    summary: str
    page: str = Field(description="The filter's page, relative to the site's root.")
    owners: list[str]
    license: str = Field(description="SPDX license expression.")
    language: Language
    sdk: str | None = None
    categories: list[Category]
    keywords: list[str]
    homepage: str | None = None
    repository: str | None = None
    latest: str | None = Field(description="The newest version that is not yanked; null when every version is.")
    first_published: str | None = Field(description="Day the filter was first merged (UTC), from git.")
    updated: str | None = Field(description="Day the filter last changed (UTC), from git.")
    proof: IndexProof | None = Field(description="The latest version's behaviour run, if recorded.")
    versions: list[IndexVersion] = Field(description="Every version, newest first.")


class CatalogIndex(_Frozen):
    """The document at `index.json`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: str = Field(default=INDEX_SCHEMA_ID, alias="$schema")
    format: Literal[1] = Field(default=1, description="Bumped when the shape changes incompatibly.")
    filters: list[IndexFilter] = Field(description="Public filters, by name.")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False) + "\n"


def index_json_schema() -> dict[str, Any]:
    """The JSON Schema of `index.json`, as committed in `catalog/schema/index.schema.json`."""
    schema = CatalogIndex.model_json_schema(by_alias=True, mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": INDEX_SCHEMA_ID, **schema}


def index_json_schema_text() -> str:
    return json.dumps(index_json_schema(), indent=2) + "\n"
