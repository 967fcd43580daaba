"""Carries out operator and supervisor commands in the connector (the one process that holds
the AMI connection): console state changes, transfers, conference, supervision.

Commands arrive as :class:`~contact_center.calls.events.OperatorCommand` domain events on the
bus; what was done is logged by :class:`OperatorStates` / :class:`CallControl` as
:class:`~contact_center.calls.events.OperatorAction` events. A command that cannot be done is
logged as an ``OperatorAction`` with ``action="<command>.failed"`` and the reason, so the
operator's console and the history show why.

Exactly once across a change of connector: each command is marked begun and done in a
:class:`CommandLedger` shared by the connectors of its server (the Redis bus), under the
command's idempotency key. A command redelivered after a leader change (its predecessor died
before the ack) that is done is skipped; one that was begun and never finished is carried out
again only when doing it twice changes nothing (a state: available, pause, …); any other — an
Originate above all — is never sent twice: the operator is told it was interrupted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from contact_center.bus.base import ONCE_DONE, ONCE_NEW, BusUnavailable
from contact_center.calls.events import (
    DomainEvent,
    OperatorAction,
    OperatorCommand,
    OperatorState,
    make_key,
)
from contact_center.routing.control import Actor, CallControl
from contact_center.routing.operators import Operator, OperatorStates

log = logging.getLogger(__name__)

Sink = Callable[[DomainEvent], Awaitable[None]]

LEDGER_TTL_MS = 2 * 86_400_000  # longer than any command waits in the stream
# Commands that converge to an intent or end something: carried out again when a
# predecessor began them and died before saying it was done.
REPEATABLE = frozenset(
    {
        "available",
        "pause",
        "offline",
        "end_wrapup",
        "force_pause",
        "force_unpause",
        "hangup",
        "leave_conference",
        "transfer_complete",  # a hang-up: the second one finds no consultation
    }
)
INTERRUPTED = (
    "interrupted by a change of connector; not sent again, as it may have reached Asterisk"
)


class CommandLedger(Protocol):
    """Begun / done marks shared by the connectors of one server (see :class:`Bus`)."""

    async def begin_once(self, key: str, ttl_ms: int) -> str: ...

    async def finish_once(self, key: str, ttl_ms: int) -> None: ...


class OperatorDirectory(Protocol):
    async def operator(self, login: str) -> Operator | None: ...

    async def by_interface(self, interface: str) -> Operator | None: ...


class CommandExecutor:
    def __init__(
        self,
        states: OperatorStates,
        control: CallControl,
        operators: OperatorDirectory,
        sink: Sink,
        *,
        server: str = "pbx1",
        ledger: CommandLedger | None = None,
        retry_delay: float = 0.5,
    ) -> None:
        self.states = states
        self.control = control
        self.operators = operators
        self._sink = sink
        self._server = server
        self._ledger = ledger
        self._retry_delay = retry_delay
        self._strangers: set[str] = set()
        self.executed = 0  # commands carried out (tried) by this process
        self.skipped = 0  # redelivered commands found done or interrupted

    async def handle(self, event: DomainEvent) -> None:
        """Follow calls for wrap-up, rebuild states after a restart, and carry out commands."""
        try:
            if isinstance(event, OperatorState) and event.server == self._server:
                await self._adopt(event)
            await self.states.handle(event)
        except Exception as exc:  # the PBX is away: the sweep repairs it later
            log.warning("operator state after %s not reconciled: %r", event.kind, exc)
        # With several Asterisk servers each connector carries out only its own commands.
        if isinstance(event, OperatorCommand) and event.server == self._server:
            await self._once(event)

    async def _once(self, cmd: OperatorCommand) -> None:
        mark = f"command:{self._server}:{cmd.key}"
        state = await self._ledger_call(self._ledger.begin_once, mark) if self._ledger else ONCE_NEW
        if state == ONCE_DONE:
            self.skipped += 1
            log.info("command %s of %s was carried out already", cmd.command, cmd.user)
            return
        if state != ONCE_NEW and cmd.command not in REPEATABLE:
            self.skipped += 1
            log.warning("command %s of %s %s", cmd.command, cmd.user, INTERRUPTED)
            await self._failed(cmd, INTERRUPTED)
        else:
            self.executed += 1
            await self._carry_out(cmd)
        if self._ledger is not None:
            await self._ledger_call(self._ledger.finish_once, mark)

    async def _ledger_call(self, step: Callable[[str, int], Awaitable[Any]], mark: str) -> Any:
        # Redis away: wait for it (the command waits in the stream meanwhile, unacknowledged);
        # carrying it out unmarked could repeat it after a leader change.
        delay = self._retry_delay
        while True:
            try:
                return await step(mark, LEDGER_TTL_MS)
            except BusUnavailable as exc:
                log.warning("command ledger unavailable, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    async def _carry_out(self, event: OperatorCommand) -> None:
        try:
            await self.execute(event)
        except (PermissionError, ValueError, LookupError) as exc:
            await self._failed(event, str(exc))
        except Exception as exc:  # an AMI error: the operator must see it did not happen
            log.exception("command %s of %s failed", event.command, event.user)
            await self._failed(event, f"{type(exc).__name__}: {exc}")

    async def execute(self, cmd: OperatorCommand) -> None:
        actor = Actor(cmd.user, cmd.role, cmd.interface)
        args: dict[str, Any] = cmd.args
        c = cmd.command
        if c == "available":
            # Every sign-in reads the users table: queues and penalties as they are now.
            await self.states.sign_in(await self._operator(cmd.user))
        elif c == "pause":
            await self._ensure_signed_in(cmd.user)
            await self.states.pause(cmd.user, str(args.get("reason", "")))
        elif c == "offline":
            op = await self.operators.operator(cmd.user)
            await self.states.sign_out(cmd.user, op)
        elif c == "end_wrapup":
            await self.states.end_wrapup(cmd.user)
        elif c == "blind_transfer":
            await self.control.blind_transfer(actor, cmd.call_id, str(args.get("target", "")))
        elif c == "attended_transfer":
            await self.control.attended_transfer(actor, cmd.call_id, str(args.get("target", "")))
        elif c == "transfer_complete":
            await self.control.complete_transfer(actor, cmd.call_id)
        elif c == "transfer_cancel":
            await self.control.cancel_transfer(actor, cmd.call_id)
        elif c == "transfer_swap":
            await self.control.swap_transfer(actor, cmd.call_id)
        elif c == "conference":
            room = await self.control.conference(actor, cmd.call_id)
            if args.get("target"):
                await self.control.add_to_conference(actor, cmd.call_id, room, str(args["target"]))
        elif c == "conference_invite":
            await self.control.invite_to_conference(actor, cmd.call_id, str(args.get("target", "")))
        elif c == "leave_conference":
            await self.control.leave_conference(actor, cmd.call_id)
        elif c == "hangup":
            await self.control.hangup(actor, cmd.call_id)
        elif c == "click_to_call":
            customer = args.get("customer_id")
            await self.control.click_to_call(
                actor, str(args.get("number", "")), int(customer) if customer else None
            )
        elif c in ("listen", "whisper", "barge"):
            await self.control.spy(actor, str(args.get("interface", "")), c)
        elif c in ("force_pause", "force_unpause"):
            if actor.role not in ("supervisor", "admin"):
                raise PermissionError("only supervisors force a pause")
            login = str(args.get("login", ""))
            if c == "force_pause":
                reason = str(args.get("reason") or "meeting")
                await self.states.pause(login, reason, by=cmd.user)
            else:
                await self.states.resume(login, by=cmd.user)
        else:
            raise ValueError(f"unknown command {c!r}")

    async def _adopt(self, member: OperatorState) -> None:
        """A member Asterisk has (QueueStatus after a (re)connect) that this process does not
        follow: after a first start with nothing stored, the operator whose phone it is is
        signed in (and maybe paused) as Asterisk says."""
        if not member.logged_in or self.states.knows(member.interface):
            return
        if member.interface in self._strangers:
            return
        op = await self.operators.by_interface(member.interface)
        if op is None:
            # Not one of our users (added by hand in Asterisk): look it up once, not on every
            # member event.
            self._strangers.add(member.interface)
            return
        intent = self.states.intent(op.login)
        if intent is not None and intent.presence == "offline":
            # Signed out here, still a member there (persistentmembers, a hand-made add):
            # our intent stands and Asterisk is put right.
            await self.states.repair(op.login)
            return
        status = await self.states.adopt(member, op)
        log.info("restored %s as %s from Asterisk (%s)", op.login, status.state, member.queue)

    async def _operator(self, login: str) -> Operator:
        op = await self.operators.operator(login)
        if op is None:
            raise LookupError(f"{login} has no phone interface or queues")
        return op

    async def _ensure_signed_in(self, login: str) -> None:
        if self.states.status(login).state == "offline":
            await self.states.sign_in(await self._operator(login))

    async def _failed(self, cmd: OperatorCommand, reason: str) -> None:
        now = time.time()
        await self._sink(
            OperatorAction(
                server=self._server,
                call_id=cmd.call_id,
                at=now,
                key=make_key(cmd.key, "failed"),
                user=cmd.user,
                action=f"{cmd.command}.failed",
                # the command's own arguments first: its "reason" (a pause reason) must not
                # hide why it failed
                detail={**{k: str(v)[:80] for k, v in cmd.args.items()}, "reason": reason[:300]},
            )
        )
