"""The `catalog` command line: parses arguments, calls a command, prints, chooses the exit status.

Exit status: 0 success, 1 findings with errors or a command that could not be done, 2 usage errors
(a bad option, an unknown or ambiguous filter name). Only this module imports click and rich.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast, get_args

import click
from rich.console import Console
from rich.markup import escape

# Only what the parser itself needs is imported here: each command imports the layers it calls
# when it runs, so `catalog --help` and quick commands do not pay for wasmtime, mkdocs or httpx.
from generator.binaries.fetch import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT
from generator.metadata import vocabulary
from generator.metadata.errors import CatalogError, FindingsError, UsageError
from generator.metadata.findings import Finding, Findings, Severity
from generator.metadata.layout import find_repo_root
from generator.metadata.text import printable

if TYPE_CHECKING:
    from generator.binaries.store import BinaryStore
    from generator.commands.bench import BenchReport
    from generator.envoy.configedit import EditResult
    from generator.gitops.review import CiState
    from generator.proof.in_envoy import CaseResult

# In a pipe or a CI log, do not wrap tables at 80 columns: a line per row is easier to grep.
# Markup is off: names, summaries and messages come from strangers' files, and "[red]" or "[/]"
# in them must print as typed. Text that should be styled passes markup=True with escaped data.
# Emoji codes are off for the same reason: rich would turn a contributor's ":smile:" into a glyph.
_PLAIN: dict[str, Any] = {"soft_wrap": True, "markup": False, "emoji": False, "highlight": False}
out = Console(**_PLAIN, width=None if sys.stdout.isatty() else 1000)
err = Console(stderr=True, **_PLAIN, width=None if sys.stderr.isatty() else 1000)


class State:
    """What every command needs: the repository root and the binary store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._store: BinaryStore | None = None

    @property
    def store(self) -> BinaryStore:
        """The content-addressed binary store (`.catalog-cache/store` or `$CATALOG_STORE`)."""
        if self._store is None:
            from generator.binaries.store import BinaryStore

            self._store = BinaryStore.for_repo(self.root)
        return self._store

    @property
    def catalog_root(self) -> Path:
        """The root, for commands that read an existing catalog; a usage error if there is none."""
        if not (self.root / "catalog").is_dir():
            raise UsageError(f"no catalog/ directory in {self.root}; run inside the repository or pass --root")
        return self.root


pass_state = click.make_pass_decorator(State)


def fail(error: CatalogError) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(printable(str(error)))}", markup=True)
    if isinstance(error, FindingsError):
        _print_findings(error.findings)
    sys.exit(error.exit_code)


@contextmanager
def handled() -> Iterator[None]:
    """Turn command errors into a message and an exit status, never a traceback."""
    try:
        yield
    except CatalogError as error:
        fail(error)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CATALOG_ROOT",
    help="Repository root (holds catalog/). Default: found from the current directory upwards.",
)
@click.version_option(package_name="envoy-wasm-catalog")
@click.pass_context
def main(ctx: click.Context, root: Path | None) -> None:
    """A GitOps catalog of Envoy proxy-wasm filters: import, validate, prove, benchmark, review and release them."""
    ctx.obj = State((root or find_repo_root(Path.cwd())).resolve())


@main.group("filter")
def filter_group() -> None:
    """Manage the filters in the catalog."""


# --- import ----------------------------------------------------------------------------------


@filter_group.command("import")
@click.argument("source")
@click.option("--name", help="Filter name (a DNS label). Default: derived from the file name.")
@click.option(
    "--version", "version", help="Version to record. Default 0.1.0 for a new filter; required for an existing one."
)
@click.option("--config", "config", help="Example plugin configuration: a JSON file or JSON text.")
@click.option(
    "--owner",
    "owners",
    multiple=True,
    help="Owner handle (@user or @org/team); repeat for several. Default: `git config github.user`.",
)
@click.option("--title", help="Human-readable title of a new filter.")
@click.option("--summary", help="One-line summary of a new filter.")
@click.option("--license", "license_", help="SPDX license expression of a new filter (e.g. Apache-2.0).")
@click.option(
    "--language",
    type=click.Choice(list(get_args(vocabulary.Language))),
    help="Source language. Default: from the binary's producers section.",
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    type=click.Choice(list(get_args(vocabulary.Category))),
    help="Category; repeat for several.",
)
@click.option("--source-url", help="For a file import: the https URL where CI will download this release.")
@click.option("--sha256", "expected_sha256", help="Refuse the bytes unless their sha256 is this.")
@click.option("--allow-http", is_flag=True, help="Allow plain http and hosts on private addresses (a local mirror).")
@click.option(
    "--max-size",
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest download accepted, in bytes.",
)
@click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Download deadline in seconds.",
)
@pass_state
def import_command(
    state: State,
    source: str,
    name: str | None,
    version: str | None,
    config: str | None,
    owners: tuple[str, ...],
    title: str | None,
    summary: str | None,
    license_: str | None,
    language: str | None,
    categories: tuple[str, ...],
    source_url: str | None,
    expected_sha256: str | None,
    allow_http: bool,
    max_size: int,
    timeout: float,
) -> None:
    """Add a filter, or a new version of one, from a .wasm (or .wat) file or a URL.

    The binary is inspected first; nothing is written unless it is a loadable proxy-wasm module.
    The bytes go to the local content-addressed store, never into git.
    """
    from generator.binaries.fetch import FetchPolicy
    from generator.commands.common import parse_config
    from generator.commands.import_filter import ImportRequest, import_filter, is_url

    with handled():
        request = ImportRequest(
            source=source,
            name=name,
            version=version,
            config=parse_config(config) if config is not None else None,
            has_config=config is not None,
            owners=owners,
            title=title,
            summary=summary,
            license=license_,
            language=language,
            categories=categories,
            source_url=source_url,
            expected_sha256=expected_sha256,
            fetch_policy=FetchPolicy(
                allow_http=allow_http, allow_private_hosts=allow_http, max_bytes=max_size, timeout=timeout
            ),
        )
        with _download_progress(is_url(source)) as progress:
            result = import_filter(state.catalog_root, state.store, request, progress)
        _print_findings(result.findings)
        action = "created" if result.created else "added version"
        facts = result.facts
        err.print(
            f"{action} {result.name} {result.version}: {facts.size} bytes, ABI {facts.abi}, "
            f"{facts.kind}, sha256 {facts.sha256}",
            highlight=False,
        )
        meta_path = f"catalog/filters/{result.name}/filter.yaml"
        if not result.has_source:
            err.print(
                f"next: add source.url (the release's https URL) to {meta_path} before opening a pull request",
                highlight=False,
            )


