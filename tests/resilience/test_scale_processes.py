"""Scale-out as separate processes on Redis + PostgreSQL (``bench/bench_scale.py``): two
simulated Asterisk servers, a connector each and a standby, two workers, two web instances,
operators on websockets; one worker, one web instance and the leading connector killed
mid-run. A few calls here; more with CC_SOAK=1; the figures in ``bench``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.bench_scale import ScaleConfig, run_scale

SOAK = pytest.mark.skipif(not os.environ.get("CC_SOAK"), reason="soak: set CC_SOAK=1")


# eight processes start on a 2-core machine: tens of seconds when other jobs share it
@pytest.mark.timeout(300)
async def test_two_servers_killed_processes_lose_nothing_and_repeat_nothing(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Property: with a worker, a web instance and pbx1's leading connector killed (SIGKILL)
    while calls ring and click-to-calls are in flight, every operator an Asterisk server
    rang gets that call's pop and nobody else does, every sign-in adds its operator on
    their own server once and nowhere else, every click-to-call ends done (sent once, on
    the right server) or reported interrupted (sent at most once), and every call is in
    history exactly once with no row written twice."""
    cfg = ScaleConfig(operators=3, calls=5, rate=2.0, talk=2.0, clicks=2)
    report = await run_scale(tmp_path, postgres_url, redis_url, redis_prefix, cfg)
    print(f"\nscale (small): {report.figures}")
    assert [] == report.problems
    assert 2 * cfg.calls == report.figures["calls_in_history_once"]
    # every call rang someone; only pbx1's rings during its connector's takeover (seen by
    # no connector, so nobody can pop them) are left out, so pbx2's calls are all checked
    rings = report.figures["pops_expected"] + report.figures["rings_unseen_around_connector_kill"]
    assert rings >= 2 * cfg.calls
    assert report.figures["pops_expected"] >= cfg.calls
    assert cfg.clicks == report.figures["clicks"]
    assert ["connector", "web", "worker"] == report.figures["killed"]


@pytest.mark.soak
@SOAK
@pytest.mark.timeout(1800)
async def test_soak_two_servers_hundreds_of_calls_with_faults(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """The same property at a larger scale (numbers from CC_SCALE_OPERATORS / CC_SCALE_CALLS,
    per server)."""
    cfg = ScaleConfig(
        operators=int(os.environ.get("CC_SCALE_OPERATORS", "50")),
        calls=int(os.environ.get("CC_SCALE_CALLS", "200")),
        rate=float(os.environ.get("CC_SCALE_RATE", "5")),
        talk=float(os.environ.get("CC_SCALE_TALK", "10")),
        clicks=6,
        timeout=180,
        # a long run on a busy machine: leases must survive scheduling stalls
        ttl_ms=int(os.environ.get("CC_SCALE_TTL_MS", "10000")),
    )
    report = await run_scale(tmp_path, postgres_url, redis_url, redis_prefix, cfg)
    print(f"\nscale (soak): {report.figures}")
    assert [] == report.problems
    assert 2 * cfg.calls == report.figures["calls_in_history_once"]
