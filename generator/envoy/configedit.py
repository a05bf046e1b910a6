"""Putting a catalog filter into an existing Envoy configuration, and taking it out again.

`apply_filter` inserts the filter's entry (exactly what `config.wasm_filter` builds) into the HTTP
connection managers of the static listeners, before the router or before a named HTTP filter;
`remove_filter` takes every entry of that filter out. Both are idempotent and change nothing else:

- A YAML file is edited as text. ruamel.yaml parses it and tells where each list item starts
  (and, through its node tree, where an inline item ends); the entry is rendered in the file's
  own indentation and spliced in, or its text cut out, so every other byte stays as it was,
  comments included. A list written inline (`[a, b]`) gets the entry inline, as JSON. The result
  is parsed again and must hold exactly the data we meant to write; a layout splicing cannot
  handle is refused rather than rewritten. (The policy of `generator.metadata.yamledit` too: a
  user's file never loses a comment without being told.)
- The candidate is written beside the original (same directory, same extension, because Envoy
  picks its parser by the extension) and checked with `envoy --mode validate`; only then is it
  renamed over the original. When Envoy refuses it, the original is left byte-identical.
- Symlinks are refused: replacing one by rename would turn the link into a plain file.

JSON files (Envoy reads `.json` too) are loaded and rewritten with the json module in the file's
indentation: JSON has no comments to keep, but its layout beyond indentation is normalised.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from generator.envoy.config import HCM, HTTP_WASM, RELEASES_CLUSTER, ROUTER, http_filter_entry
from generator.envoy.locate import Envoy
from generator.envoy.process import ValidateResult, validate_config
from generator.metadata.files import MIB, read_bytes

MAX_CONFIG_BYTES = 16 * MIB
YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIX = ".json"
# Only clusters the catalog itself names are ever removed; a cluster the user had is theirs.
CATALOG_CLUSTERS = frozenset({RELEASES_CLUSTER})
CLUSTERS = "static_resources.clusters"
_WIDTH = 1 << 20  # never fold a long line (a plugin configuration is one long JSON string)


def _type_url(name: str) -> str:
    return str(http_filter_entry(name)["typed_config"]["@type"])


HCM_TYPE = _type_url(HCM)
ROUTER_TYPE = _type_url(ROUTER)
HTTP_WASM_TYPE = _type_url(HTTP_WASM)


class ConfigEditError(Exception):
    """The configuration cannot be edited; every line of the message names the file and the field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class EditResult:
    """What an edit did: whether the file changed, where, and Envoy's verdict on the new file."""

    changed: bool
    places: tuple[str, ...]
    validation: ValidateResult | None


def apply_filter(
    config_path: Path,
    entry: dict[str, Any],
    *,
    filter_name: str,
    listener: str | None = None,
    before: str | None = None,
    envoy: Envoy,
    extra_clusters: Sequence[dict[str, Any]] = (),
) -> EditResult:
    """Insert `entry` (the HTTP filter of catalog filter `filter_name`) into the configuration.

    Every HTTP connection manager of the static listeners gets it (only those of `listener` if
    given), before the router or before the HTTP filter named `before`. An entry of the same
    catalog filter that is already there is updated in place when it differs, and moved when it
    does not come before `before`. Clusters in `extra_clusters` are added unless present by name.
    """
    _check_entry(entry, filter_name)
    source = _Source.read(config_path)
    managers = _connection_managers(source, listener)
    if not managers:
        raise ConfigEditError([_no_manager(source, listener)])
    plan = _Plan()
    problems = _check_shared(source, managers, listener)
    done: dict[int, str] = {}
    for manager in managers:
        key = id(manager.http_filters)
        try:
            if key not in done:
                done[key] = _plan_insert(source, plan, manager, entry, filter_name, before)
            plan.places.append(f"{manager.label}: {done[key]}")
        except _Problem as problem:
            problems.append(str(problem))
    if problems:
        raise ConfigEditError(problems)
    for cluster in _unique(extra_clusters):
        _plan_cluster(source, plan, cluster, filter_name)
    fetch_through = _remote_cluster(entry)
    if fetch_through is not None:
        _check_cluster_defined(source, fetch_through, extra_clusters)
    _plan_orphans(source, plan, keep={cluster["name"] for cluster in extra_clusters} | {fetch_through or ""})
    return _finish(source, plan, envoy)