@contextmanager
def _download_progress(enabled: bool) -> Iterator[Any]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    if not enabled or not err.is_terminal:
        yield None
        return
    columns = (TextColumn("downloading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("download", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# --- list and view ---------------------------------------------------------------------------


@filter_group.command("list")
@click.argument("search", required=False, default="")
@click.option("--page", default=1, show_default=True, type=int, help="Page to show.")
@click.option("--page-size", default=25, show_default=True, type=int, help="Filters per page.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True)
@pass_state
def list_command(state: State, search: str, page: int, page_size: int, output: str) -> None:
    """List filters; SEARCH matches name, title, summary and keywords."""
    from dataclasses import asdict

    import yaml
    from rich.table import Table

    from generator.commands import listing
    from generator.metadata.loader import load_catalog

    with handled():
        result = listing.list_filters(load_catalog(state.catalog_root, metadata_only=True), search, page, page_size)
    for entry in result.broken:
        err.print(
            f"warning: {printable(entry.metadata_display)} does not load ({len(entry.findings)} problems); "
            f"run `catalog validate {entry.name}`",
            highlight=False,
        )
    rows = [asdict(row) for row in result.rows]
    if output == "json":
        out.print_json(json.dumps(rows))
        return
    if output == "yaml":
        out.print(yaml.safe_dump(rows, sort_keys=False, allow_unicode=True), end="", highlight=False)
        return
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "LATEST", "LANGUAGE", "ABI", "VISIBILITY", "SUMMARY"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        cells = (row.name, row.latest, row.language, row.abi, row.visibility, row.summary)
        table.add_row(*(printable(cell) for cell in cells))
    if result.rows:
        out.print(table)
    shown = f"page {result.page} of {result.pages}, " if result.pages > 1 else ""
    err.print(
        f"{shown}{result.total} filter{'s' if result.total != 1 else ''}" + (f" matching '{search}'" if search else ""),
        highlight=False,
    )


@filter_group.command("view")
@click.argument("name")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@pass_state
def view_command(state: State, name: str, output: str) -> None:
    """Show one filter, by name or unique prefix."""
    import yaml

    from generator.commands import view

    with handled():
        data = view.view_filter(state.catalog_root, name, state.store)
    if output == "json":
        out.print_json(json.dumps(data))
    else:
        out.print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="", highlight=False)


# --- delete, clone, visibility ---------------------------------------------------------------


@filter_group.command("delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_command(state: State, name: str, yes: bool) -> None:
    """Remove a filter's directory (its released binaries are not touched)."""
    from generator.commands import delete
    from generator.metadata.lookup import load_one

    with handled():
        if not yes:
            _, entry = load_one(state.catalog_root, name)
            if not sys.stdin.isatty():
                raise UsageError(f"refusing to delete '{entry.name}' without confirmation; pass --yes")
            click.confirm(f"Delete filter '{entry.name}' ({entry.display})?", abort=True, err=True)
        removed = delete.delete_filter(state.catalog_root, name)
    err.print(f"deleted {removed}", highlight=False)


@filter_group.command("clone")
@click.argument("name")
@click.argument("new_name")
@click.option("--owner", "owners", multiple=True, help="Owners of the clone (default: the original's).")
@pass_state
def clone_command(state: State, name: str, new_name: str, owners: tuple[str, ...]) -> None:
    """Copy a filter to NEW_NAME, recording where it came from."""
    from generator.commands import clone

    with handled():
        original, warnings = clone.clone_filter(state.catalog_root, name, new_name, owners)
    for warning in warnings:
        err.print(f"warning: {printable(warning)}", highlight=False)
    err.print(f"cloned {original} to {new_name}", highlight=False)


def _visibility_command(command_name: str, target: vocabulary.Visibility, help_text: str) -> None:
    @filter_group.command(command_name, help=help_text)
    @click.argument("name")
    @pass_state
    def command(state: State, name: str) -> None:
        from generator.commands import visibility

        with handled():
            filter_name, previous = visibility.set_visibility(state.catalog_root, name, target)
        note = "already" if previous == target else f"was {previous}, now"
        err.print(f"{filter_name}: {note} {target}", highlight=False)


_visibility_command("publish", "public", "Make a filter public: listed and searchable on the site.")
_visibility_command("unpublish", "private", "Make a filter private: not rendered on the site at all.")
_visibility_command(
    "unlist", "unlisted", "Make a filter unlisted: it has a page, but no list, search or index shows it."
)


# --- test and config -------------------------------------------------------------------------


@filter_group.command("test")
@click.argument("spec", metavar="NAME[@VERSION]")
@click.option("--record", is_flag=True, help="Write the outcome to the filter's proofs.yaml when every case passes.")
@click.option("--offline", is_flag=True, help="Do not download the binary; use the store or the recipe.")
@pass_state
def test_command(state: State, spec: str, record: bool, offline: bool) -> None:
    """Prove a version: sandbox pre-check, then the smoke case and every behaviour case in real Envoy."""
    from generator.binaries.obtain import BinaryOptions
    from generator.commands import test_filter

    def show(result: CaseResult) -> None:
        mark = "[green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
        err.print(f"{mark} {escape(printable(result.name))} ({result.seconds:.2f} s)", markup=True)
        for failure in result.failures:
            err.print(f"     {printable(failure)}")
        if not result.passed:
            for line in result.log:
                err.print(f"     envoy: {printable(line)}", style="dim")

    with handled():
        report = test_filter.prove_filter(
            state.catalog_root, state.store, spec, BinaryOptions(offline=offline), record=record, progress=show
        )
    sandbox = report.sandbox
    if sandbox.ok:
        err.print(
            f"sandbox: start {sandbox.start_fuel} fuel, first request {sandbox.first_request_fuel}, then "
            f"{sandbox.fuel_per_request} fuel per request (median of {len(sandbox.requests) - 1}, "
            f"{'–'.join(str(fuel) for fuel in sandbox.fuel_range or ())}), "
            f"memory +{sandbox.memory_growth_per_request or 0:.0f} bytes per request",
            highlight=False,
        )
    else:
        problem = printable(sandbox.problem or "")  # it names the callback and the request itself
        err.print(f"[bold red]sandbox:[/] {escape(problem)}", markup=True)
        for level, message in sandbox.logs[-5:]:
            err.print(f"     filter log (level {level}): {printable(message[:400])}", style="dim")
    _print_findings(report.findings)
    passed = sum(r.passed for r in report.results)
    err.print(
        f"{report.name} {report.version}: {passed} of {_count(len(report.results), 'case')} passed "
        f"in Envoy {report.envoy.version}"
        + ("" if sandbox.ok else ", sandbox check failed")
        + (" (recorded in proofs.yaml)" if record and report.passed else ""),
        highlight=False,
    )
    if not report.passed:
        sys.exit(1)


@filter_group.command("config")
@click.argument("spec", metavar="NAME[@VERSION]")
@click.option("--format", "fmt", type=click.Choice(["envoy", "istio"]), default="envoy", show_default=True)
@click.option("--config", "config", help="Plugin configuration (JSON file or text). Default: the first example.")
@click.option("--remote", is_flag=True, help="Envoy: load the module from its release URL (http_uri + sha256).")
@click.option("--wasm-path", help="Envoy: absolute path of the local .wasm file.")
@click.option("--namespace", default="istio-system", show_default=True, help="Istio: the WasmPlugin's namespace.")
@click.option("--selector", "selectors", multiple=True, metavar="KEY=VALUE", help="Istio: workload label; repeat.")
@pass_state
def config_command(
    state: State,
    spec: str,
    fmt: str,
    config: str | None,
    remote: bool,
    wasm_path: str | None,
    namespace: str,
    selectors: tuple[str, ...],
) -> None:
    """Print ready-to-paste Envoy filter or Istio WasmPlugin configuration."""
    from generator.commands import config as filter_config
    from generator.commands.common import parse_config

    with handled():
        selector = {}
        for item in selectors:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--selector: expected KEY=VALUE, got '{item}'")
            selector[key] = value
        request = filter_config.ConfigRequest(
            spec=spec,
            format="istio" if fmt == "istio" else "envoy",
            config=parse_config(config) if config is not None else None,
            has_config=config is not None,
            remote=remote,
            wasm_path=wasm_path,
            namespace=namespace,
            selector=selector or None,
        )
        text = filter_config.filter_config(state.catalog_root, request)
    out.print(text, end="", highlight=False, markup=False)


@filter_group.command("build")
@click.argument("name")
@click.option("--record", is_flag=True, help="Write the built binary's facts into the newest version of filter.yaml.")
@pass_state
def build_command(state: State, name: str, record: bool) -> None:
    """Build the newest version from its recipe in a clean directory; compare with, or record, its facts."""
    from generator.commands import build_filter

    with handled():
        outcome = build_filter.build_filter(state.catalog_root, state.store, name, record=record)
    _print_findings(outcome.findings)
    for warning in outcome.warnings:
        err.print(f"warning: {printable(warning)}", highlight=False)
    facts = outcome.facts
    summary = f"{facts.size} bytes, ABI {facts.abi}, {facts.kind}, sha256 {facts.sha256}"
    err.print(f"built {outcome.name} {outcome.version}: {summary}")
    for key, (recorded, built) in outcome.differences.items():
        err.print(f"  {key}: recorded {recorded}, built {built}")
    if outcome.recorded:
        err.print(f"recorded in catalog/filters/{outcome.name}/filter.yaml")
    elif outcome.differences:
        err.print(
            "the build differs from filter.yaml: run with --record for an unpublished version, or restore the sources"
        )
        sys.exit(1)
    else:
        err.print("matches filter.yaml")


@filter_group.command("apply")
@click.argument("spec", metavar="NAME[@VERSION]")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Envoy configuration file to edit.",
)
@click.option("--listener", help="Only this listener (default: every HTTP connection manager).")
@click.option("--before", help="Insert before this HTTP filter (default: before the router).")
@click.option("--config", "config", help="Plugin configuration (JSON file or text). Default: the first example.")
@click.option("--remote", is_flag=True, help="Load the module from its release URL (adds the download cluster).")
@click.option("--wasm-path", help="Absolute path where Envoy will find the .wasm (default: the local store).")
@click.option("--offline", is_flag=True, help="Do not download the binary.")
@pass_state
def apply_command(
    state: State,
    spec: str,
    target: Path,
    listener: str | None,
    before: str | None,
    config: str | None,
    remote: bool,
    wasm_path: str | None,
    offline: bool,
) -> None:
    """Insert the filter into an Envoy configuration; Envoy validates the result before it replaces the file."""
    from generator.binaries.obtain import BinaryOptions
    from generator.commands import apply as apply_cmd
    from generator.commands.common import parse_config

    with handled():
        request = apply_cmd.ApplyRequest(
            spec=spec,
            target=target,
            listener=listener,
            before=before,
            config=parse_config(config) if config is not None else None,
            has_config=config is not None,
            remote=remote,
            wasm_path=wasm_path,
        )
        name, result = apply_cmd.apply(state.catalog_root, state.store, request, BinaryOptions(offline=offline))
    _print_edit(name, target, result, "applied to")


@filter_group.command("remove")
@click.argument("name")
@click.option(
    "--from",
    "target",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Envoy configuration file to edit.",
)
@pass_state
def remove_command(state: State, name: str, target: Path) -> None:
    """Take the filter out of an Envoy configuration again."""
    from generator.commands import apply as apply_cmd

    with handled():
        removed, result = apply_cmd.remove(state.catalog_root, name, target)
    _print_edit(removed, target, result, "removed from")


def _print_edit(name: str, target: Path, result: EditResult, verb: str) -> None:
    for place in result.places:
        err.print(f"  {printable(place)}")
    if result.changed:
        err.print(f"{name} {verb} {target} (checked by envoy --mode validate)")
    else:
        err.print(f"{target} unchanged: nothing to do for {name}")


# --- inspect ---------------------------------------------------------------------------------


@main.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def inspect_command(file: Path, output: str) -> None:
    """Inspect a .wasm file: ABI, kind, capabilities, imports and exports."""
    from rich.table import Table

    from generator.commands.inspect_file import inspect_file

    facts, findings = inspect_file(file)
    collected = Findings(findings)
    if output == "json":
        payload: dict[str, Any] = {"findings": [f.to_json() for f in collected.sorted()], "facts": None}
        if facts is not None:
            payload["facts"] = facts.to_json()
        out.print_json(json.dumps(payload))
    elif facts is not None:
        out.print(
            f"sha256        {facts.sha256}\nsize          {facts.size}\n"
            f"abi           {facts.abi}\nkind          {facts.kind}",
            highlight=False,
        )
        out.print(f"capabilities  {', '.join(facts.capabilities) or '-'}", highlight=False)
        unused = [c for c in facts.imported_capabilities if c not in facts.capabilities]
        if unused:  # SDKs import every host function; these are never called from a callback
            out.print(f"              imported, never called: {', '.join(unused)}", highlight=False)
        table = Table(box=None, header_style="bold")
        for column in ("DIRECTION", "NAME", "KIND", "TYPE"):
            table.add_column(column)
        for imp in facts.imports:
            table.add_row("import", f"{imp.module}.{imp.name}", imp.kind, str(imp.type or ""))
        for exp in facts.exports:
            table.add_row("export", exp.name, exp.kind, str(exp.type or ""))
        out.print(table)
    if output != "json":
        _print_findings(collected.items)
    if collected.has_errors:  # an unreadable file is an error finding too
        sys.exit(1)


# --- validate --------------------------------------------------------------------------------


@main.command("validate")
@click.argument("paths", nargs=-1)
@click.option("--changed-since", metavar="REF", help="Check only filters whose files differ from this git ref.")
@click.option(
    "--offline", is_flag=True, help="Do not download binaries; check only those in the local store or built here."
)
@click.option("--metadata-only", is_flag=True, help="Skip the binaries: files, YAML and metadata rules only.")
@click.option("--rebuild", is_flag=True, help="Build each newest version from its recipe even if the store has it.")
@click.option("--deep", is_flag=True, help="Also run each filter's sandbox check and behaviour cases in a real Envoy.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github", "json"]),
    default="text",
    show_default=True,
    help="github prints workflow annotations.",
)
@pass_state
def validate_command(
    state: State,
    paths: tuple[str, ...],
    changed_since: str | None,
    offline: bool,
    metadata_only: bool,
    rebuild: bool,
    deep: bool,
    fmt: str,
) -> None:
    """Check the catalog, or the filters given as names or paths; exit 1 on any error."""
    from generator.binaries.obtain import BinaryOptions
    from generator.commands import validate

    if deep and metadata_only:
        fail(UsageError("--deep needs the binaries; it cannot be combined with --metadata-only"))
    binaries = None if metadata_only else BinaryOptions(offline=offline, rebuild=rebuild)

    def progress(what: str) -> None:
        # Deep runs take seconds per filter: say what is running even in a CI log.
        if (err.is_terminal or deep) and fmt != "json":
            err.print(f"checking {what}", style="dim", highlight=False)

    with handled():
        report = validate.validate(state.catalog_root, state.store, paths, changed_since, binaries, progress, deep=deep)
    findings = report.findings
    if fmt == "json":
        out.print(
            json.dumps({"checked": report.checked, "findings": [f.to_json() for f in findings.sorted()]}, indent=2),
            highlight=False,
        )
    else:
        for finding in findings.sorted():
            line = finding.github_annotation() if fmt == "github" else finding.format()
            out.print(line, highlight=False, markup=False)
        errors, warnings = findings.count(Severity.ERROR), findings.count(Severity.WARNING)
        n = len(report.checked)
        err.print(
            f"{_count(n, 'filter')} checked: {_count(errors, 'error')}, {_count(warnings, 'warning')}",
            highlight=False,
        )
    if findings.has_errors:
        sys.exit(1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _print_findings(findings: list[Finding]) -> None:
    for finding in Findings(findings).sorted():
        err.print(finding.format(), highlight=False, markup=False)


# --- schema and rules ------------------------------------------------------------------------


@main.command("schema")
@click.option("--check", is_flag=True, help="Exit 1 if the committed schema is stale instead of writing it.")
@pass_state
def schema_command(state: State, check: bool) -> None:
    """Write catalog/schema/filter.schema.json (filter.yaml) and index.schema.json (the site's index.json)."""
    from generator.commands.schema import stale_schemas, write_schemas

    try:
        root = state.catalog_root
    except UsageError as error:
        fail(error)
    if check:
        stale = stale_schemas(root)
        for relative in stale:
            err.print(f"{relative.as_posix()} is stale; run `catalog schema` and commit it", highlight=False)
        if stale:
            sys.exit(1)
        return
    for relative in write_schemas(root):
        err.print(f"wrote {relative.as_posix()}", highlight=False)


@main.command("rules")
@click.argument("rule_id", required=False)
def rules_command(rule_id: str | None) -> None:
    """List the rules findings cite, or explain one (e.g. `catalog rules CAT104`)."""
    from rich.table import Table

    from generator.metadata import rules

    known = rules.all_rules()
    if rule_id is not None:
        match = [r for r in known if r.id == rule_id.upper()]
        if not match:
            fail(UsageError(f"RULE_ID: expected one of CAT001..{known[-1].id}, got '{rule_id}'"))
        rule = match[0]
        out.print(f"{rule.id} ({rule.severity.value}): {rule.explanation()}", highlight=False)
        return
    table = Table(box=None, header_style="bold")
    for column in ("RULE", "SEVERITY", "WHAT IT MEANS"):
        table.add_column(column)
    for rule in known:
        table.add_row(rule.id, rule.severity.value, rule.explanation().splitlines()[0])
    out.print(table)


# --- review ----------------------------------------------------------------------------------


@main.command("review")
@click.option(
    "--base", required=True, metavar="REF", help="The branch the pull request merges into (e.g. origin/main)."
)
@click.option("--head", default="HEAD", show_default=True, metavar="REF", help="The pull request's head commit.")
@click.option(
    "--author",
    metavar="LOGIN",
    help="The pull request's author (a GitHub login, with or without '@'), checked against the filters' owners.",
)
@click.option(
    "--ci",
    type=click.Choice(["success", "failure", "pending"]),
    help="What the pull request's own checks concluded (the trusted workflow reads it from GitHub); "
    "it can only lower the verdict.",
)
@click.option(
    "--approved-by",
    "approved_by",
    multiple=True,
    metavar="LOGIN",
    help="A login that approved the head commit; repeat. A maintainer's approval clears a platform change.",
)
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to FILE, not stdout."
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write both forms, DIR/review.md and DIR/review.json (what the trusted workflow posts and applies).",
)
@pass_state
def review_command(
    state: State,
    base: str,
    head: str,
    author: str | None,
    ci: str | None,
    approved_by: tuple[str, ...],
    fmt: str,
    output: Path | None,
    output_dir: Path | None,
) -> None:
    """Review a pull request for the approval queue: what it changes, who must approve, what it earns.

    Compares the head commit with the merge base of --base and --head, as GitHub does (the work
    tree is not read, and nothing of the head is run). Published versions never change and never
    vanish; new versions go up; owners (as the base has them) or a maintainer approve; a change to
    the platform needs a maintainer. The verdict (labels, and the status that gates merging) is in
    the report. Exit status 1 when the report has errors.
    """
    from generator.gitops import report as review_report
    from generator.gitops import review as review_cmd
    from generator.gitops import verdict as review_verdict
    from generator.metadata.files import write_atomic

    if output is not None and output_dir is not None:
        fail(UsageError("-o and --output-dir: give one of them"))
    checks = cast("CiState | None", ci)  # one of click's choices
    with handled():
        result = review_cmd.review(state.root, base, head, author, ci=checks, approved_by=approved_by)
    decision = review_verdict.decide(result)
    texts = {
        "markdown": review_report.render_markdown(result, decision),
        "json": review_report.render_json(result, decision),
    }
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(output_dir / "review.md", texts["markdown"])
        write_atomic(output_dir / "review.json", texts["json"])
        status = decision.status
        err.print(printable(f"wrote {output_dir}/review.md and review.json: {status.state}: {status.description}"))
    elif output is None:
        click.echo(texts[fmt], nl=False)  # not rich: it would turn ":name:" in contributors' text into emoji
    else:
        write_atomic(output, texts[fmt])
        err.print(f"wrote {output}: {printable(result.headline)}", highlight=False)
    if result.errors:
        sys.exit(1)


