"""The history writer: domain events in, interaction history and call rows out.

Every event (but operator state changes and charges, see ``is_history``) becomes one
``interaction_events`` row keyed by its idempotency key, and updates the call's ``calls`` row
(upserted by (server, linkedid)) and ``call_legs``. Events are batched: one transaction per
batch, so a batch is written whole or not at all. A key already in the table — a duplicated
frame, a replayed capture, a buffer replayed after a crash — writes nothing and changes no
call row.

When the database is unreachable, events wait in a :class:`SpillBuffer` (bounded, on disk) and
the writer retries with backoff; they are written in order when the database is back. An event
that the database refuses on its own (bad data, unknown customer id) is logged and skipped so
that it cannot stop the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center import aio
from contact_center.backoff import Backoff
from contact_center.calls import events as ev
from contact_center.config import Settings
from contact_center.history.buffer import BufferFull, SpillBuffer
from contact_center.history.describe import describe, disposition_of, event_key, is_history
from contact_center.store import models
from contact_center.store.db import aware, from_epoch

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)
Sessions = async_sessionmaker[AsyncSession]


class CustomerCardLike(Protocol):
    @property
    def id(self) -> int: ...


class NumberLookup(Protocol):
    """What the writer needs of ``customers.lookup.CustomerLookup``."""

    async def by_number(self, raw: str) -> Sequence[CustomerCardLike]: ...


def insert_ignoring_duplicates(session: AsyncSession, table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` in the session's dialect (SQLite or PostgreSQL)."""
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table).on_conflict_do_nothing()


def is_outage(exc: BaseException) -> bool:
    """True when the database (not the event) is the problem: retry later, keep the event."""
    # A full buffer is a long outage too: the event stays unacknowledged on the bus.
    if isinstance(exc, BufferFull | OSError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        # Data and integrity errors are about the rows; everything else (connection refused,
        # server shutting down, missing table after a bad migration) is about the database.
        return not isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError)
    return isinstance(exc, sa_exc.SQLAlchemyError) and not isinstance(exc, sa_exc.StatementError)


@dataclass
class WriterStats:
    written: int = 0  # events that became rows
    duplicates: int = 0  # events whose key was already written
    skipped: int = 0  # events refused on their own (logged)
    outages: int = 0  # times the database was found down


