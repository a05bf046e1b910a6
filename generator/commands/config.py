"""`catalog filter config NAME[@VERSION] --format envoy|istio`: configuration ready to paste.

The Envoy form is `generator.envoy.config.wasm_filter`, the entry the behaviour cases run, so what
is printed is what was proven. The plugin configuration is checked against the filter's schema
before anything is printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from generator.commands.common import CommandError, UsageError, load_one, pick_version, require_loaded, split_spec
from generator.configschema import UnusableSchema, value_problems
from generator.envoy import config as envoy_config
from generator.loader import FilterEntry, load_settings
from generator.model import Version

DEFAULT_WASM_DIR = "/etc/envoy/wasm"


@dataclass(frozen=True)
class ConfigRequest:
    spec: str
    format: Literal["envoy", "istio"]
    config: Any = None
    has_config: bool = False
    remote: bool = False
    wasm_path: str | None = None
    namespace: str = "istio-system"
    selector: dict[str, str] | None = None


def release_url(root: Path, entry: FilterEntry, version: Version) -> str:
    """Where users download this version: its own https source, or the catalog's release asset."""
    if version.source is not None and version.source.url is not None:
        return version.source.url
    settings, findings = load_settings(root)
    if settings is None:
        raise CommandError("\n".join(f.format() for f in findings))
    return settings.release_url_for(entry.name, version.version)


def checked_plugin_config(entry: FilterEntry, request: ConfigRequest) -> Any:
    """The configuration to use (given, or the first example), validated against the schema."""
    assert entry.meta is not None
    value = request.config if request.has_config else entry.meta.config.examples[0].value
    try:
        errors = value_problems(entry.meta.config.schema_, value)
    except UnusableSchema as err:
        raise CommandError(f"{entry.metadata_display}: config.schema: {err}") from None
    if errors:
        lines = "\n".join(f"  {'.'.join(map(str, e.path)) or '(the whole value)'}: {e.message}" for e in errors)
        raise CommandError(f"--config: the configuration fails the schema of '{entry.name}':\n{lines}")
    return value


def filter_config(root: Path, request: ConfigRequest) -> str:
    """The YAML text to paste."""
    name, wanted = split_spec(request.spec)
    _, entry = load_one(root, name)
    require_loaded(entry)
    assert entry.meta is not None
    meta = entry.meta
    _, version = pick_version(entry, wanted)
    plugin_config = checked_plugin_config(entry, request)
    kind: envoy_config.Kind = "network" if version.kind == "network" else "http"
    if request.format == "istio":
        try:
            resource = envoy_config.istio_wasm_plugin(
                meta.name,
                release_url(root, entry, version),
                version.sha256,
                plugin_config,
                kind=kind,
                root_id=meta.envoy.root_id,
                fail_open=meta.envoy.fail_open,
                phase=meta.istio.phase,
                priority=meta.istio.priority,
                namespace=request.namespace,
                selector=request.selector,
            )
        except envoy_config.IstioConfigError as err:
            raise CommandError(f"--format istio: {err}") from None
        return _dump(resource)
    if request.remote:
        url = release_url(root, entry, version)
        code = envoy_config.WasmCode(sha256=version.sha256, remote_url=url)
    else:
        path = request.wasm_path or f"{DEFAULT_WASM_DIR}/{meta.name}-{version.version}.wasm"
        if not path.startswith("/"):
            raise UsageError(f"--wasm-path: expected an absolute path, got '{path}'")
        code = envoy_config.WasmCode(sha256=version.sha256, local_path=path)
    entry_yaml = envoy_config.wasm_filter(
        meta.name, code, plugin_config, kind=kind, root_id=meta.envoy.root_id, fail_open=meta.envoy.fail_open
    )
    where = "http_filters, before envoy.filters.http.router"
    if kind == "network":
        where = "filters, before the connection manager"
    text = f"# {meta.name} {version.version} (sha256 {version.sha256})\n# Add to your listener's {where}:\n"
    text += _dump([entry_yaml])
    if request.remote:
        text += "# And this cluster to static_resources.clusters, for the download (Envoy follows no redirects:\n"
        text += "# the URL must answer 200 itself, or point it at a mirror that does):\n"
        text += _dump([envoy_config.releases_cluster(release_url(root, entry, version))])
    elif request.wasm_path is None:
        text += f"# Download the binary to {path} and check its sha256 first.\n"
    return text


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=1000)
