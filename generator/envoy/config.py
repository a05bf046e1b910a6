"""Envoy and Istio configuration for a catalog filter, as plain data.

`wasm_filter()` is the one definition of the filter entry a user pastes into Envoy: the test
harness runs exactly this entry, so what the site shows is what was proven. `istio_wasm_plugin()`
builds the equivalent Istio `WasmPlugin`, checked against that API's fields and enums.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from generator.envoy.locate import WASM_RUNTIME

HTTP_WASM = "envoy.filters.http.wasm"
NETWORK_WASM = "envoy.filters.network.wasm"
HCM = "envoy.filters.network.http_connection_manager"
ROUTER = "envoy.filters.http.router"
_TYPES = {
    HTTP_WASM: "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
    NETWORK_WASM: "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
    HCM: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    ROUTER: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
}
STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue"
RELEASES_CLUSTER = "wasm_catalog_releases"

Kind = Literal["http", "network"]


@dataclass(frozen=True)
class WasmCode:
    """Where Envoy loads the module from: a local file, or an https URL checked by sha256."""

    sha256: str
    local_path: str | None = None
    remote_url: str | None = None

    def envoy(self) -> dict[str, Any]:
        if self.remote_url is not None:
            return {
                "remote": {
                    "http_uri": {"uri": self.remote_url, "cluster": RELEASES_CLUSTER, "timeout": "30s"},
                    "sha256": self.sha256,
                }
            }
        return {"local": {"filename": self.local_path}}


def plugin_config_text(value: Any) -> str:
    """What the filter receives as its configuration: a string as is, anything else as JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def wasm_filter(
    name: str,
    code: WasmCode,
    plugin_config: Any,
    *,
    kind: Kind = "http",
    root_id: str | None = None,
    fail_open: bool = False,
) -> dict[str, Any]:
    """The Envoy filter entry (HTTP or network) that loads `name` with `plugin_config`."""
    config: dict[str, Any] = {"name": name}
    if root_id:
        config["root_id"] = root_id
    config["configuration"] = {"@type": STRING_VALUE, "value": plugin_config_text(plugin_config)}
    config["fail_open"] = fail_open
    config["vm_config"] = {"vm_id": name, "runtime": WASM_RUNTIME, "code": code.envoy()}
    filter_name = HTTP_WASM if kind == "http" else NETWORK_WASM
    return {"name": filter_name, "typed_config": {"@type": _TYPES[filter_name], "config": config}}


def releases_cluster(url: str) -> dict[str, Any]:
    """The cluster a remote `http_uri` fetches through: the release host over TLS."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return {
        "name": RELEASES_CLUSTER,
        "type": "LOGICAL_DNS",
        "connect_timeout": "10s",
        "dns_lookup_family": "V4_PREFERRED",
        "load_assignment": {
            "cluster_name": RELEASES_CLUSTER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": host, "port_value": parts.port or 443}}
                            }
                        }
                    ]
                }
            ],
        },
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": host,
            },
        },
    }


def http_filter_entry(name: str) -> dict[str, Any]:
    return {"name": name, "typed_config": {"@type": _TYPES[name]}}


def connection_manager(
    http_filters: list[dict[str, Any]], cluster: str, *, stat_prefix: str = "ingress"
) -> dict[str, Any]:
    """An HTTP connection manager routing everything to `cluster`, with `http_filters` before the router."""
    return {
        "name": HCM,
        "typed_config": {
            "@type": _TYPES[HCM],
            "stat_prefix": stat_prefix,
            "route_config": {
                "name": "local",
                "virtual_hosts": [
                    {
                        "name": "all",
                        "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
                    }
                ],
            },
            "http_filters": [*http_filters, http_filter_entry(ROUTER)],
        },
    }


def service_cluster(name: str, host: str, port: int, *, dns: bool = False) -> dict[str, Any]:
    """A cluster of one endpoint, as a filter's callouts (`proxy_http_call`) name it."""
    return {
        "name": name,
        "type": "STRICT_DNS" if dns else "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}
            ],
        },
    }


