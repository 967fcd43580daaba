"""Operator states: sign-in/out (QueueAdd/QueueRemove), pause with a reason, automatic wrap-up.

Asterisk is the source of truth for membership and pauses; this manager sends the actions,
keeps the state operators see, and after a restart takes Asterisk's word for it
(:meth:`OperatorStates.restore` with the members QueueStatus reported).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from contact_center.calls.events import (
    AgentCompleted,
    CallAnswered,
    CallOffered,
    DomainEvent,
    OperatorAction,
    OperatorState,
    make_key,
)
from contact_center.routing.ports import PbxControl

log = logging.getLogger(__name__)

PAUSE_REASONS = ("break", "lunch", "training", "meeting", "after-call work", "technical")
WRAPUP_REASON = "wrapup"

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
class OperatorStatus:
    login: str
    interface: str
    state: str  # offline | available | paused | wrapup | ringing | on_call
    reason: str
    since: float
    queues: tuple[str, ...]


def penalty_for(skills: Mapping[str, int], queue_skills: Iterable[str], base: int = 0) -> int:
    """Penalty from skill levels (1 = novice … 5 = expert): experts ring first (penalty 0)."""
    levels = [int(skills.get(s, 0)) for s in queue_skills]
    if not levels:
        return base
    return base + max(0, 5 - min(levels))


class OperatorStates:
    """Sign-in, pause, wrap-up and sign-out of operators, through the PBX."""

    def __init__(
        self,
        pbx: PbxControl,
        sink: Sink,
        *,
        server: str = "pbx1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pbx = pbx
        self._sink = sink
        self._server = server
        self._clock = clock
        self._status: dict[str, OperatorStatus] = {}
        self._operators: dict[str, Operator] = {}
        self._by_interface: dict[str, str] = {}
        self._wrapups: dict[str, asyncio.Task[None]] = {}

    def status(self, login: str) -> OperatorStatus:
        return self._status.get(login) or OperatorStatus(login, "", "offline", "", 0.0, ())

    def all(self) -> list[OperatorStatus]:
        return sorted(self._status.values(), key=lambda s: s.login)

    async def sign_in(self, op: Operator) -> OperatorStatus:
        self._operators[op.login] = op
        self._by_interface[op.interface] = op.login
        for queue, penalty in op.queues.items():
            await self._pbx.queue_add(queue, op.interface, op.name, penalty, False)
        return await self._set(op.login, "available", "", "sign_in")

    async def sign_out(self, login: str) -> OperatorStatus:
        op = self._require(login)
        self._cancel_wrapup(login)
        for queue in op.queues:
            await self._pbx.queue_remove(queue, op.interface)
        status = await self._set(login, "offline", "", "sign_out")
        self._by_interface.pop(op.interface, None)
        return status

    async def pause(self, login: str, reason: str) -> OperatorStatus:
        op = self._require(login)
        if reason not in PAUSE_REASONS:
            raise OperatorError(f"unknown pause reason {reason!r}; one of {PAUSE_REASONS}")
        self._cancel_wrapup(login)
        await self._pbx.queue_pause(op.interface, True, reason)
        return await self._set(login, "paused", reason, "pause")

    async def resume(self, login: str) -> OperatorStatus:
        op = self._require(login)
        self._cancel_wrapup(login)
        await self._pbx.queue_pause(op.interface, False)
        return await self._set(login, "available", "", "resume")

    async def handle(self, event: DomainEvent) -> None:
        """Follow calls: ringing, on call, then wrap-up after each call."""
        interface = getattr(event, "interface", "")
        login = self._by_interface.get(interface)
        if login is None:
            return
        current = self.status(login)
        if isinstance(event, CallOffered) and current.state == "available":
            await self._set(login, "ringing", "", "", log_action=False)
        elif isinstance(event, CallAnswered):
            await self._set(login, "on_call", "", "", log_action=False)
        elif isinstance(event, AgentCompleted):
            await self._start_wrapup(login)
        elif isinstance(event, OperatorState) and current.state == "ringing" and not event.in_call:
            await self._set(login, "available", "", "", log_action=False)

    def restore(self, members: Iterable[OperatorState], operators: Iterable[Operator]) -> None:
        """After a restart: Asterisk's QueueStatus decides who is signed in and paused."""
        known = {op.interface: op for op in operators}
        for m in members:
            op = known.get(m.interface)
            if op is None or not m.logged_in:
                continue
            self._operators[op.login] = op
            self._by_interface[op.interface] = op.login
            state = "paused" if m.paused else ("on_call" if m.in_call else "available")
            if m.paused and m.pause_reason == WRAPUP_REASON:
                state = "wrapup"
            prev = self._status.get(op.login)
            queues = tuple(sorted(set(prev.queues if prev else ()) | {m.queue}))
            self._status[op.login] = OperatorStatus(
                op.login, op.interface, state, m.pause_reason if m.paused else "", m.at, queues
            )

    def knows(self, interface: str) -> bool:
        """Whether ``interface`` belongs to an operator signed in through this process."""
        return interface in self._by_interface

    async def adopt(self, member: OperatorState, op: Operator) -> OperatorStatus:
        """Take over a member Asterisk reports (resync after a restart) as ``op``'s state.

        A wrap-up in progress gets a fresh timer: nobody else would end it."""
        self.restore([member], [op])
        status = self.status(op.login)
        if status.state == "wrapup" and op.login not in self._wrapups:
            self._wrapups[op.login] = asyncio.create_task(
                self._end_wrapup(op.login, max(op.wrapup_seconds, 0))
            )
        return status

    async def close(self) -> None:
        tasks = list(self._wrapups.values())
        self._wrapups.clear()
        await _cancel_all(tasks)

    # --- internals ------------------------------------------------------------------------

    def _require(self, login: str) -> Operator:
        op = self._operators.get(login)
        if op is None or self.status(login).state == "offline":
            raise OperatorError(f"{login} is not signed in")
        return op

    async def _start_wrapup(self, login: str) -> None:
        op = self._operators[login]
        if op.wrapup_seconds <= 0:
            await self._set(login, "available", "", "", log_action=False)
            return
        await self._pbx.queue_pause(op.interface, True, WRAPUP_REASON)
        await self._set(login, "wrapup", WRAPUP_REASON, "wrapup")
        self._cancel_wrapup(login)
        self._wrapups[login] = asyncio.create_task(self._end_wrapup(login, op.wrapup_seconds))

    async def _end_wrapup(self, login: str, seconds: int) -> None:
        await asyncio.sleep(seconds)
        self._wrapups.pop(login, None)
        if self.status(login).state == "wrapup":
            try:
                await self._pbx.queue_pause(self._operators[login].interface, False)
                await self._set(login, "available", "", "wrapup_end")
            except Exception:
                log.exception("could not end wrap-up of %s", login)

    def _cancel_wrapup(self, login: str) -> None:
        task = self._wrapups.pop(login, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _set(
        self, login: str, state: str, reason: str, action: str, *, log_action: bool = True
    ) -> OperatorStatus:
        op = self._operators[login]
        now = self._clock()
        prev = self._status.get(login)
        status = OperatorStatus(login, op.interface, state, reason, now, tuple(sorted(op.queues)))
        if prev is not None and prev.state == state and prev.reason == reason:
            status = replace(status, since=prev.since)
        self._status[login] = status
        if log_action and action:
            await self._sink(
                OperatorAction(
                    server=self._server,
                    call_id="",
                    at=now,
                    key=make_key(self._server, "operator", login, action, now),
                    user=login,
                    action=action,
                    detail={"state": state, "reason": reason, "interface": op.interface},
                )
            )
        return status


async def _cancel_all(tasks: Iterable[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
