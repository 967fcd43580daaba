"""Two connector processes for one Asterisk server, a Redis lease deciding the active one:
the active one is cut off mid-call (AMI, Redis and FastAGI links reset, as a crashed host), the
standby takes over, and history stays whole. The simulator runs the dial plan we ship: the
caller comes from the provider, passes our IVR over FastAGI and is answered at a PJSIP phone."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from contact_center.config import Settings
from contact_center.demo import free_port
from contact_center.service import Service
from contact_center.store import models
from tests.conftest import wait_for
from tests.e2e.service_support import DID, SHIPPED_PHONES, seed_people
from tests.resilience.rig import (
    SHIPPED_MANUAL,
    died,
    duplicate_keys,
    history_counts,
    proxied,
    service_settings,
    sim_config,
    sim_pbx,
    through,
)

TTL_MS = 1500
ANNA = "PJSIP/101"


async def answered_rows(sessions: Any, linkedid: str) -> int:
    async with sessions() as db:
        n = await db.scalar(
            select(func.count())
            .select_from(models.InteractionEvent)
            .where(
                models.InteractionEvent.call_linkedid == linkedid,
                models.InteractionEvent.kind == "call.answered",
            )
        )
    return int(n or 0)


async def test_standby_connector_takes_over_mid_call_without_losing_history(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Property: when the active connector's host dies mid-call (its AMI and Redis links
    reset, its lease left to expire), the standby connects within a few seconds (≈ the
    lease ttl), resyncs the live call, and each call has exactly one history row per event —
    the call that straddled the takeover is answered once and closed once."""
    agi_a, agi_b = free_port(), free_port()
    async with contextlib.AsyncExitStack() as stack:
        # Asterisk reaches our IVR by the service's name: the active host's FastAGI server,
        # then — once that host is dead — the standby's (every connector serves the IVR)
        agi = await stack.enter_async_context(proxied("127.0.0.1", agi_a))
        config = sim_config(tmp_path, SHIPPED_MANUAL, agi.port, dialplan="shipped")
        pbx = await stack.enter_async_context(sim_pbx(config))
        ami_a = await stack.enter_async_context(proxied("127.0.0.1", pbx.port))
        r = make_url(redis_url)
        redis_a = await stack.enter_async_context(proxied(r.host or "127.0.0.1", r.port or 6379))

        def settings(name: str, ami_port: int, redis: str, agi: int) -> Settings:
            return service_settings(
                tmp_path,
                postgres_url,
                ami_port=ami_port,
                agi_port=agi,
                redis_url=redis,
                prefix=redis_prefix,
                leader_ttl_ms=TTL_MS,
                data_dir=f"data-{name}",
                test_line=True,
            )

        worker_settings = settings("w", pbx.port, redis_url, free_port())
        await seed_people(worker_settings, SHIPPED_PHONES)
        worker = await stack.enter_async_context(Service(worker_settings, "worker"))
        a = await stack.enter_async_context(
            Service(settings("a", ami_a.port, through(redis_url, redis_a), agi_a), "connector")
        )
        conn_a = a.components["connector"]
        await wait_for(lambda: conn_a.connected, timeout=5)
        b = await stack.enter_async_context(
            Service(settings("b", pbx.port, redis_url, agi_b), "connector")
        )
        conn_b = b.components["connector"]
        await wait_for(lambda: b.components["leader"].state == "standby", timeout=5)
        assert (True, False) == (conn_a.connected, conn_b.connected)

        await conn_a.actions.queue_add("support", ANNA, member_name="Anna")
        call = await pbx.place_call(DID, "+74951234567", "Ivan", dtmf="2")  # 2: support
        await wait_for(lambda: bool(pbx.channels_matching(r"^PJSIP/101-")), timeout=10)
        await pbx.answer(ANNA)
        sessions = worker.core.sessions  # type: ignore[union-attr]

        async def answered() -> bool:
            return await answered_rows(sessions, call.linkedid) == 1

        await wait_for(answered, timeout=10)

        # The active host dies: links reset, no lease release; the IVR's name reaches the
        # standby's host from now on.
        redis_a.cut()
        ami_a.cut()
        agi.target = ("127.0.0.1", agi_b)
        agi.cut()
        agi.restore()
        killed_at = time.monotonic()
        await wait_for(lambda: conn_b.connected, timeout=5 * TTL_MS / 1000)
        takeover = time.monotonic() - killed_at
        await wait_for(
            lambda: call.linkedid in {cid for (_s, cid) in conn_b.tracker.calls}, timeout=5
        )
        await pbx.hangup_caller(call)
        after = await pbx.place_call(DID, "+74957654321", "Olga", talk=0.3)

        async def closed(linkedid: str) -> bool:
            return (await history_counts(sessions, linkedid))[1] >= 1

        await wait_for(lambda: closed(call.linkedid), timeout=15)
        await wait_for(lambda: closed(after.linkedid), timeout=15)

        assert (1, 1) == (await history_counts(sessions, call.linkedid))[:2]
        assert (1, 1) == (await history_counts(sessions, after.linkedid))[:2]
        assert 1 == await answered_rows(sessions, call.linkedid)
        assert 0 == await duplicate_keys(sessions)
        assert not conn_a.connected
        assert [] == died(caplog)
    print(
        f"\nactive connector killed mid-call: standby connected after {takeover:.2f} s "
        f"(lease ttl {TTL_MS} ms)"
    )
