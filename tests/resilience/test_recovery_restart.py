"""The service stopped while a call ends, started again: Asterisk's records (the simulator's
Master.csv and queue_log) close the call exactly once with their durations, its recording is
processed, the operator's pop is closed and the operator is free again — and a restart in
the middle of a call that then ends live leaves it answered with its talk time. The simulator
runs the dial plan we ship: the caller comes from the provider, passes our IVR over FastAGI
and is answered at Anna's PJSIP phone."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from contact_center.bus.base import POPS
from contact_center.demo import free_port
from contact_center.service import Service
from contact_center.sim.pbx import SimPbx
from contact_center.store import models
from tests.conftest import wait_for
from tests.e2e.service_support import DID, SHIPPED_PHONES, Rig, seed_people
from tests.resilience.rig import (
    SHIPPED_MANUAL,
    history_counts,
    pbx_live_calls,
    service_settings,
    sim_config,
    sim_pbx,
)

ANNA = "PJSIP/101"


def asterisk_says(tmp_path: Path, linkedid: str) -> dict[str, float]:
    """End (Master.csv, the call's first channel), hold and talk (queue_log) of one call."""
    rows = list(csv.reader(io.StringIO((tmp_path / "Master.csv").read_text())))
    legs = {row[16] for row in rows if row[19] == linkedid}
    ends = [
        datetime.strptime(row[11], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        for row in rows
        if row[16] == linkedid
    ]
    out: dict[str, float] = {"ended_at": max(ends)}
    for line in (tmp_path / "queue_log").read_text().splitlines():
        _at, callid, _queue, _agent, event, *data = line.split("|")
        if callid in legs and event == "COMPLETECALLER":
            out["hold"], out["talk"] = float(data[0]), float(data[1])
    return out


def shipped_pbx(tmp_path: Path, agi_port: int) -> SimPbx:
    return sim_pbx(sim_config(tmp_path, SHIPPED_MANUAL, agi_port, dialplan="shipped"))


async def call_row(sessions: Any, linkedid: str) -> models.Call:
    async with sessions() as db:
        row = (await db.scalars(select(models.Call).where(models.Call.linkedid == linkedid))).one()
    return row


async def recording_status(sessions: Any, linkedid: str) -> list[str]:
    async with sessions() as db:
        rows = await db.scalars(
            select(models.Recording.status).where(models.Recording.call_linkedid == linkedid)
        )
        return list(rows)


async def pops_for(service: Service, login: str, call_id: str) -> list[dict[str, Any]]:
    assert service.core is not None
    return [
        message
        for _id, message in await service.core.bus.read(POPS, "0", 1000)
        if message.get("to") == login and message.get("call_id") == call_id
    ]


async def answered_and_recording(pbx: SimPbx, service: Service, settings: Any) -> Any:
    """Anna available, a caller from the IVR answered by her, the recording under way."""
    await service.components["connector"].wait_connected()
    await Rig(pbx, service, settings).command("anna", "operator", ANNA, "available")
    await wait_for(lambda: bool(pbx.members(ANNA)), timeout=10)
    call = await pbx.place_call(DID, "+74951234567", "Ivan", dtmf="2")  # 2: support
    await wait_for(lambda: bool(pbx.channels_matching(r"^PJSIP/101-")), 10)
    await pbx.answer(ANNA)
    sessions = service.core.sessions  # type: ignore[union-attr]

    async def recording() -> bool:
        return ["recording"] == await recording_status(sessions, call.linkedid)

    await wait_for(recording, timeout=10)
    return call


def stamp(value: datetime | None) -> float:
    assert value is not None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


async def test_stopped_while_the_call_ends_then_started_closes_it_once_from_the_records(
    tmp_path: Path, postgres_url: str
) -> None:
    agi_port = free_port()
    async with shipped_pbx(tmp_path, agi_port) as pbx:
        settings = service_settings(
            tmp_path, postgres_url, ami_port=pbx.port, agi_port=agi_port, test_line=True
        )
        await seed_people(settings, SHIPPED_PHONES)
        async with Service(settings, "all") as first:
            call = await answered_and_recording(pbx, first, settings)
            await asyncio.sleep(2.5)  # a conversation long enough to have a talk time
            popped = await pops_for(first, "anna", call.linkedid)
            assert "pop" in [m["type"] for m in popped]
        # the service is gone; the caller hangs up
        await pbx.hangup_caller(call)
        await wait_for(lambda: call.linkedid not in pbx_live_calls(pbx), timeout=10)

        async with Service(settings, "all") as second:
            await second.components["connector"].wait_connected()
            sessions = second.core.sessions  # type: ignore[union-attr]

            async def closed() -> bool:
                return (await history_counts(sessions, call.linkedid))[1] >= 1

            await wait_for(closed, timeout=15)

            async def processed() -> bool:
                return ["done"] == await recording_status(sessions, call.linkedid)

            await wait_for(processed, timeout=30)
            closes = [m for m in await pops_for(second, "anna", call.linkedid)]
            assert ["pop.closed"] == [m["type"] for m in closes]
            states = second.components["operator_states"]
            await wait_for(lambda: "available" == states.status("anna").state, timeout=10)
            assert (1, 1) == (await history_counts(sessions, call.linkedid))[:2]
            row = await call_row(sessions, call.linkedid)
            async with sessions() as db:
                charges = (
                    await db.scalars(
                        select(models.Charge).where(models.Charge.call_linkedid == call.linkedid)
                    )
                ).all()

    expected = asterisk_says(tmp_path, call.linkedid)
    assert ("answered", ANNA) == (row.outcome, row.operator_interface)
    assert abs(expected["talk"] - row.talk_seconds) < 1.0
    assert abs(expected["hold"] - row.wait_seconds) < 1.0
    assert 0 <= stamp(row.ended_at) - expected["ended_at"] < 1.0
    assert expected["talk"] >= 2  # the records say they talked: not a zero-length call
    assert 1 == len(charges)
    rated = charges[0].billed_seconds or int(charges[0].breakdown.get("seconds", 0))
    assert abs(rated - expected["talk"]) <= 1.0  # charged on Asterisk's talk time, not 0


async def test_restarted_mid_call_the_call_ends_live_answered_with_its_talk_time(
    tmp_path: Path, postgres_url: str
) -> None:
    agi_port = free_port()
    async with shipped_pbx(tmp_path, agi_port) as pbx:
        settings = service_settings(
            tmp_path, postgres_url, ami_port=pbx.port, agi_port=agi_port, test_line=True
        )
        await seed_people(settings, SHIPPED_PHONES)
        async with Service(settings, "all") as first:
            call = await answered_and_recording(pbx, first, settings)
        async with Service(settings, "all") as second:
            connector = second.components["connector"]
            await connector.wait_connected()
            assert call.linkedid in {cid for (_s, cid) in connector.tracker.calls}
            await asyncio.sleep(2.5)  # they go on talking after the restart
            await pbx.hangup_caller(call)
            sessions = second.core.sessions  # type: ignore[union-attr]

            async def processed() -> bool:
                return ["done"] == await recording_status(sessions, call.linkedid)

            await wait_for(processed, timeout=30)
            # the restarted service finds her talking: her card comes again (a console
            # reloaded meanwhile shows the call she is on), then closes with the call
            pops = await pops_for(second, "anna", call.linkedid)
            assert [("pop", "answered"), ("pop.closed", "ended")] == [
                (m["type"], m.get("stage", m.get("reason"))) for m in pops
            ]
            # the history writer batches: the end is written soon after the pop closes

            async def ended_in_history() -> bool:
                return (await history_counts(sessions, call.linkedid))[1] >= 1

            await wait_for(ended_in_history, timeout=10)
            assert (1, 1) == (await history_counts(sessions, call.linkedid))[:2]
            row = await call_row(sessions, call.linkedid)

    expected = asterisk_says(tmp_path, call.linkedid)
    assert expected["talk"] >= 2
    assert ("answered", ANNA) == (row.outcome, row.operator_interface)
    assert abs(expected["talk"] - row.talk_seconds) < 1.0
    assert 0 <= stamp(row.ended_at) - expected["ended_at"] < 1.0
