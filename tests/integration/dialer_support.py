"""What the callback and campaign dialer tests share: operators' desks, the rig (a database,
the simulator on real TCP, a connector to it, the PBX control the dialers use), a call's
end as the tracker reports it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.ami.control import AmiPbxControl
from contact_center.calls import events as ev
from contact_center.sim.pbx import SimPbx
from contact_center.testing import connected_connector, running_pbx
from tests.integration.web_support import database

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday: 13:00 in Moscow, 20:00 in Vladivostok


@dataclass(frozen=True)
class Desk:
    """An operator as the dialers see one."""

    login: str
    interface: str
    state: str
    queues: tuple[str, ...]
    since: float = 0.0


@dataclass(frozen=True)
class Rig:
    sessions: async_sessionmaker[AsyncSession]
    pbx: SimPbx
    control: AmiPbxControl  # the connector's, as the dialers get it


async def ignore(event: ev.DomainEvent) -> None:
    return None


@asynccontextmanager
async def rig(
    db_url: str, tmp_path: Path, sink: Callable[[Any], Any] = ignore
) -> AsyncIterator[Rig]:
    """A database at ``db_url``, a running simulator and a connector to it (its domain
    events to ``sink``)."""
    async with (
        database(db_url) as (_, sessions),
        running_pbx(tmp_path) as pbx,
        connected_connector(pbx, tmp_path, sink) as connector,
    ):
        yield Rig(sessions, pbx, AmiPbxControl(connector.actions))


def ended(call_id: str, outcome: str, **more: Any) -> ev.CallEnded:
    """The tracker's ``CallEnded`` of the call ``call_id`` on the rig's PBX."""
    return ev.CallEnded(
        server="sim1",
        call_id=call_id,
        at=NOW.timestamp(),
        key=f"{call_id}-{outcome}",
        outcome=outcome,
        cause=16,
        **more,
    )
