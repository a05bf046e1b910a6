"""`catalog filter test`, `catalog filter config` and `catalog validate --deep`, against real Envoy."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from generator.envoy import config as envoy_config
from generator.envoy.locate import Envoy
from generator.envoy.process import run_envoy, validate_config, write_config
from generator.envoy.upstream import echo_upstream
from generator.wasm.wat import compile_wat
from tests.conftest import REPO_ROOT, CatalogBuilder, version_data
from tests.wasm_modules import callout_module, proxy_module

Cli = Callable[..., Result]

ADD_HEADER_WAT = (REPO_ROOT / "catalog/filters/add-header/src/add_header.wat").read_text()
ADD_HEADER = compile_wat(ADD_HEADER_WAT)
CONFIG = {
    "schema": {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": "^[a-z-]+$"}, "value": {"type": "string"}},
        "additionalProperties": False,
    },
    "examples": [{"title": "edge", "value": {"name": "x-served-by", "value": "edge-1"}}],
}
CASES = """\
cases:
- name: adds the header
  requests:
  - expect:
      headers: {x-served-by: edge-1}
      upstream_headers: {x-served-by: edge-1}
"""


@pytest.fixture
def shipped(catalog: CatalogBuilder) -> CatalogBuilder:
    """A filter like the shipped add-header, with its cases."""
    directory = catalog.add("add-header", ADD_HEADER, config=CONFIG)
    (directory / "cases.yaml").write_text(CASES)
    return catalog


# --- cases.yaml is checked like filter.yaml (no Envoy needed) ----------------------------------


def test_cases_file_errors_point_into_cases_yaml(cli: Cli, catalog: CatalogBuilder) -> None:
    directory = catalog.add("a", config=CONFIG)
    (directory / "cases.yaml").write_text(
        "cases:\n"
        "- name: one\n"
        "  config: {name: 'BAD NAME', value: x}\n"
        "  requests: [{expect: {status: 99}}]\n"
        "- name: one\n"
        "  requests: []\n"
        "  colour: red\n"
    )
    result = cli("validate", "--metadata-only")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines == [
        "catalog/filters/a/cases.yaml:4:32: error: cases[0].requests[0].expect.status: "
        "expected a value greater than or equal to 100, got 99 [CAT103]",
        "catalog/filters/a/cases.yaml:7:3: error: cases[1].colour: "
        "unknown field (expected one of: name, description, config, loads, requests) [CAT101]",
    ]
    (directory / "cases.yaml").write_text(
        "cases:\n- name: one\n  config: {name: 'BAD NAME', value: x}\n  requests: [{}]\n- name: one\n  requests: []\n"
    )
    lines = cli("validate", "--metadata-only").stdout.splitlines()
    assert lines == [
        "catalog/filters/a/cases.yaml:3:18: error: cases[0].config.name: "
        "configuration fails the filter's schema: 'BAD NAME' does not match '^[a-z-]+$' [CAT122]",
        "catalog/filters/a/cases.yaml:5:9: error: cases[1].name: expected a unique name, got 'one' again [CAT123]",
        "catalog/filters/a/cases.yaml:6:13: error: cases[1].requests: "
        "expected at least one request (or loads: false), got none [CAT103]",
    ]


# --- filter test --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.envoy
def test_filter_test_runs_cases_and_records_proof(cli: Cli, shipped: CatalogBuilder, envoy: Envoy) -> None:
    result = cli("filter", "test", "add-header", "--record")
    assert result.exit_code == 0, result.output
    assert "PASS smoke" in result.stderr
    assert "PASS adds the header" in result.stderr
    assert "sandbox: start" in result.stderr
    assert f"add-header 1.0.0: 2 of 2 cases passed in Envoy {envoy.version} (recorded in proofs.yaml)" in result.stderr
    proofs = yaml.safe_load((shipped.directory("add-header") / "proofs.yaml").read_text())
    proof = proofs["versions"]["1.0.0"]
    (run,) = proof["runs"]
    assert run["envoy"] == envoy.version
    assert run["runtime"] == "envoy.wasm.runtime.v8"
    assert run["cases"] == [{"name": "smoke", "passed": True}, {"name": "adds the header", "passed": True}]
    sandbox = proof["sandbox"]
    assert sandbox["requests"] == 20
    assert sandbox["fuel_min"] <= sandbox["fuel_per_request"] <= sandbox["fuel_max"]
    assert sandbox["first_request_fuel"] > 0
    assert sandbox["memory_growth_per_request"] == 0.0
    # the recorded proof loads back and is valid
    assert cli("validate", "--metadata-only").exit_code == 0


@pytest.mark.slow
@pytest.mark.envoy
def test_filter_test_failure_names_the_case_and_records_nothing(cli: Cli, shipped: CatalogBuilder) -> None:
    (shipped.directory("add-header") / "cases.yaml").write_text(
        CASES.replace("edge-1}\n      upstream", "edge-2}\n      upstream")
    )
    result = cli("filter", "test", "add-header@1.0.0", "--record")
    assert result.exit_code == 1
    assert "FAIL adds the header" in result.stderr
    assert "request 1: expected response header x-served-by: 'edge-2', got [\"edge-1\"]" in result.stderr
    assert "1 of 2 cases passed" in result.stderr
    assert not (shipped.directory("add-header") / "proofs.yaml").exists()


def test_cases_refuse_what_cannot_be_sent(cli: Cli, catalog: CatalogBuilder) -> None:
    directory = catalog.add("a", config=CONFIG)
    (directory / "cases.yaml").write_text(
        'cases:\n- name: x\n  requests:\n  - path: "/\u00e9"\n    headers: {x-a: "a\\r\\nx: 1"}\n'
    )
    lines = cli("validate", "--metadata-only").stdout.splitlines()
    assert len(lines) == 2
    assert "cases[0].requests[0].path: expected text matching" in lines[0]
    assert "cases[0].requests[0].headers: expected a header value of visible ASCII" in lines[1]


def test_filter_test_usage_errors(cli: Cli, shipped: CatalogBuilder) -> None:
    assert "is not a semantic version" in cli("filter", "test", "add-header@v1").stderr
    missing = cli("filter", "test", "add-header@9.9.9")
    assert missing.exit_code == 2
    assert "filter 'add-header' has no version 9.9.9 (it has: 1.0.0)" in missing.stderr


def test_filter_test_without_envoy_says_what_to_install(
    cli: Cli, shipped: CatalogBuilder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENVOY_BIN", str(tmp_path / "no-envoy-here"))
    result = cli("filter", "test", "add-header")
    assert result.exit_code == 1
    assert "does not run" in result.stderr


# --- filter config ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.envoy
def test_printed_envoy_config_is_accepted_and_behaves(
    cli: Cli, shipped: CatalogBuilder, envoy: Envoy, tmp_path: Path
) -> None:
    wasm = tmp_path / "add-header.wasm"
    wasm.write_bytes(ADD_HEADER)
    result = cli(
        "filter", "config", "add-header", "--wasm-path", str(wasm), "--config", '{"name": "x-proof", "value": "yes"}'
    )
    assert result.exit_code == 0, result.output
    [entry] = yaml.safe_load(result.stdout)
    assert entry["name"] == "envoy.filters.http.wasm"
    with (
        echo_upstream() as upstream,
        run_envoy(envoy, envoy_config.bootstrap(entry, upstream_port=upstream.port), tmp_path / "run") as running,
    ):
        connection = http.client.HTTPConnection("127.0.0.1", running.listener_port, timeout=10)
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
    assert response.status == 200
    assert response.getheader("x-proof") == "yes"
    assert ["x-proof", "yes"] in upstream.seen[0]["headers"]  # type: ignore[operator]


@pytest.mark.slow
@pytest.mark.envoy
def test_printed_remote_config_is_accepted_by_envoy(
    cli: Cli, shipped: CatalogBuilder, envoy: Envoy, tmp_path: Path
) -> None:
    result = cli("filter", "config", "add-header", "--remote")
    assert result.exit_code == 0, result.output
    documents = result.stdout.split("# And this cluster")
    [entry] = yaml.safe_load(documents[0])
    [cluster] = yaml.safe_load(documents[1].split("\n", 2)[2])
    code = entry["typed_config"]["config"]["vm_config"]["code"]["remote"]
    assert code["http_uri"]["uri"] == "https://example.org/releases/1.0.0/filter.wasm"
    assert code["sha256"] == version_data("1.0.0", ADD_HEADER)["sha256"]
    bootstrap = envoy_config.bootstrap(entry, upstream_port=9)
    bootstrap["static_resources"]["clusters"].append(cluster)
    # validate mode does not fetch remote code; it checks the whole configuration is well-formed
    check = validate_config(envoy, write_config(bootstrap, tmp_path / "remote.yaml"))
    assert check.ok, check.problems()


def test_istio_config(cli: Cli, shipped: CatalogBuilder) -> None:
    result = cli("filter", "config", "add-header", "--format", "istio", "--selector", "app=web", "--namespace", "edge")
    assert result.exit_code == 0, result.output
    resource = yaml.safe_load(result.stdout)
    assert resource["apiVersion"] == "extensions.istio.io/v1alpha1"
    assert resource["kind"] == "WasmPlugin"
    assert resource["metadata"] == {"name": "add-header", "namespace": "edge"}
    spec = resource["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["url"] == "https://example.org/releases/1.0.0/filter.wasm"
    assert spec["sha256"] == version_data("1.0.0", ADD_HEADER)["sha256"]
    assert spec["pluginConfig"] == {"name": "x-served-by", "value": "edge-1"}
    assert spec["failStrategy"] == "FAIL_CLOSE"
    assert spec["phase"] == "UNSPECIFIED_PHASE"
    assert spec["type"] == "HTTP"
    envoy_config.check_istio_wasm_plugin(resource)


def test_istio_settings_come_from_metadata(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add(
        "authz",
        config=CONFIG,
        envoy={"fail_open": True, "root_id": "authz_root"},
        istio={"phase": "AUTHZ", "priority": 10},
    )
    spec = yaml.safe_load(cli("filter", "config", "authz", "--format", "istio").stdout)["spec"]
    assert (spec["phase"], spec["priority"], spec["failStrategy"], spec["pluginName"]) == (
        "AUTHZ",
        10,
        "FAIL_OPEN",
        "authz_root",
    )
    entry = yaml.safe_load(cli("filter", "config", "authz").stdout)[0]
    assert entry["typed_config"]["config"]["root_id"] == "authz_root"
    assert entry["typed_config"]["config"]["fail_open"] is True


def test_config_is_checked_against_the_schema_first(cli: Cli, shipped: CatalogBuilder) -> None:
    result = cli("filter", "config", "add-header", "--config", '{"name": "BAD"}')
    assert result.exit_code == 1
    assert "--config: the configuration fails the schema of 'add-header'" in result.stderr
    assert "name: 'BAD' does not match '^[a-z-]+$'" in result.stderr


def test_istio_refuses_a_configuration_it_cannot_carry(cli: Cli, catalog: CatalogBuilder) -> None:
    config = {"schema": {"type": "string"}, "examples": [{"title": "text", "value": "x-a: b"}]}
    catalog.add("text-config", config=config)
    result = cli("filter", "config", "text-config", "--format", "istio")
    assert result.exit_code == 1
    assert "WasmPlugin.pluginConfig is a google.protobuf.Struct" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phase": "EARLY"}, "spec.phase: expected one of UNSPECIFIED_PHASE, AUTHN, AUTHZ, STATS"),
        ({"failStrategy": "FAIL_SOMETIMES"}, "spec.failStrategy: expected one of"),
        ({"colour": "red"}, "unknown WasmPlugin field(s): colour"),
        ({"url": "ftp://x/y.wasm"}, "spec.url: expected an oci://"),
        ({"sha256": "ABC"}, "spec.sha256: expected 64 lower-case hex characters"),
        ({"priority": 2**40}, "spec.priority: expected a 32-bit integer"),
        ({"targetRefs": []}, "only one of selector or targetRefs can be set"),
    ],
)
def test_istio_check_catches_bad_fields(change: dict[str, object], message: str) -> None:
    resource = envoy_config.istio_wasm_plugin("a", "https://x.org/a.wasm", "0" * 64, {})
    resource["spec"].update(change)
    with pytest.raises(envoy_config.IstioConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        envoy_config.check_istio_wasm_plugin(resource)


def test_wasm_path_must_be_absolute(cli: Cli, shipped: CatalogBuilder) -> None:
    result = cli("filter", "config", "add-header", "--wasm-path", "relative.wasm")
    assert result.exit_code == 2
    assert "--wasm-path: expected an absolute path" in result.stderr


# --- validate --deep ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.envoy
def test_validate_deep_reports_failed_cases_at_their_line(cli: Cli, shipped: CatalogBuilder, envoy: Envoy) -> None:
    assert cli("validate", "--deep").exit_code == 0
    (shipped.directory("add-header") / "cases.yaml").write_text(
        CASES.replace("edge-1}\n      upstream", "edge-9}\n      upstream")
    )
    result = cli("validate", "--deep")
    assert result.exit_code == 1
    [line] = [x for x in result.stdout.splitlines() if "[CAT302]" in x]
    assert line.startswith(
        "catalog/filters/add-header/cases.yaml:2:3: error: cases[0]: case 'adds the header' in Envoy"
    )
    assert "expected response header x-served-by: 'edge-9'" in line


@pytest.mark.slow
@pytest.mark.envoy
def test_validate_deep_reports_a_module_envoy_refuses(cli: Cli, catalog: CatalogBuilder, envoy: Envoy) -> None:
    # inspection passes (the import exists for ABI 0.2.1) but start-up traps in Envoy
    trapping_start = proxy_module(extra=['(func (export "_start") unreachable)'])
    catalog.add("a", trapping_start)
    result = cli("validate", "--deep")
    assert result.exit_code == 1
    assert "[CAT301]" in result.stdout
    assert "Envoy refused to load the filter" in result.stdout
    assert "_start failed: Uncaught RuntimeError: unreachable" in result.stdout
    # The sandbox saw the same trap, as a warning, said once: "sandbox: _start trapped: ...".
    assert "sandbox: _start trapped: wasm `unreachable` instruction executed" in result.stdout
    assert "start: _start" not in result.stdout


def test_validate_deep_without_envoy_is_an_error(
    cli: Cli, catalog: CatalogBuilder, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.add("a")
    monkeypatch.setenv("ENVOY_BIN", "/nonexistent/envoy")
    result = cli("validate", "--deep")
    assert result.exit_code == 1
    assert "catalog/filters: error: behaviour cases not run:" in result.stdout
    assert "[CAT300]" in result.stdout
    assert cli("validate", "--deep", "--metadata-only").exit_code == 2


def test_built_versions_point_at_the_catalog_release(cli: Cli, catalog: CatalogBuilder) -> None:
    source = {"build": {"recipe": "wat", "path": "src/f.wat"}}
    directory = catalog.add(
        "built", ADD_HEADER, config=CONFIG, versions=[version_data("1.0.0", ADD_HEADER, source=source)]
    )
    (directory / "src").mkdir()
    (directory / "src" / "f.wat").write_text(ADD_HEADER_WAT)
    spec = yaml.safe_load(cli("filter", "config", "built", "--format", "istio").stdout)["spec"]
    assert spec["url"] == "https://releases.example.org/built-v1.0.0/built.wasm"


# --- apply and remove ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.envoy
def test_apply_then_remove_through_the_cli(cli: Cli, shipped: CatalogBuilder, envoy: Envoy, tmp_path: Path) -> None:
    original = (REPO_ROOT / "tests/data/envoy/multi-listener.yaml").read_text()
    target = tmp_path / "envoy.yaml"
    target.write_text(original)
    applied = cli("filter", "apply", "add-header", "--to", str(target), "--config", '{"name": "x-a", "value": "b"}')
    assert applied.exit_code == 0, applied.output
    assert "add-header applied to" in applied.stderr
    assert "inserted before envoy.filters.http.router" in applied.stderr
    data = yaml.safe_load(target.read_text())
    inserted = data["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "http_filters"
    ]
    wasm = [f for f in inserted if f["name"] == "envoy.filters.http.wasm"]
    assert wasm[0]["typed_config"]["config"]["configuration"]["value"] == '{"name":"x-a","value":"b"}'
    # the local path is the store's copy, which Envoy could load to validate the file
    assert Path(wasm[0]["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"]).is_file()
    again = cli("filter", "apply", "add-header", "--to", str(target), "--config", '{"name": "x-a", "value": "b"}')
    assert "unchanged" in again.stderr
    removed = cli("filter", "remove", "add-header", "--from", str(target))
    assert removed.exit_code == 0, removed.output
    assert target.read_text() == original


def test_apply_refuses_a_config_that_fails_the_schema_and_changes_nothing(
    cli: Cli, shipped: CatalogBuilder, tmp_path: Path
) -> None:
    target = tmp_path / "envoy.yaml"
    target.write_text((REPO_ROOT / "tests/data/envoy/multi-listener.yaml").read_text())
    before = target.read_bytes()
    result = cli("filter", "apply", "add-header", "--to", str(target), "--config", '{"name": "BAD"}')
    assert result.exit_code == 1
    assert "fails the schema" in result.stderr
    assert target.read_bytes() == before


def test_apply_refuses_a_network_filter(cli: Cli, catalog: CatalogBuilder, tmp_path: Path) -> None:
    from tests.wasm_modules import NETWORK_EXPORTS

    binary = proxy_module(exports=NETWORK_EXPORTS)
    catalog.add("l4", binary, versions=[version_data("1.0.0", binary, kind="network")])
    result = cli("filter", "apply", "l4", "--to", str(tmp_path / "envoy.yaml"))
    assert result.exit_code == 1
    assert "'l4' is a network filter; apply inserts HTTP filters only" in result.stderr


# --- callouts: clusters declared in cases.yaml ---------------------------------------------------

CALLOUT_CASES = """\
clusters:
- name: auth
  description: The token service, GET /check.
  response: {status: 201, headers: {x-from: stand-in}, body: ok, delay_ms: 20}
