"""The connector against the Asterisk simulator (contact_center.sim): a real AMI server that
behaves like the captures. Our actions drive it; the tracker must agree with its queue_log."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contact_center.ami import queue_log
from contact_center.ami.connector import AmiConnector
from contact_center.calls import events as ev
from contact_center.testing import connected_connector
from tests.conftest import wait_for

sim = pytest.importorskip("contact_center.sim.pbx")
sim_config = pytest.importorskip("contact_center.sim.config")


@contextlib.asynccontextmanager
async def connected(
    pbx: object, tmp_path: Path, got: list[ev.DomainEvent]
) -> AsyncIterator[AmiConnector]:
    async def sink(event: ev.DomainEvent) -> None:
        got.append(event)

    async with connected_connector(pbx, tmp_path, sink) as connector:  # type: ignore[arg-type]
        yield connector


async def test_queue_call_through_the_simulator_matches_its_queue_log(tmp_path: Path) -> None:
    config = sim_config.SimConfig(
        time_scale=0.05,
        operators=(sim_config.Operator("Local/101@agents", "Operator 101", answer_after=1.0),),
        queue_log_path=str(tmp_path / "queue_log"),
        cdr_csv_path=str(tmp_path / "Master.csv"),
    )
    got: list[ev.DomainEvent] = []
    async with sim.SimPbx(config) as pbx, connected(pbx, tmp_path, got) as connector:
        await connector.actions.queue_add(
            "support",
            "Local/101@agents",
            member_name="Operator 101",
            state_interface="Local/101@agents",
        )
        call = await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov", talk=10)
        await wait_for(lambda: any(isinstance(e, ev.CallEnded) for e in got), 10)
        await connector.actions.queue_remove("support", "Local/101@agents")
        await wait_for(
            lambda: any(isinstance(e, ev.OperatorState) and not e.logged_in for e in got), 5
        )
        state = connector.tracker.call(call.linkedid)
    assert state is not None
    assert ("support", "Operator 101", "answered", "+74951234567", "Ivan Petrov") == (
        state.queue,
        state.agent,
        state.outcome,
        state.caller_number,
        state.caller_name,
    )
    lines, _ = queue_log.read_lines(tmp_path / "queue_log")
    logged = queue_log.queue_calls(lines)[call.uniqueid]
    assert ("support", "Operator 101", "answered") == (logged.queue, logged.agent, logged.outcome)
    assert logged.hold_seconds is not None and state.wait_seconds is not None
    assert abs(logged.hold_seconds - state.wait_seconds) < 1.0
    kinds = [e.kind for e in got if e.call_id == call.linkedid]
    assert kinds.index("call.arrived") < kinds.index("call.queued") < kinds.index("call.answered")
    assert "call.ended" == kinds[-1]
