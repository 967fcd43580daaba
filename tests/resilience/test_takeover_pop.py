"""A phone that starts ringing — or is answered — while the AMI connector changes hands: its
``AgentCalled`` (and ``AgentConnect``) went to nobody, yet the operator gets the pop once the
standby has taken over and resynced. The simulator runs the dial plan we ship: the caller
comes from the provider, passes our IVR over FastAGI and waits in the queue for PJSIP phones."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from contact_center.bus.base import POPS
from contact_center.config import Settings
from contact_center.demo import free_port
from contact_center.service import Service
from contact_center.sim.agi import FastAgiStep
from contact_center.sim.config import Operator, QueueConfig
from contact_center.sim.pbx import SimPbx
from tests.conftest import wait_for
from tests.e2e.service_support import DID, SHIPPED_PHONES, seed_people
from tests.resilience.rig import died, proxied, service_settings, sim_config, through

TTL_MS = 1500
ANNA = "PJSIP/101"
PHONES = (Operator(ANNA, "Anna", manual=True), Operator("PJSIP/102", "Boris", manual=True))


async def pops_of(bus: Any, login: str, call_id: str, stage: str) -> list[dict[str, Any]]:
    """The pops of ``call_id`` at ``stage`` (offered, answered) published for ``login`` (what
    their console shows)."""
    return [
        m
        for _, m in await bus.read(POPS, "0", count=10_000)
        if m.get("to") == login and m.get("call_id") == call_id and m.get("stage") == stage
    ]


@dataclasses.dataclass
class Takeover:
    pbx: SimPbx
    worker: Service
    standby: Any  # the standby's connector
    call: Any  # the caller, waiting in the queue while the first connector listened

    async def anna_rings(self) -> None:
        """While no connector listens, Anna joins the queue and her phone rings."""
        self.pbx.queues.add_member("support", ANNA, "Anna")
        await wait_for(lambda: bool(self.pbx.channels_matching(r"^PJSIP/101-")), 10)

    async def standby_took_over(self) -> Any:
        """Wait for the standby to lead; the bus the worker publishes pops on."""
        assert not self.standby.connected  # what happened, happened before it took over
        await wait_for(lambda: self.standby.connected, timeout=5 * TTL_MS / 1000)
        return self.worker.core.bus  # type: ignore[union-attr]

    async def pops(self, stage: str) -> list[dict[str, Any]]:
        return await pops_of(self.worker.core.bus, "anna", self.call.linkedid, stage)  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def takeover(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Takeover]:
    """A worker, an active connector and a standby; a caller waits in ``support`` (nobody
    in it yet), seen by the active connector, whose host then dies (AMI and Redis cut)."""
    agi_port = free_port()
    # the phone rings far longer than the takeover takes (30 s in the rig's time scale): the
    # queue does not ring it again, which would be an AgentCalled the new leader sees
    queues = (QueueConfig("support", strategy="rrmemory", timeout=300.0, retry=1.0),)
    config = dataclasses.replace(
        sim_config(tmp_path, PHONES, agi_port), queues=queues, dialplan="shipped"
    )
    async with contextlib.AsyncExitStack() as stack:
        pbx = await stack.enter_async_context(SimPbx(config, agi=FastAgiStep()))
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
            Service(settings("a", ami_a.port, through(redis_url, redis_a), agi_port), "connector")
        )
        conn_a = a.components["connector"]
        await wait_for(lambda: conn_a.connected, timeout=5)
        b = await stack.enter_async_context(
            Service(settings("b", pbx.port, redis_url, free_port()), "connector")
        )
        await wait_for(lambda: b.components["leader"].state == "standby", timeout=5)

        call = await pbx.place_call(DID, "+74951234567", "Ivan", dtmf="2")  # 2: support

        def queued() -> bool:
            state = conn_a.tracker.call(call.linkedid)
            return state is not None and state.phase == "queued"

        await wait_for(queued, timeout=10)
        redis_a.cut()
        ami_a.cut()
        yield Takeover(pbx, worker, b.components["connector"], call)


@pytest.fixture
async def rig(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Takeover]:
    async with takeover(tmp_path, postgres_url, redis_url, redis_prefix) as t:
        yield t


async def test_a_ring_during_the_takeover_pops_once_the_standby_has_resynced(
    rig: Takeover, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.anna_rings()
    await rig.standby_took_over()

    await wait_for(lambda: rig.pops("offered"), timeout=10)
    [pop] = await rig.pops("offered")
    assert "Ivan Petrov" in str(pop)  # the caller's card, not an empty one
    await rig.pbx.answer(ANNA)
    await rig.pbx.hangup(rig.call.phone)
    assert [] == died(caplog)


async def test_a_call_answered_during_the_takeover_pops_once_the_standby_has_resynced(
    rig: Takeover, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.anna_rings()
    await rig.pbx.answer(ANNA)  # she answers while no connector listens
    bus = await rig.standby_took_over()

    await wait_for(lambda: rig.pops("answered"), timeout=10)
    [pop] = await rig.pops("answered")
    assert "Ivan Petrov" in str(pop)  # the caller's card, while she talks to him
    assert [] == await rig.pops("offered")
    await rig.pbx.hangup(rig.call.phone)

    async def closed() -> bool:
        return any(
            m.get("type") == "pop.closed" and m.get("call_id") == rig.call.linkedid
            for _, m in await bus.read(POPS, "0", count=10_000)
            if m.get("to") == "anna"
        )

    await wait_for(closed, timeout=10)
    assert [] == died(caplog)
