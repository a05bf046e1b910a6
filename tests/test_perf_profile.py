"""Performance profiles: the shipped ones load; every mistake is a finding at its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.perf.profile import DEFAULT_DURATION, load_profile, profile_names
from tests.conftest import REPO_ROOT


def findings(tmp_path: Path, text: str, name: str = "p") -> list[str]:
    directory = tmp_path / "catalog" / "profiles"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    profile, found = load_profile(tmp_path, name)
    assert (profile is None) == bool(found)
    return [f.format() for f in found]


def test_shipped_profiles_load() -> None:
    names = profile_names(REPO_ROOT)
    assert {"default", "h2-tls"} <= set(names)
    for name in names:
        profile, found = load_profile(REPO_ROOT, name)
        assert found == [], name
        assert profile is not None
    default, _ = load_profile(REPO_ROOT, "default")
    h2_tls, _ = load_profile(REPO_ROOT, "h2-tls")
    assert default is not None
    assert h2_tls is not None
    assert (default.generator, default.protocol, default.tls, default.upstream) == (
        "wrk",
        "http1.1",
        False,
        "direct_response",
    )
    assert (h2_tls.generator, h2_tls.protocol, h2_tls.tls) == ("h2load", "http2", True)


def test_an_empty_mapping_takes_the_defaults(tmp_path: Path) -> None:
    assert findings(tmp_path, "{}\n") == []
    profile, _ = load_profile(tmp_path, "p")
    assert profile is not None
    assert (profile.generator, profile.seconds, profile.rounds, profile.connections) == ("wrk", DEFAULT_DURATION, 5, 8)
    assert not profile.has_config


def test_a_request_count_replaces_the_default_duration(tmp_path: Path) -> None:
    findings(tmp_path, "generator: h2load\nrequests: 5000\n")
    profile, _ = load_profile(tmp_path, "p")
    assert profile is not None
    assert (profile.seconds, profile.requests) == (None, 5000)


def test_unknown_field_at_its_key(tmp_path: Path) -> None:
    assert findings(tmp_path, "generator: wrk\nconcurrency: 8\n") == [
        "catalog/profiles/p.yaml:2:1: error: concurrency: unknown field (expected one of: description, "
        "generator, protocol, tls, duration, requests, connections, threads, rate, warmup, rounds, upstream, "
        "request, config, extra_args) [CAT101]"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "generator: hey\n",
            "1:12: error: generator: expected one of 'wrk' or 'h2load', got a string 'hey' [CAT103]",
        ),
        ("duration: 10s\n", "1:11: error: duration: expected an integer, got a string '10s' [CAT103]"),
        ("rounds: 1\n", "1:9: error: rounds: expected a value greater than or equal to 2, got 1 [CAT103]"),
        (
            "protocol: h3\n",
            "1:11: error: protocol: expected one of 'http1.1' or 'http2', got a string 'h3' [CAT103]",
        ),
        ("request:\n  headers:\n    'bad header': x\n", "3:5: error: request.headers"),
        ("request:\n  body_bytes: -1\n", "2:15: error: request.body_bytes: expected a value greater than or equal"),
    ],
)
def test_field_errors(tmp_path: Path, text: str, expected: str) -> None:
    [line] = findings(tmp_path, text)
    assert line.startswith(f"catalog/profiles/p.yaml:{expected}"), line
    assert line.endswith("[CAT103]")


def test_wrk_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    text = "generator: wrk\nprotocol: http2\nrate: 1000\nrequests: 100\n"
    assert findings(tmp_path, text) == [
        "catalog/profiles/p.yaml:2:11: error: protocol: expected http1.1 with wrk (it speaks HTTP/1.1 only), "
        "got http2; use h2load [CAT103]",
        "catalog/profiles/p.yaml:3:7: error: rate: wrk has no fixed-rate mode, so rate cannot be honoured; "
        "use h2load or remove rate [CAT103]",
        "catalog/profiles/p.yaml:4:11: error: requests: wrk runs for a duration, not a number of requests; "
        "use duration or h2load [CAT103]",
    ]


def test_h2load_takes_a_rate_and_http2(tmp_path: Path) -> None:
    assert findings(tmp_path, "generator: h2load\nprotocol: http2\ntls: true\nrate: 1500\n") == []


def test_duration_or_requests_not_both(tmp_path: Path) -> None:
    assert findings(tmp_path, "generator: h2load\nduration: 5\nrequests: 100\n") == [
        "catalog/profiles/p.yaml:3:11: error: requests: expected one of duration or requests, got both [CAT103]"
    ]


def test_threads_at_most_connections(tmp_path: Path) -> None:
    assert findings(tmp_path, "connections: 2\nthreads: 4\n") == [
        "catalog/profiles/p.yaml:2:10: error: threads: expected at most `connections` (2) threads, got 4 [CAT103]"
    ]


def test_extra_args_refuse_shell_characters_and_managed_options(tmp_path: Path) -> None:
    text = (
        "generator: h2load\n"
        "extra_args:\n"
        "- -m4\n"
        "- 'http://elsewhere.example/'\n"
        "- '$(reboot)'\n"
        "- 'a b'\n"
        "- -c8\n"
        "- --dur=3\n"
        "- --log-file=/tmp/x\n"
        "- --connect-to=example.org:80\n"
        "- --\n"
        "- --window-bits=20\n"
    )
    found = findings(tmp_path, text)
    assert [line.split(": error: ")[0] for line in found] == [
        "catalog/profiles/p.yaml:4:3",
        "catalog/profiles/p.yaml:5:3",
        "catalog/profiles/p.yaml:6:3",
        "catalog/profiles/p.yaml:7:3",
        "catalog/profiles/p.yaml:8:3",
        "catalog/profiles/p.yaml:9:3",
        "catalog/profiles/p.yaml:10:3",
        "catalog/profiles/p.yaml:11:3",
    ]
    # A bare URL would become wrk's target: the load would go elsewhere.
    assert "extra_args[1]: expected an option with its value attached (-m4, --opt=value)" in found[0]
    assert "extra_args[2]: expected an option or value of letters, digits and _.,:/=+@%-, got '$(reboot)'" in found[1]
    assert "extra_args[4]: -c8 is set by the profile itself (field: connections)" in found[3]
    assert "extra_args[5]: --dur=3 is set by the profile itself (field: duration)" in found[4]
    assert all(line.endswith("[CAT103]") for line in found)


def test_extra_args_must_be_strings(tmp_path: Path) -> None:
    [line] = findings(tmp_path, "extra_args: [--timeout, 5]\n")
    assert line == ("catalog/profiles/p.yaml:1:25: error: extra_args[1]: expected a string, got an integer 5 [CAT103]")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = findings(tmp_path, "generator: wrk\nrate: 10\nthreads: 20\nextra_args: [-t2]\n")
    assert len(found) == 3


def test_unsafe_yaml_is_refused(tmp_path: Path) -> None:
    assert findings(tmp_path, "request: &r {path: /}\nrounds: *r\n") == [
        "catalog/profiles/p.yaml:1:10: error: expected plain values, got anchor '&r' [CAT004]",
        "catalog/profiles/p.yaml:2:9: error: expected plain values, got alias '*r' [CAT004]",
    ]


def test_config_is_any_json_value(tmp_path: Path) -> None:
    assert findings(tmp_path, "config: {key_header: x-user-id, rate: 1000000, burst: 1000000}\n") == []
    profile, _ = load_profile(tmp_path, "p")
    assert profile is not None
    assert profile.has_config
    assert profile.config == {"key_header": "x-user-id", "rate": 1000000, "burst": 1000000}


def test_profile_names_ignore_other_files(tmp_path: Path) -> None:
    directory = tmp_path / "catalog" / "profiles"
    directory.mkdir(parents=True)
    for name in ("default.yaml", "h2-tls.yaml", "README.md", "Bad Name.yaml"):
        (directory / name).write_text("{}\n")
    assert profile_names(tmp_path) == ["default", "h2-tls"]