cases:
- name: asks the auth service first
  requests:
  - expect:
      upstream_headers: {x-auth-status: '201'}
"""


def test_config_prints_the_clusters_a_filter_calls(cli: Cli, catalog: CatalogBuilder) -> None:
    catalog.add("asker", callout_module("auth"), cases=CALLOUT_CASES)
    result = cli("filter", "config", "asker")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "# The filter calls out to these clusters" in text
    assert "# auth: The token service, GET /check." in text
    clusters = yaml.safe_load(text.split("# auth: The token service, GET /check.\n", 1)[1])
    assert clusters[0]["name"] == "auth"
    assert clusters[0]["type"] == "STRICT_DNS"


@pytest.mark.parametrize(
    ("clusters", "message"),
    [
        ("- name: upstream\n", "the harness's own upstream is called so"),
        ("- name: a\n- name: a\n", "expected each name once, got a more than once"),
        ("- name: 'has space'\n", "expected text matching ^[A-Za-z0-9_.:-]{1,100}$, got 'has space'"),
        ("- name: a\n  response: {status: 42}\n", "greater than or equal to 100"),
    ],
)
def test_declared_clusters_are_checked(cli: Cli, catalog: CatalogBuilder, clusters: str, message: str) -> None:
    catalog.add("asker", callout_module("auth"), cases="clusters:\n" + clusters)
    result = cli("validate", "--metadata-only", "asker")
    assert result.exit_code == 1
    assert "cases.yaml" in result.stdout
    assert message in result.stdout


def asker(catalog: CatalogBuilder, cases: str) -> None:
    """A filter that calls out to cluster "auth" (tests/wasm_modules.callout_module)."""
    binary = callout_module("auth")
    catalog.add("asker", binary, cases=cases, versions=[version_data("1.0.0", binary, capabilities=["http_calls"])])


@pytest.mark.slow
@pytest.mark.envoy
def test_a_callout_filter_is_proven_with_its_stand_in(cli: Cli, catalog: CatalogBuilder, envoy: Envoy) -> None:
    asker(catalog, CALLOUT_CASES)
    result = cli("filter", "test", "asker")
    assert result.exit_code == 0, result.stderr
    assert "PASS asks the auth service first" in result.stderr


@pytest.mark.slow
@pytest.mark.envoy
def test_a_callout_to_an_undeclared_cluster_is_named(cli: Cli, catalog: CatalogBuilder, envoy: Envoy) -> None:
    asker(catalog, CALLOUT_CASES.replace("name: auth", "name: billing"))
    result = cli("validate", "--deep", "asker")
    assert result.exit_code == 1
    assert "[CAT304]" in result.stdout
    assert "the filter calls out to cluster 'auth', which cases.yaml does not declare" in result.stdout
