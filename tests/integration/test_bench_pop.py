"""The pop benchmark still measures what it says, at a small scale (figures: bench/, not here).

It runs the real path from AMI bytes to websocket clients in another process; every pop must
arrive, at the operator it was offered to, and both runs report their percentiles.
"""

from __future__ import annotations

import pytest

from bench import bench_pop


@pytest.mark.parametrize("source", [["--ami"], ["--no-ami"]])
async def test_every_offered_call_pops_and_both_runs_are_measured(source: list[str]) -> None:
    args = bench_pop.parse_args(
        ["--operators", "12", "--calls", "30", "--rate", "60", "--lead", "0.2", *source]
    )
    result = await bench_pop.run(args)
    assert result["from"] == (
        "AMI AgentCalled bytes" if source == ["--ami"] else "CallOffered published"
    )
    assert result["operators"] == 12 and result["calls"] == 30
    for side in ("pop", "bare"):
        assert 0 < result[f"{side}_p50_ms"] <= result[f"{side}_p99_ms"] <= result[f"{side}_max_ms"]
    # The card the operators got is the real one: the caller's number and the offer stage.
    assert result["payload_bytes"] > 500
