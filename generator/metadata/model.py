"""The filter metadata model: the single definition of `filter.yaml`.

Everything about a filter's metadata is declared here, with its documentation beside it. The JSON
Schema that editors use (`catalog/schema/filter.schema.json`) is generated from these classes by
`catalog schema --write`, and a test fails when the committed file is stale.

Values that need a precise rule (semantic versions, sha256, links, names, licenses, owners) are
checked by validators that raise `PydanticCustomError` whose type is the rule id, so the loader can
turn each one into a finding that cites its rule.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import semver
from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from pydantic import AfterValidator, Field, JsonValue, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from generator.metadata import names, rules
from generator.metadata.documents import StrictModel
from generator.metadata.findings import Rule
from generator.metadata.vocabulary import (
    AbiVersion,
    Capability,
    Category,
    FilterKind,
    IstioPhase,
    Language,
    Visibility,
)

SCHEMA_ID = "https://envoy-wasm-catalog.github.io/catalog/schema/filter.schema.json"

SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
SHA256_PATTERN = r"^[0-9a-f]{64}$"
KEYWORD_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
SUMMARY_MAX = 120
TITLE_MAX = 60


def _error(rule: type[Rule], message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(rule.id, message, context)


def _check_semver(value: str) -> str:
    if not semver.Version.is_valid(value):
        raise _error(rules.NotSemver, "'{value}' is not a semantic version (expected e.g. 1.2.0)", value=value)
    return value


def _check_sha256(value: str) -> str:
    if not re.fullmatch(SHA256_PATTERN, value):
        raise _error(
            rules.BadSha256,
            "expected 64 lower-case hex characters, got '{value}' ({length} characters)",
            value=value[:80],
            length=len(value),
        )
    return value


def _check_https(value: str) -> str:
    shown = value[:100]
    if len(value) > 2048:
        raise _error(rules.BadUrl, "expected a URL of at most 2048 characters, got {length}", length=len(value))
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise _error(
            rules.BadUrl, "expected an https URL, got '{value}' with spaces or control characters", value=shown
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise _error(rules.BadUrl, "expected an https URL, got malformed '{value}'", value=shown) from None
    if parts.scheme != "https" or not value.startswith("https://"):
        got = f"a {parts.scheme}: URL" if parts.scheme else "no scheme"
        raise _error(rules.BadUrl, "expected an https URL, got {got} '{value}'", got=got, value=shown)
    if not host:
        raise _error(rules.BadUrl, "expected an https URL with a host, got '{value}'", value=shown)
    if parts.username is not None or parts.password is not None:
        raise _error(rules.BadUrl, "expected a URL without credentials, got '{value}'", value=shown)
    # Characters RFC 3986 does not allow, and quotes: they are shown on pages and pasted into shells.
    bad = sorted({ch for ch in value if ch in _URL_UNSAFE or ord(ch) > 126})
    if bad or "[" in value[len("https://") + len(parts.netloc) :]:
        found = "".join(bad) or "[]"
        raise _error(
            rules.BadUrl,
            "expected a URL without '{found}' (percent-encode them), got '{value}'",
            found=found,
            value=shown,
        )
    return value


_URL_UNSAFE = set("\"'<>\\^`{|}")


def _check_name(value: str) -> str:
    try:
        names.check_name(value)
    except names.NameProblem as problem:
        rule = {
            "lookalike": rules.LookalikeName,
            "reserved": rules.ReservedName,
        }.get(problem.kind, rules.InvalidName)
        raise _error(rule, "{problem}", problem=str(problem)) from None
    return value


def _check_owner(value: str) -> str:
    if not names.is_owner_handle(value):
        raise _error(rules.BadOwner, "expected '@user' or '@org/team', got '{value}'", value=value[:100])
    return value


def _check_license(value: str) -> str:
    if value == "NOASSERTION":
        return value
    try:
        canonical = canonicalize_license_expression(value)
    except InvalidLicenseExpression as err:
        raise _error(
            rules.BadLicense,
            "expected an SPDX license expression, got '{value}' ({why})",
            value=value[:100],
            why=str(err),
        ) from None
    if canonical != value:
        raise _error(
            rules.BadLicense,
            "expected the SPDX spelling '{canonical}', got '{value}'",
            canonical=canonical,
            value=value,
        )
    return value


def _check_line(limit: int) -> Any:
    def check(value: str) -> str:
        if not value.strip():
            raise _error(rules.BadText, "expected text, got an empty string")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise _error(rules.BadText, "expected one line of text, got line breaks or control characters")
        if any(unicodedata.category(ch) == "Cf" for ch in value):
            message = "expected visible text, got invisible formatting characters (e.g. right-to-left overrides)"
            raise _error(rules.BadText, message)
        if len(value) > limit:
            raise _error(
                rules.BadText, "expected at most {limit} characters, got {length}", limit=limit, length=len(value)
            )
        return value

    return check


def _check_relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
        raise _error(
            rules.BadSourcePath, "expected a path inside the filter's directory, got '{value}'", value=value[:200]
        )
    return value


def _unique(values: list[str]) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise _error(rules.InvalidValue, "expected each entry once, got '{value}' twice", value=value)
        seen.add(value)
    return values


def _string(pattern: str | None = None, description: str | None = None, **extra: Any) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", **extra}
    if pattern:
        schema["pattern"] = pattern
    if description:
        schema["description"] = description
    return WithJsonSchema(schema)


SemVer = Annotated[str, AfterValidator(_check_semver), _string(SEMVER_PATTERN)]
Sha256 = Annotated[str, AfterValidator(_check_sha256), _string(SHA256_PATTERN)]
HttpsUrl = Annotated[str, AfterValidator(_check_https), _string(r"^https://", format="uri")]
FilterName = Annotated[str, AfterValidator(_check_name), _string(names.NAME_PATTERN, maxLength=63)]
Owner = Annotated[str, AfterValidator(_check_owner), _string(names.OWNER_PATTERN)]
License = Annotated[str, AfterValidator(_check_license), _string()]
Title = Annotated[str, AfterValidator(_check_line(TITLE_MAX)), _string(maxLength=TITLE_MAX)]
Summary = Annotated[str, AfterValidator(_check_line(SUMMARY_MAX)), _string(maxLength=SUMMARY_MAX)]
Keyword = Annotated[str, Field(pattern=KEYWORD_PATTERN)]
RelativePath = Annotated[str, AfterValidator(_check_relative_path), _string(r"^(?!/)(?!(.*/)?\.\.(/|$))[^\\]+$")]
OneLine = Annotated[str, AfterValidator(_check_line(200)), _string(maxLength=200)]


class ConfigExample(StrictModel):
    """An example plugin configuration. It must validate against the filter's configuration schema."""

    title: Title = Field(description="What this example configures, in a few words.")
    description: str | None = Field(default=None, max_length=2000, description="Longer explanation (Markdown).")
    value: JsonValue = Field(description="The configuration, as the filter receives it (usually an object).")


