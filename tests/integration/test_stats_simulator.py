"""Live figures from the Asterisk simulator over real AMI TCP agree with its queue_log."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contact_center.ami.connector import AmiConnector
from contact_center.calls import events as ev
from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import MetricsConfig
from contact_center.stats.store import MemoryStatsStore
from contact_center.testing import connected_connector
from tests.conftest import wait_for
from tests.integration.test_stats_captures import read_queue_log

sim = pytest.importorskip("contact_center.sim.pbx")
sim_config = pytest.importorskip("contact_center.sim.config")

OP = "Local/101@agents"


@contextlib.asynccontextmanager
async def connected(
    pbx: object, tmp_path: Path, consumer: StatsConsumer, seen: list[ev.DomainEvent]
) -> AsyncIterator[AmiConnector]:
    async def sink(event: ev.DomainEvent) -> None:
        seen.append(event)
        await consumer.handle(event)

    async with connected_connector(pbx, tmp_path, sink) as connector:  # type: ignore[arg-type]
        yield connector


async def test_answered_and_abandoned_calls_from_the_simulator(tmp_path: Path) -> None:
    queue_log = tmp_path / "queue_log"
    config = sim_config.SimConfig(
        time_scale=0.05,
        queue_log_path=str(queue_log),
        operators=(sim_config.Operator(OP, "Operator 101", answer_after=1.0),),
    )
    consumer = StatsConsumer(MemoryStatsStore(), MetricsConfig(service_level_seconds=20))
    seen: list[ev.DomainEvent] = []

    def ended(n: int) -> bool:
        return sum(isinstance(e, ev.CallEnded) for e in seen) >= n

    async with sim.SimPbx(config) as pbx, connected(pbx, tmp_path, consumer, seen) as ami:
        await ami.actions.queue_add("support", OP, member_name="Operator 101", state_interface=OP)
        await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov", talk=10)
        await wait_for(lambda: ended(1), 10)
        assert "available" == consumer.snapshot(seen[-1].at).operators[OP].state

        await ami.actions.queue_pause(OP, True, queue="support", reason="lunch")
        waiting = await pbx.place_call("4951110004", "+74957654321", "Maria Sidorova")
        await wait_for(lambda: consumer.snapshot(seen[-1].at).queues["support"].waiting == 1, 5)
        assert {"lunch": 1} == dict(consumer.snapshot(seen[-1].at).queues["support"].paused_reasons)
        await pbx.hangup(waiting.phone)
        await wait_for(lambda: ended(2), 10)
        await ami.actions.queue_remove("support", OP)
        await wait_for(lambda: consumer.snapshot(seen[-1].at).operators[OP].state == "offline", 5)

    q = consumer.snapshot(seen[-1].at).queues["support"]
    assert (2, 1, 1, 1, 0) == (q.offered, q.answered, q.answered_in_sl, q.abandoned, q.waiting)
    # the caller hung up within a second (short abandon, < 5 s): it does not count against SL
    assert (1, 100.0, 0.0) == (q.short_abandoned, q.service_level_pct, q.abandon_rate_pct)
    expected = read_queue_log(queue_log, 20)["support"]
    assert (expected.offered, expected.answered, expected.abandoned) == (
        q.offered,
        q.answered,
        q.abandoned,
    )
    assert sum(expected.talks) == pytest.approx(q.talk_seconds, abs=1)
    assert 1 == consumer.snapshot(seen[-1].at).operators[OP].calls
