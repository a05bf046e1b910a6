"""Behaviour cases: what a filter must do in a real Envoy, declared in `cases.yaml` beside `filter.yaml`.

A case gives the plugin configuration (the filter's first configuration example if omitted) and
one or more requests, sent in order to the same Envoy, each with what must come out. A request can
repeat, so a rate limiter can be shown to allow N and then refuse. Every version also gets a smoke
case: it loads, and a plain `GET /` is not a 5xx (or has the status `smoke.status` declares, for a
filter that refuses requests by design).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from generator.metadata import rules
from generator.metadata.documents import StrictModel

CASES_FILE = "cases.yaml"
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _check_header_names(value: dict[str, str]) -> dict[str, str]:
    for name, header_value in value.items():
        _check_header_name(name)
        if not all(32 <= ord(ch) < 127 or ch == "\t" for ch in header_value):
            raise PydanticCustomError(
                rules.InvalidValue.id,
                "expected a header value of visible ASCII, got {value} (line breaks and non-ASCII cannot be sent)",
                {"value": ascii(header_value[:80])},
            )
    return value


def _check_header_name(name: str) -> str:
    if not TOKEN.match(name):
        raise PydanticCustomError(
            rules.InvalidValue.id, "expected an HTTP header name, got {name}", {"name": ascii(name[:80])}
        )
    return name


HeaderName = Annotated[str, AfterValidator(_check_header_name)]
Headers = Annotated[dict[str, str], AfterValidator(_check_header_names)]


class _Configured(StrictModel):
    """A case or the smoke case: `config` when written, else the filter's first example.

    Each subclass declares `config` where it belongs in its field order.
    """

    if TYPE_CHECKING:
        config: JsonValue

    def plugin_config(self, default: Any) -> Any:
        return self.config if "config" in self.model_fields_set else default


class Expect(StrictModel):
    """What must come out of one request. Header names are compared without regard to case."""

    status: int | None = Field(default=None, ge=100, le=599, description="Response status.")
    headers: Headers = Field(
        default_factory=dict, description="Response headers that must have these values (any one of a repeated header)."
    )
    headers_exactly: dict[HeaderName, list[str]] = Field(
        default_factory=dict, description="Response headers that must have exactly these values, in order."
    )
    headers_present: list[HeaderName] = Field(default_factory=list, description="Response headers that must exist.")
    headers_absent: list[HeaderName] = Field(default_factory=list, description="Response headers that must not exist.")
    upstream_headers: Headers = Field(
        default_factory=dict, description="Headers the upstream must have received with these values (any one)."
    )
    upstream_headers_exactly: dict[HeaderName, list[str]] = Field(
        default_factory=dict,
        description="Headers the upstream must have received with exactly these values, in order "
        "(shows that a client's value was replaced, not added to).",
    )
    upstream_headers_absent: list[HeaderName] = Field(
        default_factory=list, description="Headers the upstream must not have received."
    )
    upstream_path: str | None = Field(default=None, description="The path (and query) the upstream must receive.")
    body_contains: str | None = Field(default=None, description="Text the response body must contain.")
    local_reply: bool | None = Field(
        default=None,
        description="true: the filter answered itself (the upstream saw nothing); false: it reached the upstream.",
    )


class CaseRequest(StrictModel):
    """One request of a case."""

    method: str = Field(default="GET", pattern=r"^[A-Z]{1,20}$")
    path: str = Field(default="/", pattern=r"^/[!-~]*$", max_length=2048, description="Visible ASCII, from '/'.")
    headers: Headers = Field(default_factory=dict)
    body: str = Field(default="", max_length=1024 * 1024)
    repeat: int = Field(default=1, ge=1, le=1000, description="Send this request this many times; each must match.")
    timeout: float = Field(default=10.0, gt=0, le=60, description="Seconds to wait for the response.")
    expect: Expect = Field(default_factory=Expect)


class Case(_Configured):
    """A named behaviour: a configuration and the requests that show it."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\n\r]+$")
    description: str | None = None
    config: JsonValue = Field(default=None, description="Plugin configuration; the first example if omitted.")
    loads: bool = Field(
        default=True,
        description="false: the filter must refuse this configuration, so Envoy must not load it "
        "(the configuration need not match the schema, and no request is sent).",
    )
    requests: list[CaseRequest] = Field(default_factory=list)


class Smoke(_Configured):
    """The automatic case every version gets: it loads, and `GET /` answers."""

    status: int | None = Field(
        default=None, ge=100, le=599, description="Expected status of a plain GET / (default: anything below 500)."
    )
    config: JsonValue = Field(
        default=None, description="Configuration for the smoke case; the first example if omitted."
    )
    timeout: float = Field(default=10.0, gt=0, le=60, description="Seconds to wait for the response.")


class StandIn(StrictModel):
    """What the local stand-in for a cluster answers every callout with."""

    status: int = Field(default=200, ge=100, le=599)
    headers: Headers = Field(default_factory=dict)
    body: str = Field(default="", max_length=1024 * 1024)
    delay_ms: int = Field(default=0, ge=0, le=10_000, description="Milliseconds before it answers.")


def _check_cluster_name(name: str) -> str:
    if name == RESERVED_CLUSTER:
        raise PydanticCustomError(
            rules.InvalidValue.id, "expected another name, got {name}: the harness's own upstream is called so",
            {"name": name},
        )  # fmt: skip
    return name


RESERVED_CLUSTER = "upstream"  # the cluster the harness routes requests to (the echo server)


class Cluster(StrictModel):
    """A cluster the filter calls out to (`proxy_http_call`): in Envoy, a local stand-in answers
    under this name; in the sandbox, the same answer comes back."""

    name: Annotated[str, AfterValidator(_check_cluster_name)] = Field(
        pattern=r"^[A-Za-z0-9_.:-]{1,100}$", description="The cluster name the filter passes to proxy_http_call."
    )
    description: str | None = Field(
        default=None, description="What the real service is, for whoever deploys the filter."
    )
    response: StandIn = Field(default_factory=StandIn)


class CasesFile(StrictModel):
    """The content of `cases.yaml`."""

    smoke: Smoke = Field(default_factory=Smoke)
    clusters: list[Cluster] = Field(
        default_factory=list, description="The clusters the filter calls, each answered by a local stand-in."
    )
    cases: list[Case] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_clusters(self) -> CasesFile:
        names = [cluster.name for cluster in self.clusters]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise PydanticCustomError(
                rules.InvalidValue.id, "clusters: expected each name once, got {names} more than once",
                {"names": ", ".join(repeated)},
            )  # fmt: skip
        return self


def services(cases: CasesFile | None) -> tuple[tuple[str, str | None], ...]:
    """The clusters a filter calls out to, as its cases declare them: (name, what the service is)."""
    return tuple((cluster.name, cluster.description) for cluster in (cases.clusters if cases else []))


def smoke_case(cases: CasesFile | None, default_config: Any) -> Case:
    """The smoke case as an ordinary case, so one runner serves both."""
    smoke = cases.smoke if cases is not None else Smoke()
    return Case(
        name="smoke",
        description="loads, and a plain GET / is answered"
        + (f" with {smoke.status}" if smoke.status else " without a 5xx"),
        config=smoke.plugin_config(default_config),
        requests=[CaseRequest(expect=Expect(status=smoke.status), timeout=smoke.timeout)],
    )