@dataclass
class _Batch:
    """What one batch changes besides the calls rows (which are ORM objects)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    legs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # (server, uniqueid) -> an operator leg's own part (OperatorLeft): set on the leg's row,
    # whichever batch inserted it
    leg_talk: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ended: list[tuple[int, datetime, int]] = field(default_factory=list)
    identified: list[tuple[str, str, int]] = field(default_factory=list)


class HistoryWriter:
    """Consumer: ``await handle(event)``; run ``start()``/``close()`` (or ``async with``)."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        lookup: NumberLookup | None = None,
        buffer: SpillBuffer | None = None,
        spill_dir: str | Path = "data/history-spill",
        batch_size: int = 200,
        flush_interval: float = 0.2,
        retry_min: float = 0.1,
        retry_max: float = 10.0,
        write_timeout: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._lookup = lookup
        self.buffer = buffer if buffer is not None else SpillBuffer(spill_dir)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.write_timeout = write_timeout
        self.stats = WriterStats()
        self.db_ok = True
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._user_ids: dict[str, int] = {}

    # --- consumer API --------------------------------------------------------------------

    async def handle(self, event: ev.DomainEvent) -> None:
        """Accept one event; it is written within ``flush_interval`` or when the DB is back.

        Raises ``BufferFull`` when the database has been down so long that the buffer is full:
        the caller must not acknowledge the event.
        """
        if not is_history(event):
            return
        self.buffer.put(ev.to_dict(event))
        if len(self.buffer) >= self.batch_size and self.db_ok:
            await self.flush()

    @property
    def pending(self) -> int:
        return len(self.buffer)

    async def flush(self) -> int:
        """Write what is pending; returns how many events were handled (written or dropped)."""
        async with self._lock:
            done = 0
            while len(self.buffer):
                # A stop whose cancellation a write lost (the SQLite driver can: the write
                # then ends in its own timeout or a refusal) ends here, not after the whole
                # backlog; what is not written stays in the buffer.
                aio.raise_if_cancelling()
                batch = self.buffer.peek(self.batch_size)
                try:
                    await aio.wait_for(self._write_batch(batch), self.write_timeout)
                except Exception as exc:
                    aio.raise_if_cancelling(exc)
                    if is_outage(exc):
                        self._mark_down(exc)
                        return done
                    log.warning("history batch refused (%s); writing its events one by one", exc)
                    written_singly = await self._write_singly(batch)
                    done += written_singly
                    if written_singly < len(batch):
                        return done
                    continue
                self.buffer.commit(len(batch))
                done += len(batch)
                self._mark_up()
            return done

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="history-writer")

    async def close(self) -> None:
        """Stop the background flusher, write what can be written, keep the rest on disk.

        Cancelled (a stop's bound, ``Service.on_stop``), it ends at once with everything not
        written on disk: its own cancellation is never taken for the flusher's (that lost the
        stop's bound, and a stop then waited for a whole backlog or SQLite's lock timeout)."""
        try:
            if self._task is not None:
                task, self._task = self._task, None
                task.cancel()
                # wait() never raises the task's end; a cancellation of ours is raised here
                await asyncio.wait([task])
                if not task.cancelled() and task.exception() is not None:
                    log.error("history writer ended with %r", task.exception())
            if self.db_ok:
                await self.flush()
        finally:
            self.buffer.spill()

    async def __aenter__(self) -> HistoryWriter:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _run(self) -> None:
        backoff = Backoff(first=self.retry_min, ceiling=max(self.retry_min, self.retry_max))
        while True:
            try:
                await self.flush()
            except Exception as exc:  # a bug must not stop history for good: log, retry
                aio.raise_if_cancelling(exc)
                log.exception("history writer: unexpected error, retrying")
                self.db_ok = False
            # a stop the write lost (it came back as an outage): end, never retry forever
            aio.raise_if_cancelling()
            if self.db_ok:
                backoff.reset()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await aio.wait_for(self._wake.wait(), self.flush_interval)
            else:
                await backoff.sleep()

    def _mark_down(self, exc: BaseException) -> None:
        # Pending events go to disk now: the outage may outlast the process.
        self.buffer.spill()
        if self.db_ok:
            self.stats.outages += 1
            log.error(
                "history: database unreachable (%s: %s); %d events buffered, retrying",
                type(exc).__name__, exc, len(self.buffer),
            )  # fmt: skip
        self.db_ok = False

    def _mark_up(self) -> None:
        if not self.db_ok:
            log.info("history: database back; %d events still pending", len(self.buffer))
        self.db_ok = True

    async def _write_singly(self, batch: list[dict[str, Any]]) -> int:
        """Write events one at a time, dropping (with a log) the ones refused on their own."""
        for count, item in enumerate(batch):
            aio.raise_if_cancelling()
            try:
                await aio.wait_for(self._write_batch([item]), self.write_timeout)
            except Exception as exc:
                aio.raise_if_cancelling(exc)
                if is_outage(exc):
                    self._mark_down(exc)
                    return count
                self.stats.skipped += 1
                log.error("history: event refused and skipped: %s; event=%r", exc, item)
            self.buffer.peek(1)
            self.buffer.commit(1)
        return len(batch)

    # --- one batch, one transaction -----------------------------------------------------------

    async def _write_batch(self, items: list[dict[str, Any]]) -> None:
        events = self._decode(items)
        if not events:
            return
        async with self._sessions() as session, session.begin():
            # Lock the calls first: a second writer on the same calls (another worker of the
            # consumer group) waits here, then sees this one's rows as already written.
            calls = await self._lock_calls(session, events)
            fresh = await self._fresh(session, events)
            if not fresh:
                return
            customers = await self._customers_by_number(session, fresh)
            operators = await self._operator_ids(session, fresh)
            batch = _Batch()
            for key, event in fresh:
                call = calls.get((event.server, event.call_id))
                if call is not None:
                    _apply(call, event, batch, customers, operators)
                customer_id = call.customer_id if call is not None else None
                if customer_id is None:
                    customer_id = getattr(event, "customer_id", None)
                batch.rows.append(_interaction_row(key, event, customer_id))
            await self._write_rows(session, batch)
        self.stats.written += len(fresh)

    def _decode(self, items: list[dict[str, Any]]) -> list[ev.DomainEvent]:
        events = []
        for item in items:
            try:
                events.append(ev.from_dict(item))
            except (ValueError, TypeError) as exc:
                self.stats.skipped += 1
                log.error("history: undecodable event skipped: %s; item=%r", exc, item)
        return events

    async def _fresh(
        self, session: AsyncSession, events: list[ev.DomainEvent]
    ) -> list[tuple[str, ev.DomainEvent]]:
        """The events whose key is not written yet, first occurrence only."""
        keyed = [(event_key(e), e) for e in events]
        table = models.InteractionEvent
        existing = set(
            (await session.execute(select(table.key).where(table.key.in_({k for k, _ in keyed}))))
            .scalars()
            .all()
        )
        fresh = []
        for key, event in keyed:
            if key in existing:
                self.stats.duplicates += 1
                continue
            existing.add(key)
            fresh.append((key, event))
        return fresh

    async def _customers_by_number(
        self, session: AsyncSession, fresh: list[tuple[str, ev.DomainEvent]]
    ) -> dict[str, int]:
        """Caller number -> customer id, for arrivals whose number belongs to one customer."""
        numbers = {
            e.caller_number for _, e in fresh if isinstance(e, ev.CallArrived) and e.caller_number
        }
        if not numbers:
            return {}
        owners: dict[str, set[int]] = {}
        if self._lookup is not None:
            for number in numbers:
                owners[number] = {card.id for card in await self._lookup.by_number(number)}
        else:
            phones = models.CustomerPhone
            rows = await session.execute(
                select(phones.e164, phones.customer_id).where(phones.e164.in_(numbers))
            )
            for e164, customer_id in rows.all():
                owners.setdefault(e164, set()).add(customer_id)
        # Several customers on one number (a family, an office): the operator chooses.
        return {number: ids.pop() for number, ids in owners.items() if len(ids) == 1}

    async def _lock_calls(
        self, session: AsyncSession, events: list[ev.DomainEvent]
    ) -> dict[tuple[str, str], models.Call]:
        """Upsert a skeleton row per call of the batch, then load the rows locked."""
        first: dict[tuple[str, str], datetime] = {}
        for e in events:
            if e.call_id:
                at = from_epoch(e.at)
                key = (e.server, e.call_id)
                first[key] = min(first.get(key, at), at)
        if not first:
            return {}
        skeletons = [
            {"server": s, "linkedid": c, "started_at": at, "ivr_path": {}}
            for (s, c), at in sorted(first.items())
        ]
        await session.execute(insert_ignoring_duplicates(session, models.Call), skeletons)
        calls: dict[tuple[str, str], models.Call] = {}
        for server in sorted({s for s, _ in first}):
            ids = [c for s, c in first if s == server]
            rows = await session.execute(
                select(models.Call)
                .where(models.Call.server == server, models.Call.linkedid.in_(ids))
                .order_by(models.Call.linkedid)  # one lock order for all writers: no deadlock
                .with_for_update()
            )
            for call in rows.scalars():
                calls[(call.server, call.linkedid)] = call
        return calls

    async def _operator_ids(
        self, session: AsyncSession, fresh: list[tuple[str, ev.DomainEvent]]
    ) -> dict[str, int]:
        wanted = {e.interface for _, e in fresh if isinstance(e, ev.CallAnswered) and e.interface}
        wanted |= {
            e.operator_interface
            for _, e in fresh
            if isinstance(e, ev.CallArrived) and e.operator_interface
        }
        missing = wanted - set(self._user_ids)
        if missing:
            users = models.User
            rows = await session.execute(
                select(users.interface, users.id).where(users.interface.in_(missing))
            )
            for interface, user_id in rows.all():
                self._user_ids[interface] = user_id
        return self._user_ids

    async def _write_rows(self, session: AsyncSession, batch: _Batch) -> None:
        await session.flush()  # call rows first: legs and rows refer to them
        # Core tables, not ORM entities: plain executemany, no ORM bulk bookkeeping.
        conn = await session.connection()
        events_table = cast(Table, models.InteractionEvent.__table__)
        legs_table = cast(Table, models.CallLeg.__table__)
        await conn.execute(insert_ignoring_duplicates(session, events_table), batch.rows)
        if batch.legs:
            await conn.execute(
                insert_ignoring_duplicates(session, legs_table), list(batch.legs.values())
            )
        if batch.leg_talk:
            legs = legs_table.c
            await conn.execute(
                update(legs_table)
                .where(legs.server == bindparam("b_server"), legs.uniqueid == bindparam("b_leg"))
                .values(
                    answered_at=bindparam("b_answered"),
                    talk_seconds=bindparam("b_talk"),
                    via=bindparam("b_via"),
                    queue=bindparam("b_queue"),
                ),
                list(batch.leg_talk.values()),
            )
        if batch.ended:
            await conn.execute(
                update(legs_table)
                .where(legs_table.c.call_id == bindparam("b_call"), legs_table.c.ended_at.is_(None))
                .values(ended_at=bindparam("b_at"), hangup_cause=bindparam("b_cause")),
                [{"b_call": c, "b_at": at, "b_cause": cause} for c, at, cause in batch.ended],
            )
        if batch.identified:
            # Steps written before the caller said who they are join their timeline too.
            t = events_table.c
            await conn.execute(
                update(events_table)
                .where(
                    t.server == bindparam("b_server"),
                    t.call_linkedid == bindparam("b_call"),
                    t.customer_id.is_(None),
                )
                .values(customer_id=bindparam("b_customer")),
                [
                    {"b_server": s, "b_call": c, "b_customer": cust}
                    for s, c, cust in batch.identified
                ],
            )


