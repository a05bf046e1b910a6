"""`catalog filter apply NAME --to envoy.yaml` and `catalog filter remove NAME --from envoy.yaml`.

The entry inserted is `generator.envoy.config.wasm_filter`, the one the behaviour cases run. By
default it loads the binary from the local store (an absolute path, so Envoy can validate the
result from any directory); `--wasm-path` names where the binary will live instead, and `--remote`
loads it from its release URL with its sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.binaries.obtain import BinaryOptions, obtain
from generator.binaries.store import BinaryStore
from generator.commands.config import ConfigRequest, checked_plugin_config, release_url
from generator.envoy import config as envoy_config
from generator.envoy.configedit import ConfigEditError, EditResult, apply_filter, remove_filter
from generator.envoy.locate import EnvoyMissing, find_envoy
from generator.metadata.errors import CatalogError, FindingsError, UsageError
from generator.metadata.lookup import load_one, pick_version, require_loaded, split_spec


@dataclass(frozen=True)
class ApplyRequest:
    spec: str
    target: Path
    listener: str | None = None
    before: str | None = None
    config: Any = None
    has_config: bool = False
    remote: bool = False
    wasm_path: str | None = None


def apply(root: Path, store: BinaryStore, request: ApplyRequest, options: BinaryOptions) -> tuple[str, EditResult]:
    """Insert the filter into `request.target`; returns the filter's name and what changed."""
    name, wanted = split_spec(request.spec)
    _, entry = load_one(root, name)
    require_loaded(entry)
    assert entry.meta is not None
    index, version = pick_version(entry, wanted)
    if version.kind == "network":
        raise CatalogError(f"'{entry.name}' is a network filter; apply inserts HTTP filters only")
    plugin_config = checked_plugin_config(
        entry, ConfigRequest(spec=request.spec, format="envoy", config=request.config, has_config=request.has_config)
    )
    extra_clusters: list[dict[str, Any]] = []
    if request.remote:
        url = release_url(root, entry, version)
        code = envoy_config.WasmCode(sha256=version.sha256, remote_url=url)
        extra_clusters.append(envoy_config.releases_cluster(url))
    elif request.wasm_path is not None:
        path = Path(request.wasm_path)
        if not path.is_absolute():
            raise UsageError(f"--wasm-path: expected an absolute path, got '{request.wasm_path}'")
        if not path.is_file():
            raise UsageError(
                f"--wasm-path: Envoy validates the edited file on this machine, so '{path}' must exist here; "
                "copy the binary there first, or leave out --wasm-path to use the local store's copy"
            )
        code = envoy_config.WasmCode(sha256=version.sha256, local_path=str(path))
    else:
        data, findings = obtain(entry, index, version, store, options, is_newest=index == len(entry.meta.versions) - 1)
        if data is None:
            raise FindingsError(f"no binary for {entry.name} {version.version}", findings)
        code = envoy_config.WasmCode(sha256=version.sha256, local_path=str(store.path_for(version.sha256).resolve()))
    filter_entry = envoy_config.wasm_filter(
        entry.name, code, plugin_config, root_id=entry.meta.envoy.root_id, fail_open=entry.meta.envoy.fail_open
    )
    try:
        result = apply_filter(
            request.target,
            filter_entry,
            filter_name=entry.name,
            listener=request.listener,
            before=request.before,
            envoy=_envoy(),
            extra_clusters=extra_clusters,
        )
    except ConfigEditError as err:
        raise CatalogError(f"{request.target} was not changed:\n{err}") from None
    return entry.name, result


def remove(root: Path, name: str, target: Path) -> tuple[str, EditResult]:
    """Take the filter out of `target`. The name need not be in the catalog any more."""
    try:
        _, entry = load_one(root, name)
        name = entry.name
    except UsageError:
        pass  # a filter deleted from the catalog can still be removed from a configuration
    try:
        return name, remove_filter(target, filter_name=name, envoy=_envoy())
    except ConfigEditError as err:
        raise CatalogError(f"{target} was not changed:\n{err}") from None


def _envoy() -> Any:
    try:
        return find_envoy()
    except EnvoyMissing as err:
        raise CatalogError(
            f"{err}; the edited configuration must be checked by Envoy before it replaces yours"
        ) from None
