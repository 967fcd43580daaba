"""What the callback dialer and the campaign dialer share (both in the connector).

Each looks for work every few seconds (:func:`run_rounds`); each starts an attempt
**operator first** (:func:`ring_operator_first`): claim the row, ring the operator's phone
with an Originate into ``cc-originate`` carrying the customer's number — the screen pop
shows the customer's card while the phone rings, and the dial plan dials the customer once
the operator answers — then record the call id, or give the row back when the Originate is
refused. Rows are claimed by a conditional UPDATE on their status, so two connectors never
dial one row twice; an attempt with no outcome for too long is found by :func:`stale`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls import events as ev
from contact_center.routing.ports import PbxControl
from contact_center.store.models import InteractionEvent

log = logging.getLogger(__name__)

ORIGINATE_CONTEXT = "cc-originate"
# Statuses of a row dialled (a callback, a campaign contact): waiting, its attempt under way.
PENDING, DIALING = "pending", "dialing"

T = TypeVar("T")
Row = TypeVar("Row")


class OperatorLike(Protocol):
    @property
    def login(self) -> str: ...

    @property
    def interface(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def queues(self) -> tuple[str, ...]: ...


Op = TypeVar("Op", bound=OperatorLike)


class Dialer(Generic[Op]):
    """The frame of a dialer: a round (:meth:`tick`) first gives back attempts whose outcome
    was lost (``_recover_stale``), then starts new ones (``_start_due``); a call's end on this
    PBX is handed to ``_ended``. A standby connector (AMI not up: ``ready``) dials nothing."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pbx: PbxControl,
        operators: Callable[[], Iterable[Op]],
        *,
        clock: Callable[[], datetime],
        server: str,
        ready: Callable[[], bool],
    ) -> None:
        self._sessions = sessions
        self._pbx = pbx
        self._operators = operators
        self._clock = clock
        self._server = server
        self._ready = ready
        self.started = 0  # attempts started by this process (for tests and metrics)

    async def tick(self) -> int:
        """One round; returns attempts started."""
        if not self._ready():
            return 0
        now = self._clock()
        await self._recover_stale(now)
        return await self._start_due(now)

    async def handle(self, event: ev.DomainEvent) -> None:
        """A call's end: when it is an attempt of this dialer, record its outcome."""
        if isinstance(event, ev.CallEnded) and event.server == self._server:
            await self._ended(event)

    async def _recover_stale(self, now: datetime) -> None:
        raise NotImplementedError

    async def _start_due(self, now: datetime) -> int:
        raise NotImplementedError

    async def _ended(self, event: ev.CallEnded) -> None:
        raise NotImplementedError


async def run_rounds(
    tick: Callable[[], Awaitable[int]], interval: Callable[[], float], failed: str
) -> None:
    """Call ``tick`` forever, ``interval()`` seconds apart; a failed round is logged
    (``failed`` says what failed) and the next one tried."""
    while True:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s", failed)
        await asyncio.sleep(interval())


async def ring_operator_first(
    sessions: async_sessionmaker[AsyncSession],
    pbx: PbxControl,
    operator: OperatorLike,
    number: str,
    *,
    what: str,
    caller_name: str,
    tags: dict[str, str],
    ring_seconds: int,
    claim: Callable[[AsyncSession], Awaitable[T | None]],
    release: Callable[[AsyncSession, T], Awaitable[None]],
    started: Callable[[AsyncSession, T, str], Awaitable[None]],
) -> str | None:
    """Claim a row (``claim`` gives None when another connector took it), ring ``operator``
    with the customer ``number`` and record the call id (``started``); an Originate that is
    refused gives the row back (``release``). Returns the call id, None when nothing rings.
    ``what`` names the attempt in the log ("callback 7", "campaign Renewals")."""
    async with sessions.begin() as db:
        claimed = await claim(db)
    if claimed is None:
        return None
    variables = {
        **tags,
        "CC_OPERATOR": operator.login,
        "CC_NUMBER": number,  # the pop shows the customer while the phone rings
    }
    try:
        call_id = await pbx.originate(
            operator.interface,
            ORIGINATE_CONTEXT,
            number,
            caller_id=f'"{caller_name}" <{number}>',
            variables=variables,
            timeout_ms=ring_seconds * 1000,
        )
    except Exception as exc:
        log.warning("%s: ringing %s failed: %s", what, operator.login, exc)
        async with sessions.begin() as db:
            await release(db, claimed)
        return None
    async with sessions.begin() as db:
        await started(db, claimed, call_id)
    return call_id


async def claim(
    session: AsyncSession, model: type[Any], row_id: int, login: str, now: datetime
) -> bool:
    """Take a pending row of ``model`` (a callback, a campaign contact) for an attempt by
    ``login``; False when someone else took it (its status is no longer pending)."""
    result = await session.execute(
        update(model)
        .where(model.id == row_id, model.status == PENDING)
        .values(
            status=DIALING,
            operator_login=login,
            last_attempt_at=now,
            attempt_linkedid="",
            attempts=model.attempts + 1,
        )
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def mark_started(session: AsyncSession, model: type[Any], row_id: int, call_id: str) -> None:
    """The attempt's outbound call id (the Originate's ChannelId, the call's Linkedid)."""
    await session.execute(
        update(model)
        .where(model.id == row_id, model.status == DIALING)
        .values(attempt_linkedid=call_id)
    )


async def dialing_logins(session: AsyncSession, model: type[Any]) -> set[str]:
    """Operators with an attempt of ``model`` under way (one attempt per operator at a time)."""
    return set(
        (await session.scalars(select(model.operator_login).where(model.status == DIALING))).all()
    )


async def stale(
    session: AsyncSession, model: type[Row], now: datetime, timeout: timedelta
) -> list[Row]:
    """Rows of ``model`` (callbacks, campaign contacts) whose attempt has had no outcome for
    ``timeout`` (the outcome was lost: a restart, an AMI gap the records did not close)."""
    table: Any = model
    query = select(table).where(table.status == DIALING, table.last_attempt_at < now - timeout)
    return list((await session.scalars(query)).all())


class Followed(Protocol):
    """What follows an attempt (the policies' ``Next``)."""

    @property
    def status(self) -> str: ...  # pending (tried again at next_at) | failed (given up) | …

    @property
    def counted(self) -> bool: ...

    @property
    def next_at(self) -> datetime | None: ...


class Tried(Protocol):
    """A row an attempt was made on (a callback, a campaign contact)."""

    @property
    def id(self) -> int: ...

    @property
    def customer_id(self) -> int | None: ...

    @property
    def operator_login(self) -> str: ...


def attempt_summary(head: str, nxt: Followed, attempts: int, max_attempts: int) -> str:
    """A customer timeline's words on an attempt: ``head``, then the next try or giving up."""
    if nxt.status == PENDING and nxt.counted and nxt.next_at is not None:
        return f"{head} (attempt {attempts} of {max_attempts}); next try {nxt.next_at:%H:%M}"
    if nxt.status == "failed":
        return f"{head}; given up after {attempts} attempts"
    return head


def attempt_event(
    kind: str, row: Tried, call_id: str, summary: str, server: str, at: datetime, data: Any
) -> InteractionEvent:
    """The customer timeline's row of the attempt ``call_id`` on ``row`` (``kind``: callback,
    campaign)."""
    return InteractionEvent(
        key=f"{kind}-{row.id}-{call_id}"[:64],
        customer_id=row.customer_id,
        server=server,
        call_linkedid=call_id,
        kind=f"{kind}.attempt",
        at=at,
        actor=row.operator_login,
        summary=summary[:400],
        data=data,
    )