# --- ruleset ---------------------------------------------------------------------------------


@main.command("ruleset")
@click.option("--json", "as_json", is_flag=True, help="Print the ruleset itself, for GitHub's API or import page.")
@click.option("--repository", default="OWNER/REPO", show_default=True, help="The repository, for the command shown.")
@pass_state
def ruleset_command(state: State, as_json: bool, repository: str) -> None:
    """What to configure on GitHub for the approval queue: the default branch's ruleset.

    The settings live in .github/rulesets/main.json: the trusted review's status "catalog review"
    is required, a code owner approves the latest push, no force pushes or deletions, linear
    history. Apply them once with the printed gh command (an administrator's token), or import the
    file on the repository's Settings > Rules > Rulesets page.
    """
    from generator.gitops.ruleset import RULESET_FILE, load_ruleset

    with handled():
        ruleset = load_ruleset(state.catalog_root)
    if as_json:
        click.echo(json.dumps(ruleset.data, indent=2))
        return
    out.print(f"{RULESET_FILE.as_posix()}: the ruleset of the default branch", highlight=False)
    for sentence in ruleset.settings:
        out.print(f"- {printable(sentence)}", highlight=False)
    out.print(f"apply it: {ruleset.apply_command(repository)}", highlight=False)


# --- codeowners ------------------------------------------------------------------------------