# --- how each event changes the call row -----------------------------------------------------


def ivr_digits(steps: list[dict[str, Any]]) -> str:
    """The caller's digits, each once. A FastAGI IVR records its own steps with the digits it
    read, and Asterisk also reports each key as DTMF (SIP INFO, capture 27: "10" became
    "1100"): the IVR's own record wins; DTMF steps (result "digit") count only for dialplan
    menus (Background/Read), which record nothing themselves."""
    own = "".join(s["digits"] for s in steps if s.get("result") != "digit")
    return own or "".join(s["digits"] for s in steps if s.get("result") == "digit")


def _clip(value: str, size: int) -> str:
    return value[:size]


def _interaction_row(key: str, event: ev.DomainEvent, customer_id: int | None) -> dict[str, Any]:
    entry = describe(event)
    return {
        "key": key,
        "customer_id": customer_id,
        "server": _clip(event.server, 40),
        "call_linkedid": _clip(event.call_id, 64),
        "kind": event.kind,
        "at": from_epoch(event.at),
        "actor": entry.actor,
        "summary": entry.summary,
        "data": entry.data,
    }


def _add_leg(
    batch: _Batch, call: models.Call, leg_id: str, channel: str, role: str, at: datetime
) -> None:
    if not leg_id or (call.server, leg_id) in batch.legs:
        return
    batch.legs[(call.server, leg_id)] = {
        "call_id": call.id,
        "server": call.server,
        "uniqueid": _clip(leg_id, 64),
        "channel": _clip(channel, 200),
        "role": role,
        "started_at": at,
        "via": "",
        "queue": "",
    }


