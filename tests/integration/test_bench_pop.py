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


async def test_over_redis_the_pops_and_both_relay_floors_are_measured_and_no_key_is_left(
    redis_url: str,
) -> None:
    """On Redis the run also measures the floors (the card crossing Redis twice and nothing
    else, with the bus client and with the thinnest one): every push of each arrives, and
    the bench leaves none of its streams behind."""
    before = await _bench_keys(redis_url)
    args = bench_pop.parse_args(
        ["--operators", "8", "--calls", "20", "--rate", "60", "--lead", "0.2", "--redis", redis_url]
    )
    result = await bench_pop.run(args)
    assert result["bus"] == "redis"
    for side in ("pop", "bare", "relay", "raw_relay"):
        assert 0 < result[f"{side}_p50_ms"] <= result[f"{side}_p99_ms"] <= result[f"{side}_max_ms"]
    assert result["ratio_vs_relay_p99"] == round(result["pop_p99_ms"] / result["relay_p99_ms"], 2)
    assert before == await _bench_keys(redis_url)


async def _bench_keys(url: str) -> set[bytes]:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        return {key async for key in client.scan_iter(match="bench:*")}
    finally:
        await client.aclose()