@main.command("codeowners")
@click.option("--check", is_flag=True, help="Exit 1 if the committed file is stale instead of writing it.")
@pass_state
def codeowners_command(state: State, check: bool) -> None:
    """Write .github/CODEOWNERS: the maintainers own everything, each filter's owners its directory.

    Generated from each filter's owners and catalog/teams.yaml (private and unlisted filters
    included); filters whose metadata does not load are left to the maintainers, with a warning.
    """
    from generator.gitops import codeowners as codeowners_cmd

    with handled():
        outcome = codeowners_cmd.codeowners(state.catalog_root, check=check)
    for warning in outcome.warnings:
        err.print(f"warning: {printable(warning)}", highlight=False, emoji=False)
    path = outcome.path.as_posix()
    if not outcome.stale:
        err.print(f"{path} is up to date", highlight=False)
    elif check:
        err.print(f"{path} is stale; run `catalog codeowners` and commit it", highlight=False)
        sys.exit(1)
    else:
        err.print(f"wrote {path}", highlight=False)


# --- release ---------------------------------------------------------------------------------


@main.group("release")
def release_group() -> None:
    """Plan and prepare the catalog's releases: one per filter version, tagged NAME-vVERSION."""


@release_group.command("plan")
@click.option(
    "--base",
    required=True,
    metavar="REF",
    help="What was released already: the commit before the push. '' or the all-zero SHA: nothing (plan every version).",
)
@click.option("--head", metavar="REF", help="The commit to release from. Default: the work tree.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: a list of objects on one line, for a workflow's matrix.",
)
@pass_state
def release_plan_command(state: State, base: str, head: str | None, fmt: str) -> None:
    """List the versions releasable at --head that were not at --base.

    Releasable: the filter is not private and the version is not yanked. Each comes with its tag,
    asset name (from catalog.yaml's release_url), sha256, size and where its binary comes from.
    What was left out, and why, goes to stderr.
    """
    from rich.table import Table
    from rich.text import Text

    from generator.gitops import release as release_cmd

    with handled():
        result = release_cmd.plan(state.catalog_root, base, head)
    for note in result.notes:
        err.print(f"note: {printable(note)}", highlight=False, emoji=False)
    if fmt == "json":
        click.echo(json.dumps([release.to_json() for release in result.releases]))
        return
    table = Table(box=None, header_style="bold")
    for column in ("TAG", "ASSET", "SIZE", "SHA256", "SOURCE"):
        table.add_column(column, overflow="fold")
    for release in result.releases:
        cells = (release.tag, release.asset, str(release.size), release.sha256, release.source_text)
        table.add_row(*(Text(printable(cell)) for cell in cells))
    if result.releases:
        out.print(table)
    err.print(f"{_count(len(result.releases), 'version')} to release", highlight=False)


