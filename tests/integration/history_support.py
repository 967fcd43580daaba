"""Shared helpers of the history and billing tests: a database with the schema, and calls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls import events as ev
from contact_center.store import models
from tests.integration.web_support import sessions_for as database

__all__ = ["database"]  # the one schema helper, from web_support (re-exported)

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 3, 3, 11, 0, tzinfo=UTC).timestamp()  # a Tuesday, 14:00 in Moscow


async def count(sessions: Sessions, table: type[models.Base], *where: object) -> int:
    async with sessions() as session:
        stmt = select(func.count()).select_from(table)
        if where:
            stmt = stmt.where(*where)  # type: ignore[arg-type]
        return int((await session.execute(stmt)).scalar_one())


async def add_customer(sessions: Sessions, name: str, *phones: str, plan: str = "") -> int:
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        customer = models.Customer(name=name, created_at=now, updated_at=now, tariff_plan=plan)
        customer.phones = [models.CustomerPhone(e164=p, suffix=p[-7:]) for p in phones]
        session.add(customer)
        await session.flush()
        return customer.id


def answered_call(
    linkedid: str,
    *,
    t0: float = T0,
    caller: str = "+74951234567",
    talk: float = 95.0,
    server: str = "pbx1",
    did: str = "8800",
    direction: str = "inbound",
) -> list[ev.DomainEvent]:
    """A call through IVR and a queue, answered by an operator, ended by the caller."""
    uid = f"{linkedid}"
    op = f"{linkedid}.2"

    def k(*parts: object) -> str:
        return ev.make_key(server, linkedid, *parts)

    base: dict[str, Any] = {"server": server, "call_id": linkedid}
    return [
        ev.CallArrived(
            **base,
            at=t0,
            key=k("arrived"),
            leg_id=uid,
            caller_number=caller,
            caller_number_raw=caller.lstrip("+"),
            caller_name="Ivan Petrov",
            did=did,
            channel=f"PJSIP/trunk-{linkedid}",
            direction=direction,
        ),
        ev.IvrStep(
            **base, at=t0 + 2, key=k("ivr", 1), menu="main", node="start", digits="2", result="ok"
        ),
        ev.IvrStep(
            **base,
            at=t0 + 5,
            key=k("ivr", 2),
            menu="main",
            node="pin",
            digits="4321",
            result="ok",
            sensitive=True,
        ),
        ev.CallQueued(**base, at=t0 + 6, key=k("queued"), queue="support", position=1),
        ev.CallOffered(
            **base,
            at=t0 + 7,
            key=k("offered"),
            queue="support",
            interface="PJSIP/101",
            member_name="Alice",
        ),
        ev.CallAnswered(
            **base,
            at=t0 + 10,
            key=k("answered"),
            queue="support",
            interface="PJSIP/101",
            member_name="Alice",
            hold_seconds=4.0,
            ring_seconds=3.0,
            operator_leg_id=op,
        ),
        ev.OperatorState(
            **base,
            at=t0 + 10,
            key=k("opstate"),
            queue="support",
            interface="PJSIP/101",
            member_name="Alice",
            logged_in=True,
            paused=False,
            in_call=True,
        ),
        ev.OperatorAction(
            **base,
            at=t0 + 30,
            key=k("disposition"),
            user="alice",
            action="disposition",
            detail={"disposition": "resolved"},
        ),
        ev.CallEnded(
            **base,
            at=t0 + 10 + talk,
            key=k("ended"),
            cause=16,
            cause_txt="Normal Clearing",
            hung_up_by="caller",
            outcome="answered",
            talk_seconds=talk,
        ),
    ]


HISTORY_EVENTS_PER_CALL = 8  # answered_call minus the operator state change
