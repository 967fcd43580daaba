"""The simulator and our AMI connector over real TCP: the call lifecycle comes out right."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contact_center.ami.connector import AmiConnector
from contact_center.calls import events as ev
from contact_center.config import AmiSettings
from contact_center.sim.config import Operator
from contact_center.sim.pbx import SimPbx
from contact_center.testing import EventLog, running_pbx
from tests.conftest import wait_for

OPERATOR = Operator("Local/101@agents", "Operator 101", answer_after=0.5)
SALES = Operator("Local/103@agents", "Operator 103", answer_after=0.5)


@pytest.fixture
async def pbx(tmp_path: Path) -> AsyncIterator[SimPbx]:
    async with running_pbx(tmp_path, operators=[OPERATOR, SALES]) as pbx:
        yield pbx


@pytest.fixture
async def domain_events(pbx: SimPbx, tmp_path: Path) -> AsyncIterator[list[ev.DomainEvent]]:
    got: list[ev.DomainEvent] = []

    async def sink(event: ev.DomainEvent) -> None:
        got.append(event)

    settings = AmiSettings(host=pbx.host, port=pbx.port, username="cc", secret="cc-test-secret")
    connector = AmiConnector(settings, "pbx1", sink, state_dir=tmp_path)
    task = asyncio.create_task(connector.run())
    await asyncio.wait_for(connector.wait_connected(), 5)
    yield got
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def kinds(events: list[ev.DomainEvent], call_id: str) -> list[str]:
    return [type(e).__name__ for e in events if e.call_id == call_id]


async def test_ivr_queue_answer_hangup_is_tracked(
    pbx: SimPbx, domain_events: list[ev.DomainEvent]
) -> None:
    log = EventLog(pbx)
    pbx.queues.add_member("support", OPERATOR.interface, OPERATOR.name)
    call = await pbx.place_call("4951110001", "+74951234567", "Ivan Petrov", dtmf="2")
    await log.wait("AgentConnect")

    await pbx.hangup(call.phone)
    await wait_for(lambda: "CallEnded" in kinds(domain_events, call.linkedid), timeout=5)

    seen = kinds(domain_events, call.linkedid)
    for kind in ("CallArrived", "IvrStep", "CallQueued", "CallOffered", "CallAnswered",
                 "RecordingStarted", "AgentCompleted", "CallEnded"):  # fmt: skip
        assert kind in seen
    (ended,) = [e for e in domain_events if isinstance(e, ev.CallEnded)]
    assert ("answered", "caller") == (ended.outcome, ended.hung_up_by)


async def test_blind_transfer_to_another_queue_is_tracked(
    pbx: SimPbx, domain_events: list[ev.DomainEvent], tmp_path: Path
) -> None:
    log = EventLog(pbx)
    pbx.queues.add_member("support", OPERATOR.interface, OPERATOR.name)
    pbx.queues.add_member("sales", SALES.interface, SALES.name)
    call = await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
    await log.wait("AgentConnect", MemberName="Operator 101")

    await pbx.blind_transfer(OPERATOR.interface, "sales")
    await log.wait("AgentConnect", MemberName="Operator 103")
    await pbx.hangup(call.phone)
    await wait_for(lambda: "CallEnded" in kinds(domain_events, call.linkedid), timeout=5)

    assert "transfer" == log.named("AgentComplete", MemberName="Operator 101")[0].get("Reason")
    assert "CallTransferred" in kinds(domain_events, call.linkedid)
    assert "|BLINDTRANSFER|sales|transfer-targets|" in (tmp_path / "queue_log").read_text()
