"""A small catalog for the site tests, committed to git at fixed dates, and a real mkdocs build of it.

The catalog has what the site must treat differently: two public filters with different facets
(one with a yanked version, a recorded proof and cases; one with an icon), a network filter, a README full of XSS
payloads, an unlisted filter and a private one. Words that appear in only one filter
(`zanzibar`, `quokka`, `wombat`) let tests check what search and the lists can see.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, CatalogBuilder, git, version_data
from tests.wasm_modules import png, proxy_module

DAY_ONE = "2026-01-02T03:04:05+00:00"
DAY_TWO = "2026-02-03T04:05:06+00:00"
REPOSITORY = "https://github.com/example/catalog"

XSS_README = """# Evil

Plain words survive: harmless-text.

<script>window.__xss = "script"; alert("script")</script>
<img src="x" onerror="window.__xss = 'onerror'; alert('onerror')">
<iframe src="javascript:alert('iframe')"></iframe>
<svg onload="window.__xss = 'svg'"><circle r="4"/></svg>
<a href="javascript:window.__xss = 'link'">javascript link</a>
[markdown javascript link](javascript:window.__xss='md-link')
[data link](data:text/html,<script>alert('data')</script>)
<div onmouseover="window.__xss = 'hover'" style="position:fixed;inset:0">cover</div>
<form action="https://evil.example/"><input name="q"></form>
<details open ontoggle="window.__xss = 'toggle'"><summary>toggle</summary>x</details>
"""


ALPHA_README = """# Alpha auth

Refuses requests from zanzibar without a token.

## Usage

See [the source](src/alpha.c).
"""
BUILT = {"build": {"recipe": "wat", "path": "src/filter.wat"}}  # no own URL: the catalog's release URL applies


def bench_result(cpu_without: float, cpu_with: float, significant: bool) -> dict[str, Any]:
    """One version's bench.yaml entry, as `catalog filter bench --record` writes it."""

    def variant(cpu: float, rps: float) -> dict[str, Any]:
        return {
            "valid_rounds": 5,
            "invalid_rounds": 0,
            "metrics": {
                "rps": {"median": rps, "min": rps * 0.9, "max": rps * 1.1},
                "latency_p50_ms": {"median": 0.25, "min": 0.2, "max": 0.3},
                "cpu_us_per_request": {"median": cpu, "min": cpu * 0.95, "max": cpu * 1.05},
                "rss_mib": {"median": 40.0, "min": 39.5, "max": 40.5},
            },
        }

    return {
        "date": "2026-02-03",
        "envoy": "1.40.0",
        "generator": "wrk 4.1.0",
        "machine": {"cpu": "Test CPU <b>@</b> 2.0GHz", "cores": 2, "kernel": "6.1.0"},
        "profile": {"generator": "wrk", "duration": 3, "connections": 8},
        "request": {"method": "GET", "path": "/images/cat.png", "header_names": [], "body_bytes": 0},
        "config": {"header": "x-test"},
        "rounds": 5,
        "without": variant(cpu_without, 30000.0),
        "with": variant(cpu_with, 30000.0 * cpu_without / cpu_with),
        "overhead": {
            "cpu_us_per_request": {"ratio": cpu_with / cpu_without, "p_value": 0.008 if significant else 0.4,
                                   "significant": significant},
            "rps": {"ratio": cpu_without / cpu_with, "p_value": 0.008 if significant else 0.4,
                    "significant": significant},
        },
    }  # fmt: skip


def binary(tag: int) -> bytes:
    """A distinct valid proxy-wasm module per tag (the tag is an extra exported global)."""
    return proxy_module(extra=[f'(global (export "tag{tag}") i32 (i32.const {tag}))'])


