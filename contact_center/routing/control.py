"""Call control from the console: click-to-call, transfers, conference, hang-up, supervision.

Each method checks who may do it (an operator acts on their own calls; supervisors and admins
on any), validates what the user typed (:mod:`.targets`), sends the AMI action through the
:class:`~contact_center.routing.ports.PbxControl` port, and logs an OperatorAction with who
and when into the call's history.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from contact_center.calls.events import DomainEvent, OperatorAction, make_key
from contact_center.routing.ports import PbxControl
from contact_center.routing.targets import InvalidTarget, Target, check_interface, parse_target

SPY_MODES = {"listen": "q", "whisper": "qw", "barge": "qB"}  # ChanSpy options in the dialplan
# An attended transfer in progress is steered with the DTMF codes of deploy/asterisk/
# features.conf [general] (atxferabort, atxferswap; Asterisk 22's defaults), pressed on the
# transferring operator's channel with AMI PlayDTMF Receive (bridge_basic.c acts on them as
# if the phone had sent them). Completing is the operator's leg hanging up (capture 17).
CONSULTATION_CODES = {"cancel": "*1", "swap": "*4"}
CONFERENCE_CONTEXT = "conference"


class ControlError(PermissionError):
    """The user may not do this to this call, or the call is not in a state that allows it."""


@dataclass(frozen=True, slots=True)
class Actor:
    login: str
    role: str  # operator | supervisor | qa | admin
    interface: str


@dataclass(frozen=True, slots=True)
class LiveCall:
    call_id: str
    caller_channel: str
    operator_channel: str
    operator_interface: str
    queue: str = ""
    consulting: str = ""  # the operator consulted in an attended transfer ("" when none)
    room: str = ""  # the ConfBridge room the operator is in now ("" when none)


class CallDirectory(Protocol):
    """Where the live calls are (the call tracker's view)."""

    def live_call(self, call_id: str) -> LiveCall | None: ...


Sink = Callable[[DomainEvent], Awaitable[None]]


class CallControl:
    def __init__(
        self,
        pbx: PbxControl,
        calls: CallDirectory,
        sink: Sink,
        *,
        server: str = "pbx1",
        caller_id: str = "",
        conference_base: int = 8000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pbx = pbx
        self._calls = calls
        self._sink = sink
        self._server = server
        self._caller_id = caller_id
        self._conference_base = conference_base
        self._clock = clock

    async def click_to_call(self, actor: Actor, number: str, customer_id: int | None = None) -> str:
        """Ring the operator's phone first, then dial the customer from the dialplan."""
        self._require_role(actor, {"operator", "supervisor", "admin"})
        target = parse_target(number)
        if target.kind != "external" and target.kind != "extension":
            raise InvalidTarget("click-to-call needs a phone number or an extension")
        interface = check_interface(actor.interface)
        variables = {"CC_CUSTOMER_ID": str(customer_id or ""), "CC_OPERATOR": actor.login}
        # whom the operator's ringing phone is calling (the pop's card): the CallerID may
        # be the company's number
        variables["CC_NUMBER"] = target.value
        action_id = await self._pbx.originate(
            interface,
            "cc-originate",
            target.exten,
            caller_id=self._caller_id or target.exten,
            variables=variables,
        )
        await self._log(
            actor, "", "click_to_call", {"number": target.value, "customer_id": customer_id}
        )
        return action_id

    async def blind_transfer(self, actor: Actor, call_id: str, target_text: str) -> None:
        call = self._own_call(actor, call_id)
        target = parse_target(target_text)
        # BlindTransfer moves the channels bridged *to* the one named: name the operator's
        # leg, and the caller goes to the target while the operator is released.
        await self._pbx.blind_transfer(call.operator_channel, target.context, target.exten)
        await self._log(actor, call_id, "blind_transfer", {"target": target.value})

    async def attended_transfer(self, actor: Actor, call_id: str, target_text: str) -> None:
        call = self._own_call(actor, call_id)
        target = parse_target(target_text)
        # Atxfer runs on the operator's channel: the caller hears hold while the operator
        # consults the target, and the transfer completes when the operator hangs up.
        await self._pbx.attended_transfer(call.operator_channel, target.context, target.exten)
        await self._log(actor, call_id, "attended_transfer", {"target": target.value})

    async def complete_transfer(self, actor: Actor, call_id: str) -> None:
        """The consultation ends with the transfer: the transferring operator's leg hangs
        up, Asterisk bridges the caller with the consulted operator (AttendedTransfer)."""
        call = self._consulting_call(actor, call_id)
        await self._pbx.hangup(call.operator_channel)
        await self._log(actor, call_id, "transfer_complete", {"target": call.consulting})

    async def cancel_transfer(self, actor: Actor, call_id: str) -> None:
        """Abort the consultation: the consulted operator is hung up, the transferring one
        is back with the caller."""
        call = self._consulting_call(actor, call_id)
        await self._pbx.feature_code(call.operator_channel, CONSULTATION_CODES["cancel"])
        await self._log(actor, call_id, "transfer_cancel", {"target": call.consulting})

    async def swap_transfer(self, actor: Actor, call_id: str) -> None:
        """Talk to the other party of the consultation (the caller or the consulted
        operator); the one left waits on hold."""
        call = self._consulting_call(actor, call_id)
        await self._pbx.feature_code(call.operator_channel, CONSULTATION_CODES["swap"])
        await self._log(actor, call_id, "transfer_swap", {"target": call.consulting})

    async def conference(self, actor: Actor, call_id: str) -> str:
        """Move caller and operator into a ConfBridge room; a third party can then be added."""
        call = self._own_call(actor, call_id)
        # A stable room per call: every instance computes the same one (hash() is salted).
        room = str(self._conference_base + zlib.crc32(call_id.encode()) % 1000)
        await self._pbx.redirect(
            call.caller_channel,
            CONFERENCE_CONTEXT,
            room,
            extra_channel=call.operator_channel,
            extra_context=CONFERENCE_CONTEXT,
            extra_exten=room,
        )
        await self._log(actor, call_id, "conference", {"room": room})
        return room

    async def add_to_conference(self, actor: Actor, call_id: str, room: str, number: str) -> None:
        """The third party of :meth:`conference` (the room it has just computed)."""
        self._own_call(actor, call_id)
        target = await self._invite(room, number)
        await self._log(actor, call_id, "conference_add", {"room": room, "target": target.value})

    async def invite_to_conference(self, actor: Actor, call_id: str, number: str) -> None:
        """Add someone (a colleague's extension, a queue, an outside number) to the room the
        operator is in now with the call's parties; nobody already there is moved. Refused
        when her channel is in no room (she must start the conference first)."""
        call = self._own_call(actor, call_id)
        if not call.room:
            raise ControlError(f"call {call_id} is not in a conference room")
        target = await self._invite(call.room, number)
        await self._log(
            actor, call_id, "conference_invite", {"room": call.room, "target": target.value}
        )

    async def _invite(self, room: str, number: str) -> Target:
        """Originate a Local channel to the target; once it answers, its ``;1`` half runs
        ``[conference] <room>`` (ConfBridge) and joins the room (capture 06: Originate of a
        Local channel, the dial plan after the answer)."""
        target = parse_target(number)
        channel = f"Local/{target.exten}@{target.context}"
        await self._pbx.originate(channel, CONFERENCE_CONTEXT, room, caller_id=self._caller_id)
        return target

    async def leave_conference(self, actor: Actor, call_id: str) -> None:
        """The operator leaves a three-way conference; caller and third party stay in the
        room (ConfBridge keeps a room while anyone is in it)."""
        call = self._own_call(actor, call_id)
        await self._pbx.hangup(call.operator_channel)
        await self._log(actor, call_id, "conference_leave", {})

    async def hangup(self, actor: Actor, call_id: str) -> None:
        call = self._own_call(actor, call_id)
        await self._pbx.hangup(call.caller_channel)
        await self._log(actor, call_id, "hangup", {})

    async def spy(self, actor: Actor, operator_interface: str, mode: str) -> str:
        """Supervisor listen / whisper / barge on an operator's live call (ChanSpy)."""
        self._require_role(actor, {"supervisor", "admin"})
        if mode not in SPY_MODES:
            raise InvalidTarget(f"unknown supervision mode {mode!r}")
        target = check_interface(operator_interface)
        own = check_interface(actor.interface)
        action_id = await self._pbx.originate(
            own,
            "supervisor",
            mode,
            caller_id=f"Supervisor <{actor.login}>",
            variables={"CHANSPY_TARGET": target},
        )
        await self._log(actor, "", f"spy_{mode}", {"operator": target})
        return action_id

    # --- internals ------------------------------------------------------------------------

    @staticmethod
    def _require_role(actor: Actor, roles: set[str]) -> None:
        if actor.role not in roles:
            raise ControlError(f"{actor.role} may not do this")

    def _own_call(self, actor: Actor, call_id: str) -> LiveCall:
        self._require_role(actor, {"operator", "supervisor", "admin"})
        call = self._calls.live_call(call_id)
        if call is None:
            raise ControlError(f"call {call_id} is not live")
        if actor.role == "operator" and call.operator_interface != actor.interface:
            raise ControlError("operators control their own calls only")
        if not call.operator_channel:
            raise ControlError(f"call {call_id} has no operator yet")
        return call

    def _consulting_call(self, actor: Actor, call_id: str) -> LiveCall:
        call = self._own_call(actor, call_id)
        if not call.consulting:
            raise ControlError(f"call {call_id} has no consultation in progress")
        return call

    async def _log(
        self, actor: Actor, call_id: str, action: str, detail: dict[str, object]
    ) -> None:
        now = self._clock()
        await self._sink(
            OperatorAction(
                server=self._server,
                call_id=call_id,
                at=now,
                key=make_key(self._server, call_id, actor.login, action, now),
                user=actor.login,
                action=action,
                detail=dict(detail),
            )
        )
