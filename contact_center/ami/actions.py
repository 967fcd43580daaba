"""Typed AMI actions. Each is a small function over the *current* connection.

Our AMI user needs only the ``call``, ``originate`` and ``agent`` write classes. Originate goes
to Context/Exten/Priority only — never to an Application (CVE-2024-42365) — and carries
``ChannelId``/``OtherChannelId`` so the caller can follow the new channels in the event stream
(the ActionID reaches only ``OriginateResponse``). Recordings start in the dialplan; here we only
stop or mute them (the AMI ``MixMonitor`` action would need the ``system`` class).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from contact_center.ami.connection import ActionResult, AmiConnection, FieldValue
from contact_center.ami.errors import AmiNotConnected
from contact_center.ami.parser import Frame


@dataclass(frozen=True, slots=True)
class OriginateResult:
    channel_id: str  # Uniqueid we asked Asterisk to give the first channel
    other_channel_id: str  # Uniqueid of the second channel of a Local pair
    channel: str
    reason: int  # Asterisk's OriginateResponse Reason (4 = answered)


@dataclass(frozen=True, slots=True)
class ConferenceMember:
    conference: str
    channel: str
    caller_number: str
    caller_name: str
    admin: bool
    muted: bool


class AmiActions:
    """The actions of one Asterisk server. ``connection`` returns the live connection (or None
    while reconnecting: actions then fail fast with :class:`AmiNotConnected`)."""

    def __init__(self, connection: Callable[[], AmiConnection | None], server_id: str = "") -> None:
        self._connection = connection
        self.server_id = server_id

    async def _send(
        self,
        name: str,
        fields: Mapping[str, FieldValue],
        *,
        timeout: float | None = None,
        expect_event: str = "",
    ) -> ActionResult:
        conn = self._connection()
        if conn is None:
            raise AmiNotConnected(f"AMI {name}: server {self.server_id or '?'} not connected")
        return await conn.send_action(name, fields, timeout=timeout, expect_event=expect_event)

    async def originate(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        *,
        caller_id: str = "",
        timeout_ms: int = 30_000,
        variables: Mapping[str, str] | None = None,
        account: str = "",
        id_prefix: str = "cc-",
        wait_answer: bool = True,
    ) -> OriginateResult:
        """Call ``channel``; when it answers it runs ``context,exten,priority``.

        ``wait_answer``: wait for the OriginateResponse (raises AmiActionError when the call
        could not be placed); otherwise return once Asterisk queued it (``reason`` 0, the
        progress shows in the event stream under ``channel_id``, the new call's Linkedid).
        ``id_prefix`` starts the channel ids, so the tracker can tell our calls apart."""
        channel_id = f"{id_prefix}{uuid.uuid4().hex}"
        other_id = f"{channel_id}-2"
        fields: dict[str, FieldValue] = {
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": priority,
            "Timeout": timeout_ms,
            "Async": True,
            "ChannelId": channel_id,
            "OtherChannelId": other_id,
        }
        _set(
            fields,
            CallerID=caller_id,
            Account=account,
            Variable=[f"{key}={value}" for key, value in (variables or {}).items()],
        )
        if not wait_answer:
            await self._send("Originate", fields)
            return OriginateResult(channel_id, other_id, "", 0)
        conn = self._connection()
        wait = timeout_ms / 1000 + (conn.action_timeout if conn else 10.0)
        result = await self._send(
            "Originate", fields, timeout=wait, expect_event="OriginateResponse"
        )
        final = result.final or result.response
        return OriginateResult(
            channel_id, other_id, final.get("Channel"), _int(final.get("Reason"))
        )

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        *,
        extra_channel: str = "",
        extra_context: str = "",
        extra_exten: str = "",
        extra_priority: int = 0,
    ) -> None:
        """Send ``channel`` (and ``extra_channel``, by default to the same place) elsewhere."""
        fields: dict[str, FieldValue] = {
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": priority,
        }
        if extra_channel:
            fields.update(
                ExtraChannel=extra_channel,
                ExtraContext=extra_context or context,
                ExtraExten=extra_exten or exten,
                ExtraPriority=extra_priority or priority,
            )
        await self._send("Redirect", fields)

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None:
        """AMI ``BlindTransfer``: Asterisk sends every channel *bridged to* ``channel`` (the
        transferer, e.g. the operator's leg) to ``context,exten``; ``channel`` leaves."""
        await self._send("BlindTransfer", {"Channel": channel, "Context": context, "Exten": exten})

    async def atxfer(self, channel: str, exten: str, context: str) -> None:
        """AMI ``Atxfer``: the transferer ``channel`` dials ``exten@context`` while its peer
        waits; the transfer completes when the transferer hangs up."""
        await self._send("Atxfer", {"Channel": channel, "Exten": exten, "Context": context})

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self._send("Hangup", {"Channel": channel, "Cause": cause})

    async def queue_add(
        self,
        queue: str,
        interface: str,
        *,
        member_name: str = "",
        state_interface: str = "",
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
    ) -> None:
        fields: dict[str, FieldValue] = {
            "Queue": queue,
            "Interface": interface,
            "Penalty": penalty,
            "Paused": paused,
        }
        _set(fields, MemberName=member_name, StateInterface=state_interface, Reason=reason)
        await self._send("QueueAdd", fields)

    async def queue_remove(self, queue: str, interface: str) -> None:
        await self._send("QueueRemove", {"Queue": queue, "Interface": interface})

    async def queue_pause(
        self, interface: str, paused: bool, *, queue: str = "", reason: str = ""
    ) -> None:
        """Pause/unpause a member in one queue, or in all its queues when ``queue`` is empty."""
        fields: dict[str, FieldValue] = {"Interface": interface, "Paused": paused}
        await self._send("QueuePause", _set(fields, Queue=queue, Reason=reason))

    async def stop_mixmonitor(self, channel: str, *, mixmonitor_id: str = "") -> None:
        fields: dict[str, FieldValue] = {"Channel": channel}
        await self._send("StopMixMonitor", _set(fields, MixMonitorID=mixmonitor_id))

    async def mixmonitor_mute(self, channel: str, muted: bool, *, direction: str = "both") -> None:
        """Mute (e.g. while card data is spoken) or resume a running recording."""
        if direction not in ("read", "write", "both"):
            raise ValueError(f"direction must be read, write or both, not {direction!r}")
        await self._send(
            "MixMonitorMute", {"Channel": channel, "Direction": direction, "State": int(muted)}
        )

    async def setvar(self, channel: str, variable: str, value: str) -> None:
        await self._send("Setvar", {"Channel": channel, "Variable": variable, "Value": value})

    async def play_dtmf(
        self, channel: str, digit: str, *, duration_ms: int = 250, receive: bool = False
    ) -> None:
        """Play one DTMF digit out of ``channel``; with ``receive`` (``Receive: yes``,
        Asterisk 18+ app_senddtmf.c) the digit is taken as received *from* that channel's
        phone instead — what a bridge's feature codes (an attended transfer's abort, swap,
        complete) listen to."""
        if len(digit) != 1 or digit not in "0123456789*#ABCDabcd":
            raise ValueError(f"one DTMF digit expected, not {digit!r}")
        fields: dict[str, FieldValue] = {
            "Channel": channel,
            "Digit": digit,
            "Duration": duration_ms,
        }
        if receive:
            fields["Receive"] = "yes"
        await self._send("PlayDTMF", fields)

    async def confbridge_kick(self, conference: str, channel: str) -> None:
        await self._send("ConfbridgeKick", {"Conference": conference, "Channel": channel})

    async def confbridge_list(self, conference: str) -> list[ConferenceMember]:
        result = await self._send("ConfbridgeList", {"Conference": conference})
        return [
            ConferenceMember(
                conference=item.get("Conference", conference),
                channel=item.get("Channel"),
                caller_number=item.get("CallerIDNum"),
                caller_name=item.get("CallerIDName"),
                admin=item.get("Admin") == "Yes",
                muted=item.get("Muted") == "Yes",
            )
            for item in result.items
        ]

    async def core_show_channels(self) -> list[Frame]:
        return list((await self._send("CoreShowChannels", {})).items)

    async def channel_status(self) -> list[Frame]:
        """``Status`` of every channel: what CoreShowChannels lists, but allowed by the
        ``call`` write class (CoreShowChannels needs ``reporting`` or ``system``)."""
        return list((await self._send("Status", {})).items)

    async def queue_penalty(self, queue: str, interface: str, penalty: int) -> None:
        """Change a member's penalty in ``queue`` (in all its queues when ``queue`` is empty)."""
        fields: dict[str, FieldValue] = {"Interface": interface, "Penalty": penalty}
        await self._send("QueuePenalty", _set(fields, Queue=queue))

    async def queue_status(self, queue: str = "", *, member: str = "") -> list[Frame]:
        """``QueueStatus`` list items (``QueueParams``, ``QueueMember``, ``QueueEntry``), of
        one queue and/or one member interface when given."""
        fields = _set({}, Queue=queue, Member=member)
        return list((await self._send("QueueStatus", fields)).items)


def _set(fields: dict[str, FieldValue], **optional: FieldValue) -> dict[str, FieldValue]:
    """``fields`` with those of ``optional`` that are given, in their order; an empty one is
    left out (Asterisk then uses its default), never sent empty."""
    fields.update((name, value) for name, value in optional.items() if value)
    return fields


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
