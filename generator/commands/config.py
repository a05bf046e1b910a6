"""`catalog filter config NAME[@VERSION] --format envoy|istio`: configuration ready to paste.

The text comes from `generator.envoy.snippets`, which the site uses too. The plugin configuration is
checked against the filter's schema before anything is printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from generator.envoy import snippets
from generator.metadata.cases import services
from generator.metadata.configschema import UnusableSchema, value_problems
from generator.metadata.errors import CatalogError, UsageError
from generator.metadata.loader import FilterEntry, load_settings
from generator.metadata.lookup import load_one, pick_version, require_loaded, split_spec
from generator.metadata.model import Version


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
    settings, findings = load_settings(root)
    if settings is None:
        raise CatalogError("\n".join(f.format() for f in findings))
    return snippets.release_url(settings, entry.name, version)


def checked_plugin_config(entry: FilterEntry, request: ConfigRequest) -> Any:
    """The configuration to use (given, or the first example), validated against the schema."""
    assert entry.meta is not None
    value = request.config if request.has_config else entry.meta.config.examples[0].value
    try:
        errors = value_problems(entry.meta.config.schema_, value)
    except UnusableSchema as err:
        raise CatalogError(f"{entry.metadata_display}: config.schema: {err}") from None
    if errors:
        lines = "\n".join(f"  {'.'.join(map(str, e.path)) or '(the whole value)'}: {e.message}" for e in errors)
        raise CatalogError(f"--config: the configuration fails the schema of '{entry.name}':\n{lines}")
    return value


def filter_config(root: Path, request: ConfigRequest) -> str:
    """The YAML text to paste."""
    name, wanted = split_spec(request.spec)
    _, entry = load_one(root, name)
    require_loaded(entry)
    assert entry.meta is not None
    _, version = pick_version(entry, wanted)
    plugin_config = checked_plugin_config(entry, request)
    if request.wasm_path is not None and not request.wasm_path.startswith("/"):
        raise UsageError(f"--wasm-path: expected an absolute path, got '{request.wasm_path}'")
    options = snippets.SnippetOptions(
        format=request.format,
        remote=request.remote,
        wasm_path=request.wasm_path,
        namespace=request.namespace,
        selector=request.selector,
        services=services(entry.cases),
    )
    try:
        return snippets.config_snippet(entry.meta, version, release_url(root, entry, version), plugin_config, options)
    except snippets.SnippetError as err:
        raise CatalogError(str(err)) from None
