"""Redis and the database down for a while, under the whole service."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contact_center.bus.base import EVENTS
from tests.conftest import wait_for
from tests.e2e.service_support import DID
from tests.resilience.rig import (
    FaultRig,
    bus_history_keys,
    died,
    duplicate_keys,
    fault_rig,
    history_counts,
    history_keys,
)

OUTAGE = 2.0  # seconds a dependency stays down (a deliberate fault length, not a wait)


async def hold_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def readiness(rig: FaultRig) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(rig.base + "/readyz", timeout=aiohttp.ClientTimeout(total=10)) as resp,
    ):
        return resp.status, await resp.json()


def held_back(rig: FaultRig) -> float:
    """``cc_worker_backlog{worker="ivr-events"}``: the IVR's events waiting for the bus."""
    value = rig.service.metrics.registry.get_sample_value(
        "cc_worker_backlog", {"worker": "ivr-events"}
    )
    assert value is not None
    return value


async def call_closed(rig: FaultRig, linkedid: str) -> bool:
    sessions = rig.service.core.sessions  # type: ignore[union-attr]
    return (await history_counts(sessions, linkedid))[1] >= 1


async def test_redis_down_reports_degraded_then_recovers_without_losing_events(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Property: with the Redis bus unreachable /readyz says 503 with redis "fail" while AMI
    and the database stay ok; a call that starts and ends during the outage reaches history
    once Redis is back (no event lost, none doubled), and no background task dies."""
    async with fault_rig(
        tmp_path, postgres_url, redis_url=redis_url, prefix=redis_prefix, proxy_redis=True
    ) as rig:
        assert (200, "ok") == ((await readiness(rig))[0], (await readiness(rig))[1]["status"])
        before = await rig.pbx.place_call("4951110001", "+74951234567", "Ivan", talk=0.5)
        await wait_for(lambda: call_closed(rig, before.linkedid), timeout=15)

        rig.proxies["redis"].cut()
        down_at = time.monotonic()
        status, body = await readiness(rig)
        assert 503 == status
        assert "ok" != body["checks"]["redis"]
        assert ("ok", "ok") == (body["checks"]["ami"], body["checks"]["database"])
        during = await rig.pbx.place_call("4951110002", "+74957654321", "Olga", talk=0.5)
        await wait_for(
            lambda: during.linkedid in {c.call_id for c in rig.connector.tracker.ended_calls},
            timeout=15,
        )
        await hold_until(down_at + OUTAGE)
        assert 503 == (await readiness(rig))[0]
        rig.proxies["redis"].restore()
        up_at = time.monotonic()

        async def ready() -> bool:
            return (await readiness(rig))[0] == 200

        await wait_for(ready, timeout=15)
        await wait_for(lambda: call_closed(rig, during.linkedid), timeout=30)
        recovered = time.monotonic() - up_at
        sessions = rig.service.core.sessions  # type: ignore[union-attr]
        bus = rig.service.core.bus  # type: ignore[union-attr]
        for call in (before, during):
            assert (1, 1) == (await history_counts(sessions, call.linkedid))[:2]
            carried = await bus_history_keys(bus, call.linkedid)
            assert len(carried) >= 3  # arrived, IVR step(s), ended: the whole story
            # every event the bus carried is in history (billing adds its call.charged row)
            assert set(carried) <= set(await history_keys(sessions, call.linkedid))
        assert 0 == await duplicate_keys(sessions)
        assert [] == died(caplog)
    print(
        f"\nRedis down {up_at - down_at:.2f} s: "
        f"history complete {recovered:.2f} s after it came back"
    )


async def metric(rig: FaultRig, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(rig.base + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


async def test_database_down_bounded_buffer_then_flush_without_loss_or_duplicates(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: with PostgreSQL unreachable, /readyz reports the database failing, history
    waits in a bounded buffer (its fill level on /metrics reaches the bound, the bus holds the
    rest unacknowledged), and after recovery every event of the calls made during the outage
    is written exactly once — nothing lost, nothing doubled, no background task dead."""
    bound = 4  # a call has more history events than this: the buffer fills up
    async with fault_rig(tmp_path, postgres_url, proxy_db=True, history_buffer=bound) as rig:
        sessions = rig.service.core.sessions  # type: ignore[union-attr]
        history = rig.service.components["history"]
        before = await rig.pbx.place_call("4951110001", "+74951234567", "Ivan", talk=0.5)
        await wait_for(lambda: call_closed(rig, before.linkedid), timeout=15)

        rig.proxies["db"].cut()
        down_at = time.monotonic()
        status, body = await readiness(rig)
        assert (503, "ok") == (status, body["checks"]["ami"])
        assert "ok" != body["checks"]["database"]
        during = [
            await rig.pbx.place_call(f"495111000{i}", f"+7495765432{i}", "Olga", talk=0.5)
            for i in (2, 3)
        ]
        ended = {d.linkedid for d in during}
        await wait_for(
            lambda: ended <= {c.call_id for c in rig.connector.tracker.ended_calls}, timeout=15
        )
        await wait_for(lambda: history.pending == bound, timeout=10)
        assert float(bound) == await metric(rig, "cc_history_buffer_events")
        assert float(bound) == await metric(rig, "cc_history_buffer_capacity")
        assert "history buffer 100% full" in caplog.text  # the alert, in the log too
        await hold_until(down_at + OUTAGE)
        rig.proxies["db"].restore()
        up_at = time.monotonic()

        for call in during:
            await wait_for(lambda c=call: call_closed(rig, c.linkedid), timeout=30)  # type: ignore[misc]
        recovered = time.monotonic() - up_at
        await wait_for(lambda: history.pending == 0, timeout=10)
        bus = rig.service.core.bus  # type: ignore[union-attr]
        for call in (before, *during):
            assert (1, 1) == (await history_counts(sessions, call.linkedid))[:2]
            carried = await bus_history_keys(bus, call.linkedid)
            assert len(carried) >= 3  # arrived, IVR step(s), ended: the whole story
            # every event the bus carried is in history (billing adds its call.charged row)
            assert set(carried) <= set(await history_keys(sessions, call.linkedid))
        assert 0 == await duplicate_keys(sessions)
        assert [] == died(caplog)
    print(
        f"\nPostgreSQL down {up_at - down_at:.2f} s (buffer bound {bound}): "
        f"history complete {recovered:.2f} s after it came back"
    )


async def test_redis_down_callers_pass_our_ivr_and_ring_and_its_steps_follow_in_order(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Property: on the dial plan we ship, with Redis unreachable a caller still passes our
    IVR (over FastAGI) without waiting on the bus and rings Anna's phone; once Redis is back
    the IVR's steps of that call reach the bus in the order the caller took them, and the
    call's history is complete."""
    async with fault_rig(
        tmp_path,
        postgres_url,
        redis_url=redis_url,
        prefix=redis_prefix,
        proxy_redis=True,
        dialplan="shipped",
    ) as rig:
        rig.pbx.queues.add_member("support", "PJSIP/101", "Anna")
        rig.proxies["redis"].cut()
        call = await rig.pbx.place_call(DID, "+74951234567", "Ivan", dtmf="2")  # 2: support
        await wait_for(lambda: bool(rig.pbx.channels_matching(r"^PJSIP/101-")), timeout=10)
        await rig.pbx.answer("PJSIP/101")
        await rig.pbx.hangup_caller(call)
        await wait_for(lambda: not rig.pbx.channels, timeout=10)
        assert held_back(rig) >= 2  # the IVR's steps, waiting: what /metrics shows the admin
        rig.proxies["redis"].restore()

        bus = rig.service.core.bus  # type: ignore[union-attr]

        async def steps() -> list[dict[str, Any]]:
            return [
                m
                for _, m in await bus.read(EVENTS, "0", count=10_000)
                if m.get("call_id") == call.linkedid and m.get("kind") == "call.ivr_step"
            ]

        async def handed_off() -> bool:
            return any(m["result"] == "queue:support" for m in await steps())

        await wait_for(handed_off, timeout=15)
        got = [m for m in await steps() if m["menu"] != "from-trunk"]  # the connector's: AGI()
        assert [("main", "2", "ok"), ("support", "", "queue:support")] == [
            (m["node"], m["digits"], m["result"]) for m in got
        ]  # our IVR's: the menu and its digit, the hand-off to the queue; each once
        assert sorted(m["seq"] for m in got) == [m["seq"] for m in got]  # in the caller's order
        assert 0 == held_back(rig)
        await wait_for(lambda: call_closed(rig, call.linkedid), timeout=30)
        assert 0 == await duplicate_keys(rig.service.core.sessions)  # type: ignore[union-attr]
        assert [] == died(caplog)
