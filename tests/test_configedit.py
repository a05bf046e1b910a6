"""Applying a catalog filter to an existing Envoy configuration and removing it again.

The edits are checked by the real Envoy (`envoy --mode validate`), on a realistic configuration
with several listeners (tests/data/envoy/multi-listener.yaml): an HTTP ingress with cors, lua and
local rate limit filters; an edge listener with two filter chains and a default chain; and a TCP
proxy that must be left alone. Error cases never reach Envoy: they run with an Envoy that does not
exist, so a test fails if one would have started it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.envoy.config import HTTP_WASM, RELEASES_CLUSTER, ROUTER, WasmCode, releases_cluster, wasm_filter
from generator.envoy.configedit import ConfigEditError, EditResult, apply_filter, remove_filter
from generator.envoy.locate import Envoy
from generator.envoy.process import validate_config
from tests.wasm_modules import proxy_module

DATA = Path(__file__).parent / "data" / "envoy"
NAME = "add-header"
RELEASE = "https://releases.example.org/add-header-v1.0.0/add-header.wasm"
ROUTER_AT_TYPE = '"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'
NO_ENVOY = Envoy("/nonexistent/envoy", "0.0.0")  # any attempt to run it fails the test
CONNECTION_MANAGERS = 4  # ingress_http, edge's two filter chains and its default chain


@pytest.fixture
def wasm(tmp_path: Path) -> WasmCode:
    binary = proxy_module()
    path = tmp_path / "add_header.wasm"
    path.write_bytes(binary)
    return WasmCode(hashlib.sha256(binary).hexdigest(), local_path=str(path))


def entry(code: WasmCode, header: str = "x-test") -> dict[str, Any]:
    return wasm_filter(NAME, code, {"header": header})


def copy(tmp_path: Path, fixture: str = "multi-listener.yaml", name: str = "envoy.yaml") -> Path:
    target = tmp_path / "conf" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(DATA / fixture, target)
    return target


def managers(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each HTTP connection manager's http_filters, by stat_prefix."""
    found = {}
    for listener in data["static_resources"]["listeners"]:
        chains = [
            *listener.get("filter_chains", []),
            *([listener["default_filter_chain"]] if "default_filter_chain" in listener else []),
        ]
        for chain in chains:
            for network_filter in chain["filters"]:
                hcm = network_filter["typed_config"]
                if network_filter["name"] == "envoy.filters.network.http_connection_manager":
                    found[hcm["stat_prefix"]] = hcm["http_filters"]
    return found