@release_group.command("prepare")
@click.argument("spec", metavar="NAME@VERSION")
@click.option(
    "-o",
    "--output",
    "directory",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the asset, its .sha256 and TAG.notes.md (created if needed; shared by versions).",
)
@click.option(
    "--site-url",
    metavar="URL",
    help="The catalog site, for a link to the filter's page in the notes. Default: mkdocs.yml's site_url.",
)
@pass_state
def release_prepare_command(state: State, spec: str, directory: Path, site_url: str | None) -> None:
    """Write a version's release files, after checking its binary against filter.yaml.

    Any version, any time: the binary comes from the store, the build recipe, or source.url (as
    `catalog validate` gets it), else from the git commit whose sources built the version, else
    from the published release asset; it is refused unless its sha256, size and other facts are
    the recorded ones. DIR (created if needed; other versions' files may be there) gets ASSET
    (named by catalog.yaml's release_url), ASSET.sha256 (for `sha256sum -c`) and TAG.notes.md, all
    or nothing. The next step, `gh release create ...`, is printed.
    """
    from generator.gitops import release as release_cmd

    with handled():
        url = site_url if site_url is not None else release_cmd.configured_site_url(state.catalog_root)
        prepared = release_cmd.prepare(state.catalog_root, state.store, spec, directory, site_url=url or None)
    release = prepared.release
    err.print(
        printable(
            f"prepared {release.tag} in {directory}: {', '.join(prepared.files)} "
            f"({release.size} bytes, sha256 {release.sha256}; from {prepared.origin})"
        ),
        highlight=False,
    )
    err.print(f"next: {prepared.gh_command()}", highlight=False, emoji=False)


