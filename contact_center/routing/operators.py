"""Operator states: one source of truth, reconciled with Asterisk.

Each operator has an **intent** — offline, available, or paused with a reason — set by the
operator's console, a supervisor's force pause, or Asterisk's own autopause after a
ring-no-answer (adopted, reason ``Auto-Pause``). Wrap-up after a queue call is a timed pause on
top of an available intent. The intent is kept in the store (``operator_sessions``), so it
survives a restart of the service, and :class:`OperatorStates` makes Asterisk match it:

* every transition reads the operator's memberships (``QueueStatus Member:``), computes the
  actions that make them equal to the intent in all the operator's queues — membership,
  penalty, pause and reason (:func:`plan`) — sends them, and reads again until they agree.
  Asterisk's "Already there", "Not there" and "Interface not found" therefore never strand
  anyone: they only mean the next read differs from the last one;
* a member event that disagrees with the intent (a member removed by hand, a pause from the
  CLI) and a periodic sweep (members lost in an Asterisk restart send no event at all) repair
  Asterisk the same way, and say so in the log and as an ``OperatorAction`` ``repair``;
* what operators are — offline, available, paused (reason), wrap-up (until) — is published as
  an ``OperatorAction`` whose ``detail`` carries ``state``, ``reason`` and ``until`` (see
  :func:`presence_of`); the statistics fold it into the one snapshot the console, the
  wallboard and the API all show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from contact_center.calls.events import (
    AgentCompleted,
    CallAnswered,
    CallEnded,
    CallOffered,
    CallRingNoAnswer,
    ConsultationChanged,
    DomainEvent,
    OperatorAction,
    OperatorState,
    make_key,
)
from contact_center.routing.members import Step, Wanted, agrees, penalty_for, plan
from contact_center.routing.ports import Member, MemberStateDiffers, PbxControl

__all__ = [
    "AUTOPAUSE_REASON",
    "PAUSE_REASONS",
    "WRAPUP_REASON",
    "Intent",
    "Operator",
    "OperatorError",
    "OperatorStates",
    "OperatorStatus",
    "Step",
    "Wanted",
    "penalty_for",
    "plan",
    "presence_of",
]

log = logging.getLogger(__name__)

PAUSE_REASONS = ("break", "lunch", "training", "meeting", "after-call work", "technical")
# A reason an admin added (admin/): one line of printable text, safe in an AMI header.
STORED_REASON = re.compile(r"[^\x00-\x1f\x7f]{1,80}")
WRAPUP_REASON = "wrapup"
# What app_queue writes as PausedReason when it pauses a member that did not answer
# (queues.conf autopause; capture 22: QueueMemberPause Paused: 1, PausedReason: Auto-Pause).
AUTOPAUSE_REASON = "Auto-Pause"

OFFLINE, AVAILABLE, PAUSED, WRAPUP = "offline", "available", "paused", "wrapup"
PRESENCE_STATES = (OFFLINE, AVAILABLE, PAUSED, WRAPUP)
MAX_PASSES = 4  # read → act rounds before a transition gives up (Asterisk keeps changing)
SWEEP_SLICE = 200  # operators looked at between two turns of the loop

Sink = Callable[[DomainEvent], Awaitable[None]]


class OperatorError(ValueError):
    """An operator state change is not allowed (unknown reason, not signed in…)."""


@dataclass(frozen=True, slots=True)
class Operator:
    login: str
    interface: str
    name: str
    queues: Mapping[str, int]  # queue -> penalty (lower rings first)
    wrapup_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Intent:
    """What an operator should be, whoever decided it (``by``: a login, or ``asterisk``)."""

    presence: str = OFFLINE  # offline | available | paused
    reason: str = ""
    since: float = 0.0
    by: str = ""


class OperatorSource(Protocol):
    """The operators as configured now (queues, penalties from skills, wrap-up)."""

    async def all(self) -> list[Operator]: ...


class IntentStore(Protocol):
    """Where intents survive a restart (the ``operator_sessions`` table)."""

    async def load_intents(self) -> dict[str, Intent]: ...

    async def save_intent(self, login: str, intent: Intent) -> None: ...


@dataclass(frozen=True, slots=True)
class OperatorStatus:
    login: str
    interface: str
    state: str  # offline | available | paused | wrapup | ringing | on_call
    reason: str
    since: float
    queues: tuple[str, ...]
    until: float = 0.0  # end of a running wrap-up


def presence_of(event: DomainEvent) -> tuple[str, str, str, float] | None:
    """(interface, state, reason, until) of an operator's published state, else None.

    The state is published as an :class:`OperatorAction` whose ``detail`` holds ``state``
    (offline | available | paused | wrapup), ``reason``, ``until`` (wrap-up end), ``since``,
    ``interface``, ``name``, ``queues`` and ``by`` (who decided: a login or ``asterisk``)."""
    if not isinstance(event, OperatorAction):
        return None
    detail = event.detail
    state, interface = detail.get("state"), detail.get("interface")
    if state not in PRESENCE_STATES or not isinstance(interface, str) or not interface:
        return None
    until = detail.get("until") or 0.0
    return interface, str(state), str(detail.get("reason") or ""), float(until)


@dataclass(eq=False)
class _Desk:
    """One operator as this process follows them."""

    op: Operator
    intent: Intent
    wrapup_until: float = 0.0
    wrapup_task: asyncio.Task[None] | None = None
    ringing: set[str] = field(default_factory=set)
    call: str = ""
    believed: dict[str, Wanted] | None = None  # what Asterisk had when we last agreed
    published: tuple[str, str, float] | None = None
    since: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def presence(self) -> tuple[str, str, float]:
        if self.intent.presence == OFFLINE:
            return OFFLINE, "", 0.0
        if self.intent.presence == PAUSED:
            return PAUSED, self.intent.reason, 0.0
        if self.wrapup_until:
            return WRAPUP, "", self.wrapup_until
        return AVAILABLE, "", 0.0

    def wanted(self) -> dict[str, Wanted]:
        state, reason, _ = self.presence()
        if state == OFFLINE:
            return {}
        paused = state in (PAUSED, WRAPUP)
        reason = reason if state == PAUSED else WRAPUP_REASON if state == WRAPUP else ""
        return {q: Wanted(int(p), paused, reason) for q, p in self.op.queues.items()}


class OperatorStates:
    """Sign-in, pause, wrap-up and sign-out of operators, kept equal in Asterisk."""

    def __init__(
        self,
        pbx: PbxControl,
        sink: Sink,
        *,
        server: str = "pbx1",
        clock: Callable[[], float] = time.time,
        intents: IntentStore | None = None,
        directory: OperatorSource | None = None,
        sweep_seconds: float = 5.0,
    ) -> None:
        self._pbx = pbx
        self._sink = sink
        self._server = server
        self._clock = clock
        self._intents = intents
        self._directory = directory
        self._sweep_seconds = sweep_seconds
        self._desks: dict[str, _Desk] = {}
        self._by_interface: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.sweeps = 0  # sweeps done (whatever their outcome)

    # --- reading ----------------------------------------------------------------------------

    def status(self, login: str) -> OperatorStatus:
        desk = self._desks.get(login)
        if desk is None:
            return OperatorStatus(login, "", OFFLINE, "", 0.0, ())
        state, reason, until = desk.presence()
        if desk.call:
            state, reason, until = "on_call", "", 0.0
        elif desk.ringing and state == AVAILABLE:
            state = "ringing"
        queues = tuple(sorted(desk.op.queues)) if state != OFFLINE else ()
        return OperatorStatus(login, desk.op.interface, state, reason, desk.since, queues, until)

    def all(self) -> list[OperatorStatus]:
        return [self.status(login) for login in sorted(self._desks)]

    def knows(self, interface: str) -> bool:
        """Whether ``interface`` belongs to an operator this process follows."""
        return interface in self._by_interface

    def intent(self, login: str) -> Intent | None:
        desk = self._desks.get(login)
        return desk.intent if desk is not None else None

    # --- transitions (console, supervisor) --------------------------------------------------

    async def sign_in(self, op: Operator, *, by: str = "") -> OperatorStatus:
        """Available in all ``op``'s queues (whatever Asterisk already had: persistentmembers)."""
        return await self._transition(op, Intent(AVAILABLE, "", self._clock(), by or op.login))

    async def resume(self, login: str, *, by: str = "") -> OperatorStatus:
        desk = self._require(login)
        return await self._transition(desk.op, Intent(AVAILABLE, "", self._clock(), by or login))

    async def pause(self, login: str, reason: str, *, by: str = "") -> OperatorStatus:
        desk = self._require(login)
        # The web checks the admin's list (admin_choices); here only that it is one safe line.
        if reason not in PAUSE_REASONS and not STORED_REASON.fullmatch(reason):
            raise OperatorError(f"unknown pause reason {reason!r}; one of {PAUSE_REASONS}")
        intent = Intent(PAUSED, reason, self._clock(), by or login)
        return await self._transition(desk.op, intent)

    async def sign_out(self, login: str, op: Operator | None = None) -> OperatorStatus:
        """Out of every queue; never fails because Asterisk had already let them go."""
        desk = self._desks.get(login)
        target = op or (desk.op if desk is not None else None)
        if target is None:
            raise OperatorError(f"{login} is not signed in")
        return await self._transition(target, Intent(OFFLINE, "", self._clock(), login))

    async def end_wrapup(self, login: str) -> OperatorStatus:
        """The operator is done with the after-call work before the timer ran out."""
        desk = self._require(login)
        async with desk.lock:
            self._stop_wrapup(desk)
            await self._announce_repair(desk, await self._converge(desk, override=True))
            await self._publish(desk, "wrapup_end", force=True)
        return self.status(login)

    async def _transition(self, op: Operator, intent: Intent) -> OperatorStatus:
        before = self._desks.get(op.login)
        was_offline = before is None or before.intent.presence == OFFLINE
        desk = self._desk(op, intent)
        async with desk.lock:
            previous = desk.intent
            desk.op = op  # queues and penalties as the users table says now
            desk.intent = intent
            self._stop_wrapup(desk)
            await self._save(op.login, intent)
            try:
                # The operator's word is the newest: it overrides an earlier Auto-Pause.
                repaired = await self._converge(desk, override=True)
            except Exception:
                # Not carried out (the PBX is unreachable…): nothing changed, and the sweep
                # puts back whatever part of it did reach Asterisk.
                desk.intent = previous
                await self._save(op.login, previous)
                if previous.presence == OFFLINE:
                    self._by_interface.pop(op.interface, None)
                raise
            await self._announce_repair(desk, repaired)
            await self._publish(desk, _action_for(intent, was_offline), force=True)
        if intent.presence == OFFLINE:
            self._by_interface.pop(op.interface, None)
        return self.status(op.login)

    # --- following calls and Asterisk ---------------------------------------------------------

    async def handle(self, event: DomainEvent) -> None:
        """Follow calls (wrap-up after each queue call) and Asterisk's member events."""
        if isinstance(event, ConsultationChanged) and event.state == "cancelled":
            # the consulted operator's phone no longer carries this call (it may have been
            # answered for the consultation: no ring-no-answer says so)
            consulted = self._by_interface.get(event.target_interface)
            if consulted is not None:
                self._call_over(self._desks[consulted], event.call_id)
            return
        interface = getattr(event, "interface", "")
        login = self._by_interface.get(interface)
        if login is None:
            if isinstance(event, CallEnded):
                for desk in self._desks.values():
                    self._call_over(desk, event.call_id)
            return
        desk = self._desks[login]
        if isinstance(event, CallOffered):
            desk.ringing.add(event.call_id)
        elif isinstance(event, CallRingNoAnswer):
            desk.ringing.discard(event.call_id)
        elif isinstance(event, CallAnswered):
            desk.ringing.clear()
            desk.call = event.call_id
        elif isinstance(event, AgentCompleted):
            self._call_over(desk, event.call_id)
            await self._start_wrapup(desk)
        elif isinstance(event, CallEnded):
            # a call that was no queue call (one we placed: click-to-call, callback,
            # campaign) has no AgentComplete: its end frees the operator
            self._call_over(desk, event.call_id)
        elif isinstance(event, OperatorState):
            if not event.in_call:
                desk.ringing.clear()
            if self._disagrees(desk, event):
                await self.repair(login)

    def _call_over(self, desk: _Desk, call_id: str) -> None:
        desk.ringing.discard(call_id)
        if desk.call == call_id:
            desk.call = ""

    def _disagrees(self, desk: _Desk, member: OperatorState) -> bool:
        want = desk.wanted().get(member.queue)
        if want is None:
            return member.logged_in
        if not member.logged_in:
            return True
        if member.paused != want.paused or member.penalty != want.penalty:
            return True
        return member.paused and member.pause_reason != want.reason

    async def repair(self, login: str) -> None:
        """Make Asterisk match ``login``'s intent (adopting an Asterisk autopause)."""
        desk = self._desks.get(login)
        if desk is None:
            return
        async with desk.lock:
            await self._announce_repair(desk, await self._converge(desk, override=False))
            await self._publish(desk, "autopause" if _autopaused(desk.intent) else "restore")

    async def adopt(self, member: OperatorState, op: Operator) -> OperatorStatus:
        """An operator this process has no intent for (first start, nothing stored): what
        Asterisk reports becomes the intent; a wrap-up pause gets a fresh timer."""
        if op.login in self._desks and self._desks[op.login].intent.presence != OFFLINE:
            return self.status(op.login)
        now = self._clock()
        if not member.logged_in:
            return self.status(op.login)
        wrapup = member.paused and member.pause_reason == WRAPUP_REASON
        if member.paused and not wrapup:
            intent = Intent(PAUSED, member.pause_reason, now, "asterisk")
        else:
            intent = Intent(AVAILABLE, "", now, "asterisk")
        desk = self._desk(op, intent)
        async with desk.lock:
            desk.intent = intent
            await self._save(op.login, intent)
            if wrapup:
                self._begin_wrapup(desk, max(op.wrapup_seconds, 0))
            await self._announce_repair(desk, await self._converge(desk, override=False))
            await self._publish(desk, "restore", force=True)
        return self.status(op.login)

    # --- start, sweep, stop ----------------------------------------------------------------

    async def restore(self, operators: Iterable[Operator]) -> None:
        """Load the stored intents of ``operators`` (after a restart of the service)."""
        if self._intents is None:
            return
        stored = await self._intents.load_intents()
        for op in operators:
            intent = stored.get(op.login)
            if intent is not None:
                # offline too: a member Asterisk re-adds by itself (persistentmembers) after
                # the operator signed out here is removed, not taken for a sign-in
                desk = self._desk(op, intent)
                if intent.presence != OFFLINE:
                    await self._publish(desk, "restore")

    def start(self, sweep_seconds: float | None = None) -> None:
        """Run the periodic sweep (members lost in an Asterisk restart send no event);
        ``sweep_seconds`` changes its interval (a running sweep starts again with it)."""
        if sweep_seconds is not None:
            self._sweep_seconds = sweep_seconds
            if self._sweeper is not None:
                self._sweeper.cancel()
                self._tasks.add(self._sweeper)  # awaited by close()
                self._sweeper = None
        if self._sweeper is None and self._sweep_seconds > 0:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="operator-sweep")

    async def refresh(self) -> None:
        """Take the operators' configuration as it is now: a changed skill level or queue
        list changes their penalties and memberships (the sweep then puts them in Asterisk)."""
        if self._directory is None or not self._desks:
            return
        fresh = {op.login: op for op in await self._directory.all()}
        for n, (login, desk) in enumerate(list(self._desks.items()), 1):
            if n % SWEEP_SLICE == 0:
                await asyncio.sleep(0)  # a thousand operators: other work between slices
            op = fresh.get(login)
            if op is None or op == desk.op or op.interface != desk.op.interface:
                continue
            async with desk.lock:
                log.info("%s: queues now %s (was %s)", login, dict(op.queues), dict(desk.op.queues))
                desk.op = op

    async def sweep(self) -> None:
        """One look at all of Asterisk's members; repair every operator who differs."""
        if not self._desks:
            return
        members = await self._pbx.queue_members()
        by_interface: dict[str, dict[str, Member]] = {}
        for m in members:
            by_interface.setdefault(m.interface, {})[m.queue] = m
        for n, (login, desk) in enumerate(list(self._desks.items()), 1):
            if n % SWEEP_SLICE == 0:
                await asyncio.sleep(0)
            if self._desks.get(login) is not desk:
                continue  # gone (or replaced) while the loop had other work
            have = by_interface.get(desk.op.interface, {})
            if desk.lock.locked() or agrees(have, desk.wanted()):
                continue
            await self.repair(login)

    async def _sweep_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                await self.refresh()
                await self.sweep()
                self.sweeps += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the PBX is away: the next sweep tries again
                # once per outage, not every few seconds (a standby connector is never in)
                (log.debug if failing else log.warning)("operator sweep failed: %r", exc)
                failing = True
            else:
                if failing:
                    log.info("operator sweep works again")
                failing = False

    async def close(self) -> None:
        tasks = [d.wrapup_task for d in self._desks.values() if d.wrapup_task is not None]
        tasks += list(self._tasks)
        if self._sweeper is not None:
            tasks.append(self._sweeper)
            self._sweeper = None
        for desk in self._desks.values():
            desk.wrapup_task = None
        await _cancel_all(tasks)

    # --- internals ------------------------------------------------------------------------

    def _desk(self, op: Operator, intent: Intent) -> _Desk:
        desk = self._desks.get(op.login)
        if desk is None:
            desk = self._desks[op.login] = _Desk(op, intent, since=self._clock())
        if desk.op.interface != op.interface:
            self._by_interface.pop(desk.op.interface, None)
            desk.op = op
        if intent.presence != OFFLINE:
            self._by_interface[op.interface] = op.login
        return desk

    def _require(self, login: str) -> _Desk:
        desk = self._desks.get(login)
        if desk is None or desk.intent.presence == OFFLINE:
            raise OperatorError(f"{login} is not signed in")
        return desk

    async def _save(self, login: str, intent: Intent) -> None:
        if self._intents is not None:
            await self._intents.save_intent(login, intent)

    async def _converge(self, desk: _Desk, *, override: bool) -> list[str]:
        """Read Asterisk, act, read again — until it matches the intent (lock held).

        Returns how Asterisk differed from what it had when we last agreed (a repair), as
        the steps that would have undone it; empty when it had not changed behind our back."""
        op = desk.op
        diverged: list[str] = []
        for attempt in range(MAX_PASSES):
            have = {m.queue: m for m in await self._pbx.queue_members(op.interface)}
            if not override and await self._adopt_autopause(desk, have):
                continue
            if not override and self._resume_wrapup(desk, have):
                continue
            want = desk.wanted()
            steps = plan(have, want)
            if attempt == 0 and desk.believed is not None and not agrees(have, desk.believed):
                diverged = [str(s) for s in plan(have, desk.believed)]
                log.warning(
                    "Asterisk's members of %s (%s) were not as intended (%s); repairing",
                    op.login,
                    op.interface,
                    ", ".join(diverged),
                )
            if not steps:
                desk.believed = want
                return diverged
            for step in steps:
                try:
                    await self._apply(op, step)
                except MemberStateDiffers as exc:
                    # Asterisk changed under us (or we read it before it did): read again.
                    log.info("%s: %s: %s; reading the members again", op.login, step, exc)
            if attempt > 0 or desk.believed is not None:
                log.info("%s (%s): %s", op.login, op.interface, ", ".join(map(str, steps)))
        raise OperatorError(f"Asterisk's members of {op.login} keep changing; try again")

    async def _announce_repair(self, desk: _Desk, diverged: list[str]) -> None:
        """Into the operator's history: Asterisk had changed behind our back and was put right."""
        if not diverged:
            return
        now = self._clock()
        op = desk.op
        await self._sink(
            OperatorAction(
                server=self._server,
                call_id="",
                at=now,
                key=make_key(self._server, "operator", op.login, "member_repair", now),
                user=op.login,
                action="member_repair",
                detail={"interface": op.interface, "undone": diverged},
            )
        )

    async def _adopt_autopause(self, desk: _Desk, have: Mapping[str, Member]) -> bool:
        """Asterisk paused a member that rang unanswered: that becomes the operator's intent
        (in all their queues), until they say otherwise."""
        if desk.intent.presence != AVAILABLE or desk.wrapup_until:
            return False
        if not any(m.paused and m.reason == AUTOPAUSE_REASON for m in have.values()):
            return False
        desk.intent = Intent(PAUSED, AUTOPAUSE_REASON, self._clock(), "asterisk")
        await self._save(desk.op.login, desk.intent)
        log.info("%s: Asterisk paused %s after a ring-no-answer", desk.op.login, desk.op.interface)
        return True

    def _resume_wrapup(self, desk: _Desk, have: Mapping[str, Member]) -> bool:
        """First look after a restart: a wrap-up this process did not start is still
        running in Asterisk (paused ``wrapup``): it gets a fresh timer instead of an unpause."""
        if desk.believed is not None or desk.intent.presence != AVAILABLE or desk.wrapup_until:
            return False
        if not have or not all(m.paused and m.reason == WRAPUP_REASON for m in have.values()):
            return False
        self._begin_wrapup(desk, max(desk.op.wrapup_seconds, 0))
        log.info(
            "%s: a wrap-up was running in Asterisk; it ends in %s s",
            desk.op.login,
            desk.op.wrapup_seconds,
        )
        return True

    async def _apply(self, op: Operator, step: Step) -> None:
        if step.action == "add":
            await self._pbx.queue_add(
                step.queue, op.interface, op.name, step.penalty, step.paused, step.reason
            )
        elif step.action == "remove":
            await self._pbx.queue_remove(step.queue, op.interface)
        elif step.action == "pause":
            await self._pbx.queue_pause(op.interface, True, step.reason, step.queue)
        elif step.action == "unpause":
            await self._pbx.queue_pause(op.interface, False, "", step.queue)
        elif step.action == "penalty":
            await self._pbx.queue_penalty(step.queue, op.interface, step.penalty)

    async def _start_wrapup(self, desk: _Desk) -> None:
        seconds = desk.op.wrapup_seconds
        if seconds <= 0 or desk.intent.presence != AVAILABLE:
            return
        async with desk.lock:
            self._begin_wrapup(desk, seconds)
            await self._announce_repair(desk, await self._converge(desk, override=True))
            await self._publish(desk, "wrapup")

    def _begin_wrapup(self, desk: _Desk, seconds: float) -> None:
        self._stop_wrapup(desk)
        desk.wrapup_until = self._clock() + seconds
        desk.wrapup_task = asyncio.create_task(
            self._wrapup_timer(desk, seconds), name=f"wrapup {desk.op.login}"
        )

    async def _wrapup_timer(self, desk: _Desk, seconds: float) -> None:
        await asyncio.sleep(seconds)
        async with desk.lock:
            if desk.wrapup_task is not asyncio.current_task():
                return  # ended or restarted meanwhile
            desk.wrapup_task = None
            desk.wrapup_until = 0.0
            try:
                await self._announce_repair(desk, await self._converge(desk, override=True))
            except Exception:
                log.exception("could not end the wrap-up of %s in Asterisk", desk.op.login)
            await self._publish(desk, "wrapup_end")

    def _stop_wrapup(self, desk: _Desk) -> None:
        desk.wrapup_until = 0.0
        task, desk.wrapup_task = desk.wrapup_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _publish(self, desk: _Desk, action: str, *, force: bool = False) -> None:
        """Announce the operator's state when it changed (always after a command, so the
        console learns its command was carried out)."""
        presence = desk.presence()
        changed = presence != desk.published
        if not changed and not force:
            return
        now = self._clock()
        if changed:
            desk.since = now
        desk.published = presence
        state, reason, until = presence
        op = desk.op
        detail: dict[str, Any] = {
            "state": state,
            "reason": reason,
            "until": until,
            "since": desk.since,
            "interface": op.interface,
            "name": op.name,
            "queues": sorted(op.queues) if state != OFFLINE else [],
            "by": desk.intent.by,
        }
        await self._sink(
            OperatorAction(
                server=self._server,
                call_id="",
                at=now,
                key=make_key(self._server, "operator", op.login, action, now),
                user=op.login,
                action=action,
                detail=detail,
            )
        )


def _action_for(intent: Intent, was_offline: bool) -> str:
    if intent.presence == OFFLINE:
        return "sign_out"
    if intent.presence == PAUSED:
        return "pause"
    return "sign_in" if was_offline else "resume"


def _autopaused(intent: Intent) -> bool:
    return intent.presence == PAUSED and intent.reason == AUTOPAUSE_REASON


async def _cancel_all(tasks: Iterable[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
