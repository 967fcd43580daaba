"""The campaign dialer, in the connector (the process that holds AMI).

Every ``interval`` seconds, for each running campaign: stop it when its end date passed or its
list is exhausted; count its operators (assigned by login or by queue) who are free; ask the
pacer (``pacing.py``) how many to dial; take that many due contacts — each checked against the
do-not-call list and its calling window *at dial time* — and ring them **operator first**: an
Originate of the operator's phone into ``cc-originate`` with the customer's number
(``CC_NUMBER``), so the screen pop shows the customer's card while the operator's phone rings,
and the dial plan dials the customer once the operator answers (the path callbacks and
click-to-call use). A preview campaign dials nothing by itself: an operator asks for the next
card on ``/campaigns/mine`` and presses call, which marks that contact for them.

A **predictive** campaign dials customer first, ahead of free operators, as many as the pacer
allows under the campaign's abandon cap (``pacing.py``): an Originate of
``PJSIP/<number>@trunk`` into ``cc-campaign`` (deploy/asterisk/extensions.conf), which runs
``AMD()``, hangs up on machines and queues a person to the campaign's first queue for at most
``CC_CONNECT_WAIT`` seconds — the operator's console pops the card as the queue rings them —
else plays an apology (abandoned). The dialplan names the result in ``CC_KIND``
(campaign-person | campaign-abandoned | campaign-machine | campaign-hangup), which the
tracker hands on in the call's ``CallEnded`` tags; a customer who never answered is known from
the Originate's own response (busy, no answer).

How an attempt ended comes back as the call's ``CallEnded`` (:meth:`handle`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls import events as ev
from contact_center.campaigns import reports, store
from contact_center.campaigns.pacing import Floor, Measured, PacingSettings, calls_to_place
from contact_center.campaigns.policy import may_call
from contact_center.dialing import Dialer, dialing_logins, ring_operator_first, run_rounds
from contact_center.dialing import OperatorLike as DialerOperator
from contact_center.routing.ports import PbxControl
from contact_center.store.db import utcnow
from contact_center.store.models import Campaign, CampaignContact

log = logging.getLogger(__name__)

CAMPAIGN_CONTEXT = "cc-campaign"
CONNECT_WAIT_SECONDS = 2  # a person who answers waits no longer for an operator
# (call id, result): result answered | busy | no_answer | failed
DialCustomer = Callable[[str, str, dict[str, str], int], Awaitable[tuple[str, str]]]
PREVIEW_REQUESTED = "preview"  # a contact an operator pressed call on (preview mode)
STALE_AFTER = timedelta(minutes=10)
OUTSIDE_HOURS_RECHECK = timedelta(minutes=15)  # a number outside its calling hours


class OperatorLike(DialerOperator, Protocol):
    """An operator as the callbacks dialer sees one, and since when in their state."""

    @property
    def since(self) -> float: ...


def serves(campaign: Campaign, operator: OperatorLike) -> bool:
    logins = set((campaign.operators or {}).get("logins", []))
    queues = set((campaign.queues or {}).get("names", []))
    return operator.login in logins or bool(queues & set(operator.queues))


class CampaignDialer(Dialer[OperatorLike]):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pbx: PbxControl,
        operators: Callable[[], Iterable[OperatorLike]],
        *,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] | None = None,
        server: str = "pbx1",
        ready: Callable[[], bool] = lambda: True,
        interval: float = 2.0,
        ring_operator_seconds: int = 20,
        dial_customer: DialCustomer | None = None,
    ) -> None:
        super().__init__(sessions, pbx, operators, clock=clock, server=server, ready=ready)
        self._monotonic = monotonic
        self._interval = interval
        self._ring_operator = ring_operator_seconds
        self._dial_customer = dial_customer
        self.measured: dict[int, Measured] = {}
        self._in_flight: dict[int, set[int]] = {}  # campaign → contacts being dialled
        self._dials: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            await run_rounds(self.tick, lambda: self._interval, "campaign dialer: a round failed")
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop waiting for dials under way (their calls go on in Asterisk; the outcome
        comes with the call's end, or the attempt is recovered as stale)."""
        for task in list(self._dials):
            task.cancel()
        if self._dials:
            await asyncio.gather(*self._dials, return_exceptions=True)

    async def _start_due(self, now: datetime) -> int:
        """One round over the running campaigns (after lost attempts were recovered)."""
        async with self._sessions() as db:
            campaigns = list(
                (await db.scalars(select(Campaign).where(Campaign.status == "running"))).all()
            )
            reserved = await dialing_logins(db, CampaignContact)
        operators = list(self._operators())
        begun = 0
        for campaign in campaigns:
            if await self._stopped(campaign, now):
                continue
            begun += await self._round(campaign, operators, reserved, now)
        return begun

    async def _stopped(self, campaign: Campaign, now: datetime) -> bool:
        reason = ""
        if campaign.ends_at is not None and store.aware(campaign.ends_at) <= now:
            reason = "end date reached"
        else:
            async with self._sessions() as db:
                if not await store.has_open_contacts(db, campaign.id):
                    reason = "list exhausted"
        if not reason:
            return False
        async with self._sessions.begin() as db:
            row = await db.get(Campaign, campaign.id)
            if row is not None and row.status == "running":
                row.status, row.finished_reason, row.updated_at = "finished", reason, now
        log.info("campaign %s finished: %s", campaign.name, reason)
        return True

    async def _round(
        self,
        campaign: Campaign,
        operators: list[OperatorLike],
        reserved: set[str],
        now: datetime,
    ) -> int:
        mine = [o for o in operators if serves(campaign, o) and o.state != "offline"]
        free = [o for o in mine if o.state == "available" and o.login not in reserved]
        busy = [o for o in mine if o.state in ("on_call", "ringing", "wrapup")]
        await self._publish_live(campaign, mine, busy, free)
        if campaign.mode == "preview":
            return await self._preview(campaign, free, reserved, now)
        measured = await self._measured(campaign)
        if campaign.mode == "predictive" and self._dial_customer is not None:
            return await self._predictive(campaign, free, busy, measured, now)
        settings = PacingSettings(mode="progressive", abandon_cap=campaign.abandon_cap)
        wanted = calls_to_place(settings, Floor(free=len(free)), measured)
        if wanted <= 0:
            return 0
        begun = 0
        async with self._sessions() as db:
            contacts = await store.due(db, campaign.id, now, limit=wanted * 4 + 10)
        window = store.window_of(campaign)
        for contact in contacts:
            if begun >= wanted or not free:
                break
            if not await self._callable(campaign, contact, window, now):
                continue
            operator = free.pop(0)
            if await self._start(campaign, contact, operator, now):
                reserved.add(operator.login)
                begun += 1
            else:
                free.append(operator)
        return begun

    async def _measured(self, campaign: Campaign) -> Measured:
        """The campaign's rolling figures; after a restart the abandon count so far is
        read back, so the cap holds over the whole campaign."""
        measured = self.measured.get(campaign.id)
        if measured is None:
            async with self._sessions() as db:
                figures = await reports.figures(db, campaign)
            measured = self.measured[campaign.id] = Measured()
            measured.reached = figures["answered"] + figures["abandoned"]
            measured.abandoned = figures["abandoned"]
        return measured

    async def _predictive(
        self,
        campaign: Campaign,
        free: list[OperatorLike],
        busy: list[OperatorLike],
        measured: Measured,
        now: datetime,
    ) -> int:
        queues = (campaign.queues or {}).get("names", [])
        if not queues:
            return 0
        flying = self._in_flight.setdefault(campaign.id, set())
        wall = time.time()
        floor = Floor(
            free=len(free),
            busy_elapsed=tuple(max(0.0, wall - o.since) for o in busy),
            in_flight=len(flying),
        )
        settings = PacingSettings(mode="predictive", abandon_cap=campaign.abandon_cap)
        wanted = calls_to_place(settings, floor, measured)
        if wanted <= 0:
            return 0
        async with self._sessions() as db:
            contacts = await store.due(db, campaign.id, now, limit=wanted * 4 + 10)
        window = store.window_of(campaign)
        begun = 0
        for contact in contacts:
            if begun >= wanted:
                break
            if contact.id in flying or not await self._callable(campaign, contact, window, now):
                continue
            async with self._sessions.begin() as db:
                attempt = await store.claim(db, contact.id, "", now)
                if attempt is None:
                    continue
                await store.started(db, contact.id, attempt, f"attempt-{attempt}")
            flying.add(contact.id)
            task = asyncio.create_task(
                self._dial(campaign, contact, attempt, queues[0], measured),
                name=f"campaign dial {contact.number}",
            )
            self._dials.add(task)
            task.add_done_callback(self._dials.discard)
            begun += 1
            self.started += 1
        return begun

    async def _dial(
        self,
        campaign: Campaign,
        contact: CampaignContact,
        attempt: int,
        queue: str,
        measured: Measured,
    ) -> None:
        assert self._dial_customer is not None
        variables = {
            "CC_KIND": "campaign",
            "CC_CUSTOMER_ID": str(contact.customer_id or ""),
            "CC_NUMBER": contact.number,
            "CC_CONNECT_WAIT": str(CONNECT_WAIT_SECONDS),
        }
        try:
            try:
                call_id, result = await self._dial_customer(
                    contact.number, queue, variables, campaign.dial_timeout * 1000
                )
            except Exception as exc:
                log.warning(
                    "campaign %s: dialling %s failed: %s", campaign.name, contact.number, exc
                )
                call_id, result = "", "failed"
            async with self._sessions.begin() as db:
                if result == "answered":
                    await store.started(db, contact.id, attempt, call_id)
                else:
                    measured.dial_ended(False)
                    await store.finish(
                        db, f"attempt-{attempt}", result, self._clock(), server=self._server
                    )
        finally:
            self._in_flight.get(campaign.id, set()).discard(contact.id)
        log.info("campaign %s: %s → %s", campaign.name, contact.number, result)

    async def _preview(
        self, campaign: Campaign, free: list[OperatorLike], reserved: set[str], now: datetime
    ) -> int:
        """Contacts an operator pressed call on: ring that operator (when free)."""
        async with self._sessions() as db:
            asked = list(
                (
                    await db.scalars(
                        select(CampaignContact).where(
                            CampaignContact.campaign_id == campaign.id,
                            CampaignContact.status == store.PENDING,
                            CampaignContact.disposition == PREVIEW_REQUESTED,
                        )
                    )
                ).all()
            )
        window = store.window_of(campaign)
        begun = 0
        for contact in asked:
            operator = next((o for o in free if o.login == contact.operator_login), None)
            if operator is None:
                continue
            if not await self._callable(campaign, contact, window, now):
                continue
            if await self._start(campaign, contact, operator, now):
                free.remove(operator)
                reserved.add(operator.login)
                begun += 1
        return begun

    async def _callable(
        self, campaign: Campaign, contact: CampaignContact, window: store.Window, now: datetime
    ) -> bool:
        """The do-not-call list and the calling window, checked at dial time."""
        async with self._sessions.begin() as db:
            if await store.is_dnc(db, contact.number):
                await store.skip_dnc(db, contact.id)
                log.info(
                    "campaign %s: %s is on the do-not-call list", campaign.name, contact.number
                )
                return False
        if may_call(
            window, contact.number, now, explicit_tz=contact.tz, default_tz=campaign.default_tz
        ):
            return True
        async with self._sessions.begin() as db:
            await store.postpone(db, contact.id, now + OUTSIDE_HOURS_RECHECK)
        return False

    async def _start(
        self, campaign: Campaign, contact: CampaignContact, operator: OperatorLike, now: datetime
    ) -> bool:
        async def claim(db: AsyncSession) -> int | None:
            attempt = await store.claim(db, contact.id, operator.login, now)
            if attempt is None:
                return None  # another connector took it
            row = await db.get(CampaignContact, contact.id)
            if row is not None and row.disposition == PREVIEW_REQUESTED:
                row.disposition = ""
            return attempt

        call_id = await ring_operator_first(
            self._sessions,
            self._pbx,
            operator,
            contact.number,
            what=f"campaign {campaign.name}",
            caller_name=campaign.name[:40],
            tags={"CC_KIND": "campaign", "CC_CUSTOMER_ID": str(contact.customer_id or "")},
            ring_seconds=self._ring_operator,
            claim=claim,
            release=lambda db, attempt: store.release(
                db, contact.id, attempt, now + timedelta(seconds=30)
            ),
            started=lambda db, attempt, call_id: store.started(db, contact.id, attempt, call_id),
        )
        if call_id is None:
            return False
        self.started += 1
        log.info(
            "campaign %s: %s to %s, ringing %s first (call %s)",
            campaign.name,
            contact.name or "a contact",
            contact.number,
            operator.login,
            call_id,
        )
        return True

    async def _publish_live(
        self,
        campaign: Campaign,
        mine: list[OperatorLike],
        busy: list[OperatorLike],
        free: list[OperatorLike],
    ) -> None:
        live = {
            "operators": len(mine),
            "busy": len(busy),
            "free": len(free),
            "occupancy": round(len(busy) / len(mine), 3) if mine else None,
            "at": self._clock().isoformat(),
        }
        if live == {**(campaign.live or {}), "at": live["at"]} and campaign.live:
            return
        async with self._sessions.begin() as db:
            row = await db.get(Campaign, campaign.id)
            if row is not None:
                row.live = live

    async def _recover_stale(self, now: datetime) -> None:
        async with self._sessions.begin() as db:
            for row in await store.stale(db, now, STALE_AFTER):
                log.warning("campaign contact %s: no outcome of its attempt", row.id)
                await store.finish(db, row.attempt_linkedid, "failed", now, server=self._server)

    async def _ended(self, event: ev.CallEnded) -> None:
        """When the call is a campaign attempt, record its outcome."""
        outcome = outcome_of_call(event)
        if outcome is None:
            return
        taker = next(
            (
                o.login
                for o in self._operators()
                if event.interface and o.interface == event.interface
            ),
            "",
        )
        async with self._sessions.begin() as db:
            done = await store.finish(
                db,
                event.call_id,
                outcome,
                self._clock(),
                server=self._server,
                talk_seconds=event.talk_seconds,
                operator_login=taker,
            )
        if done is None:
            return
        measured = self.measured.setdefault(done.campaign.id, Measured())
        person = done.outcome in ("answered", "abandoned")
        measured.dial_ended(person)
        if done.outcome == "abandoned":
            measured.person_abandoned()
        elif done.outcome == "answered":
            measured.person_connected()
            measured.handled(event.talk_seconds)
        log.info(
            "campaign %s: %s → %s (%s)",
            done.campaign.name,
            done.contact.number,
            done.outcome,
            done.status,
        )


# What the dial plan's CC_KIND says of a customer-first call (extensions.conf [cc-campaign]).
KIND_OUTCOMES = {
    "campaign-machine": "machine",
    "campaign-abandoned": "abandoned",
    "campaign-hangup": "failed",
}


def outcome_of_call(event: ev.CallEnded) -> str | None:
    """A campaign attempt's outcome from its call's end; None when the call is no campaign
    attempt, or when the Originate's own response tells (a customer-first call that was
    never answered)."""
    kind = event.tags.get("KIND", "")
    if event.direction == "outbound":
        return event.outcome  # operator first, through cc-originate (matched by call id)
    if kind == "campaign":
        return None  # customer first, never answered: the Originate's response tells
    if kind == "campaign-person":
        # put to the queue: talked with an operator, or hung up before one answered
        return "answered" if event.outcome == "answered" else "abandoned"
    return KIND_OUTCOMES.get(kind)