def remove_filter(config_path: Path, *, filter_name: str, envoy: Envoy) -> EditResult:
    """Take every entry of catalog filter `filter_name` out of the configuration.

    A catalog-owned cluster that only the removed entries used (the releases cluster of remote
    code) goes too. A file without the filter is left untouched.
    """
    source = _Source.read(config_path)
    plan = _Plan()
    seen: set[int] = set()
    for manager in _connection_managers(source, None):
        filters = manager.http_filters
        if not isinstance(filters, list) or id(filters) in seen:
            continue
        seen.add(id(filters))
        for index, item in enumerate(filters):
            if _is_ours(item, filter_name):
                plan.gone.append(item)
                owner = (manager.typed_config, "http_filters")
                plan.add(_Change(filters, index, f"{manager.field}.http_filters", delete=True, owner=owner))
                plan.places.append(f"{manager.label}: removed from http_filters[{index}]")
    _plan_orphans(source, plan, keep=set())
    return _finish(source, plan, envoy)


# --- reading ---------------------------------------------------------------------------------


@dataclass
class _Source:
    """The file as read: its bytes, its text and the parsed document."""

    path: Path
    display: str
    raw: bytes
    text: str
    doc: Any
    is_json: bool
    _ends: dict[tuple[int, int], int] | None = None

    @classmethod
    def read(cls, path: Path) -> _Source:
        display = str(path)
        suffix = path.suffix.lower()
        if suffix not in (*YAML_SUFFIXES, JSON_SUFFIX):
            raise ConfigEditError(
                [f"{display}: error: expected a .yaml, .yml or .json file (Envoy picks its parser by the extension), "
                 f"got {suffix or 'no extension'!r}"]
            )  # fmt: skip
        raw, findings = read_bytes(path, display, MAX_CONFIG_BYTES)
        if raw is None:
            hint = ""
            if path.is_symlink():
                hint = f"; edit the file it points to ({os.path.realpath(path)}) so the link stays a link"
            raise ConfigEditError([f"{display}: error: {finding.message}{hint}" for finding in findings])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw[: err.start].count(b"\n") + 1
            raise ConfigEditError(
                [f"{display}:{line}: error: expected UTF-8 text, got byte 0x{raw[err.start]:02x}"]
            ) from None
        is_json = suffix == JSON_SUFFIX
        doc = _load_json(text, display) if is_json else _load_yaml(text, display)
        return cls(path, display, raw, text, doc, is_json)

    def node_ends(self) -> dict[tuple[int, int], int]:
        """Where each node that starts at (line, column) ends, as an offset into the text.

        ruamel.yaml's loaded data knows only where things start; the composed node tree knows where
        they end, which a flow list needs to have its last item found.
        """
        if self._ends is None:
            self._ends = {}
            stack, seen = [_yaml().compose(self.text)], set()
            while stack:
                node = stack.pop()
                if id(node) in seen:  # an alias: the same node again
                    continue
                seen.add(id(node))
                at = (node.start_mark.line, node.start_mark.column)
                self._ends[at] = max(self._ends.get(at, 0), node.end_mark.index)
                if isinstance(node.value, list):
                    for item in node.value:
                        stack.extend(item if isinstance(item, tuple) else (item,))
        return self._ends

    def error(self, where: tuple[int, int] | None, field: str, message: str) -> str:
        """`path:line:col: error: field: message`, positions 1-based as editors show them."""
        place = self.display if where is None else f"{self.display}:{where[0] + 1}:{where[1] + 1}"
        return f"{place}: error: {field}: {message}"


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = _WIDTH
    return yaml


