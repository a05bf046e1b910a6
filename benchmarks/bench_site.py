"""How long the site build takes, with our `catalog` plugin and without it, measured side by side.

Three builds, each `mkdocs build --strict` run as a subprocess exactly as a user runs it
(NO_MKDOCS_2_WARNING=1), alternating in rounds (repo, synthetic, plain, repo, ...):

- repo: the repository's own catalog, with the real mkdocs.yml (site_dir in a temporary
  directory through `-d`);
- synthetic: a generated catalog of N filters (metadata shaped like rate-limit's, its README,
  cases.yaml and proofs.yaml copied; names, titles, summaries, categories, languages, licenses,
  keywords, ABIs and traffic kinds varied so the home page's facets have several values; two or
  three versions each, committed to a temporary git repository in two commits), built with the
  plugin through a mkdocs.yml derived from the real one as tests/sitebuild.site_config does;
- plain: mkdocs-material alone (no `catalog` plugin) on the same Markdown the plugin hands to
  mkdocs for the synthetic catalog, written as files: docs/filters/NAME/index.md without their
  front matter, the same home page (with its front matter: hidden navigation, out of search),
  the same Submit page, docs/about.md, index.json and the schemas; the same theme, features,
  markdown_extensions, `not_in_nav: /filters/` and nav (home, Submit, About: no filter page is in
  the nav, as in the real site). The difference from the synthetic build is what the plugin costs.

Reported per build: the median wall time over rounds and its spread, the median CPU time of the
mkdocs process (user + system), its peak RSS, the site's size and file count; then the ratio
synthetic/plain of the medians, and the plugin's own work (load_catalog, catalog_history,
render_site), timed once in this process. Nothing touches the network.

    .venv/bin/python benchmarks/bench_site.py [--filters 1000] [--rounds 3] [--profile 25]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.gitops.gitrepo import catalog_history
from generator.metadata.loader import load_catalog
from generator.metadata.vocabulary import Category
from generator.site.render import SiteOutput, render_site
from generator.site.views import SiteOptions
from tests.sitebuild import read_mkdocs_config

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = Path(sys.executable).parent / "mkdocs"
TEMPLATES = ROOT / "site_templates"
EXAMPLE = ROOT / "catalog" / "filters" / "rate-limit"
RELEASE_URL = "https://releases.example.org/{name}-v{version}/{name}.wasm"
DAY_ONE = "2026-01-02T03:04:05+00:00"
DAY_TWO = "2026-02-03T04:05:06+00:00"

# The vocabulary the synthetic filters are made of. Index arithmetic (no random numbers) keeps
# every run's catalog the same.
FIRST = ["auth", "cache", "header", "jwt", "quota", "route", "trace", "geo", "bot", "cors", "csrf", "waf", "tenant"]
SECOND = ["guard", "rewrite", "limit", "policy", "router", "tagger", "check", "stamp", "meter", "mirror", "audit"]
CATEGORIES = list(get_args(Category))
LANGUAGES = ["c", "rust", "go", "cpp", "assemblyscript", "zig", "wat", "other"]
LICENSES = ["Apache-2.0", "MIT", "BSD-3-Clause", "MPL-2.0", "ISC", "Apache-2.0 OR MIT"]
KEYWORDS = [
    "rate-limit", "token-bucket", "throttling", "per-user", "quota", "429", "retry-after", "jwt", "oidc",
    "bearer", "cors", "csrf", "geoip", "canary", "tracing", "metrics", "cache-control", "etag", "gzip",
    "tenant", "multi-tenant", "waf", "bot", "allowlist", "denylist", "headers", "rewrite", "redirect",
]  # fmt: skip
SUMMARIES = [
    "Per-user token bucket keyed by a request header, shared by all Envoy workers; answers 429.",
    "Checks {a} tokens before the upstream sees a request and refuses the rest with 401.",
    "Adds, removes and rewrites {a} headers on requests and responses from a small rule list.",
    "Routes each tenant to its own cluster by a header, a path prefix or the host name.",
    "Counts requests and bytes per {a} route and exports them as Envoy metrics.",
    "Refuses requests whose path or method the {a} policy does not allow, with 403.",
]
CAPABILITIES = ["local_response", "shared_data", "metrics", "timers", "http_calls", "properties_read"]


# --- the synthetic catalog ---------------------------------------------------------------------


def git(root: Path, *args: str, date: str = DAY_ONE) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", "-c", "commit.gpgsign=false", *args],
        cwd=root, check=True, capture_output=True, env=env,
    )  # fmt: skip


def filter_names(count: int) -> list[str]:
    return [f"{FIRST[i % len(FIRST)]}-{SECOND[i // len(FIRST) % len(SECOND)]}-{i:05d}" for i in range(count)]


def synthetic_metadata(i: int, name: str, template: dict[str, Any]) -> dict[str, Any]:
    """rate-limit's filter.yaml with the facets and the identity of filter number `i`."""
    data = dict(template)
    first, second = name.split("-")[:2]
    data["name"] = name
    data["title"] = f"{first.capitalize()} {second} {i}"
    data["summary"] = SUMMARIES[i % len(SUMMARIES)].format(a=first)
    data["language"] = LANGUAGES[i % len(LANGUAGES)]
    data["license"] = LICENSES[i * 7 % len(LICENSES)]
    data["categories"] = sorted({CATEGORIES[i % len(CATEGORIES)], CATEGORIES[i * 3 // 2 % len(CATEGORIES)]})
    data["keywords"] = sorted({KEYWORDS[(i * 5 + k * 3) % len(KEYWORDS)] for k in range(3 + i % 6)})
    data.pop("sdk", None)
    data["visibility"] = "unlisted" if i % 50 == 49 else "public"
    versions = []
    for k, version in enumerate(["1.0.0", "1.1.0", "2.0.0"][: 2 + i % 2]):
        digest = hashlib.sha256(f"{name}@{version}".encode()).hexdigest()
        entry: dict[str, Any] = {
            "version": version,
            "sha256": digest,
            "size": 8_000 + int(digest[:6], 16) % 900_000,
            "abi": ["0.2.1", "0.2.1", "0.2.0", "0.1.0"][(i + k) % 4],
            "kind": ["http", "http", "http", "network", "both"][i % 5],
            "capabilities": sorted({CAPABILITIES[(i + j) % len(CAPABILITIES)] for j in range(i % 4)}),
        }
        if data["language"] == "c":
            entry["source"] = {"build": {"recipe": "clang", "path": "src/filter.c"}}
        else:
            entry["source"] = {"url": f"https://github.com/example/{name}/releases/download/v{version}/{name}.wasm"}
        if k == 0 and i % 10 == 3:
            entry.update(yanked=True, yank_reason="answers 500 on an empty header")
        versions.append(entry)
    data["versions"] = versions
    return data


def write_catalog(root: Path, count: int) -> list[str]:
    """N filters committed in two commits: every version but the newest, then the newest with its proofs."""
    template = yaml.safe_load((EXAMPLE / "filter.yaml").read_text())
    readme = (EXAMPLE / "README.md").read_text()
    cases = (EXAMPLE / "cases.yaml").read_text()
    proofs = yaml.safe_load((EXAMPLE / "proofs.yaml").read_text())
    proof = next(iter(proofs["versions"].values()))
    filters = root / "catalog" / "filters"
    filters.mkdir(parents=True)
    (root / "catalog" / "catalog.yaml").write_text(f"release_url: {RELEASE_URL}\n")
    names = filter_names(count)
    metadata = {}
    for i, name in enumerate(names):
        directory = filters / name
        directory.mkdir()
        data = synthetic_metadata(i, name, template)
        metadata[name] = data
        first = {**data, "versions": data["versions"][:-1]}
        (directory / "filter.yaml").write_text(yaml.safe_dump(first, sort_keys=False, allow_unicode=True))
        # The README's title and its link to another filter point at this catalog's filters.
        text = readme.replace("# Per-user rate limit", f"# {data['title']}", 1)
        text = text.replace("api-key-auth", names[(i + 1) % count])
        (directory / "README.md").write_text(text)
        (directory / "cases.yaml").write_text(cases)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first versions")
    for i, name in enumerate(names):
        directory = filters / name
        data = metadata[name]
        (directory / "filter.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        if i % 5 == 4:
            continue  # unproven
        recorded = {**proof, "cases": [dict(c) for c in proof["cases"]]}
        if i % 7 == 6:
            recorded["cases"][-1]["passed"] = False
        versions = {data["versions"][-1]["version"]: recorded}
        (directory / "proofs.yaml").write_text(yaml.safe_dump({"versions": versions}, sort_keys=False))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "newest versions, proven", date=DAY_TWO)
    return names


# --- mkdocs configurations ---------------------------------------------------------------------


def derived_config(path: Path, docs_dir: Path, plugin: bool) -> Path:
    """The repository's mkdocs.yml with absolute paths (as tests/sitebuild.site_config), with or without `catalog`."""
    config = read_mkdocs_config(ROOT / "mkdocs.yml")  # its `!ENV` values taken as their defaults
    config["docs_dir"] = str(docs_dir)
    config["theme"]["custom_dir"] = str(TEMPLATES / "overrides")
    if plugin:
        config["plugins"] = ["search", {"catalog": {"templates": str(TEMPLATES)}}]
    else:
        config["plugins"] = ["search"]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def strip_front_matter(content: str) -> str:
    if content.startswith("---\n"):
        end = content.index("\n---\n", 4)
        return content[end + 5 :].lstrip("\n")
    return content


def write_plain_docs(docs: Path, output: SiteOutput) -> int:
    """The repository's docs/, the plugin's generated Markdown and files as ordinary docs files; returns the page count.

    Filter pages lose their front matter (title and description; the title comes from their H1);
    the home and Submit pages keep theirs (hidden navigation, out of search), as the nav keeps them.
    """
    shutil.copytree(ROOT / "docs", docs)
    for page in output.pages:
        target = docs / page.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(strip_front_matter(page.content) if page.path.startswith("filters/") else page.content)
    for path, content in output.files.items():
        target = docs / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return sum(1 for _ in docs.rglob("*.md"))


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Build:
    label: str
    config: Path
    site: Path
    pages: int
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: float = 0.0  # 0: not measured
    messages: Counter[str] = field(default_factory=Counter)


def run_build(build: Build, workdir: Path) -> None:
    """One `mkdocs build --strict`, timed; its CPU time from wait4, its peak RSS from GNU time.

    wait4's ru_maxrss would count this process's memory (a forked child keeps its parent's
    high-water mark across exec), so the peak comes from /usr/bin/time, a small parent, when present.
    """
    shutil.rmtree(build.site, ignore_errors=True)
    out_path, err_path, rss_path = workdir / "mkdocs.out", workdir / "mkdocs.err", workdir / "mkdocs.rss"
    rss_path.unlink(missing_ok=True)
    gnu_time = ["/usr/bin/time", "-f", "%M", "-o", str(rss_path)] if Path("/usr/bin/time").exists() else []
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(var, None)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            [*gnu_time, str(MKDOCS), "build", "--strict", "-f", str(build.config), "-d", str(build.site)],
            cwd=build.config.parent, stdout=out, stderr=err, env=env,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(errors="replace") + err_path.read_text(errors="replace")
    if process.returncode != 0:
        sys.exit(f"{build.label}: mkdocs build failed ({process.returncode}):\n{text[-4000:]}")
    build.wall.append(elapsed)
    build.cpu.append(usage.ru_utime + usage.ru_stime)
    if rss_path.exists():
        build.rss_mb = max(build.rss_mb, int(rss_path.read_text().split()[-1]) / 1024)
    if len(build.wall) == 1:
        for line in text.splitlines():
            if line.strip() and not any(
                usual in line
                for usual in ("Cleaning site directory", "Building documentation to", "Documentation built in")
            ):
                build.messages[re.sub(r"filters/[^/'\" ]+/", "filters/*/", line.strip())] += 1


def site_size(site: Path) -> tuple[float, int]:
    files = [p for p in site.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6, len(files)


def plugin_work(root: Path, profile: int) -> tuple[dict[str, tuple[float, float]], SiteOutput]:
    """The plugin's own steps for the catalog at `root`, timed once in this process: (wall, CPU) seconds each."""
    options = SiteOptions(repo_url="https://github.com/envoy-wasm-catalog/catalog", branch="main", release_url=None)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    times: dict[str, tuple[float, float]] = {}

    def step(name: str, action: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        times[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        return result

    catalog = step("load_catalog", lambda: load_catalog(root))
    history = step("catalog_history", lambda: catalog_history(root))
    output = step("render_site", lambda: render_site(catalog, history, options, TEMPLATES))
    if profiler:
        profiler.disable()
        print(f"\ncProfile of the plugin's work (top {profile} by cumulative time):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(profile)
    broken = [e.name for e in catalog.broken()]
    if broken or catalog.findings:
        sys.exit(f"the synthetic catalog does not load: {broken[:5]} {[f.format() for f in catalog.findings][:5]}")
    return times, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filters", type=int, default=1000, help="filters in the synthetic catalog")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="cProfile the plugin's work; print this many lines")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        synthetic_root = work / "synthetic"
        synthetic_root.mkdir()
        write_catalog(synthetic_root, args.filters)
        print(
            f"synthetic catalog of {args.filters} filters written and committed in {time.perf_counter() - start:.1f} s"
        )

        times, output = plugin_work(synthetic_root, args.profile)
        plain_root = work / "plain"
        plain_pages = write_plain_docs(plain_root / "docs", output)
        filter_pages = sum(1 for page in output.pages if page.path.startswith("filters/"))
        repo_pages = len(load_catalog(ROOT).entries)

        builds = [
            Build(f"repo ({repo_pages} filters)", ROOT / "mkdocs.yml", work / "site-repo", repo_pages),
            Build(
                f"synthetic + plugin ({args.filters})",
                derived_config(synthetic_root / "mkdocs.yml", ROOT / "docs", plugin=True),
                work / "site-synthetic",
                filter_pages,
            ),
            Build(
                f"plain mkdocs ({plain_pages} pages)",
                derived_config(plain_root / "mkdocs.yml", plain_root / "docs", plugin=False),
                work / "site-plain",
                plain_pages,
            ),
        ]
        for round_index in range(args.rounds):
            for build in builds:
                run_build(build, work)
            walls = "  ".join(f"{b.label.split(' (')[0]} {b.wall[-1]:.1f} s" for b in builds)
            print(f"round {round_index + 1}/{args.rounds}: {walls}")

        print()
        print(
            f"{'build':<30} {'wall median s':>13} {'min-max s':>13} {'cpu median s':>12} {'peak RSS MB':>11} "
            f"{'site MB':>8} {'files':>6}"
        )
        for build in builds:
            size, files = site_size(build.site)
            spread = f"{min(build.wall):.2f}-{max(build.wall):.2f}"
            rss = f"{build.rss_mb:.0f}" if build.rss_mb else "-"
            print(
                f"{build.label:<30} {statistics.median(build.wall):>13.2f} {spread:>13} "
                f"{statistics.median(build.cpu):>12.2f} {rss:>11} {size:>8.1f} {files:>6}"
            )
        synthetic, plain = builds[1], builds[2]
        ratio_wall = statistics.median(synthetic.wall) / statistics.median(plain.wall)
        ratio_cpu = statistics.median(synthetic.cpu) / statistics.median(plain.cpu)
        print(f"{'plugin/plain ratio':<30} {ratio_wall:>13.2f}x {'':>13} {ratio_cpu:>11.2f}x")
        print("\nthe plugin's own work, in this process, once (CPU: this process only, not git's):")
        for name, (wall, cpu) in times.items():
            print(f"  {name:<16} {wall:>8.2f} s wall {cpu:>8.2f} s CPU {1000 * wall / args.filters:>8.1f} ms/filter")
        wall, cpu = (sum(t[i] for t in times.values()) for i in (0, 1))
        print(f"  {'total':<16} {wall:>8.2f} s wall {cpu:>8.2f} s CPU {1000 * wall / args.filters:>8.1f} ms/filter")
        extra_wall = statistics.median(synthetic.wall) - statistics.median(plain.wall)
        extra_cpu = statistics.median(synthetic.cpu) - statistics.median(plain.cpu)
        print(f"  plugin build minus plain build (medians): {extra_wall:+.2f} s wall, {extra_cpu:+.2f} s CPU")

        for build in builds:
            if build.messages:
                print(f"\nmkdocs said, building {build.label} (first round; distinct lines, with counts):")
                for line, count in build.messages.most_common(8):
                    print(f"  {count:>5} x {line[:200]}")
                if len(build.messages) > 8:
                    print(f"  ... and {len(build.messages) - 8} other distinct lines")


if __name__ == "__main__":
    main()
