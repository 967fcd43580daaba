"""Recording through the Asterisk simulator over real AMI TCP: index, pause, stop, process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.ami.connector import AmiConnector
from contact_center.calls import events as ev
from contact_center.config import RecordingSettings
from contact_center.recording.index import RecordingIndexer
from contact_center.recording.policy import SensitivePausePolicy
from contact_center.recording.worker import RecordingWorker
from contact_center.store.models import Recording
from contact_center.testing import connected_connector
from tests.conftest import wait_for
from tests.integration.recording_support import database

sim = pytest.importorskip("contact_center.sim.pbx")
sim_config = pytest.importorskip("contact_center.sim.config")

OP = "Local/101@agents"


@contextlib.asynccontextmanager
async def connected(
    pbx: object, tmp_path: Path, sink: ev.DomainEvent | object
) -> AsyncIterator[AmiConnector]:
    async with connected_connector(pbx, tmp_path, sink) as connector:  # type: ignore[arg-type]
        yield connector


@contextlib.asynccontextmanager
async def running(worker: RecordingWorker) -> AsyncIterator[None]:
    """The worker's loop as an owned task, cancelled on the way out."""
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[Recording]:
    async with sessions() as session:
        return list((await session.scalars(select(Recording).order_by(Recording.id))).all())


async def test_recorded_call_with_card_payment_pause(sqlite_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "monitor"
    config = sim_config.SimConfig(
        time_scale=0.05,
        spool_dir=str(spool),
        operators=(sim_config.Operator(OP, "Operator 101", answer_after=1.0),),
    )
    seen: list[ev.DomainEvent] = []
    async with database(sqlite_url) as sessions:
        worker = RecordingWorker(sessions, RecordingSettings(spool_dir=str(spool)))
        async with worker, running(worker):
            indexer = RecordingIndexer(sessions, on_stopped=worker.notify)

            async def sink(event: ev.DomainEvent) -> None:
                seen.append(event)
                await indexer.handle(event)
                await policy.handle(event)

            async with sim.SimPbx(config) as pbx, connected(pbx, tmp_path, sink) as ami:
                policy = SensitivePausePolicy(ami.actions)
                await ami.actions.queue_add(
                    "support", OP, member_name="Operator 101", state_interface=OP
                )
                call = await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
                await wait_for(lambda: any(isinstance(e, ev.CallAnswered) for e in seen), 10)
                call_id = next(e.call_id for e in seen if isinstance(e, ev.CallAnswered))

                async with policy.sensitive("sim1", call_id) as paused:
                    assert paused

                    async def gap_open() -> bool:
                        gaps = (await rows(sessions))[0].pauses["gaps"]
                        return bool(gaps) and gaps[-1][1] is None

                    await wait_for(gap_open, 5)

                async def gap_closed() -> bool:
                    gaps = (await rows(sessions))[0].pauses["gaps"]
                    return bool(gaps) and gaps[-1][1] is not None

                await wait_for(gap_closed, 5)
                await pbx.hangup(call.phone)

                async def processed() -> bool:
                    return (await rows(sessions))[0].status in {"done", "failed"}

                await wait_for(processed, 20)

    (rec,) = await _only(sqlite_url)
    assert ("done", "", "support", OP, "answered") == (
        rec.status,
        rec.failure,
        rec.queue,
        rec.operator_interface,
        rec.outcome,
    )
    assert rec.duration_seconds > 0
    assert 1 == len(rec.pauses["gaps"])
    start, end, reason = rec.pauses["gaps"][0]
    assert 0 <= start <= end and "muted" == reason
    assert [rec.compact_name] == [p.name for p in spool.iterdir()]  # original gone once done


async def test_operator_stops_the_recording_on_demand(sqlite_url: str, tmp_path: Path) -> None:
    spool = tmp_path / "monitor"
    config = sim_config.SimConfig(
        time_scale=0.05,
        spool_dir=str(spool),
        operators=(sim_config.Operator(OP, "Operator 101", answer_after=1.0),),
    )
    seen: list[ev.DomainEvent] = []
    async with database(sqlite_url) as sessions:
        indexer = RecordingIndexer(sessions)

        async def sink(event: ev.DomainEvent) -> None:
            seen.append(event)
            await indexer.handle(event)

        async with sim.SimPbx(config) as pbx, connected(pbx, tmp_path, sink) as ami:
            await ami.actions.queue_add(
                "support", OP, member_name="Operator 101", state_interface=OP
            )
            call = await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
            await wait_for(lambda: any(isinstance(e, ev.CallAnswered) for e in seen), 10)
            started = next(e for e in seen if isinstance(e, ev.RecordingStarted))
            policy = SensitivePausePolicy(ami.actions)
            await policy.handle(started)

            # The console's "stop recording" button travels as an operator action.
            await policy.handle(
                ev.OperatorAction(
                    server="sim1",
                    call_id=started.call_id,
                    at=started.at,
                    user="op101",
                    action="recording.stop",
                )
            )

            async def stopped() -> bool:
                return (await rows(sessions))[0].status == "stopped"

            await wait_for(stopped, 5)
            assert not any(isinstance(e, ev.CallEnded) for e in seen)  # the call goes on
            await pbx.hangup(call.phone)

            async def has_outcome() -> bool:
                return (await rows(sessions))[0].outcome == "answered"

            # Inside the connection: the sink sees CallEnded before the indexer has written
            # it, and leaving the block would cancel that write.
            await wait_for(has_outcome, 10)
        (rec,) = await rows(sessions)
        wav = spool / rec.file_name
        assert wav.exists() and wav.stat().st_size > 44  # the simulator wrote real audio


async def _only(url: str) -> list[Recording]:
    async with database(url) as sessions:
        return await rows(sessions)