class PluginConfig(StrictModel):
    """The plugin configuration the filter accepts: its JSON Schema and examples."""

    schema_: dict[str, JsonValue] = Field(
        alias="schema",
        description="JSON Schema (draft 2020-12) of the configuration that Envoy passes to the filter.",
    )
    examples: list[ConfigExample] = Field(min_length=1, description="At least one valid example.")


class BuildRecipe(StrictModel):
    """How to build the binary from source kept in the filter's directory."""

    recipe: Literal["wat", "clang", "assemblyscript"] = Field(
        description="The toolchain: 'wat' (WebAssembly text), 'clang' (C with catalog/sdk/c, clang 14), "
        "'assemblyscript' (npm project pinned by its lockfile)."
    )
    path: RelativePath = Field(
        description="Entry source file or project directory, relative to the filter's directory."
    )


class VersionSource(StrictModel):
    """Where a version's binary comes from: exactly one of `build` or `url`."""

    build: BuildRecipe | None = Field(default=None, description="Built from source in the filter's directory.")
    url: HttpsUrl | None = Field(default=None, description="Downloaded from the author's release (https only).")

    @model_validator(mode="after")
    def _exactly_one(self) -> VersionSource:
        if (self.build is None) == (self.url is None):
            got = "both" if self.build is not None else "neither"
            raise _error(rules.BadSource, "expected exactly one of 'build' or 'url', got {got}", got=got)
        return self