def bootstrap(
    filter_entry: dict[str, Any] | None,
    *,
    upstream_port: int,
    services: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A complete Envoy bootstrap on 127.0.0.1: one listener, the filter, and an upstream cluster,
    and a cluster for each service the filter calls out to (`services`: name -> local port).

    An HTTP filter goes before the router; a network filter goes before the connection manager.
    Port 0 lets the kernel choose, so parallel runs never race for a port.
    """
    network_filters: list[dict[str, Any]] = []
    http_filters: list[dict[str, Any]] = []
    if filter_entry is not None:
        (network_filters if filter_entry["name"] == NETWORK_WASM else http_filters).append(filter_entry)
    return {
        "admin": {"address": _address(0)},
        "static_resources": {
            "listeners": [
                {
                    "name": "catalog_test",
                    "address": _address(0),
                    "filter_chains": [{"filters": [*network_filters, connection_manager(http_filters, "upstream")]}],
                }
            ],
            "clusters": [
                service_cluster("upstream", "127.0.0.1", upstream_port),
                *(service_cluster(name, "127.0.0.1", port) for name, port in (services or {}).items()),
            ],
        },
    }


def _address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


# --- Istio -----------------------------------------------------------------------------------

ISTIO_PHASES = ("UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS")
ISTIO_FAIL_STRATEGIES = ("FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD")
ISTIO_PLUGIN_TYPES = ("UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK")
ISTIO_PULL_POLICIES = ("UNSPECIFIED_POLICY", "IfNotPresent", "Always")
# The fields of istio.extensions.v1alpha1.WasmPlugin (spec), from istio/api extensions/v1alpha1/wasm.proto.
ISTIO_SPEC_FIELDS = frozenset(
    {
        "selector", "targetRef", "targetRefs", "url", "sha256", "imagePullPolicy", "imagePullSecret",
        "verificationKey", "pluginConfig", "pluginName", "phase", "priority", "failStrategy", "vmConfig",
        "match", "type",
    }
)  # fmt: skip


class IstioConfigError(ValueError):
    """The configuration cannot be expressed as an Istio WasmPlugin."""


def istio_wasm_plugin(
    name: str,
    url: str,
    sha256: str,
    plugin_config: Any,
    *,
    kind: Kind = "http",
    root_id: str | None = None,
    fail_open: bool = False,
    phase: str = "UNSPECIFIED_PHASE",
    priority: int | None = None,
    namespace: str = "istio-system",
    selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An Istio `WasmPlugin` resource for the filter."""
    if not isinstance(plugin_config, dict):
        raise IstioConfigError(
            "expected an object configuration (WasmPlugin.pluginConfig is a google.protobuf.Struct), "
            f"got {type(plugin_config).__name__}; Istio cannot pass this filter's configuration"
        )
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector or {"istio": "ingressgateway"}},
        "url": url,
        "sha256": sha256,
        "phase": phase,
        "failStrategy": "FAIL_OPEN" if fail_open else "FAIL_CLOSE",
        "type": "HTTP" if kind == "http" else "NETWORK",
        "pluginConfig": plugin_config,
    }
    if priority is not None:
        spec["priority"] = priority
    if root_id:
        spec["pluginName"] = root_id
    resource = {
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    check_istio_wasm_plugin(resource)
    return resource


def check_istio_wasm_plugin(resource: dict[str, Any]) -> None:
    """Raise IstioConfigError unless `resource` uses only WasmPlugin's fields and enum values."""
    spec = resource.get("spec", {})
    unknown = set(spec) - ISTIO_SPEC_FIELDS
    if unknown:
        raise IstioConfigError(f"unknown WasmPlugin field(s): {', '.join(sorted(unknown))}")
    enums = {
        "phase": ISTIO_PHASES,
        "failStrategy": ISTIO_FAIL_STRATEGIES,
        "type": ISTIO_PLUGIN_TYPES,
        "imagePullPolicy": ISTIO_PULL_POLICIES,
    }
    for field, allowed in enums.items():
        if field in spec and spec[field] not in allowed:
            raise IstioConfigError(f"spec.{field}: expected one of {', '.join(allowed)}, got {spec[field]!r}")
    url = spec.get("url", "")
    if not url or urlsplit(url).scheme not in ("", "http", "https", "oci", "file"):
        raise IstioConfigError(f"spec.url: expected an oci://, https://, http:// or file:// URL, got {url!r}")
    sha = spec.get("sha256", "")
    if sha and not (len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise IstioConfigError(f"spec.sha256: expected 64 lower-case hex characters, got {sha!r}")
    if "priority" in spec and not (isinstance(spec["priority"], int) and -(2**31) <= spec["priority"] < 2**31):
        raise IstioConfigError(f"spec.priority: expected a 32-bit integer, got {spec['priority']!r}")
    if "pluginConfig" in spec and not isinstance(spec["pluginConfig"], dict):
        raise IstioConfigError("spec.pluginConfig: expected an object")
    if "selector" in spec and ("targetRef" in spec or "targetRefs" in spec):
        raise IstioConfigError("only one of selector or targetRefs can be set")