def make_site_catalog(catalog: CatalogBuilder) -> dict[str, bytes]:
    """Write the site tests' catalog and commit it at fixed dates; return each release's bytes by URL path."""
    alpha_old, alpha_new, beta, gamma, evil = binary(1), binary(2), binary(3), binary(4), binary(5)
    catalog.add(
        "alpha-auth",
        alpha_old,
        title="Alpha auth",
        summary="Checks bearer tokens before the upstream sees a request.",
        language="c",
        categories=["authentication", "security"],
        keywords=["jwt", "bearer"],
        repository="https://github.com/example/alpha-auth",
        readme=ALPHA_README,
        versions=[
            version_data("1.0.0", alpha_old, source=BUILT, yanked=True, yank_reason="answers 500 on empty tokens")
        ],
    )
    alpha_dir = catalog.directory("alpha-auth")
    (alpha_dir / "cases.yaml").write_text(
        "cases:\n- name: refuses a request without a token\n  requests:\n  - expect:\n      status: 401\n"
    )
    catalog.add(
        "beta-headers",
        beta,
        title="Beta headers",
        summary="Adds a response header.",
        license="MIT",
        icon="icon.png",
        versions=[version_data("0.3.0", beta, abi="0.2.0", source=BUILT)],
    )
    (catalog.directory("beta-headers") / "icon.png").write_bytes(png())
    catalog.add(
        "gamma-net",
        gamma,
        title="Gamma network",
        summary="Counts bytes on TCP connections.",
        language="rust",
        categories=["observability"],
        license="BSD-3-Clause",
        versions=[version_data("2.0.0", gamma, kind="network", capabilities=["metrics"], source=BUILT)],
    )
    catalog.add(
        "evil-readme",
        evil,
        homepage="https://example.org/a_b_*c*!(d)",
        envoy={"root_id": "[root](javascript:window.__xss='root')", "fail_open": False},
        config={
            "schema": {
                "type": "object",
                "properties": {
                    "[prop](javascript:window.__xss='prop')": {
                        "type": "string",
                        "pattern": "^[a|b]\\d$",
                        "default": "![px](https://tracker.example/p.png)",
                        "description": "<img src=x onerror=\"window.__xss='desc'\"> | cell",
                    }
                },
            },
            "examples": [{"title": "Evil [ex](javascript:x)", "description": "<script>x</script>*ok*", "value": {}}],
        },
        title="Evil </title><script>window.__xss='title'</script>",
        summary='Tries [every](javascript:x) "trick" <script>window.__xss="summary"</script>.',
        readme=XSS_README,
        versions=[version_data("1.0.0", evil, source=BUILT)],
    )
    catalog.add(
        "hidden-unlisted", binary(6), visibility="unlisted", summary="The quokka filter.", readme="# q\n\nquokka\n"
    )
    catalog.add(
        "secret-private", binary(7), visibility="private", summary="The wombat filter.", readme="# w\n\nwombat\n"
    )
    (catalog.directory("evil-readme") / "cases.yaml").write_text(
        "cases:\n- name: '<img src=x onerror=alert(1)> [c](javascript:x)'\n"
        "  requests:\n  - expect:\n      status: 200\n"
    )
    git(catalog.root, "init", "-q", "-b", "main")
    git(catalog.root, "add", "-A")
    git(catalog.root, "commit", "-qm", "first filters", date=DAY_ONE)

    # Day two: alpha-auth 1.1.0 arrives, proven in Envoy.
    data = yaml.safe_load((alpha_dir / "filter.yaml").read_text())
    data["versions"].append(version_data("1.1.0", alpha_new, source=BUILT))
    catalog.write("alpha-auth", data, readme=(alpha_dir / "README.md").read_text())
    catalog.store.put(alpha_new)
    proofs = {
        "versions": {
            "1.1.0": {
                "sandbox": {
                    "start_fuel": 1000,
                    "first_request_fuel": 90,
                    "fuel_per_request": 42,
                    "fuel_min": 40,
                    "fuel_max": 61,
                    "requests": 20,
                    "memory_growth_per_request": 0.0,
                },
                "runs": [
                    {
                        "envoy": "1.40.0",
                        "runtime": "envoy.wasm.runtime.v8",
                        "date": "2026-02-03",
                        "cases": [
                            {"name": "smoke", "passed": True},
                            {"name": "refuses a request without a token", "passed": True},
                        ],
                    }
                ],
            }
        }
    }
    (alpha_dir / "proofs.yaml").write_text(yaml.safe_dump(proofs, sort_keys=False))
    bench = {"versions": {"1.0.0": {"default": bench_result(30.0, 31.0, False)},
                          "1.1.0": {"default": bench_result(30.0, 36.0, True)}}}  # fmt: skip
    (alpha_dir / "bench.yaml").write_text(yaml.safe_dump(bench, sort_keys=False))
    git(catalog.root, "add", "-A")
    git(catalog.root, "commit", "-qm", "alpha-auth 1.1.0", date=DAY_TWO)
    return {
        "/alpha-auth-v1.0.0/alpha-auth.wasm": alpha_old,
        "/alpha-auth-v1.1.0/alpha-auth.wasm": alpha_new,
        "/beta-headers-v0.3.0/beta-headers.wasm": beta,
        "/gamma-net-v2.0.0/gamma-net.wasm": gamma,
        "/evil-readme-v1.0.0/evil-readme.wasm": evil,
    }


class _MkdocsLoader(yaml.SafeLoader):
    """Reads mkdocs.yml: its tags (`!ENV [NAME, default]`) become their default value."""


_MkdocsLoader.add_multi_constructor("", lambda loader, suffix, node: loader.construct_sequence(node)[-1])


def read_mkdocs_config(path: Path) -> dict[str, Any]:
    """A mkdocs.yml as data, `!ENV` values taken as their defaults."""
    config: dict[str, Any] = yaml.load(path.read_text(), Loader=_MkdocsLoader)  # noqa: S506 (a SafeLoader)
    return config


def site_config(root: Path, site_dir: Path, release_url: str | None = None, mirror: str | None = None) -> Path:
    """A mkdocs.yml for the catalog at `root`: the repository's own, with paths made absolute."""
    config = read_mkdocs_config(REPO_ROOT / "mkdocs.yml")
    config["docs_dir"] = str(REPO_ROOT / "docs")
    config["site_dir"] = str(site_dir)
    config["repo_url"] = REPOSITORY
    config["theme"]["custom_dir"] = str(REPO_ROOT / "site_templates" / "overrides")
    plugin: dict[str, Any] = {"templates": str(REPO_ROOT / "site_templates")}
    if release_url is not None:
        plugin["release_url"] = release_url
    if mirror is not None:
        plugin["mirror"] = mirror
    config["plugins"] = ["search", {"catalog": plugin}]
    path = root / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def build_site(
    root: Path, site_dir: Path, release_url: str | None = None, mirror: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of the catalog at `root`, as a user runs it."""
    config = site_config(root, site_dir, release_url, mirror)
    return subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-f", str(config)],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