def _load_yaml(text: str, display: str) -> Any:
    try:
        return _yaml().load(text)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{display}:{mark.line + 1}:{mark.column + 1}" if mark is not None else display
        problem = getattr(err, "problem", None) or str(err)
        context = getattr(err, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise ConfigEditError([f"{where}: error: expected valid YAML, got: {detail}"]) from None


def _load_json(text: str, display: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"duplicate key {key!r}")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise ConfigEditError(
            [f"{display}:{err.lineno}:{err.colno}: error: expected valid JSON, got: {err.msg}"]
        ) from None
    except ValueError as err:
        raise ConfigEditError([f"{display}: error: expected valid JSON, got: {err}"]) from None


# --- finding the HTTP connection managers ------------------------------------------------------


class _Problem(Exception):
    """One connection manager cannot take the filter; the others are still checked."""


@dataclass
class _Manager:
    """One HTTP connection manager: where it is, its typed_config and its http_filters (as found)."""

    label: str
    field: str
    listener: str
    typed_config: MutableMapping[str, Any]
    http_filters: Any


def _pos(container: Any, key: str | int | None = None) -> tuple[int, int] | None:
    """The 0-based (line, column) of a key or item of `container`, or of `container` itself."""
    lc = getattr(container, "lc", None)
    if lc is None:
        return None
    try:
        if key is None:
            line, col = lc.line, lc.col
        elif isinstance(key, int):
            line, col = lc.item(key)
        else:
            line, col = lc.key(key)
    except (KeyError, IndexError, TypeError):
        return None
    return (int(line), int(col))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"{type(value).__name__} {value!r}"


def _listeners(source: _Source) -> list[Any]:
    doc = source.doc
    if not isinstance(doc, Mapping):
        raise ConfigEditError(
            [source.error((0, 0), "(document)", f"expected an Envoy bootstrap (a mapping), got {_describe(doc)}")]
        )
    resources = doc.get("static_resources")
    if not isinstance(resources, Mapping):
        raise ConfigEditError(
            [source.error(_pos(doc, "static_resources") or (0, 0), "static_resources",
                          f"expected a mapping with the static listeners, got {_describe(resources)} "
                          "(listeners from xDS live elsewhere; only a static configuration can be edited)")]
        )  # fmt: skip
    listeners = resources.get("listeners")
    if not isinstance(listeners, list) or not listeners:
        raise ConfigEditError(
            [source.error(_pos(resources, "listeners") or _pos(doc, "static_resources"), "static_resources.listeners",
                          f"expected a list of listeners, got {_describe(listeners)}")]
        )  # fmt: skip
    return listeners


def _listener_name(listener: Any, index: int) -> str:
    name = listener.get("name") if isinstance(listener, Mapping) else None
    return name if isinstance(name, str) else f"listeners[{index}]"


def _connection_managers(source: _Source, only: str | None) -> list[_Manager]:
    """The HTTP connection managers of the static listeners (of listener `only`, if given)."""
    listeners = _listeners(source)
    names = [_listener_name(listener, index) for index, listener in enumerate(listeners)]
    if only is not None and only not in names:
        raise ConfigEditError(
            [source.error(_pos(source.doc["static_resources"], "listeners"), "static_resources.listeners",
                          f"expected a listener named {only!r}, got {', '.join(map(repr, names))}")]
        )  # fmt: skip
    managers: list[_Manager] = []
    problems: list[str] = []
    for index, listener in enumerate(listeners):
        base = f"static_resources.listeners[{index}]"
        if only is not None and names[index] != only:
            continue
        if not isinstance(listener, Mapping):
            problems.append(
                source.error(
                    _pos(listeners, index), base, f"expected a listener (a mapping), got {_describe(listener)}"
                )
            )
            continue
        for chain_label, chain_field, chain, chain_pos in _chains(listener, base):
            filters = chain.get("filters") if isinstance(chain, Mapping) else None
            if filters is None:
                continue
            if not isinstance(filters, list):
                problems.append(
                    source.error(chain_pos, f"{chain_field}.filters", f"expected a list, got {_describe(filters)}")
                )
                continue
            for k, network_filter in enumerate(filters):
                if not _is_hcm(network_filter):
                    continue
                hcm_field = f"{chain_field}.filters[{k}].typed_config"
                typed_config = network_filter.get("typed_config")
                if not isinstance(typed_config, MutableMapping):
                    problems.append(
                        source.error(_pos(filters, k), hcm_field, f"expected a mapping, got {_describe(typed_config)}")
                    )
                    continue
                label = f"listener {names[index]!r} {chain_label} http_connection_manager"
                managers.append(
                    _Manager(label, hcm_field, names[index], typed_config, typed_config.get("http_filters"))
                )
    if problems:
        raise ConfigEditError(problems)
    return managers


def _chains(listener: Mapping[str, Any], base: str) -> Iterator[tuple[str, str, Any, tuple[int, int] | None]]:
    chains = listener.get("filter_chains")
    if isinstance(chains, list):
        for j, chain in enumerate(chains):
            yield f"filter_chains[{j}]", f"{base}.filter_chains[{j}]", chain, _pos(chains, j)
    default = listener.get("default_filter_chain")
    if default is not None:
        yield "default_filter_chain", f"{base}.default_filter_chain", default, _pos(listener, "default_filter_chain")


def _is_hcm(network_filter: Any) -> bool:
    if not isinstance(network_filter, Mapping):
        return False
    typed_config = network_filter.get("typed_config")
    at_type = typed_config.get("@type") if isinstance(typed_config, Mapping) else None
    return network_filter.get("name") == HCM or at_type == HCM_TYPE


def _is_router(http_filter: Any) -> bool:
    if not isinstance(http_filter, Mapping):
        return False
    typed_config = http_filter.get("typed_config")
    at_type = typed_config.get("@type") if isinstance(typed_config, Mapping) else None
    return http_filter.get("name") == ROUTER or at_type == ROUTER_TYPE


def _is_ours(http_filter: Any, filter_name: str) -> bool:
    """An HTTP wasm filter whose plugin is catalog filter `filter_name`."""
    if not isinstance(http_filter, Mapping):
        return False
    typed_config = http_filter.get("typed_config")
    if not isinstance(typed_config, Mapping) or typed_config.get("@type") != HTTP_WASM_TYPE:
        return False
    config = typed_config.get("config")
    return isinstance(config, Mapping) and config.get("name") == filter_name


def _check_entry(entry: Mapping[str, Any], filter_name: str) -> None:
    if not _is_ours(entry, filter_name):
        raise ValueError(f"entry is not the HTTP wasm filter of {filter_name!r} (build it with config.wasm_filter)")


def _check_shared(source: _Source, managers: list[_Manager], listener: str | None) -> list[str]:
    """A YAML alias can make listeners share one http_filters list: editing it would reach all of them."""
    if listener is None:
        return []
    chosen = {id(m.http_filters): m for m in managers if isinstance(m.http_filters, list)}
    problems = []
    for other in _connection_managers(source, None):
        mine = chosen.get(id(other.http_filters))
        if mine is not None and other.listener != listener:
            problems.append(
                source.error(_pos(mine.typed_config, "http_filters"), f"{mine.field}.http_filters",
                             f"expected a list of {listener!r} alone, got one shared (through a YAML alias) with "
                             f"listener {other.listener!r}; the filter would reach both")
            )  # fmt: skip
    return problems


# --- planning the changes --------------------------------------------------------------------


@dataclass
class _Change:
    """Delete `seq[index]` and/or insert `value` at `index` (indices as in the file before any change).

    `seq` None means the list does not exist yet: `owner[0][owner[1]]` becomes `value`, a list.
    When a change empties a block list, its key is dropped from `owner`, so no `key:` (null) is left.
    """

    seq: Any
    index: int
    field: str
    delete: bool = False
    value: Any = None
    owner: tuple[MutableMapping[str, Any], str] | None = None


@dataclass
class _Plan:
    changes: list[_Change] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    gone: list[Any] = field(default_factory=list)  # entries of ours that are removed or replaced

    def add(self, change: _Change) -> None:
        self.changes.append(change)


def _plan_insert(
    source: _Source, plan: _Plan, manager: _Manager, entry: dict[str, Any], filter_name: str, before: str | None
) -> str:
    """Plan the entry's insertion (or update, or move) in one connection manager; say what it will be."""
    filters = manager.http_filters
    where = _pos(manager.typed_config, "http_filters") or _pos(manager.typed_config)
    field_name = f"{manager.field}.http_filters"
    if not isinstance(filters, list) or not filters:
        implicit = " (Envoy then adds the router itself); list the router explicitly" if not filters else ""
        raise _Problem(
            source.error(where, field_name,
                         f"expected a list of HTTP filters ending with {ROUTER}, got {_describe(filters)} "
                         f"in {manager.label}{implicit}")
        )  # fmt: skip
    owner = (manager.typed_config, "http_filters")
    names = [f.get("name") if isinstance(f, Mapping) else None for f in filters]
    ours = [i for i, f in enumerate(filters) if _is_ours(f, filter_name)]
    if before is None:
        anchor = next((i for i, f in enumerate(filters) if _is_router(f)), None)
        wanted = f"the router ({ROUTER}) to insert before"
    else:
        anchor = next((i for i, f in enumerate(filters) if names[i] == before and i not in ours), None)
        wanted = f"an HTTP filter named {before!r} (--before)"
    if anchor is None:
        got = ", ".join(repr(n) for n in names)
        hint = "; name the filter to insert before with --before" if before is None else ""
        raise _Problem(source.error(where, field_name, f"expected {wanted} in {manager.label}, got {got}{hint}"))
    if not ours:
        plan.add(_Change(filters, anchor, field_name, value=entry, owner=owner))
        return f"inserted before {names[anchor]}"
    index = ours[0]
    if index > anchor:
        plan.gone.append(filters[index])
        plan.add(_Change(filters, index, field_name, delete=True, owner=owner))
        plan.add(_Change(filters, anchor, field_name, value=entry, owner=owner))
        return f"moved before {names[anchor]}"
    if _plain(filters[index]) != _plain(entry):
        plan.gone.append(filters[index])
        plan.add(_Change(filters, index, field_name, delete=True, value=entry, owner=owner))
        return f"updated in place at http_filters[{index}]"
    return f"already applied at http_filters[{index}]"


def _no_manager(source: _Source, listener: str | None) -> str:
    """The error when no HTTP connection manager is in scope, naming what the filter chains hold instead."""
    listeners = source.doc["static_resources"]["listeners"]
    held: list[str] = []
    field_name, where = "static_resources.listeners", _pos(source.doc["static_resources"], "listeners")
    for index, item in enumerate(listeners):
        if listener is not None and _listener_name(item, index) != listener:
            continue
        if listener is not None:
            field_name, where = f"static_resources.listeners[{index}]", _pos(listeners, index)
        for _, _, chain, _ in _chains(item, "") if isinstance(item, Mapping) else ():
            filters = chain.get("filters") if isinstance(chain, Mapping) else None
            held += [
                str(f.get("name")) for f in filters or () if isinstance(f, Mapping) and str(f.get("name")) not in held
            ]
    got = ", ".join(held) or "no network filters"
    return source.error(where, field_name, f"expected an HTTP connection manager ({HCM}), got {got}")


def _plan_cluster(source: _Source, plan: _Plan, cluster: dict[str, Any], filter_name: str) -> None:
    """Add `cluster` unless there; update it if only the entries being replaced used the old one."""
    resources = source.doc["static_resources"]
    clusters = resources.get("clusters")
    name = cluster["name"]
    owner = (resources, "clusters")
    if clusters is None:
        new_list = next((c for c in plan.changes if c.seq is None and c.owner == owner), None)
        if new_list is None:
            plan.add(_Change(None, 0, CLUSTERS, value=[cluster], owner=owner))
        else:
            new_list.value.append(cluster)
        plan.places.append(f"static_resources.clusters: added {name!r}")
        return
    if not isinstance(clusters, list):
        where = _pos(resources, "clusters")
        raise ConfigEditError(
            [source.error(where, "static_resources.clusters", f"expected a list, got {_describe(clusters)}")]
        )
    for index, existing in enumerate(clusters):
        if not (isinstance(existing, Mapping) and existing.get("name") == name):
            continue
        if _plain(existing) == _plain(cluster):
            return
        if _referenced(source.doc, name, skip=[existing, *plan.gone]):
            raise ConfigEditError(
                [source.error(_pos(clusters, index), f"static_resources.clusters[{index}]",
                              f"expected cluster {name!r} as {filter_name!r} needs it, got a different one that "
                              "other parts of the configuration use; remove those first")]
            )  # fmt: skip
        plan.add(_Change(clusters, index, CLUSTERS, delete=True, value=cluster, owner=owner))
        plan.places.append(f"static_resources.clusters: updated {name!r}")
        return
    plan.add(_Change(clusters, len(clusters), CLUSTERS, value=cluster, owner=owner))
    plan.places.append(f"static_resources.clusters: added {name!r}")


def _unique(clusters: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for cluster in clusters:
        if by_name.setdefault(cluster["name"], cluster) != cluster:
            raise ValueError(f"two different extra clusters named {cluster['name']!r}")
    return list(by_name.values())


def _check_cluster_defined(source: _Source, name: str, extra_clusters: Sequence[dict[str, Any]]) -> None:
    """Envoy's validate mode does not check the cluster remote code is fetched through: we do."""
    clusters = source.doc["static_resources"].get("clusters")
    names = [c.get("name") for c in clusters if isinstance(c, Mapping)] if isinstance(clusters, list) else []
    if name not in names and name not in [c["name"] for c in extra_clusters]:
        raise ConfigEditError(
            [source.error(_pos(source.doc["static_resources"], "clusters"), "static_resources.clusters",
                          f"expected a cluster named {name!r} (the filter's code is fetched through it), "
                          f"got {', '.join(map(repr, names)) or 'none'}")]
        )  # fmt: skip


def _plan_orphans(source: _Source, plan: _Plan, *, keep: set[str]) -> None:
    """Remove catalog-owned clusters that only the entries in `plan.gone` used.

    Only names the catalog gives its own clusters qualify: a cluster the user wrote stays, and so
    does one that anything else still mentions.
    """
    resources = source.doc["static_resources"]
    clusters = resources.get("clusters")
    used = {_remote_cluster(entry) for entry in plan.gone}
    if not isinstance(clusters, list):
        return
    for index, cluster in enumerate(clusters):
        name = cluster.get("name") if isinstance(cluster, Mapping) else None
        if name not in CATALOG_CLUSTERS or name not in used or name in keep:
            continue
        if not _referenced(source.doc, name, skip=[cluster, *plan.gone]):
            plan.add(_Change(clusters, index, CLUSTERS, delete=True, owner=(resources, "clusters")))
            plan.places.append(f"static_resources.clusters: removed {name!r}")


def _remote_cluster(http_filter: Any) -> str | None:
    """The cluster the filter's remote code is fetched through, if any."""
    node = http_filter
    for key in ("typed_config", "config", "vm_config", "code", "remote", "http_uri", "cluster"):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, str) else None


def _referenced(doc: Any, name: str, *, skip: Sequence[Any]) -> bool:
    """Whether the string `name` appears anywhere in `doc` outside the nodes in `skip`."""
    skipped = {id(node) for node in skip}

    def walk(node: Any) -> bool:
        if id(node) in skipped:
            return False
        if isinstance(node, Mapping):
            return any(walk(value) for value in node.values())
        if isinstance(node, list):
            return any(walk(value) for value in node)
        return isinstance(node, str) and node == name

    return walk(doc)


# --- carrying the changes out ----------------------------------------------------------------


def _finish(source: _Source, plan: _Plan, envoy: Envoy) -> EditResult:
    """Write the planned changes (if any), check them, and have Envoy validate the result."""
    if not plan.changes:
        return EditResult(False, tuple(plan.places), None)
    spliced = None if source.is_json else _splice(source, plan.changes)
    _mutate(plan.changes)
    text = _dump_json(source, source.doc) if spliced is None else spliced
    reloaded = _load_json(text, source.display) if source.is_json else _load_yaml(text, source.display)
    if _plain(reloaded) != _plain(source.doc):
        raise ConfigEditError(
            [f"{source.display}: error: the edit could not be written without changing other data "
             "(an unusual layout); the file is unchanged, edit it by hand"]
        )  # fmt: skip
    validation = _replace_validated(source, text.encode("utf-8"), envoy)
    return EditResult(True, tuple(plan.places), validation)


def _mutate(changes: list[_Change]) -> None:
    """Carry the changes out on the parsed document: per list, from the last index to the first."""
    for change in sorted(changes, key=lambda c: c.index, reverse=True):
        if change.seq is None:
            assert change.owner is not None
            change.owner[0][change.owner[1]] = change.value
            continue
        if change.delete:
            del change.seq[change.index]
        if change.value is not None:
            change.seq.insert(change.index, change.value)
    for change in changes:
        if change.seq is not None and not change.seq and change.owner is not None and not _is_flow(change.seq):
            change.owner[0].pop(change.owner[1], None)


def _is_flow(node: Any) -> bool:
    """Written inline (`[a, b]`, `{k: v}`); such a list can be empty, a block list cannot."""
    return isinstance(node, (CommentedSeq, CommentedMap)) and bool(node.fa.flow_style())


def _plain(value: Any) -> Any:
    """`value` as plain dicts, lists and scalars, to compare data whatever the parser's types."""
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, ScalarBoolean):
        return bool(value)
    for kind in (bool, str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


# --- text splicing ---------------------------------------------------------------------------

_ITEM_PREFIX = re.compile(r"( *)-( +)")


@dataclass(frozen=True)
class _Layout:
    """How a block list is written: the dash's column, the item's column, and the indentation."""

    dash: int
    content: int
    indent: int
    seq_offset: int


class _Lines:
    """The file's lines (ends kept), with the questions splicing asks of them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.newline = "\r\n" if "\r\n" in text else "\n"

    def offset(self, line: int, col: int = 0) -> int:
        return self.starts[line] + col

    def _minor(self, k: int, col: int) -> bool:
        """Blank, or a comment no deeper than `col` (so it belongs to what follows)."""
        stripped = self.lines[k].lstrip(" ")
        return not stripped.strip() or (stripped.startswith("#") and len(self.lines[k]) - len(stripped) <= col)

    def _significant(self, k: int) -> bool:
        stripped = self.lines[k].strip()
        return bool(stripped) and not stripped.startswith("#")

    def _indent(self, k: int) -> int:
        return len(self.lines[k]) - len(self.lines[k].lstrip(" "))

    def end_of(self, start: int, col: int) -> int:
        """The line after the block that starts at `start` and holds everything deeper than `col`.

        Blank lines and shallow comments at its end are left out: they introduce what follows.
        """
        k = start + 1
        while k < len(self.lines) and not (self._significant(k) and self._indent(k) <= col):
            k += 1
        while k - 1 > start and self._minor(k - 1, col):
            k -= 1
        return k

    def insertion_before(self, line: int, col: int) -> int:
        """Where a new item goes to come before the item at `line`: above the comments that lead to it."""
        k = line
        while k > 0 and self._minor(k - 1, col):
            k -= 1
        while k < line and not self.lines[k].strip():
            k += 1
        return k

    def dash_of(self, seq: Any, index: int) -> tuple[int, int, int] | None:
        """(line, dash column, content column) of item `index`, if it is written as `- item`."""
        where = _pos(seq, index)
        if where is None:
            return None
        line, col = where
        match = _ITEM_PREFIX.fullmatch(self.lines[line][:col])
        return (line, len(match.group(1)), col) if match else None

    def lines_edit(self, start: int, end: int, new: list[str]) -> _TextEdit:
        """Replace whole lines `start` to `end` (exclusive) with `new`.

        At the end of a file whose last line has no line break, the edit keeps it that way, so
        that removing what was appended gives the file back as it was.
        """
        text, begin = "".join(new), self.offset(start)
        if end == len(self.lines) and start > 0 and not self.text.endswith("\n"):
            if start == end and text:
                text = self.newline + text.removesuffix(self.newline)
            elif text:
                text = text.removesuffix(self.newline)
            else:
                previous = self.lines[start - 1]
                begin -= len(previous) - len(previous.rstrip("\r\n"))
        return (begin, self.offset(end), text)


_TextEdit = tuple[int, int, str]  # replace text[start:end] with the string


def _splice(source: _Source, changes: list[_Change]) -> str:
    """The edited text: only the edited items' text changes."""
    lines = _Lines(source.text)
    quote = _quote_style(source.text)
    remaining: dict[int, int] = {}
    for change in changes:
        if change.seq is not None:
            left = remaining.get(id(change.seq), len(change.seq))
            remaining[id(change.seq)] = left - change.delete + (change.value is not None)
    edits: list[_TextEdit] = []
    for change in changes:
        seq = change.seq
        if seq is None:
            edit = _new_list(source, lines, change, quote)
        elif not isinstance(seq, CommentedSeq):
            edit = None
        elif _is_flow(seq) or not seq:  # an empty list can only be written `[]`
            edit = _flow_edit(source, lines, seq, change)
        elif change.delete and remaining[id(seq)] == 0:
            edit = _drop_key(lines, change)
        else:
            edit = _block_edit(source, lines, seq, change, quote)
        if edit is None:
            where = _pos(seq) if seq is not None else _pos(*change.owner) if change.owner else None
            raise ConfigEditError(
                [source.error(where, change.field,
                              "expected a list written one `- item` per line or inline as `[a, b]`, under a block "
                              "mapping, got a layout this command cannot edit without rewriting the file; "
                              "edit it by hand")]
            )  # fmt: skip
        edits.append(edit)
    edits.sort(reverse=True)
    text = source.text
    for start, end, new in edits:
        text = text[:start] + new + text[end:]
    return text


def _block_edit(source: _Source, lines: _Lines, seq: Any, change: _Change, quote: str) -> _TextEdit | None:
    """Insert, replace or delete one item of a block list (`- item` lines)."""
    reference = lines.dash_of(seq, min(change.index, len(seq) - 1))
    if reference is None:
        return None
    key_at = _pos(change.owner[0], change.owner[1]) if change.owner is not None else None
    offset = max(reference[1] - key_at[1], 0) if key_at is not None else 0
    layout = _Layout(reference[1], reference[2], _mapping_indent(seq, source.doc), offset)
    new = _render(change.value, layout, quote, lines.newline) if change.value is not None else []
    if change.delete:
        return lines.lines_edit(reference[0], lines.end_of(reference[0], layout.dash), new)
    if change.index < len(seq):
        at = lines.insertion_before(reference[0], layout.dash)
    else:
        at = lines.end_of(reference[0], layout.dash)
    return lines.lines_edit(at, at, new)


def _flow_edit(source: _Source, lines: _Lines, seq: Any, change: _Change) -> _TextEdit | None:
    """Insert, replace or delete one item of a flow list (`[a, b]`), keeping the separators right."""
    starts = [_pos(seq, i) for i in range(len(seq))]
    opening = _pos(seq)
    if opening is None or None in starts:
        return None
    begin = [lines.offset(*at) for at in starts if at is not None]
    ends = source.node_ends()
    end = [ends[at] for at in starts if at is not None]
    new = _render_flow(change.value) if change.value is not None else ""
    i, count = change.index, len(seq)
    if change.delete and i < count - 1:
        return (begin[i], begin[i + 1], new + ", " if new else "")
    if change.delete:
        return (end[i - 1], end[i], ", " + new if new else "") if i > 0 else (begin[i], end[i], new)
    if i < count:
        return (begin[i], begin[i], new + ", ")
    at = end[-1] if count else lines.offset(*opening) + 1
    return (at, at, ", " + new if count else new)


def _drop_key(lines: _Lines, change: _Change) -> _TextEdit | None:
    """Delete `key:` and its list when its last item goes, rather than leave `key:` (null)."""
    key_at = _pos(change.owner[0], change.owner[1]) if change.owner is not None else None
    if key_at is None:
        return None
    return lines.lines_edit(key_at[0], lines.end_of(key_at[0], key_at[1]), [])


def _new_list(source: _Source, lines: _Lines, change: _Change, quote: str) -> _TextEdit | None:
    """`key:` and its one item at the end of the mapping `owner`, in the style of the mapping's first list."""
    assert change.owner is not None
    mapping, key = change.owner
    start = _pos(mapping)
    if not isinstance(mapping, CommentedMap) or _is_flow(mapping) or start is None or key in mapping:
        return None
    sibling = next((v for v in mapping.values() if isinstance(v, CommentedSeq) and not _is_flow(v) and v), None)
    dash = lines.dash_of(sibling, 0) if sibling is not None else None
    if dash is None:
        return None
    offset = dash[1] - start[1]
    layout = _Layout(dash[1], dash[2], _mapping_indent(mapping, source.doc), offset)
    at = lines.end_of(start[0], start[1] - 1)
    header = " " * start[1] + f"{key}:" + lines.newline
    items = [line for item in change.value for line in _render(item, layout, quote, lines.newline)]
    return lines.lines_edit(at, at, [header, *items])


def _mapping_indent(*roots: Any) -> int:
    """How far the file indents a nested block mapping, from the first one found (2 if none)."""
    queue = list(roots)
    while queue:
        node = queue.pop(0)
        if isinstance(node, CommentedMap):
            for key, value in node.items():
                if isinstance(value, CommentedMap) and not _is_flow(node) and not _is_flow(value):
                    key_at, value_at = _pos(node, key), _pos(value)
                    if key_at is not None and value_at is not None and value_at[0] > key_at[0]:
                        return value_at[1] - key_at[1]
                queue.append(value)
        elif isinstance(node, list):
            queue.extend(node)
    return 2


def _quote_style(text: str) -> str:
    """Whether the file quotes `@type` keys with double or single quotes (double when it has none)."""
    double, single = text.count('"@type"'), text.count("'@type'")
    return "'" if single > double else '"'


def _styled(value: Any, quote: str) -> Any:
    """`value` with its `@type` keys quoted as the file quotes them."""
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("@"):
                key = DoubleQuotedScalarString(key) if quote == '"' else SingleQuotedScalarString(key)
            out[key] = _styled(item, quote)
        return out
    if isinstance(value, list):
        return [_styled(item, quote) for item in value]
    return value


def _render(value: Any, layout: _Layout, quote: str, newline: str) -> list[str]:
    """`value` as the lines of one block list item, in the file's layout."""
    yaml = _yaml()
    yaml.indent(mapping=layout.indent, sequence=layout.seq_offset + 2, offset=layout.seq_offset)
    buffer = io.StringIO()
    yaml.dump(_styled(value, quote), buffer)
    body = buffer.getvalue().splitlines()
    first = " " * layout.dash + "-" + " " * (layout.content - layout.dash - 1) + body[0]
    rest = [" " * layout.content + line if line else line for line in body[1:]]
    return [line + newline for line in (first, *rest)]


def _render_flow(value: Any) -> str:
    """`value` on one line as an item of a flow list: JSON, which every YAML parser reads alike."""
    return json.dumps(_plain(value), ensure_ascii=False)


def _dump_json(source: _Source, doc: Any) -> str:
    match = re.search(r"\n([ \t]+)\S", source.text)
    indent = match.group(1) if match else None
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    return text + "\n" if source.text.endswith("\n") else text


# --- writing ---------------------------------------------------------------------------------


def _replace_validated(source: _Source, data: bytes, envoy: Envoy) -> ValidateResult:
    """Write `data` beside the original, have Envoy validate it, and only then rename it into place."""
    path = source.path
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".catalog-edit{path.suffix}")
    candidate = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(candidate, mode)
        result = validate_config(envoy, candidate)
        if not result.ok:
            raise ConfigEditError(_rejected(source, candidate, result, envoy))
        if path.read_bytes() != source.raw:
            raise ConfigEditError(
                [f"{source.display}: error: the file changed while it was being edited; nothing was written"]
            )
        os.replace(candidate, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
        raise
    # Envoy's log names the candidate, which is gone now; the user knows the file by its own name.
    return ValidateResult(result.ok, result.log.replace(str(candidate), source.display))


def _rejected(source: _Source, candidate: Path, result: ValidateResult, envoy: Envoy) -> list[str]:
    """Envoy's reasons, with the candidate's name replaced by the file's, and whether the original fails too."""
    said = result.problems() or [result.log.strip()[-2000:]]
    lines = [line.replace(str(candidate), source.display) for line in said]
    original = validate_config(envoy, source.path)
    verdict = (
        f"Envoy rejects {source.display} as it is, too, so the edit is not the cause"
        if not original.ok
        else "Envoy rejected the edited configuration"
    )
    return [f"{source.display}: error: {verdict}; the file is unchanged. Envoy said:", *(f"  {line}" for line in lines)]
