"""Alternating rounds in real Envoy: valid rounds measured; a filter refusing every request stops the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.envoy import config as envoy_config
from generator.envoy.locate import Envoy
from generator.perf.loadgen import Request
from generator.perf.profile import Profile
from generator.perf.rounds import RequestRefused, RunPlan, Variant, run_rounds
from tests.test_perf_bench import need
from tests.test_proof_in_envoy import DENY

pytestmark = [pytest.mark.slow, pytest.mark.envoy]


def test_rounds_through_the_echo_upstream_and_a_refusing_filter(envoy: Envoy, tmp_path: Path) -> None:
    need("wrk")
    wasm = tmp_path / "deny.wasm"
    wasm.write_bytes(DENY)
    deny = envoy_config.wasm_filter("deny", envoy_config.WasmCode("0" * 64, local_path=str(wasm)), {})
    profile = Profile.model_validate({"duration": 1, "warmup": 0, "connections": 2, "upstream": "echo"})
    request = Request("GET", "/images/cat.png", (("x-user-id", "alice"),))
    through = RunPlan(envoy, profile, [Variant("none", None, request)], rounds=2)
    seen: list[tuple[int, int, str]] = []
    rounds = run_rounds(through, tmp_path / "run", lambda done, total, what: seen.append((done, total, what)))
    assert seen == [(0, 2, "round 1/2: none"), (1, 2, "round 2/2: none"), (2, 2, "done")]
    for result in rounds["none"]:
        assert result.valid, result.problem
        assert result.requests > 0
        assert result.cpu_us_per_request > 0
    refusing = RunPlan(envoy, profile, [Variant("deny", deny, request), Variant("none", None, request)], rounds=2)
    with pytest.raises(RequestRefused, match=r"^deny: \d+ non-2xx responses \(\d+ 4xx\)$"):
        run_rounds(refusing, tmp_path / "refused")