class Version(StrictModel):
    """One released version of the filter and the facts of its binary.

    The facts (sha256, size, ABI, kind, capabilities) are what the binary shows when inspected;
    CI re-inspects the binary and fails when they differ. A published version never changes: it can
    only be yanked.
    """

    version: SemVer = Field(description="Semantic version, e.g. 1.2.0.")
    sha256: Sha256 = Field(description="sha256 of the .wasm binary, 64 lower-case hex characters.")
    size: int = Field(ge=1, le=32 * 1024 * 1024, description="Size of the binary in bytes (at most 32 MiB).")
    abi: AbiVersion = Field(description="proxy-wasm ABI version, from the module's ABI marker export.")
    kind: FilterKind = Field(description="HTTP filter, network filter, both, or none, from its exported callbacks.")
    capabilities: list[Capability] = Field(
        default_factory=list,
        description="Host capabilities the module imports (HTTP calls, gRPC, shared data, ...).",
    )
    source: VersionSource | None = Field(
        default=None,
        description="Where the binary comes from. A freshly imported local file has none yet; "
        "`catalog validate` fails until one is added, since CI must be able to obtain the bytes.",
    )
    yanked: bool = Field(
        default=False, description="A yanked version stays downloadable but is marked and not recommended."
    )
    yank_reason: OneLine | None = Field(default=None, description="Why the version was yanked.")


class EnvoySettings(StrictModel):
    """How Envoy runs the filter. The generated Envoy and Istio configuration use these values."""

    root_id: str | None = Field(
        default=None, max_length=256, description="The root_id the module expects (modules hosting several plugins)."
    )
    fail_open: bool = Field(
        default=False,
        description="false (fail closed): if the VM fails, requests are refused with 503. "
        "true (fail open): requests pass without the filter. Authentication filters must fail closed.",
    )


class IstioSettings(StrictModel):
    """Where an Istio WasmPlugin places the filter."""

    phase: IstioPhase = Field(default="UNSPECIFIED_PHASE", description="WasmPlugin phase: AUTHN, AUTHZ, STATS.")
    priority: int | None = Field(default=None, ge=-(2**31), lt=2**31, description="Order within the phase.")


class ClonedFrom(StrictModel):
    """Where a cloned filter came from."""

    name: FilterName
    version: SemVer | None = None


class FilterMeta(StrictModel):
    """A filter's metadata: the content of `catalog/filters/<name>/filter.yaml`.

    Dates (first published, last updated) are not fields: they come from git history.
    """

    name: FilterName = Field(description="The filter's identity; must equal its directory name. A DNS label.")
    title: Title = Field(description="Human-readable name.")
    summary: Summary = Field(description=f"One line, at most {SUMMARY_MAX} characters.")
    owners: Annotated[list[Owner], AfterValidator(_unique)] = Field(
        min_length=1, description="GitHub handles ('@user' or '@org/team') who approve changes."
    )
    visibility: Visibility = Field(
        default="public",
        description="public: listed and searchable; unlisted: has a page but is in no list; private: not rendered.",
    )
    license: License = Field(description="SPDX license expression, e.g. Apache-2.0.")
    language: Language = Field(description="Source language of the filter.")
    sdk: OneLine | None = Field(default=None, description="SDK and version used, e.g. '@solo-io/proxy-runtime 0.1.8'.")
    categories: Annotated[list[Category], AfterValidator(_unique)] = Field(
        min_length=1, max_length=5, description="One to five categories from the catalog's fixed list (site facets)."
    )
    keywords: Annotated[list[Keyword], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=20, description="Search words: lower case, digits and '-', at most 20."
    )
    icon: RelativePath | None = Field(
        default=None,
        description="A square PNG in the filter's directory (at most 64 KiB, 1024x1024), shown on cards and the "
        "filter's page. Without it the site draws the title's initials.",
    )
    homepage: HttpsUrl | None = Field(default=None, description="Project homepage (https).")
    repository: HttpsUrl | None = Field(default=None, description="Source repository (https).")
    cloned_from: ClonedFrom | None = Field(default=None, description="Set by `catalog filter clone`.")
    config: PluginConfig = Field(
        description="The plugin configuration: its JSON Schema and examples. A string value is passed to the "
        "filter as is; any other JSON value is passed as its JSON text."
    )
    envoy: EnvoySettings = Field(default_factory=EnvoySettings, description="How Envoy runs the filter.")
    istio: IstioSettings = Field(default_factory=IstioSettings, description="Istio WasmPlugin placement.")
    versions: list[Version] = Field(min_length=1, description="Released versions, oldest first.")

    @property
    def latest(self) -> Version:
        """The newest version that is not yanked, or the newest of all if every one is yanked."""
        live = [v for v in self.versions if not v.yanked]
        return (live or list(self.versions))[-1]