@release_group.command("mirror")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--offline", is_flag=True, help="Do not download published assets; use the store and the recipes.")
@pass_state
def release_mirror_command(state: State, directory: Path, offline: bool) -> None:
    """Write a mirror of the public catalog into DIR: every version's asset and .sha256, and an index.json.

    Each binary is checked against filter.yaml (from the store, its recipe, the commit that built
    it, or the published release). Serve DIR from any static host; then
    `catalog filter download NAME --mirror URL`, `--index URL/index.json`, or the site built with
    CATALOG_MIRROR=URL fetch from it. Files already there with the right sha256 are kept.
    """
    from generator.binaries.obtain import BinaryOptions
    from generator.commands.mirror import INDEX_FILE, write_mirror

    with handled():
        result = write_mirror(state.catalog_root, state.store, directory, BinaryOptions(offline=offline))
    for left_out in result.left_out:
        err.print(f"note: {printable(left_out)} is yanked and has no asset to mirror; left out", highlight=False)
    err.print(
        f"mirror in {directory}: {_count(len(result.written), 'version')} written, {len(result.kept)} already "
        f"there, and {INDEX_FILE}",
        highlight=False,
    )


# --- download --------------------------------------------------------------------------------


@filter_group.command("download")
@click.argument("spec", metavar="NAME[@VERSION]")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="File to write, or a directory to put it in. Default: ./NAME-VERSION.wasm.",
)
@click.option(
    "--index",
    metavar="URL",
    help="A catalog site's index.json (URL or file) to look the filter up in, instead of the local catalog.",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option(
    "--mirror",
    envvar="CATALOG_MIRROR",
    metavar="URL",
    help="A mirror of the release assets (`catalog release mirror`): download its copy. Env: CATALOG_MIRROR.",
)
@click.option("--allow-http", is_flag=True, help="Allow plain http and hosts on private addresses (a local mirror).")
@pass_state
def download_command(
    state: State, spec: str, output: Path | None, index: str | None, force: bool, mirror: str | None, allow_http: bool
) -> None:
    """Download a published binary and keep it only if its sha256 is the recorded one.

    VERSION defaults to the latest that is not yanked; a yanked one given explicitly is downloaded
    with a warning. The URL and sha256 come from the local catalog (what the site links to), or
    from a site's or a mirror's index.json with --index (URL, or a file: a mirror on disk), whose
    sha256s are then trusted; --mirror fetches a mirror's copy, judged by the local catalog's
    sha256. Refused bytes leave nothing behind.
    """
    from generator.binaries.fetch import FetchPolicy
    from generator.commands import download as download_cmd

    source = click.get_current_context().get_parameter_source("mirror")
    if index is not None and mirror and source is click.core.ParameterSource.ENVIRONMENT:
        err.print("note: CATALOG_MIRROR is not used with --index: the index gives the download URLs", highlight=False)
        mirror = None
    with handled():
        request = download_cmd.DownloadRequest(
            spec=spec,
            output=output,
            index=index,
            force=force,
            policy=FetchPolicy(allow_http=allow_http, allow_private_hosts=allow_http),
            mirror=mirror or None,
        )
        root = None if index is not None else state.catalog_root
        with _download_progress(True) as progress:
            result = download_cmd.download_filter(root, request, progress)
    wanted = result.wanted
    if wanted.yanked:
        reason = f": {wanted.yank_reason}" if wanted.yank_reason else ""
        err.print(printable(f"warning: {wanted.name} {wanted.version} is yanked{reason}"), highlight=False, emoji=False)
    err.print(
        printable(
            f"downloaded {wanted.name} {wanted.version} to {result.path}: {result.size} bytes, sha256 {wanted.sha256}"
        ),
        highlight=False,
        emoji=False,
    )


# --- bench -----------------------------------------------------------------------------------

_BENCH_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people (stdout), json for tools (every round included).",
)
_BENCH_PROFILE = click.option(
    "--profile",
    default="default",
    show_default=True,
    metavar="PROFILE",
    help="Performance profile: catalog/profiles/PROFILE.yaml.",
)
_BENCH_ROUNDS = click.option(
    "--rounds", type=click.IntRange(2, 50), help="Rounds of each variant (default: the profile's)."
)
_BENCH_DURATION = click.option(
    "--duration",
    type=click.IntRange(1, 3600),
    metavar="SECONDS",
    help="Seconds of measured load per round (default: the profile's).",
)
_BENCH_OFFLINE = click.option("--offline", is_flag=True, help="Do not download binaries; use the store or the recipe.")


