"""The configuration text users paste: one definition for `catalog filter config` and the site.

The Envoy form is `generator.envoy.config.wasm_filter`, the entry the behaviour cases run, so what
is printed or shown is what was proven.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import yaml

from generator.envoy import config as envoy_config
from generator.metadata.model import CatalogSettings, FilterMeta, Version

DEFAULT_WASM_DIR = "/etc/envoy/wasm"


class SnippetError(ValueError):
    """The snippet cannot be made as asked; the message names the option."""


@dataclass(frozen=True)
class SnippetOptions:
    format: Literal["envoy", "istio"] = "envoy"
    remote: bool = False
    wasm_path: str | None = None
    namespace: str = "istio-system"
    selector: dict[str, str] | None = None
    # The clusters the filter calls out to (cases.yaml's `clusters`): (name, what the service is).
    services: tuple[tuple[str, str | None], ...] = ()


def release_url(settings: CatalogSettings, name: str, version: Version, mirror: str | None = None) -> str:
    """Where users download this version: its own https source, or the catalog's release asset; with
    a `mirror`, its copy there (a mirror holds every version, wherever it was first published)."""
    if mirror is not None:
        return settings.release_url_for(name, version.version, mirror)
    if version.source is not None and version.source.url is not None:
        return version.source.url
    return settings.release_url_for(name, version.version)


def default_wasm_path(name: str, version: str) -> str:
    return f"{DEFAULT_WASM_DIR}/{name}-{version}.wasm"


def config_snippet(meta: FilterMeta, version: Version, url: str, plugin_config: Any, options: SnippetOptions) -> str:
    """The YAML text to paste, with comments that say where it goes."""
    kind: envoy_config.Kind = "network" if version.kind == "network" else "http"
    if options.format == "istio":
        try:
            resource = envoy_config.istio_wasm_plugin(
                meta.name,
                url,
                version.sha256,
                plugin_config,
                kind=kind,
                root_id=meta.envoy.root_id,
                fail_open=meta.envoy.fail_open,
                phase=meta.istio.phase,
                priority=meta.istio.priority,
                namespace=options.namespace,
                selector=options.selector,
            )
        except envoy_config.IstioConfigError as err:
            raise SnippetError(f"--format istio: {err}") from None
        return dump(resource)
    if options.remote:
        code = envoy_config.WasmCode(sha256=version.sha256, remote_url=url)
    else:
        path = options.wasm_path or default_wasm_path(meta.name, version.version)
        if not path.startswith("/"):
            raise SnippetError(f"--wasm-path: expected an absolute path, got '{path}'")
        code = envoy_config.WasmCode(sha256=version.sha256, local_path=path)
    entry_yaml = envoy_config.wasm_filter(
        meta.name, code, plugin_config, kind=kind, root_id=meta.envoy.root_id, fail_open=meta.envoy.fail_open
    )
    where = "http_filters, before envoy.filters.http.router"
    if kind == "network":
        where = "filters, before the connection manager"
    text = f"# {meta.name} {version.version} (sha256 {version.sha256})\n# Add to your listener's {where}:\n"
    text += dump([entry_yaml])
    if options.remote:
        text += "# And this cluster to static_resources.clusters, for the download (Envoy follows no redirects:\n"
        text += "# the URL must answer 200 itself, or point it at a mirror that does):\n"
        text += dump([envoy_config.releases_cluster(url)])
    elif options.wasm_path is None:
        text += f"# Download the binary to {path} and check its sha256 first.\n"
    if options.services:
        text += "# The filter calls out to these clusters: add them to static_resources.clusters, each\n"
        text += "# pointed at the real service (the address below is the cluster's name, port 80):\n"
        for name, description in options.services:
            if description:
                text += f"# {name}: {' '.join(description.split())}\n"
        text += dump([envoy_config.service_cluster(name, name, 80, dns=True) for name, _ in options.services])
    return text


_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when there


def dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