def _check_release_template(value: str) -> str:
    _check_https(value.replace("{name}", "n").replace("{version}", "1.0.0"))
    if "{name}" not in value or "{version}" not in value:
        raise _error(rules.BadUrl, "expected a URL template with {{name}} and {{version}}, got '{value}'", value=value)
    # The path below the host is also where a mirror keeps each file: no query, fragment, `..` or `//`.
    path = urlsplit(value).path
    if "?" in value or "#" in value or "//" in path or any(part in (".", "..") for part in path.split("/")):
        raise _error(
            rules.BadUrl,
            "expected a URL template whose path names a file (no query, fragment, '.', '..' or '//'), got '{value}'",
            value=value,
        )
    return value


class CatalogSettings(StrictModel):
    """Catalog-wide settings: `catalog/catalog.yaml`."""

    release_url: Annotated[str, AfterValidator(_check_release_template)] = Field(
        description="Where a published version's binary is downloaded from; {name} and {version} are replaced."
    )

    def release_url_for(self, name: str, version: str, mirror: str | None = None) -> str:
        """Where version `version` of `name` is downloaded: the release asset, or its copy on `mirror`.

        A mirror keeps the release URL's path below the template's fixed part (with the default
        template, `NAME-vVERSION/NAME-VERSION.wasm`) under its own address; `mirror=""` gives that
        path alone, relative, as a mirror's own index.json lists it.
        """
        url = self.release_url.replace("{name}", name).replace("{version}", version)
        if mirror is None:
            return url
        fixed = self.release_url[: self.release_url.rfind("/", 0, self.release_url.index("{")) + 1]
        path = url[len(fixed) :]
        return f"{mirror.rstrip('/')}/{path}" if mirror else path


def _check_user(value: str) -> str:
    if not names.USER_HANDLE.match(value):
        raise _error(rules.BadOwner, "expected a GitHub user '@login', got '{value}'", value=value[:100])
    return value


def _check_team(value: str) -> str:
    if not names.TEAM_HANDLE.match(value):
        raise _error(rules.BadOwner, "expected a GitHub team '@org/team', got '{value}'", value=value[:100])
    return value


UserHandle = Annotated[str, AfterValidator(_check_user)]
TeamHandle = Annotated[str, AfterValidator(_check_team)]


class Team(StrictModel):
    """A GitHub team that may own filters, and who is in it (the review checks authors against it)."""

    description: OneLine | None = None
    members: Annotated[list[UserHandle], AfterValidator(_unique)] = Field(min_length=1)


class TeamsFile(StrictModel):
    """`catalog/teams.yaml`: the teams that filters may name as owners, and the catalog's maintainers."""

    maintainers: TeamHandle = Field(
        description="The team that owns everything outside filter directories and approves new filters."
    )
    teams: dict[TeamHandle, Team] = Field(description="Every team that may appear in a filter's owners.")

    @model_validator(mode="after")
    def _maintainers_listed(self) -> TeamsFile:
        if self.maintainers not in self.teams:
            raise _error(
                rules.BadOwner,
                "expected the maintainers team '{team}' under teams, got no such team",
                team=self.maintainers,
            )
        return self

    def is_team(self, owner: str) -> bool:
        return "/" in owner

    def members_of(self, owner: str) -> set[str]:
        """The users an owner stands for: a team's members, or the user itself (case-insensitive logins)."""
        if self.is_team(owner):
            team = self.teams.get(owner)
            return {m.lower() for m in team.members} if team else set()
        return {owner.lower()}


def fields_after(name: str) -> list[str]:
    """The `filter.yaml` keys that follow `name` in the model's order (where to insert `name`)."""
    keys = [info.alias or key for key, info in FilterMeta.model_fields.items()]
    return keys[keys.index(name) + 1 :]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of `filter.yaml`, as committed in `catalog/schema/filter.schema.json`."""
    schema = FilterMeta.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"