@filter_group.command("bench")
@click.argument("spec", metavar="NAME[@VERSION]")
@_BENCH_PROFILE
@_BENCH_ROUNDS
@_BENCH_DURATION
@click.option(
    "--config",
    "config",
    help="Plugin configuration (JSON file or text). Default: the profile's, else the first example.",
)
@click.option(
    "--record", is_flag=True, help="Write the results to the filter's bench.yaml (only if every round was valid)."
)
@_BENCH_OFFLINE
@_BENCH_FORMAT
@pass_state
def bench_command(
    state: State,
    spec: str,
    profile: str,
    rounds: int | None,
    duration: int | None,
    config: str | None,
    record: bool,
    offline: bool,
    fmt: str,
) -> None:
    """Measure what a filter costs: Envoy without it and with it, in alternating rounds.

    Each round starts a fresh Envoy on 127.0.0.1, warms it up and loads it with the profile's load
    generator; reported are requests/s, latency p50/p90/p99, Envoy's CPU time per request and its
    memory, as medians over rounds with their range, and the filter's overhead (with / without).
    A difference the rounds cannot tell from noise (Mann-Whitney U test, p >= 0.05) is reported as
    "within noise". Rounds with socket errors or non-2xx responses are invalid and left out.
    Ctrl-C stops Envoy and the load generator and writes nothing.
    """
    from generator.commands import bench as bench_cmd
    from generator.commands.common import parse_config

    with _interrupted(), handled():
        options = bench_cmd.BenchOptions(
            profile=profile,
            rounds=rounds,
            duration=duration,
            config=parse_config(config) if config is not None else None,
            has_config=config is not None,
            offline=offline,
        )
        with _bench_progress() as progress:
            report = bench_cmd.bench_filter(
                state.catalog_root, state.store, spec, options, record=record, progress=progress
            )
    _print_bench(report, fmt)
    if report.recorded:
        subject = report.variants[1].subject
        assert subject is not None
        err.print(f"recorded in catalog/filters/{subject.name}/bench.yaml", highlight=False)
    if report.failed or (record and not report.recorded):
        sys.exit(1)


