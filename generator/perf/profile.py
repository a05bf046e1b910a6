"""Performance profiles: `catalog/profiles/NAME.yaml`, how a benchmark loads Envoy.

A profile names the load generator and the traffic it sends: for how long (or how many requests),
over how many connections and threads, at what fixed rate if any, which request, HTTP/1.1 or
HTTP/2, with or without TLS, to a direct response or to the echo upstream, and how many
alternating rounds to run. Each field is documented where it is declared. Fields are checked one by
one by the model and across each other by `check_profile`; every problem is a finding at the
field's line, like `filter.yaml`'s.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, JsonValue

from generator.metadata import rules
from generator.metadata.benchfile import PROFILE_NAME
from generator.metadata.cases import Headers
from generator.metadata.documents import StrictModel, validate_document
from generator.metadata.files import KIB, MIB
from generator.metadata.findings import Finding
from generator.metadata.yamlfile import FieldPath, YamlDocument, format_path, read_yaml

PROFILES_DIR = Path("catalog") / "profiles"
DEFAULT_PROFILE = "default"
MAX_PROFILE_BYTES = 64 * KIB
DEFAULT_DURATION = 10

LoadGenerator = Literal["wrk", "h2load"]
HttpVersion = Literal["http1.1", "http2"]
Upstream = Literal["direct_response", "echo"]

# An extra argument is one option or one value, passed as one argv entry, never through a shell;
# it is still refused if it holds characters a shell would treat specially, so a profile reads the
# same pasted into a terminal as it runs here.
EXTRA_ARG = re.compile(r"^[A-Za-z0-9_.,:/=+@%-]{1,200}$")
# Options the benchmark sets itself from the profile's fields: given again, they would change what
# the figures mean or where the output goes. Values are the field that sets them.
_MANAGED: dict[str, dict[str, str]] = {
    "wrk": {
        "-c": "connections", "--connections": "connections", "-d": "duration", "--duration": "duration",
        "-t": "threads", "--threads": "threads", "-s": "request", "--script": "request",
        "-H": "request.headers", "--header": "request.headers", "--latency": "(always on)",
    },
    "h2load": {
        "-n": "requests", "--requests": "requests", "-c": "connections", "--clients": "connections",
        "-t": "threads", "--threads": "threads", "-D": "duration", "--duration": "duration",
        "--warm-up-time": "warmup", "-d": "request.body_bytes", "--data": "request.body_bytes",
        "-H": "request.headers", "--header": "request.headers", "--rps": "rate", "--h1": "protocol",
        "-p": "protocol", "--no-tls-proto": "protocol", "--npn-list": "protocol", "--log-file": "(the run's own)",
        "-i": "request.path", "--input-file": "request.path", "-B": "request.path", "--base-uri": "request.path",
        "--timing-script-file": "rate", "-r": "rate", "--rate": "rate", "--rate-period": "rate",
        "--connect-to": "(the run's Envoy)", "--qlog-file-base": "(the run's own)",
    },
}  # fmt: skip


class BenchRequest(StrictModel):
    """The request every connection sends, over and over."""

    method: str = Field(default="GET", pattern=r"^[A-Z]{1,20}$", description="HTTP method.")
    path: str = Field(default="/", pattern=r"^/[!-~]*$", max_length=2048, description="Path and query, from '/'.")
    headers: Headers = Field(
        default_factory=dict, description="Headers sent with every request (beside those from the filter's cases)."
    )
    body_bytes: int = Field(default=0, ge=0, le=16 * MIB, description="Size of the request body in bytes (0: none).")
    from_cases: bool = Field(
        default=True,
        description="Send the method, path and headers of the first request in the filter's cases.yaml that "
        "the benchmark's configuration answers with a 2xx, so that a filter which refuses a plain GET / "
        "(authentication, routing) is measured on the requests it lets through. The profile's headers are "
        "added to them, replacing any of the same name.",
    )


class Profile(StrictModel):
    """The content of `catalog/profiles/NAME.yaml`."""

    description: str = Field(default="", max_length=300, pattern=r"^[^\n\r]*$", description="One line for humans.")
    generator: LoadGenerator = Field(
        default="wrk", description="wrk (HTTP/1.1, steadiest at full load) or h2load (HTTP/1.1 or 2, fixed rate)."
    )
    protocol: HttpVersion = Field(default="http1.1", description="http1.1, or http2 (h2load only).")
    tls: bool = Field(default=False, description="TLS to Envoy with a self-signed certificate made for the run.")
    duration: int | None = Field(
        default=None,
        ge=1,
        le=3600,
        description=f"Seconds of measured load per round (default {DEFAULT_DURATION} unless `requests` is given).",
    )
    requests: int | None = Field(
        default=None, ge=1, le=100_000_000, description="Requests per round instead of a duration (h2load only)."
    )
    connections: int = Field(default=8, ge=1, le=10_000, description="Concurrent connections.")
    threads: int = Field(default=1, ge=1, le=64, description="Load generator threads (at most `connections`).")
    rate: float | None = Field(
        default=None,
        gt=0,
        le=10_000_000,
        description="Fixed total rate in requests per second (h2load only, as --rps per connection); "
        "without it the generator sends as fast as Envoy answers.",
    )
    warmup: int = Field(
        default=1, ge=0, le=600, description="Seconds of load before each measured window; not measured."
    )
    rounds: int = Field(default=5, ge=2, le=50, description="Rounds of each variant, alternating.")
    upstream: Upstream = Field(
        default="direct_response",
        description="direct_response: Envoy answers itself, so the figures are Envoy's and the filter's; "
        "echo: requests go to the catalog's echo upstream (a Python server, much slower than Envoy).",
    )
    request: BenchRequest = Field(default_factory=BenchRequest)
    config: JsonValue = Field(
        default=None, description="Plugin configuration; the filter's first configuration example if omitted."
    )
    extra_args: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="Further load-generator arguments, each one argv entry (e.g. [--timeout, 5s] for wrk).",
    )

    @property
    def has_config(self) -> bool:
        return "config" in self.model_fields_set

    @property
    def seconds(self) -> int | None:
        """The measured duration of a round, or None when the round is a request count."""
        if self.requests is not None:
            return self.duration
        return self.duration or DEFAULT_DURATION


def profile_path(root: Path, name: str) -> Path:
    return root / PROFILES_DIR / f"{name}.yaml"


def profile_names(root: Path) -> list[str]:
    """The profiles the catalog defines."""
    directory = root / PROFILES_DIR
    if not directory.is_dir():
        return []
    return sorted(path.stem for path in directory.glob("*.yaml") if PROFILE_NAME.match(path.stem))


def load_profile(root: Path, name: str) -> tuple[Profile | None, list[Finding]]:
    """Read and check `catalog/profiles/NAME.yaml`: the profile, or None and every finding."""
    display = (PROFILES_DIR / f"{name}.yaml").as_posix()
    document, findings = read_yaml(profile_path(root, name), display, MAX_PROFILE_BYTES)
    if document is None or findings:
        return None, findings
    profile, findings = validate_document(Profile, document)
    if profile is None:
        return None, findings
    findings = check_profile(profile, document)
    return (None if findings else profile), findings


def check_profile(profile: Profile, document: YamlDocument) -> list[Finding]:
    """The checks across fields: what the chosen load generator can and cannot do."""
    found: list[Finding] = []

    def refuse(path: FieldPath, message: str) -> None:
        position = document.position(path)
        found.append(rules.InvalidValue.at(document.display, message, field=format_path(path), position=position))

    generator = profile.generator
    if generator == "wrk":
        if profile.protocol != "http1.1":
            refuse(("protocol",), "expected http1.1 with wrk (it speaks HTTP/1.1 only), got http2; use h2load")
        if profile.rate is not None:
            refuse(("rate",), "wrk has no fixed-rate mode, so rate cannot be honoured; use h2load or remove rate")
        if profile.requests is not None:
            refuse(("requests",), "wrk runs for a duration, not a number of requests; use duration or h2load")
    elif profile.duration is not None and profile.requests is not None:
        refuse(("requests",), "expected one of duration or requests, got both")
    if profile.threads > profile.connections:
        refuse(("threads",), f"expected at most `connections` ({profile.connections}) threads, got {profile.threads}")
    managed = _MANAGED[generator]
    for index, arg in enumerate(profile.extra_args):
        if not EXTRA_ARG.match(arg):
            refuse(
                ("extra_args", index),
                f"expected an option or value of letters, digits and _.,:/=+@%-, got {arg!r} "
                "(no spaces, quotes or shell characters: each item is one argument)",
            )
            continue
        if not arg.startswith("-"):
            # A bare word would be read as the target URL by wrk (the load would go elsewhere):
            # options carry their value attached, `-m4` or `--option=value`.
            refuse(("extra_args", index), f"expected an option with its value attached (-m4, --opt=value), got {arg!r}")
            continue
        option = _managed_option(arg, managed)
        if option is not None:
            refuse(("extra_args", index), f"{arg} is set by the profile itself (field: {managed[option]})")
    return found


def _managed_option(arg: str, managed: dict[str, str]) -> str | None:
    """The managed option `arg` may stand for, as getopt_long reads it: `-c8` and `-vc8` hold `-c`,
    and a long option may be abbreviated (`--conn` is `--connections`; `--` ends the options)."""
    if arg.startswith("--"):
        name = arg.split("=", 1)[0]
        return next((option for option in managed if option.startswith("--") and option.startswith(name)), None)
    if arg.startswith("-"):
        for letter in arg[1:]:
            if not letter.isalpha():
                break
            if f"-{letter}" in managed:
                return f"-{letter}"
    return None


def describe(profile: Profile) -> dict[str, Any]:
    """The profile's settings as recorded with results (its configuration is recorded apart)."""
    return profile.model_dump(mode="json", exclude={"description", "config"})