def ours(filters: list[dict[str, Any]]) -> list[int]:
    return [i for i, f in enumerate(filters) if f["name"] == HTTP_WASM and f["typed_config"]["config"]["name"] == NAME]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def file_state(path: Path) -> tuple[bytes, int, list[str]]:
    """The file's bytes, its mtime and the directory listing: all an untouched file keeps."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


# --- apply, with Envoy -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.envoy
def test_apply_inserts_before_the_router_of_every_connection_manager(
    tmp_path: Path, envoy: Envoy, wasm: WasmCode
) -> None:
    config = copy(tmp_path)
    config.chmod(0o640)
    original = load(config)

    result = apply_filter(config, entry(wasm), filter_name=NAME, envoy=envoy)

    assert result.changed
    assert result.validation is not None
    assert result.validation.ok
    assert len(result.places) == CONNECTION_MANAGERS
    assert all(place.endswith(f"inserted before {ROUTER}") for place in result.places)
    assert "listener 'edge' default_filter_chain http_connection_manager: inserted before" in result.places[-1]
    data = load(config)
    for prefix, filters in managers(data).items():
        before = managers(original)[prefix]
        assert filters == [*before[:-1], entry(wasm), before[-1]], prefix
    assert data["static_resources"]["listeners"][2] == original["static_resources"]["listeners"][2]  # TCP proxy
    assert data["static_resources"]["clusters"] == original["static_resources"]["clusters"]
    assert validate_config(envoy, config).ok
    assert config.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(config.parent)) == ["envoy.yaml"]  # no candidate left behind


@pytest.mark.slow
@pytest.mark.envoy
def test_apply_only_adds_lines_and_keeps_comments_and_layout(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path)
    before = config.read_text().splitlines()

    apply_filter(config, entry(wasm), filter_name=NAME, envoy=envoy)

    after = config.read_text().splitlines()
    opcodes = {tag for tag, *_ in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()}
    assert opcodes == {"equal", "insert"}
    comments = [line for line in before if line.lstrip().startswith("#")]
    assert [line for line in after if line.lstrip().startswith("#")] == comments
    # Each insertion sits right above its router, in the list's own indentation, and the comment
    # that introduced the ingress router still introduces it.
    text = config.read_text()
    assert "          # The router must stay last.\n          - name: envoy.filters.http.router" in text
    assert "                - name: envoy.filters.http.wasm\n                  typed_config:\n" in text
    assert "              - name: envoy.filters.http.wasm\n                typed_config:\n" in text
    assert text.count('"@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm') == CONNECTION_MANAGERS


@pytest.mark.slow
@pytest.mark.envoy
def test_apply_twice_changes_nothing_the_second_time(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path)
    apply_filter(config, entry(wasm), filter_name=NAME, envoy=envoy)
    once = file_state(config)

    again = apply_filter(config, entry(wasm), filter_name=NAME, envoy=envoy)

    assert again == EditResult(False, again.places, None)
    assert all("already applied" in place for place in again.places)
    assert len(again.places) == CONNECTION_MANAGERS
    assert file_state(config) == once


@pytest.mark.slow
@pytest.mark.envoy
def test_listener_limits_the_edit_to_that_listener(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path)
    original = managers(load(config))

    result = apply_filter(config, entry(wasm), filter_name=NAME, listener="edge", envoy=envoy)

    assert [place.split(":")[0] for place in result.places] == [
        "listener 'edge' filter_chains[0] http_connection_manager",
        "listener 'edge' filter_chains[1] http_connection_manager",
        "listener 'edge' default_filter_chain http_connection_manager",
    ]
    now = managers(load(config))
    assert now["ingress_http"] == original["ingress_http"]
    assert [ours(now[prefix]) for prefix in ("edge_internal", "edge_partner", "edge_other")] == [[0], [1], [0]]


@pytest.mark.slow
@pytest.mark.envoy
def test_before_places_the_filter_in_front_of_the_named_filter(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path)

    result = apply_filter(
        config, entry(wasm), filter_name=NAME, listener="ingress_http", before="envoy.filters.http.lua", envoy=envoy
    )

    assert result.places == (
        "listener 'ingress_http' filter_chains[0] http_connection_manager: inserted before envoy.filters.http.lua",
    )
    names = [f["name"] for f in managers(load(config))["ingress_http"]]
    assert names == [
        "envoy.filters.http.cors",
        HTTP_WASM,
        "envoy.filters.http.lua",
        "envoy.filters.http.local_ratelimit",
        ROUTER,
    ]
    # The comment that introduced the lua filter still comes right before it.
    assert (
        "          # Tag every request so the upstream logs can be joined with ours.\n"
        "          - name: envoy.filters.http.lua" in config.read_text()
    )


@pytest.mark.slow
@pytest.mark.envoy
def test_a_new_configuration_replaces_the_entry_in_place(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path)
    pristine = config.read_bytes()
    apply_filter(config, entry(wasm, "x-one"), filter_name=NAME, listener="ingress_http", envoy=envoy)

    result = apply_filter(config, entry(wasm, "x-two"), filter_name=NAME, listener="ingress_http", envoy=envoy)

    assert result.changed
    assert result.places == (
        "listener 'ingress_http' filter_chains[0] http_connection_manager: updated in place at http_filters[3]",
    )
    filters = managers(load(config))["ingress_http"]
    assert ours(filters) == [3]
    assert filters[3] == entry(wasm, "x-two")
    remove_filter(config, filter_name=NAME, envoy=envoy)
    assert config.read_bytes() == pristine


@pytest.mark.slow
@pytest.mark.envoy
def test_before_moves_an_entry_that_comes_after_it(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path)
    apply_filter(config, entry(wasm), filter_name=NAME, listener="ingress_http", envoy=envoy)

    result = apply_filter(
        config, entry(wasm), filter_name=NAME, listener="ingress_http", before="envoy.filters.http.cors", envoy=envoy
    )

    assert result.places == (
        "listener 'ingress_http' filter_chains[0] http_connection_manager: moved before envoy.filters.http.cors",
    )
    filters = managers(load(config))["ingress_http"]
    assert ours(filters) == [0]
    assert len(filters) == 5


# --- the round trip ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.envoy
@pytest.mark.parametrize(
    ("listener", "before", "remote", "ending"),
    [
        (None, None, False, "lf"),
        ("edge", None, True, "lf"),
        ("ingress_http", "envoy.filters.http.local_ratelimit", True, "lf"),
        (None, None, True, "crlf"),
        (None, None, True, "no final newline"),
    ],
)
def test_apply_then_remove_gives_back_the_original(
    tmp_path: Path, envoy: Envoy, wasm: WasmCode, listener: str | None, before: str | None, remote: bool, ending: str
) -> None:
    config = copy(tmp_path)
    raw = config.read_bytes()
    config.write_bytes(
        raw.replace(b"\n", b"\r\n") if ending == "crlf" else raw.rstrip(b"\n") if ending != "lf" else raw
    )
    pristine = config.read_bytes()
    code = WasmCode(wasm.sha256, remote_url=RELEASE) if remote else wasm
    extra = [releases_cluster(RELEASE)] if remote else []

    applied = apply_filter(
        config, entry(code), filter_name=NAME, listener=listener, before=before, envoy=envoy, extra_clusters=extra
    )
    cluster_names = [c["name"] for c in load(config)["static_resources"]["clusters"]]
    removed = remove_filter(config, filter_name=NAME, envoy=envoy)

    assert applied.changed
    assert removed.changed
    assert (RELEASES_CLUSTER in cluster_names) == remote
    assert (f"static_resources.clusters: removed {RELEASES_CLUSTER!r}" in removed.places) == remote
    assert removed.validation is not None
    assert removed.validation.ok
    assert load(config) == yaml.safe_load(pristine)
    assert config.read_bytes() == pristine


@pytest.mark.slow
@pytest.mark.envoy
def test_switching_to_local_code_drops_the_releases_cluster(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path)
    pristine = config.read_bytes()
    remote = WasmCode(wasm.sha256, remote_url=RELEASE)
    apply_filter(config, entry(remote), filter_name=NAME, envoy=envoy, extra_clusters=[releases_cluster(RELEASE)])

    result = apply_filter(config, entry(wasm), filter_name=NAME, envoy=envoy)

    assert f"static_resources.clusters: removed {RELEASES_CLUSTER!r}" in result.places
    assert [c["name"] for c in load(config)["static_resources"]["clusters"]] == ["web", "api", "db"]
    remove_filter(config, filter_name=NAME, envoy=envoy)
    assert config.read_bytes() == pristine


@pytest.mark.slow
@pytest.mark.envoy
def test_a_releases_cluster_another_filter_uses_is_not_replaced(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path)
    elsewhere = "https://downloads.example.net/other.wasm"
    other = wasm_filter("other", WasmCode(wasm.sha256, remote_url=elsewhere), {})
    apply_filter(config, other, filter_name="other", envoy=envoy, extra_clusters=[releases_cluster(elsewhere)])
    untouched = file_state(config)

    with pytest.raises(ConfigEditError) as caught:
        apply_filter(
            config,
            entry(WasmCode(wasm.sha256, remote_url=RELEASE)),
            filter_name=NAME,
            envoy=envoy,
            extra_clusters=[releases_cluster(RELEASE)],
        )

    line = config.read_text().splitlines().index(f"  - name: {RELEASES_CLUSTER}") + 1
    assert str(caught.value).startswith(
        f"{config}:{line}:5: error: static_resources.clusters[3]: expected cluster '{RELEASES_CLUSTER}' as "
        f"'{NAME}' needs it, got a different one that other parts of the configuration use"
    )
    assert file_state(config) == untouched


@pytest.mark.slow
@pytest.mark.envoy
def test_remove_twice_and_remove_of_an_absent_filter_touch_nothing(
    tmp_path: Path, envoy: Envoy, wasm: WasmCode
) -> None:
    config = copy(tmp_path)
    apply_filter(config, entry(wasm), filter_name=NAME, envoy=envoy)
    first = remove_filter(config, filter_name=NAME, envoy=envoy)
    once = file_state(config)

    second = remove_filter(config, filter_name=NAME, envoy=envoy)

    assert first.changed
    assert len(first.places) == CONNECTION_MANAGERS
    assert second == EditResult(False, (), None)
    assert file_state(config) == once


def test_remove_of_a_filter_that_is_not_there_never_runs_envoy(tmp_path: Path) -> None:
    config = copy(tmp_path)
    untouched = file_state(config)

    assert remove_filter(config, filter_name=NAME, envoy=NO_ENVOY) == EditResult(False, (), None)
    assert file_state(config) == untouched


@pytest.mark.slow
@pytest.mark.envoy
def test_json_configuration_round_trips(tmp_path: Path, envoy: Envoy, wasm: WasmCode) -> None:
    config = copy(tmp_path, "front-proxy.json", "envoy.json")
    pristine = config.read_bytes()

    apply_filter(config, entry(wasm), filter_name=NAME, envoy=envoy)
    filters = managers(json.loads(config.read_text()))["ingress_http"]
    remove_filter(config, filter_name=NAME, envoy=envoy)

    assert ours(filters) == [3]
    assert config.read_bytes() == pristine


@pytest.mark.slow
@pytest.mark.envoy
@pytest.mark.parametrize(
    "clusters",
    [
        "",
        "  clusters: [ ]  # none yet\n",
        "  clusters: [{name: backend, type: STATIC, load_assignment: {cluster_name: backend}}]  # the app\n",
    ],
    ids=["no-clusters", "empty-clusters", "inline-clusters"],
)
def test_inline_lists_are_edited_inline(tmp_path: Path, envoy: Envoy, wasm: WasmCode, clusters: str) -> None:
    """`http_filters: [...]` gets the entry inline; `clusters:` is extended, or added and dropped again."""
    config = copy(tmp_path, "flow-style.yaml")
    config.write_text(config.read_text() + clusters)
    pristine = config.read_text()
    code = WasmCode(wasm.sha256, remote_url=RELEASE)

    apply_filter(config, entry(code), filter_name=NAME, envoy=envoy, extra_clusters=[releases_cluster(RELEASE)])
    applied = config.read_text()
    remove_filter(config, filter_name=NAME, envoy=envoy)

    removed = [line for line in pristine.splitlines() if line not in applied.splitlines()]
    added = [line for line in applied.splitlines() if line not in pristine.splitlines()]
    assert removed[0].startswith("                http_filters: [{name: envoy.filters.http.router")
    assert added[0].startswith('                http_filters: [{"name": "envoy.filters.http.wasm", "typed_config": {')
    assert added[0].endswith(
        "}, {name: envoy.filters.http.router, typed_config: {" + ROUTER_AT_TYPE + "}}]  # router only"
    )
    if clusters:
        old_clusters, comment = clusters.rstrip("\n").rsplit("]", 1)
        assert removed[1:] == [clusters.rstrip("\n")]
        assert added[1].startswith(old_clusters.replace("[ ", "["))
        assert '"sni": "releases.example.org"}}}' in added[1]
        assert added[1].endswith("]" + comment)
        assert f'{{"name": "{RELEASES_CLUSTER}", "type": "LOGICAL_DNS"' in added[1]
    else:
        assert removed[1:] == []
        assert added[1:3] == ["  clusters:", f"    - name: {RELEASES_CLUSTER}"]
    assert load(config) == yaml.safe_load(pristine)
    assert config.read_text() == pristine


# --- Envoy says no -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.envoy
def test_a_configuration_envoy_rejects_leaves_the_original_untouched(
    tmp_path: Path, envoy: Envoy, wasm: WasmCode
) -> None:
    config = copy(tmp_path)
    untouched = file_state(config)
    missing = WasmCode(wasm.sha256, local_path=str(tmp_path / "missing.wasm"))

    with pytest.raises(ConfigEditError) as caught:
        apply_filter(config, entry(missing), filter_name=NAME, envoy=envoy)

    message = str(caught.value)
    assert message.startswith(f"{config}: error: Envoy rejected the edited configuration; the file is unchanged")
    assert f"Invalid path: {tmp_path / 'missing.wasm'}" in message
    assert ".catalog-edit" not in message  # Envoy's lines name the user's file, not our candidate
    assert file_state(config) == untouched


@pytest.mark.slow
@pytest.mark.envoy
def test_a_configuration_envoy_rejected_already_is_reported_as_such(
    tmp_path: Path, envoy: Envoy, wasm: WasmCode
) -> None:
    config = copy(tmp_path)
    config.write_text(config.read_text().replace("route: { cluster: web }", "route: { cluster: no_such_cluster }"))
    untouched = file_state(config)

    with pytest.raises(
        ConfigEditError, match=r"Envoy rejects .* as it is, too, so the edit is not the cause"
    ) as caught:
        apply_filter(config, entry(wasm), filter_name=NAME, envoy=envoy)

    assert "no_such_cluster" in str(caught.value)
    assert file_state(config) == untouched


# --- input that cannot be edited (no Envoy runs) ------------------------------------------------


def edit_error(config: Path, **options: Any) -> str:
    """Apply with `options` and return the error; the file must be unchanged."""
    untouched = config.read_bytes() if config.is_file() and not config.is_symlink() else None
    code = WasmCode("0" * 64, local_path="/filters/add_header.wasm")
    with pytest.raises(ConfigEditError) as caught:
        apply_filter(config, entry(code), filter_name=NAME, envoy=NO_ENVOY, **options)
    if untouched is not None:
        assert config.read_bytes() == untouched
    return str(caught.value)


TCP_ONLY = """\
static_resources:
  listeners:
  - name: postgres
    address: {socket_address: {address: 0.0.0.0, port_value: 5432}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: db
          cluster: db
"""


HCM_NAME = "envoy.filters.network.http_connection_manager"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "static_resources:\n  listeners: [\n",
            "3:1: error: expected valid YAML, got: expected the node content, but found '<stream end>'",
        ),
        ("static_resources: {}\nstatic_resources: {}\n", "2:1: error: expected valid YAML, got: found duplicate key"),
        ("- name: listener\n", "1:1: error: (document): expected an Envoy bootstrap (a mapping), got a list"),
        ("", "1:1: error: (document): expected an Envoy bootstrap (a mapping), got nothing"),
        ("admin: {}\n", "1:1: error: static_resources: expected a mapping with the static listeners, got nothing"),
        ("static_resources:\n  clusters: []\n", "1:1: error: static_resources.listeners: expected a list of listeners"),
        (
            "static_resources:\n  listeners: {}\n",
            "2:3: error: static_resources.listeners: expected a list of listeners",
        ),
        (
            TCP_ONLY,
            f"2:3: error: static_resources.listeners: expected an HTTP connection manager ({HCM_NAME}), "
            "got envoy.filters.network.tcp_proxy",
        ),
    ],
)
def test_a_file_that_is_not_an_editable_bootstrap(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(text)

    assert edit_error(config).startswith(f"{config}:{expected}")


def test_an_unknown_listener_is_named_with_the_ones_there_are(tmp_path: Path) -> None:
    config = copy(tmp_path)

    message = edit_error(config, listener="egress")

    assert message == (
        f"{config}:9:3: error: static_resources.listeners: expected a listener named 'egress', "
        "got 'ingress_http', 'edge', 'postgres'"
    )


def test_a_listener_without_a_connection_manager(tmp_path: Path) -> None:
    config = copy(tmp_path)

    message = edit_error(config, listener="postgres")

    assert message == (
        f"{config}:147:5: error: static_resources.listeners[2]: expected an HTTP connection manager "
        "(envoy.filters.network.http_connection_manager), got envoy.filters.network.tcp_proxy"
    )


def test_a_missing_before_filter_names_each_connection_manager_without_it(tmp_path: Path) -> None:
    config = copy(tmp_path)

    message = edit_error(config, before="envoy.filters.http.buffer")

    lines = message.splitlines()
    assert len(lines) == 3  # ingress_http, edge filter_chains[0], edge default_filter_chain
    assert lines[0] == (
        f"{config}:39:11: error: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters: "
        "expected an HTTP filter named 'envoy.filters.http.buffer' (--before) in listener 'ingress_http' "
        "filter_chains[0] http_connection_manager, got 'envoy.filters.http.cors', 'envoy.filters.http.lua', "
        "'envoy.filters.http.local_ratelimit', 'envoy.filters.http.router'"
    )
    assert "listener 'edge' filter_chains[0] http_connection_manager" in lines[1]
    assert "listener 'edge' default_filter_chain http_connection_manager" in lines[2]


def test_a_connection_manager_without_a_router(tmp_path: Path) -> None:
    config = copy(tmp_path)
    text = config.read_text()
    router = """\
                - name: envoy.filters.http.router
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
                    suppress_envoy_headers: true
"""
    config.write_text(text.replace(router, ""))

    message = edit_error(config)

    assert message == (
        f"{config}:118:15: error: static_resources.listeners[1].filter_chains[1].filters[0].typed_config.http_filters: "
        f"expected the router ({ROUTER}) to insert before in listener 'edge' filter_chains[1] http_connection_manager, "
        "got 'envoy.filters.http.buffer'; name the filter to insert before with --before"
    )


def test_a_connection_manager_with_no_http_filters_listed(tmp_path: Path) -> None:
    config = copy(tmp_path, "flow-style.yaml")
    config.write_text(config.read_text().replace("http_filters: [", "# http_filters: ["))

    message = edit_error(config)

    assert message.startswith(f"{config}:")
    assert "http_filters: expected a list of HTTP filters ending with envoy.filters.http.router, got nothing" in message
    assert "Envoy then adds the router itself" in message


def test_remote_code_needs_its_cluster(tmp_path: Path) -> None:
    config = copy(tmp_path)
    remote = WasmCode("0" * 64, remote_url=RELEASE)
    untouched = config.read_bytes()

    with pytest.raises(ConfigEditError) as caught:
        apply_filter(config, entry(remote), filter_name=NAME, envoy=NO_ENVOY)

    assert str(caught.value) == (
        f"{config}:158:3: error: static_resources.clusters: expected a cluster named '{RELEASES_CLUSTER}' "
        "(the filter's code is fetched through it), got 'web', 'api', 'db'"
    )
    assert config.read_bytes() == untouched


def test_listeners_sharing_one_filter_list_through_an_alias(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    hcm = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    config.write_text(f"""\
static_resources:
  listeners:
  - name: a
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/{hcm}
          http_filters: &filters
          - name: envoy.filters.http.router
  - name: b
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/{hcm}
          http_filters: *filters
""")

    message = edit_error(config, listener="a")

    assert message == (
        f"{config}:9:11: error: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters: "
        "expected a list of 'a' alone, got one shared (through a YAML alias) with listener 'b'; "
        "the filter would reach both"
    )


@pytest.mark.parametrize("kind", ["symlink", "directory", "missing", "extension"])
def test_a_path_that_is_not_a_configuration_file(tmp_path: Path, kind: str) -> None:
    real = copy(tmp_path)
    config = {
        "symlink": tmp_path / "link.yaml",
        "directory": tmp_path / "dir.yaml",
        "missing": tmp_path / "missing.yaml",
        "extension": tmp_path / "envoy.conf",
    }[kind]
    if kind == "symlink":
        config.symlink_to(real)
    elif kind == "directory":
        config.mkdir()
    elif kind == "extension":
        shutil.copyfile(real, config)
    untouched = real.read_bytes()

    message = edit_error(config)

    expected = {
        "symlink": f"{config}: error: expected a regular file, got a symlink; edit the file it points to ({real})",
        "directory": f"{config}: error: expected a regular file, got a directory",
        "missing": f"{config}: error: file is missing",
        "extension": f"{config}: error: expected a .yaml, .yml or .json file (Envoy picks its parser by the "
        "extension), got '.conf'",
    }[kind]
    assert message.startswith(expected)
    assert real.read_bytes() == untouched
    assert config.is_symlink() == (kind == "symlink")


def test_the_entry_must_be_the_named_filter(tmp_path: Path, wasm: WasmCode) -> None:
    with pytest.raises(ValueError, match="entry is not the HTTP wasm filter of 'other'"):
        apply_filter(copy(tmp_path), entry(wasm), filter_name="other", envoy=NO_ENVOY)


def test_a_layout_splicing_cannot_handle_is_refused(tmp_path: Path) -> None:
    config = copy(tmp_path)
    config.write_text(
        config.read_text().replace(
            "\n          - name: envoy.filters.http.router\n",
            "\n          -\n            name: envoy.filters.http.router\n",
        )
    )

    message = edit_error(config, listener="ingress_http")

    assert message.startswith(
        f"{config}:40:11: error: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters: "
        "expected a list written one `- item` per line or inline as `[a, b]`"
    )