@main.group("bench")
def bench_group() -> None:
    """Compare what filters cost in Envoy."""


@bench_group.command("compare")
@click.argument("spec_a", metavar="A")
@click.argument("spec_b", metavar="B")
@_BENCH_PROFILE
@_BENCH_ROUNDS
@_BENCH_DURATION
@_BENCH_OFFLINE
@_BENCH_FORMAT
@pass_state
def bench_compare_command(
    state: State,
    spec_a: str,
    spec_b: str,
    profile: str,
    rounds: int | None,
    duration: int | None,
    offline: bool,
    fmt: str,
) -> None:
    """Compare two filters, or two versions of one (NAME@V1 NAME@V2), side by side in one run.

    A and B are NAME[@VERSION]. Rounds alternate Envoy without a filter, with A and with B; each
    filter runs with the profile's configuration or its first example. The same metrics as
    `catalog filter bench`, and which of A and B costs more CPU per request, or that they are
    within noise of each other.
    """
    from generator.commands import bench as bench_cmd

    with _interrupted(), handled():
        options = bench_cmd.BenchOptions(profile=profile, rounds=rounds, duration=duration, offline=offline)
        with _bench_progress() as progress:
            report = bench_cmd.compare(state.catalog_root, state.store, spec_a, spec_b, options, progress=progress)
    _print_bench(report, fmt)
    if report.failed:
        sys.exit(1)


@contextmanager
def _interrupted() -> Iterator[None]:
    """Ctrl-C (or SIGTERM) during a benchmark: Envoy and the load generator are already stopped."""
    try:
        yield
    except KeyboardInterrupt:
        err.print("interrupted: Envoy and the load generator are stopped; nothing was written", highlight=False)
        sys.exit(130)


@contextmanager
def _bench_progress() -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar on a terminal; otherwise a line per round, so a CI log shows the run moving."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not err.is_terminal:

        def line(done: int, total: int, what: str) -> None:
            if done < total:
                err.print(printable(what), style="dim", highlight=False)

        yield line
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=printable(what))

        yield update


def _print_bench(report: BenchReport, fmt: str) -> None:
    from rich.table import Table
    from rich.text import Text

    from generator.commands import bench as bench_cmd

    for line in bench_cmd.invalid_rounds(report):
        err.print(printable(line), highlight=False)
    for note in report.notes:
        err.print(f"note: {printable(note)}", highlight=False)
    if fmt == "json":
        out.print_json(json.dumps(report.to_json()))
        return
    settings = report.profile
    protocol = settings.protocol + (" over TLS" if settings.tls else "")
    err.print(
        printable(
            f"profile {report.profile_name}: {report.generator}, {protocol}, {settings.connections} connections, "
            f"{settings.rounds} rounds; Envoy {report.envoy}; {report.machine.cpu}, {report.machine.cores} cores"
        ),
        highlight=False,
    )
    header, rows = bench_cmd.table(report)
    table = Table(box=None, header_style="bold")
    for column in header:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(printable(cell)) for cell in row))
    out.print(table)
    for line in bench_cmd.verdicts(report):
        out.print(printable(line), highlight=False)
