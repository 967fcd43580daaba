"""Routing's ports over AMI: :class:`AmiPbxControl` (what routing tells the PBX) and
:class:`TrackerCallDirectory` (which channels a live call has, from the call tracker).

Routing depends only on its ports (``routing/ports.py``, ``routing/control.py``); the
composition root wires these two in. Every value reaches Asterisk through the connection,
which refuses CR/LF, and Originate only ever targets a Context/Exten (never an Application).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from contact_center.ami.actions import AmiActions
from contact_center.ami.errors import AmiActionError
from contact_center.ami.tracker import ORIGINATE_CONTEXT, OUTBOUND_ID_PREFIX, CallTracker
from contact_center.routing.control import CallDirectory, LiveCall
from contact_center.routing.ports import Member, MemberStateDiffers

# Asterisk's answers when its members are not what a member action assumed (capture 22):
# QueueAdd "Unable to add interface: Already there", QueueRemove "Unable to remove
# interface: Not there", QueuePause/QueuePenalty "Interface not found" / "Invalid interface…".
MEMBER_STATE_ERRORS = ("Already there", "Not there", "Interface not found", "Invalid interface")

if TYPE_CHECKING:
    from contact_center.routing.ports import PbxControl


class AmiPbxControl:
    """:class:`~contact_center.routing.ports.PbxControl` over one server's AMI actions."""

    def __init__(self, actions: AmiActions) -> None:
        self._actions = actions

    async def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str,
        penalty: int,
        paused: bool,
        reason: str = "",
    ) -> None:
        # StateInterface = the device itself: Asterisk then follows the phone's real state
        # (busy on a direct call too), not only the calls the queue gave it.
        with _member_state_errors():
            await self._actions.queue_add(
                queue,
                interface,
                member_name=member_name,
                state_interface=interface,
                penalty=penalty,
                paused=paused,
                reason=reason if paused else "",
            )

    async def queue_remove(self, queue: str, interface: str) -> None:
        with _member_state_errors():
            await self._actions.queue_remove(queue, interface)

    async def queue_pause(
        self, interface: str, paused: bool, reason: str = "", queue: str = ""
    ) -> None:
        with _member_state_errors():
            await self._actions.queue_pause(interface, paused, queue=queue, reason=reason)

    async def queue_penalty(self, queue: str, interface: str, penalty: int) -> None:
        with _member_state_errors():
            await self._actions.queue_penalty(queue, interface, penalty)

    async def queue_members(self, interface: str = "") -> list[Member]:
        """Memberships from ``QueueStatus`` (its ``QueueMember`` items say Name/Location)."""
        items = await self._actions.queue_status(member=interface)
        members = []
        for item in items:
            location = item.get("Location")
            if item.name != "QueueMember" or (interface and location != interface):
                continue
            paused = item.get("Paused") == "1"
            members.append(
                Member(
                    queue=item.get("Queue"),
                    interface=location,
                    name=item.get("Name"),
                    penalty=_int(item.get("Penalty")),
                    paused=paused,
                    reason=item.get("PausedReason") if paused else "",
                    in_call=item.get("InCall") == "1",
                )
            )
        return members

    async def originate(
        self,
        channel: str,
        context: str,
        exten: str,
        *,
        priority: int = 1,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        timeout_ms: int = 30000,
    ) -> str:
        """Ring ``channel``; returns at once with the new call's id (its Linkedid), which
        the call's events then carry. Calls through ``cc-originate`` are tagged outbound."""
        # A click-to-call runs cc-originate after the operator answers; a callback may ring
        # the customer first through a Local channel into it.
        outbound = context == ORIGINATE_CONTEXT or channel.endswith(f"@{ORIGINATE_CONTEXT}")
        prefix = OUTBOUND_ID_PREFIX if outbound else "cc-"
        result = await self._actions.originate(
            channel,
            context,
            exten,
            priority,
            caller_id=caller_id,
            timeout_ms=timeout_ms,
            variables=variables,
            id_prefix=prefix,
            wait_answer=False,
        )
        return result.channel_id

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        *,
        priority: int = 1,
        extra_channel: str = "",
        extra_context: str = "",
        extra_exten: str = "",
    ) -> None:
        await self._actions.redirect(
            channel,
            context,
            exten,
            priority,
            extra_channel=extra_channel,
            extra_context=extra_context,
            extra_exten=extra_exten,
        )

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None:
        """``channel`` is the transferer: Asterisk moves the channels bridged to it."""
        await self._actions.blind_transfer(channel, context, exten)

    async def attended_transfer(self, channel: str, context: str, exten: str) -> None:
        await self._actions.atxfer(channel, exten, context)

    async def feature_code(self, channel: str, code: str) -> None:
        # One PlayDTMF per digit, received on the channel: within features.conf's
        # featuredigittimeout (1 s) of each other, as a phone's key presses would be.
        for digit in code:
            await self._actions.play_dtmf(channel, digit, duration_ms=100, receive=True)

    async def hangup(self, channel: str) -> None:
        await self._actions.hangup(channel)


@contextlib.contextmanager
def _member_state_errors() -> Iterator[None]:
    """Asterisk's "the member is not what you think" answers become routing's own error."""
    try:
        yield
    except AmiActionError as exc:
        if any(text in exc.reason for text in MEMBER_STATE_ERRORS):
            raise MemberStateDiffers(str(exc)) from exc
        raise


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


class TrackerCallDirectory:
    """:class:`~contact_center.routing.control.CallDirectory` from a live :class:`CallTracker`."""

    def __init__(self, tracker: CallTracker) -> None:
        self._tracker = tracker

    def live_call(self, call_id: str) -> LiveCall | None:
        found = self._tracker.live_channels(call_id)
        if found is None:
            return None
        return LiveCall(
            call_id=found.call_id,
            caller_channel=found.caller_channel,
            operator_channel=found.operator_channel,
            operator_interface=found.operator_interface,
            queue=found.queue,
            consulting=found.consulting,
            room=found.room,
        )


if TYPE_CHECKING:  # mypy checks that both classes implement routing's ports exactly

    def _implements_ports(a: AmiActions, t: CallTracker) -> tuple[PbxControl, CallDirectory]:
        return AmiPbxControl(a), TrackerCallDirectory(t)