def _operator_part(batch: _Batch, call: models.Call, event: ev.OperatorLeft) -> None:
    """The operator's own talk on their leg (the row is inserted here if no answer made it)."""
    answered = from_epoch(event.answered_at) if event.answered_at is not None else None
    _add_leg(
        batch, call, event.operator_leg_id, event.interface, "operator", answered or call.started_at
    )
    batch.leg_talk[(call.server, event.operator_leg_id)] = {
        "b_server": call.server,
        "b_leg": _clip(event.operator_leg_id, 64),
        "b_answered": answered,
        # an operator who talked on in a conference room: the leg's whole talk
        "b_talk": event.talk_seconds if event.leg_talk_seconds is None else event.leg_talk_seconds,
        "b_via": _clip(event.via, 20),
        "b_queue": _clip(event.queue, 80),
    }


def _link_customer(call: models.Call, customer_id: int, batch: _Batch) -> None:
    call.customer_id = customer_id
    batch.identified.append((call.server, call.linkedid, customer_id))


def _apply(
    call: models.Call,
    event: ev.DomainEvent,
    batch: _Batch,
    customers: dict[str, int],
    operators: dict[str, int],
) -> None:
    at = from_epoch(event.at)
    if isinstance(event, ev.CallArrived):
        call.started_at = min(aware(call.started_at), at)
        call.caller_number = _clip(event.caller_number, 64)
        call.caller_number_raw = _clip(event.caller_number_raw, 128)
        call.caller_name = _clip(event.caller_name, 400)
        call.did = _clip(event.did, 64)
        call.direction = _clip(event.direction, 10)
        if call.customer_id is None and event.caller_number in customers:
            _link_customer(call, customers[event.caller_number], batch)
        if event.operator_interface:
            # a call the operator placed: theirs from the first ring
            call.operator_interface = _clip(event.operator_interface, 80)
            call.operator_user_id = operators.get(event.operator_interface, call.operator_user_id)
        role = "operator" if event.operator_interface else "caller"
        _add_leg(batch, call, event.leg_id, event.channel, role, at)
    elif isinstance(event, ev.CallerIdentified):
        _link_customer(call, event.customer_id, batch)
    elif isinstance(event, ev.IvrStep):
        path = dict(call.ivr_path or {})
        digits = "*" * len(event.digits) if event.sensitive else event.digits
        step = {"menu": event.menu, "node": event.node, "digits": digits, "result": event.result}
        path["steps"] = [*path.get("steps", []), step]
        path["digits"] = ivr_digits(path["steps"])
        call.ivr_path = path  # a new dict: JSON columns only see reassignment
    elif isinstance(event, ev.CallQueued):
        if call.answered_at is None:  # the queue that takes the call, not a transfer's next
            call.queue = _clip(event.queue, 80)
    elif isinstance(event, ev.CallAnswered):
        if call.answered_at is None:
            call.answered_at = at
            call.wait_seconds = event.hold_seconds
        call.queue = _clip(call.queue or event.queue, 80)
        if not call.operator_interface:
            # the call's operator is the one who took it; everyone who talked after a
            # transfer has an operator leg of their own (call_legs, the timeline)
            call.operator_interface = _clip(event.interface, 80)
            call.operator_user_id = operators.get(event.interface, call.operator_user_id)
        _add_leg(batch, call, event.operator_leg_id, event.interface, "operator", at)
    elif isinstance(event, ev.CallAbandoned | ev.CallLeftQueue):
        call.queue = _clip(event.queue or call.queue, 80)
        call.wait_seconds = event.hold_seconds
    elif isinstance(event, ev.OperatorLeft):
        if event.operator_leg_id:
            _operator_part(batch, call, event)
    elif isinstance(event, ev.ConferenceJoined):
        _add_leg(batch, call, event.leg_id, event.channel, "conference", at)
    elif isinstance(event, ev.CallEnded):
        call.ended_at = at
        call.hangup_cause = event.cause
        call.outcome = _clip(event.outcome or call.outcome, 20)
        call.talk_seconds = event.talk_seconds
        # The answer may have happened while the connector was away (closed from Asterisk's
        # records after a restart): the end says who took the call, for a row that lacks it.
        call.queue = call.queue or _clip(event.queue, 80)
        if event.interface and not call.operator_interface:
            call.operator_interface = _clip(event.interface, 80)
            call.operator_user_id = operators.get(event.interface, call.operator_user_id)
        if call.answered_at is None and event.answered_at is not None:
            call.answered_at = from_epoch(event.answered_at)
            if event.hold_seconds is not None:
                call.wait_seconds = event.hold_seconds
        batch.ended.append((call.id, at, event.cause))
    elif isinstance(event, ev.OperatorAction):
        if event.action in ("disposition", "wrapup"):  # the console's wrap-up sets it too
            call.disposition = _clip(disposition_of(event), 80)
        if event.customer_id is not None and event.customer_id != call.customer_id:
            # The operator picked the customer on the pop (e.g. a shared number).
            _link_customer(call, event.customer_id, batch)
    elif isinstance(event, ev.CallbackRequested):
        if event.customer_id is not None and call.customer_id is None:
            _link_customer(call, event.customer_id, batch)


def build_history_writer(
    settings: Settings,
    sessions: Sessions,
    *,
    lookup: NumberLookup | None = None,
    registry: CollectorRegistry | None = None,
) -> HistoryWriter:
    """The writer as the service runs it: spill directory and bound from the settings, and
    (when a Prometheus registry is given) ``cc_history_buffer_events`` /
    ``cc_history_buffer_capacity`` gauges to alert on before the buffer is full."""
    directory = settings.billing.history_spill_dir or str(
        Path(settings.general.data_dir) / "history-spill"
    )
    on_level = None
    if registry is not None:
        from prometheus_client import Gauge

        pending = Gauge("cc_history_buffer_events", "History events waiting", registry=registry)
        capacity = Gauge("cc_history_buffer_capacity", "History buffer bound", registry=registry)

        def on_level(size: int, bound: int) -> None:
            pending.set(size)
            capacity.set(bound)

    buffer = SpillBuffer(
        directory, max_events=settings.billing.history_buffer_max_events, on_level=on_level
    )
    return HistoryWriter(sessions, lookup=lookup, buffer=buffer)
