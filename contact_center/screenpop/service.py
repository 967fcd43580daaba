"""The screen-pop consumer: ``await ScreenPop.feed(event)`` for every domain event, in order.

On ``CallOffered`` (an operator's phone rings) and again on ``CallAnswered`` it looks the caller
up, renders the card and publishes it on the bus stream ``pops`` addressed to every login whose
``users.interface`` is the ringing interface (all their tabs, on any web instance). A caller who
identified in the IVR (``CallerIdentified``) is popped as that customer. When the phone stops
ringing unanswered, another operator answers, the call is transferred away or ends, the
operator gets ``pop.closed`` with the reason.

The stream is read in order and never waits on a customer lookup: the caller is looked up
when the call arrives, so at ring time the pop is usually rendered and published at once. A
pop whose lookup is still running waits in its operator's *lane* (one per interface, in
order), so a burst of calls to one operator — or a slow lookup — delays neither the reading
of the stream nor any other operator's pops. A pop still waiting in its lane when its call
stops ringing there is dropped together with its close: nobody saw it.

With an external CRM configured, the CRM is asked beside the database when the call arrives;
it has ``crm.budget`` seconds to answer. Late, failing or circuit-broken, the card is the
local one, marked "CRM unavailable". A late answer that still comes while the caller waits
in the IVR or the queue replaces that card before the ring (and fills the CRM's cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import heapq
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Select, bindparam, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center import aio, i18n
from contact_center.bus.base import POPS, Bus
from contact_center.calls import events as ev
from contact_center.crm.contacts import CRM_OFF, CrmResult
from contact_center.crm.service import CrmLookup
from contact_center.customers.lookup import CustomerCard, CustomerLookup
from contact_center.customers.phones import display_number
from contact_center.history.describe import QUIET_KINDS
from contact_center.screenpop.context import CallContext, CallContexts
from contact_center.screenpop.people import change_of
from contact_center.screenpop.render import (
    DISPOSITIONS,
    CardParts,
    CardRenderer,
    HistoryItem,
    OpenItem,
    PopCard,
    waited_cell,
)
from contact_center.store.db import aware
from contact_center.store.models import AdminChoice, Call, Case, InteractionEvent, User

log = logging.getLogger(__name__)

SEND_BATCH = 100  # pops at most in one publish round trip
# Why a phone's pop closes when it stopped ringing without her answering it.
RANG_OFF = frozenset({"no_answer", "answered_elsewhere", "consultation_cancelled"})
# The token of the lane job a lane task is publishing for: what it sends settles with it.
_CAUSE: contextvars.ContextVar[int] = contextvars.ContextVar("screenpop_cause", default=0)


@dataclass(frozen=True, slots=True)
class Found:
    """Who the caller is, as far as the database knows."""

    match: str  # known | several | unknown | identified
    customers: tuple[CustomerCard, ...]
    history: tuple[HistoryItem, ...]
    open_items: tuple[OpenItem, ...]
    parts: CardParts | None = None  # rendered with the lookup, off the ring-time path
    crm: CrmResult = CRM_OFF  # what the external CRM said, within its budget


class OperatorDirectory:
    """Which logins answer at a queue-member interface (``users.interface``), cached.

    A pop never waits for the table to be refreshed: a known interface is answered from the
    cached table and a stale table is reloaded beside it (one reload at a time). Only an
    interface missing from the table waits for a reload (a new operator pops at once), at
    most once a second, so an unknown interface (a supervisor's phone) does not hammer the
    database.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        ttl: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._clock = clock  # injected by tests, which then need not wait out the second
        self._by_interface: dict[str, tuple[str, ...]] = {}
        self._names: dict[str, str] = {}  # interface or login -> the person's name
        self._loaded_at = float("-inf")
        self._reloading: asyncio.Task[None] | None = None
        self.dispositions: tuple[str, ...] = ()  # none stored: the built-in list
        # Languages changed (people.USER_CHANGED) since the reload in flight started: a
        # reload that read the table before the change must not undo them.
        self._changes = 0
        self._changed: dict[str, tuple[int, str]] = {}

    _languages: dict[str, str] = {}
    usual_locale: str = (
        i18n.DEFAULT_LOCALE
    )  # most operators' language: cards are rendered ahead in it

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def user_changed(self, login: str, language: str) -> None:
        """A user changed her settings (``user.changed`` on the bus): her language counts
        from the very next pop; the rest of the table is reloaded beside the next pop."""
        self._changes += 1
        lang = i18n.normalise(language)
        self._changed[login] = (self._changes, lang)
        if login in self._languages:
            self._languages = {**self._languages, login: lang}
        self.invalidate()

    async def load(self) -> None:
        """Load the table now (at start-up, so the first pop does not wait for it)."""
        await asyncio.shield(self._reload_once())

    async def close(self) -> None:
        if self._reloading is not None and not self._reloading.done():
            self._reloading.cancel()
            await asyncio.gather(self._reloading, return_exceptions=True)

    def _reload_once(self) -> asyncio.Task[None]:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.create_task(self._reload(), name="operator-directory")
            self._reloading.add_done_callback(_log_reload_failure)
        return self._reloading

    async def _reload(self) -> None:
        started = self._changes
        async with self._sessions() as db:
            rows = await db.execute(
                # the user's language: the pop is rendered in it
                select(User.interface, User.login, User.display_name, User.language)
                .where(User.active.is_(True), User.interface != "")
                .order_by(User.login)
            )
            # the wrap-up's dispositions as the admin keeps them (admin/), refreshed with the
            # table, never read in front of a pop
            chosen = await db.scalars(
                select(AdminChoice.name)
                .where(AdminChoice.kind == "disposition", AdminChoice.active.is_(True))
                .order_by(AdminChoice.position, AdminChoice.id)
            )
            self.dispositions = tuple(chosen)
        table: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        languages: dict[str, str] = {}
        for interface, login, name, language in rows:
            table.setdefault(interface, []).append(login)
            languages[login] = i18n.normalise(language)
            if name:
                names.setdefault(interface, name)
                names[login] = name
        for login, (seq, lang) in list(self._changed.items()):
            if seq <= started:
                del self._changed[login]  # the table this reload read has it
            elif login in languages:
                languages[login] = lang  # changed while this reload read the table
        self._by_interface = {k: tuple(v) for k, v in table.items()}
        self._names = names
        self._languages = languages
        counts: dict[str, int] = {}
        for lang in languages.values():
            counts[lang] = counts.get(lang, 0) + 1
        self.usual_locale = max(counts, key=lambda k: counts[k]) if counts else i18n.DEFAULT_LOCALE
        self._loaded_at = self._clock()

    def name_of(self, who: str) -> str:
        """The person at an interface (or with a login) as the card names them; ``who``
        itself when unknown. From the cached table: a pop never waits for it."""
        return self._names.get(who, who)

    def language_of(self, login: str) -> str:
        return self._languages.get(login, self.usual_locale)

    async def logins_for(self, interface: str) -> tuple[str, ...]:
        age = self._clock() - self._loaded_at
        logins = self._by_interface.get(interface)
        if logins is not None:
            if age > self._ttl:
                self._reload_once()  # beside this pop, which the cached table answers
            return logins
        if age > 1.0:
            await asyncio.shield(self._reload_once())
        return self._by_interface.get(interface, ())


def _log_reload_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("operator directory not loaded: %s", task.exception())


class LookupSlots:
    """A semaphore for the database lookups whose waiters can be moved to the front.

    Callers are looked up speculatively when they arrive; when a burst of arrivals queues
    hundreds of those, the lookup an operator's ringing phone is waiting for right now is
    promoted and takes the next free slot, so one operator's burst does not hold up
    another operator's pop.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: OrderedDict[asyncio.Future[None], None] = OrderedDict()
        self._urgent: OrderedDict[asyncio.Future[None], None] = OrderedDict()
        self._by_key: dict[Any, asyncio.Future[None]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        await self._acquire(key)
        try:
            yield
        finally:
            self._release()

    def promote(self, key: Any) -> None:
        """Serve ``key``'s lookup next, if it is still waiting for a slot."""
        fut = self._by_key.get(key)
        if fut is not None and self._waiting.pop(fut, 0) is None:
            self._urgent[fut] = None

    async def _acquire(self, key: Any) -> None:
        if self._free > 0 and not self._waiting and not self._urgent:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[fut] = None
        self._by_key[key] = fut
        try:
            await fut
        except asyncio.CancelledError:
            self._waiting.pop(fut, None)
            self._urgent.pop(fut, None)
            if fut.done() and not fut.cancelled():
                self._release()  # handed a slot in the same instant it was cancelled
            raise
        finally:
            if self._by_key.get(key) is fut:
                del self._by_key[key]

    def _release(self) -> None:
        for queue in (self._urgent, self._waiting):
            while queue:
                fut, _ = queue.popitem(last=False)
                if not fut.done():
                    fut.set_result(None)
                    return
        self._free += 1


@dataclass(slots=True)
class _Job:
    """One message for one interface, waiting in that interface's lane."""

    ctx: CallContext
    stage: str  # offered | answered | identified, or "closed"
    waited: float = 0.0
    reason: str = ""  # for "closed"
    waiter: asyncio.Future[Found] | None = None  # the lookup a pop waits for
    token: int = 0  # outstanding until the job has left its lane (ScreenPop.settled)


class ScreenPop:
    """Turns the call lifecycle into per-operator pop messages on the bus."""

    def __init__(
        self,
        bus: Bus,
        lookup: CustomerLookup,
        sessions: async_sessionmaker[AsyncSession],
        *,
        renderer: CardRenderer | None = None,
        directory: OperatorDirectory | None = None,
        template_dirs: Sequence[str | Path] = (),
        history_limit: int = 5,
        stream: str = POPS,
        max_parallel_lookups: int = 8,
        crm: CrmLookup | None = None,
    ) -> None:
        self.bus = bus
        self.lookup = lookup
        self.crm = crm
        self.sessions = sessions
        self.renderer = renderer or CardRenderer(template_dirs)
        self.directory = directory or OperatorDirectory(sessions)
        self.history_limit = history_limit
        self.stream = stream
        self.contexts = CallContexts()
        # Who is calling is looked up when the call arrives, while the caller is still in the
        # IVR or the queue, so the pop at ring time only renders. Lookups of different calls
        # run side by side (bounded), outside the ordered event path.
        self._found: dict[tuple[str, str], asyncio.Future[Found]] = {}
        self._db_slots = LookupSlots(max_parallel_lookups)
        # Per interface: messages waiting for a lookup, in order, and the task sending them.
        self._lanes: dict[str, deque[_Job]] = {}
        self._runners: dict[str, asyncio.Task[None]] = {}
        # On a bus across the network (Redis) each publish is a round trip: pops go out
        # through an ordered outbox with a sender of its own, so the event path never waits
        # on one (it was what held the consumer behind, bench_pop --redis). The in-process
        # bus publishes in the caller's step, as before.
        self._direct = getattr(bus, "listen", None) is not None
        self._outbox: deque[tuple[int, dict[str, Any]]] = deque()
        # What the events fed so far still owe (a pop in a lane, a message in the outbox):
        # token -> how many things hold it. The consumer acknowledges a batch of events only
        # once what it caused is published, so a worker killed with pops still in memory
        # leaves their offers pending for whoever takes the group over (mark/settled).
        self._issued = 0
        self._outstanding: dict[int, int] = {}
        self._lowest: list[int] = []  # a heap of tokens, some of them settled already
        self._sender: asyncio.Task[None] | None = None
        self._closed = False
        self._history_query: Select[Any] = (
            select(
                InteractionEvent.at,
                InteractionEvent.kind,
                InteractionEvent.summary,
                InteractionEvent.actor,
                InteractionEvent.data,
            )
            .where(
                InteractionEvent.customer_id == bindparam("customer_id"),
                # inline constants (the statement is prepared once, without expanding lists)
                InteractionEvent.kind.not_in(
                    [literal_column(f"'{k}'") for k in sorted(QUIET_KINDS)]
                ),
            )
            .order_by(InteractionEvent.at.desc(), InteractionEvent.id.desc())
            .limit(history_limit)
        )
        self._cases_query = cast(
            "Select[Any]",
            select(Case.kind, Case.title, Case.status)
            .where(Case.customer_id == bindparam("customer_id"), Case.status == "open")
            .order_by(Case.created_at.desc())
            .limit(history_limit),
        )

    async def handle_message(self, message: Mapping[str, Any]) -> None:
        """:meth:`handle` for a bus message (``calls.events.to_dict``)."""
        await self.handle(ev.from_dict(dict(message)))

    async def feed_message(self, message: Mapping[str, Any]) -> None:
        """:meth:`feed` for a bus message: the entry point of the streaming consumer."""
        await self.feed(ev.from_dict(dict(message)))

    async def handle(self, event: ev.DomainEvent) -> None:
        """Apply ``event`` and wait until everything it causes is published."""
        await self.feed(event)
        await self.settle()

    async def settle(self) -> None:
        """Wait until every lane is empty (pops waiting for their lookup are out) and every
        message is published."""
        while self._runners or self._sender is not None:
            while self._runners:
                await asyncio.gather(*self._runners.values(), return_exceptions=True)
            if self._sender is not None:
                await asyncio.gather(self._sender, return_exceptions=True)

    def mark(self) -> int:
        """A mark for everything the events fed so far have caused (see :meth:`settled`)."""
        return self._issued

    def settled(self, mark: int) -> bool:
        """Whether everything caused up to ``mark`` is published (or dropped for good: a pop
        whose call stopped ringing, a publish that failed and was logged)."""
        lowest = self._lowest
        while lowest and lowest[0] not in self._outstanding:
            heapq.heappop(lowest)
        return not lowest or lowest[0] > mark

    def _hold(self, token: int = 0) -> int:
        if token and token in self._outstanding:
            self._outstanding[token] += 1
            return token
        self._issued += 1
        self._outstanding[self._issued] = 1
        heapq.heappush(self._lowest, self._issued)
        return self._issued

    def _release(self, token: int) -> None:
        held = self._outstanding.get(token)
        if held is None:
            return
        if held <= 1:
            del self._outstanding[token]
        else:
            self._outstanding[token] = held - 1

    async def feed(self, event: ev.DomainEvent) -> None:
        """Apply ``event`` in stream order; publish what is ready, queue the rest in lanes."""
        changed = change_of(event)
        if changed is not None:  # in stream order: the pops of calls offered later follow it
            self.directory.user_changed(*changed)
            return
        ctx = self.contexts.apply(event)
        if ctx is None:
            return
        match event:
            case ev.CallArrived():
                self._prefetch(ctx)
            case ev.CallQueued():
                self._prerender(ctx)
            case ev.CallOffered():
                await self._pop(ctx, event.interface, "offered", ctx.waited(event.at))
            case ev.CallAnswered():
                await self._pop(ctx, event.interface, "answered", event.hold_seconds)
                for other in sorted(ctx.offered - {event.interface}):
                    await self._close(ctx, other, "answered_elsewhere")
                ctx.offered = {event.interface}
            case ev.OperatorFound() if event.interface not in ctx.popped:
                # a resync found her talking to the caller: the card she never got (the
                # call was answered while no connector listened)
                await self._pop(ctx, event.interface, "answered", ctx.waited(event.rang_at))
            case ev.CallRingNoAnswer():
                await self._close(ctx, event.interface, "no_answer")
            case ev.CallHeld():
                # The operator's console shows the call on hold / taken off hold (after the
                # pop it was shown: a pop still waiting in its lane is not overtaken).
                for interface in sorted(ctx.offered & ctx.popped):
                    if interface not in self._lanes:
                        await self._publish_held(ctx, interface, event.held)
            case ev.ConsultationChanged():
                # The transferring operator's console shows where the consultation stands;
                # a cancelled one closes the consulted operator's card.
                if event.by_interface in ctx.popped and event.by_interface not in self._lanes:
                    await self._publish_consultation(ctx, event)
                if event.state == "cancelled" and event.target_interface in ctx.offered:
                    await self._close(ctx, event.target_interface, "consultation_cancelled")
                    ctx.offered.discard(event.target_interface)
            case ev.CallerIdentified():
                self._prefetch(ctx)
                for interface in sorted(ctx.offered):
                    await self._pop(ctx, interface, "identified", ctx.waited(event.at))
            case ev.AgentCompleted(reason="transfer") if event.interface in ctx.offered:
                await self._close(ctx, event.interface, "transferred")
                ctx.offered.discard(event.interface)
            case ev.OperatorLeft():
                # one operator's part is over (a transfer, a redirect, a hang-up): their pop
                # closes while the call goes on with the next one
                if event.interface in ctx.offered:
                    reason = "transferred" if event.reason == "transfer" else "ended"
                    await self._close(ctx, event.interface, reason)
                    ctx.offered.discard(event.interface)
            case ev.ConferenceParticipantJoined() | ev.ConferenceParticipantLeft():
                await self._conference(ctx, event)
            case ev.CallEnded():
                interfaces = set(ctx.offered)
                if not ctx.queues and not interfaces and event.interface:
                    # A call this process never saw offered (it started mid-call; the end came
                    # from Asterisk's records): the pop shown before the restart still closes.
                    interfaces.add(event.interface)
                for interface in sorted(interfaces):
                    await self._close(ctx, interface, "ended")
                self.contexts.end(event)
                self._forget(ctx)
            case _:
                pass

    async def start(self) -> None:
        """Load what the first pop would otherwise wait for (the operator directory). A
        database that is down now is not fatal: the first pop loads it then."""
        with contextlib.suppress(Exception):  # logged by the directory
            await self.directory.load()

    async def close(self) -> None:
        """Cancel the lookups and lanes still running (the owner calls this on shutdown)."""
        self._closed = True  # no lookup starts from now on
        await self.directory.close()
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
            self._sender = None
        self._outbox.clear()
        self._outstanding.clear()
        self._lowest.clear()
        tasks: list[asyncio.Future[Any]]
        for group in (self._runners, self._found):
            tasks = list(group.values())
            group.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()

    # -- looking the caller up ---------------------------------------------------------------

    def _prefetch(self, ctx: CallContext) -> None:
        if self._closed:
            raise RuntimeError("screen pop is closed")
        self._forget(ctx)
        key = (ctx.server, ctx.call_id)
        task = asyncio.create_task(self._find(ctx), name=f"screenpop-lookup-{key}")
        self._found[key] = task

        def looked_up(done: asyncio.Task[Found]) -> None:
            # Already queued when the lookup finished (a quick IVR): render the offer now.
            if ctx.queues and self._found.get(key) is done:
                self._prerender(ctx)

        task.add_done_callback(looked_up)
        while len(self._found) > self.contexts.max_calls:  # calls whose end we never saw
            self._found.pop(next(iter(self._found))).cancel()

    def _forget(self, ctx: CallContext) -> None:
        task = self._found.pop((ctx.server, ctx.call_id), None)
        if task is not None and not task.done():
            task.cancel()

    async def _find(self, ctx: CallContext) -> Found:
        # The CRM is asked beside the database, not after it; it bounds its own wait.
        asking = self._ask_crm(ctx)
        try:
            async with self._db_slots.hold((ctx.server, ctx.call_id)):
                if not ctx.arrived:
                    await self._recall(ctx)
                match, customers = await self._customers(ctx)
                history: list[HistoryItem] = []
                open_items: list[OpenItem] = []
                if len(customers) == 1:
                    history, open_items = await self._history(customers[0].id)
            crm = await asking if asking is not None else CRM_OFF
        finally:
            if asking is not None and not asking.done():
                asking.cancel()
        found = self._rendered(
            ctx, Found(match, tuple(customers), tuple(history), tuple(open_items), crm=crm)
        )
        if crm.late is not None:
            self._await_late_crm(ctx, found, crm.late)
        return found

    def _rendered(self, ctx: CallContext, found: Found) -> Found:
        try:
            with i18n.use_locale(self.directory.usual_locale):
                parts = self.renderer.render_parts(self.card(ctx, "", "", 0.0, found))
        except Exception:  # a broken company template: rendered (and reported) at ring time
            return found
        return dataclasses.replace(found, parts=parts)

    def _await_late_crm(
        self, ctx: CallContext, found: Found, late: asyncio.Future[tuple[Any, ...]]
    ) -> None:
        """When the CRM answers after its budget but before the ring, the card gets its
        contacts: the call's lookup result is replaced by one with them."""
        key = (ctx.server, ctx.call_id)

        def answered(done: asyncio.Future[tuple[Any, ...]]) -> None:
            current = self._found.get(key)
            if done.cancelled() or done.exception() is not None or current is None:
                return
            if not current.done() or current.cancelled() or current.exception() is not None:
                return
            if current.result() is not found:
                return  # looked up again since (the caller was identified)
            better = self._rendered(
                ctx, dataclasses.replace(found, crm=CrmResult("ok", done.result()))
            )
            replaced: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
            replaced.set_result(better)
            self._found[key] = replaced
            if ctx.queues:
                self._prerender(ctx)

        late.add_done_callback(answered)

    def _ask_crm(self, ctx: CallContext) -> asyncio.Task[CrmResult] | None:
        if self.crm is None:
            return None
        number = ctx.caller_number if ctx.caller_number.startswith("+") else None
        if number is None and ctx.caller_number_raw:
            number = self.lookup.e164_of(ctx.caller_number_raw)
        if not number:
            return None  # an extension or a withheld number: nobody to ask about
        return asyncio.create_task(self.crm.find(number), name=f"screenpop-crm-{ctx.call_id}")

    async def found(self, ctx: CallContext) -> Found:
        """The caller's customer data: the prefetched result, or looked up now."""
        key = (ctx.server, ctx.call_id)
        for _ in range(2):
            task = self._found.get(key)
            if task is None:
                self._prefetch(ctx)
                task = self._found[key]
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # this handler is being cancelled, not the lookup
                # Replaced by a newer lookup (the caller was identified): use that one.
            except Exception:
                log.exception("lookup for call %s failed; trying again", ctx.call_id)
                self._forget(ctx)
        return await self._find(ctx)

    async def _recall(self, ctx: CallContext) -> None:
        """Who is calling, from the calls table, for a call whose arrival this process never
        saw (it took the screen pop over mid-call, or started so): the card names the caller
        instead of showing an unknown number. Best effort: a call not written yet stays so."""
        ctx.arrived = True  # asked once
        try:
            async with self.sessions() as session:
                row = (
                    await session.execute(
                        select(
                            Call.caller_number,
                            Call.caller_number_raw,
                            Call.caller_name,
                            Call.did,
                            Call.direction,
                            Call.started_at,
                        ).where(Call.server == ctx.server, Call.linkedid == ctx.call_id)
                    )
                ).first()
        except Exception as exc:
            aio.raise_if_cancelling(exc)
            log.warning("call %s not read back from history: %s", ctx.call_id, exc)
            return
        if row is None:
            return
        if not (ctx.caller_number or ctx.caller_number_raw):
            ctx.caller_number, ctx.caller_number_raw = row.caller_number, row.caller_number_raw
            ctx.caller_name = ctx.caller_name or row.caller_name
        ctx.did = ctx.did or row.did
        ctx.direction = row.direction or ctx.direction
        if row.started_at is not None:
            ctx.started_at = min(ctx.started_at, aware(row.started_at).timestamp())

    # -- building the card ------------------------------------------------------------------

    async def _customers(self, ctx: CallContext) -> tuple[str, list[CustomerCard]]:
        if ctx.identified_customer_id is not None:
            card = await self.lookup.by_id(ctx.identified_customer_id)
            if card is not None:
                return "identified", [card]
        number = ctx.caller_number_raw or ctx.caller_number
        cards = await self.lookup.by_number(number) if number else []
        if not cards:
            return "unknown", []
        return ("known" if len(cards) == 1 else "several"), cards

    async def _history(self, customer_id: int) -> tuple[list[HistoryItem], list[OpenItem]]:
        # Core statements built once, run on the lookup's fast path (prepared statements on
        # PostgreSQL): an ORM query here cost ~0.4 ms of CPU per call, on the loop that
        # also pushes the pops.
        params = {"customer_id": customer_id}
        rows = await self.lookup.rows(self._history_query, params)
        history = [
            HistoryItem(
                at=at,
                kind=kind,
                summary=summary or kind,
                actor=actor,
                outcome=str((data or {}).get("disposition") or (data or {}).get("outcome") or ""),
                data=dict(data or {}),
            )
            for at, kind, summary, actor, data in rows
        ]
        cases = await self.lookup.rows(self._cases_query, params)
        return history, [OpenItem(kind, title, status) for kind, title, status in cases]

    async def build_card(
        self, ctx: CallContext, interface: str, stage: str, waited: float
    ) -> PopCard:
        return self.card(ctx, interface, stage, waited, await self.found(ctx))

    def card(
        self, ctx: CallContext, interface: str, stage: str, waited: float, found: Found
    ) -> PopCard:
        return PopCard(
            server=ctx.server,
            call_id=ctx.call_id,
            stage=stage,
            match=found.match,
            interface=interface,
            caller_number=ctx.caller_number,
            caller_number_raw=ctx.caller_number_raw,
            caller_name=ctx.caller_name,
            did=ctx.did,
            customers=found.customers,
            history=found.history,
            open_items=found.open_items,
            ivr=tuple(ctx.ivr),
            ivr_digits=ctx.ivr_digits,
            queues=tuple(ctx.queues),
            queue=ctx.queue,
            waited_seconds=waited,
            # people, not phones: "Anna", not PJSIP/101
            previous_operator=self.directory.name_of(ctx.previous_operator(interface)),
            transfers=tuple(
                dataclasses.replace(t, by_interface=self.directory.name_of(t.by_interface))
                for t in ctx.transfers
            ),
            notes=tuple((self.directory.name_of(who), text) for who, text in ctx.notes),
            crm=found.crm,
            dispositions=getattr(self.directory, "dispositions", ()) or DISPOSITIONS,
            path=ctx.path(interface),
            answered=stage == "answered" or (bool(interface) and interface in ctx.operators),
        )

    # -- publishing --------------------------------------------------------------------------

    def _ready(self, ctx: CallContext) -> Found | None:
        """The caller's data if its lookup is done, without waiting."""
        task = self._found.get((ctx.server, ctx.call_id))
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    async def _pop(self, ctx: CallContext, interface: str, stage: str, waited: float) -> None:
        lane = self._lanes.get(interface)
        found = self._ready(ctx) if lane is None else None
        if found is None:
            if (ctx.server, ctx.call_id) not in self._found:
                self._prefetch(ctx)  # a call we did not see arrive (restart, resync)
            self._enqueue(interface, _Job(ctx, stage, waited))
            return
        await self._publish_pop(ctx, interface, stage, waited, found)

    async def _close(self, ctx: CallContext, interface: str, reason: str) -> None:
        lane = self._lanes.get(interface)
        if lane is None:
            await self._publish_close(ctx, interface, reason)
            return
        waiting = [j for j in lane if j.ctx is ctx and j.stage != "closed"]
        # A pop still waiting for its lookup is dropped with its close when this phone
        # stopped ringing without her (nothing to show). Otherwise it goes out, then its
        # close, as it would have had the lookup been quick: she may have talked to this
        # caller (her wrap-up is on the card) — a worker that takes the group over finds
        # whole calls in its backlog, and their answer may be one no connector saw.
        stopped_ringing = reason in RANG_OFF and interface not in ctx.operators
        if (
            waiting
            and stopped_ringing
            and not any(j.ctx is ctx for j in lane if j.stage == "closed")
        ):
            for job in waiting:
                lane.remove(job)
                self._release(job.token)
                if job.waiter is not None:
                    job.waiter.cancel()
            if not self._was_popped(ctx, interface):
                return  # its pop never went out: nothing to close on that screen
        self._enqueue(interface, _Job(ctx, "closed", reason=reason))

    def _was_popped(self, ctx: CallContext, interface: str) -> bool:
        return interface in ctx.popped

    def _enqueue(self, interface: str, job: _Job) -> None:
        job.token = self._hold()
        self._lanes.setdefault(interface, deque()).append(job)
        if interface not in self._runners:
            self._runners[interface] = asyncio.create_task(
                self._run_lane(interface), name=f"screenpop-lane-{interface}"
            )

    async def _run_lane(self, interface: str) -> None:
        lane = self._lanes[interface]
        try:
            while lane:
                job = lane[0]
                _CAUSE.set(job.token)  # what this job sends holds its token
                try:
                    if job.stage == "closed":
                        await self._publish_close(job.ctx, interface, job.reason)
                    else:
                        # This phone rings now: its lookup goes before speculative ones.
                        self._db_slots.promote((job.ctx.server, job.ctx.call_id))
                        waiter = job.waiter = asyncio.ensure_future(self.found(job.ctx))
                        try:
                            found = await waiter
                        except asyncio.CancelledError:
                            current = asyncio.current_task()
                            if current is not None and current.cancelling():
                                raise  # the lane itself is being stopped
                            continue  # dropped while it waited (the call stopped ringing)
                        if lane and lane[0] is job:
                            await self._publish_pop(
                                job.ctx, interface, job.stage, job.waited, found
                            )
                except Exception:
                    log.exception("pop %s for %s failed", job.stage, job.ctx.call_id)
                if lane and lane[0] is job:
                    lane.popleft()
                    self._release(job.token)
        finally:
            if not lane and self._lanes.get(interface) is lane:
                del self._lanes[interface]
            if self._runners.get(interface) is asyncio.current_task():
                del self._runners[interface]

    async def _publish_pop(
        self, ctx: CallContext, interface: str, stage: str, waited: float, found: Found
    ) -> None:
        logins = await self.directory.logins_for(interface)
        if not logins:
            log.debug("no operator signs in at %s; no pop for call %s", interface, ctx.call_id)
            return
        card = self.card(ctx, interface, stage, waited, found)
        ctx.popped.add(interface)
        rendered: dict[str, str] = {}  # each operator's card in their language, once each
        for login in logins:
            lang = self.directory.language_of(login)
            html = rendered.get(lang)
            if html is None:
                with i18n.use_locale(lang):
                    # the frame made ahead is a queue call's (no "Call" row to fill in)
                    ahead = (
                        self._prerendered(ctx, stage, found, waited)
                        if card.path == "queue"
                        else None
                    )
                    html = ahead or self.renderer.render(card, found.parts)
                rendered[lang] = html
            await self._send(pop_message(login, card, html))

    async def _send(self, message: dict[str, Any]) -> None:
        """Publish ``message`` on the pops stream, in order with every other."""
        if self._direct:
            await self.bus.publish(self.stream, message)
            return
        self._outbox.append((self._hold(_CAUSE.get()), message))
        if self._sender is None and not self._closed:
            self._sender = asyncio.create_task(self._send_all(), name="screenpop-sender")

    async def _send_all(self) -> None:
        outbox = self._outbox
        # What queued up while a publish was on its way goes out in one round trip (a
        # pipeline on Redis), in order.
        publish_many = getattr(self.bus, "publish_many", None)
        try:
            while outbox:
                held = [outbox.popleft()]
                while outbox and publish_many is not None and len(held) < SEND_BATCH:
                    held.append(outbox.popleft())
                batch = [message for _, message in held]
                try:
                    if publish_many is not None and len(batch) > 1:
                        await publish_many(self.stream, batch)
                    else:
                        await self.bus.publish(self.stream, batch[0])
                except Exception as exc:  # as a failed publish in the event path was: logged, lost
                    aio.raise_if_cancelling(exc)  # a stop seen as a closed connection
                    first = batch[0]
                    log.exception(
                        "%d pops not published (or some, in order; the first: %s for %s)",
                        len(batch),
                        first.get("type"),
                        first.get("to"),
                    )
                # published, or lost and logged; not on a stop (left owed: not acknowledged)
                for token, _ in held:
                    self._release(token)
        finally:
            self._sender = None

    def _prerender(self, ctx: CallContext) -> None:
        """Render the offer card while the caller waits in the queue, so that the ring only
        fills in the wait. Only for the built-in frame (an override may show anything), only
        a fresh call (no operator before: the card would name them per interface)."""
        found = self._ready(ctx)
        if found is None or not self.renderer.builtin_frame or ctx.operators or ctx.transfers:
            return
        lang = self.directory.usual_locale
        try:
            with i18n.use_locale(lang):
                html = self.renderer.render(self.card(ctx, "", "offered", 0.0, found), found.parts)
        except Exception:  # reported when the card is rendered at ring time
            return
        if html.count(waited_cell(0.0)) == 1:
            ctx.prerendered = ((lang, *ctx.rendered_inputs()), found, html)

    def _prerendered(self, ctx: CallContext, stage: str, found: Found, waited: float) -> str | None:
        """The card rendered ahead, with the wait filled in; None if anything shown changed."""
        ahead = ctx.prerendered
        if stage != "offered" or ahead is None:
            return None
        inputs, found_then, html = ahead
        if found_then is not found or inputs != (i18n.current_locale(), *ctx.rendered_inputs()):
            return None
        return html.replace(waited_cell(0.0), waited_cell(waited))

    async def _conference(
        self, ctx: CallContext, event: ev.ConferenceParticipantJoined | ev.ConferenceParticipantLeft
    ) -> None:
        """Someone entered or left the call's conference room: the operators whose card of
        the call is open see who is in it now. An operator entering her call's room holds
        it there: her card shows again if her part had been closed on the way in."""
        joined = isinstance(event, ev.ConferenceParticipantJoined)
        if joined and event.role == "operator" and event.interface:
            if event.interface not in ctx.offered and event.interface in ctx.operators:
                ctx.offered.add(event.interface)
                await self._pop(ctx, event.interface, "answered", 0.0)
        people = [self._participant_view(ctx, p) for p in event.participants]
        for interface in sorted(ctx.offered):
            for login in await self.directory.logins_for(interface):
                await self._send(
                    {
                        "type": "call.conference",
                        "to": login,
                        "server": ctx.server,
                        "call_id": ctx.call_id,
                        "conference": event.conference,
                        "participants": people,
                    },
                )

    def _participant_view(self, ctx: CallContext, who: dict[str, str]) -> dict[str, str]:
        """A person in the room as the console names them: an operator by the directory's
        name, the customer by the matched customer's name, else by caller ID or number."""
        role = who.get("role", "")
        name = who.get("name", "")
        number = who.get("number", "")
        interface = who.get("interface", "")
        if role == "operator" and interface:
            known = self.directory.name_of(interface)
            name = known if known != interface else name or interface
        elif role == "customer":
            found = self._ready(ctx)
            if found is not None and len(found.customers) == 1 and found.customers[0].name:
                name = found.customers[0].name
            number = number or ctx.caller_number
            name = name or ctx.caller_name or display_number(number)
        else:
            name = name or display_number(number)
        return {"role": role, "name": name, "number": display_number(number)}

    async def _publish_held(self, ctx: CallContext, interface: str, held: bool) -> None:
        for login in await self.directory.logins_for(interface):
            await self._send(  # in order with the pops and closes
                {
                    "type": "call.held",
                    "to": login,
                    "server": ctx.server,
                    "call_id": ctx.call_id,
                    "held": held,
                },
            )

    async def _publish_consultation(self, ctx: CallContext, event: ev.ConsultationChanged) -> None:
        # the person as the cards name them (their display name), not their phone
        target = self.directory.name_of(event.target_interface)
        if target == event.target_interface:
            target = event.target_name or target
        for login in await self.directory.logins_for(event.by_interface):
            await self._send(
                {
                    "type": "call.consultation",
                    "to": login,
                    "server": ctx.server,
                    "call_id": ctx.call_id,
                    "state": event.state,
                    "target": target,
                },
            )

    async def _publish_close(self, ctx: CallContext, interface: str, reason: str) -> None:
        ctx.popped.discard(interface)
        for login in await self.directory.logins_for(interface):
            await self._send(
                {
                    "type": "pop.closed",
                    "to": login,
                    "server": ctx.server,
                    "call_id": ctx.call_id,
                    "reason": reason,
                },
            )


def pop_message(login: str, card: PopCard, html: str) -> dict[str, Any]:
    """The ``pops`` stream message for one operator (the browser gets it minus ``to``)."""
    customer = card.customer
    return {
        "type": "pop",
        "to": login,
        "server": card.server,
        "call_id": card.call_id,
        "stage": card.stage,
        "match": card.match,
        "interface": card.interface,
        "customer_id": customer.id if customer else None,
        "customer_ids": [c.id for c in card.customers],
        "caller": {
            "number": card.caller_number,
            "number_raw": card.caller_number_raw,
            "display": card.caller_display,  # "+7 495 037-03-72", not the provider's digits
            "name": card.caller_name,
        },
        "queue": card.queue,
        "ivr_digits": card.ivr_digits,
        # None without a CRM; else its status (ok | unavailable) and contacts
        "crm": card.crm.to_dict() if card.crm.status != "off" else None,
        "html": html,
    }
