"""PJSIP endpoints of the shipped configuration: operators' phones and the provider trunk.

What ``deploy/asterisk/extensions.conf`` dials — ``PJSIP/101`` (an operator's phone) and
``PJSIP/<number>@trunk`` (a customer through the provider) — and where its callers come
from (``PJSIP/trunk-XXXXXXXX`` into ``[from-trunk]``) are simulated here with the event
shapes of capture 27 (the shipped configuration on Asterisk 22.10.1 with SIP phones): one
channel per leg (no Local pairs), ``Newchannel`` Down in the endpoint's context, the phone
``Ringing``/``Up``, ``DeviceStateChange PJSIP/101 RINGING|INUSE``, a remote hang-up as
``HangupRequest``, DTMF from SIP INFO as ``DTMFEnd`` only. Phones behave as the
:class:`~contact_center.sim.config.Operator` config says (answer after N s, never, by a
person, busy; talk N s then hang up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from contact_center.sim.callees import dialled_customer, hang_up_after
from contact_center.sim.dialplan.varsets import reports_varset
from contact_center.sim.errors import ChannelHungUp
from contact_center.sim.model import UNKNOWN, Bridge, Channel

if TYPE_CHECKING:
    from contact_center.sim.config import Operator
    from contact_center.sim.core import Hook, PbxCore


class Phones:
    """The PJSIP side of one simulated PBX."""

    def __init__(self, pbx: PbxCore) -> None:
        self.pbx = pbx

    # ------------------------------------------------------------ channels
    def new_channel(
        self,
        endpoint: str,
        *,
        context: str,
        exten: str = "s",
        linkedid: str | None = None,
        uniqueid: str = "",
        state: int = 0,
        caller: tuple[str, str] | None = None,
    ) -> Channel:
        """``PJSIP/<endpoint>-XXXXXXXX``, announced with ``Newchannel``."""
        pbx = self.pbx
        uid = uniqueid or pbx.new_uniqueid()
        name = f"PJSIP/{endpoint}-{pbx.new_local_suffix()}"
        ch = Channel(name, uid, linkedid or uid, context, exten, f"PJSIP/{endpoint}", state=state)
        ch.origin = "pjsip"
        if caller is not None:
            ch.set_caller(*caller)
        pbx.channels[name] = ch
        pbx.emit_channel("Newchannel", "call", ch)
        return ch

    def outgoing(self, endpoint: str, caller: Channel, uniqueid: str = "") -> Channel:
        """A channel Asterisk creates to call ``endpoint`` for ``caller``: its caller ID is
        the caller's connected line, else the number the caller dialled (app_queue and
        app_dial do this), which for a provider call is the DID."""
        pbx = self.pbx
        ch = self.new_channel(
            endpoint, context=pbx.config.phone_context, linkedid=caller.linkedid, uniqueid=uniqueid
        )
        known = caller.conn_num if caller.conn_num != UNKNOWN else ""
        number = known or caller.dnid or caller.caller_num
        name = caller.conn_name if known else ""
        pbx.set_callerid(ch, number, name)
        return ch

    # ------------------------------------------------------------ a caller from the provider
    def arrive(
        self,
        did: str,
        number: str,
        name: str,
        *,
        dtmf: str = "",
        dtmf_delay: float = 1.0,
        talk: float | None = None,
    ) -> Channel:
        """A call from the provider to ``did``: ``PJSIP/trunk-…`` runs ``[from-trunk]``.
        The caller presses ``dtmf`` (SIP INFO) after ``dtmf_delay`` and, with ``talk``,
        hangs up ``talk`` seconds later; otherwise it stays until hung up."""
        pbx = self.pbx
        # The provider sends national numbers without '+' (capture 27: 79161112233).
        ch = self.new_channel(
            pbx.config.trunk_endpoint,
            context=pbx.config.trunk_context,
            exten=did,
            state=4,
            caller=(number.lstrip("+"), name),
        )
        ch.dnid = did
        pbx.processed_calls += 1
        pbx.spawn(pbx.dialplan.run(ch), name=ch.name)
        pbx.spawn(self.caller(ch, dtmf, dtmf_delay, talk), name=f"caller {ch.name}")
        return ch

    async def caller(self, ch: Channel, dtmf: str, delay: float, talk: float | None) -> None:
        pbx = self.pbx
        try:
            if dtmf or talk is not None:
                await pbx.wait(ch, delay)
            for digit in dtmf:
                self.info_dtmf(ch, digit)
                await pbx.wait(ch, 0.35)
            if talk is not None:
                await pbx.wait(ch, talk)
                pbx.remote_hangup(ch)  # the caller's BYE
        except ChannelHungUp:
            return

    def info_dtmf(self, ch: Channel, digit: str, duration_ms: int = 160) -> None:
        """A digit by SIP INFO: only ``DTMFEnd`` (no ``DTMFBegin``), as in capture 27."""
        self.pbx.emit_channel(
            "DTMFEnd",
            "dtmf",
            ch,
            [("Digit", digit), ("DurationMs", str(duration_ms)), ("Direction", "Received")],
        )
        ch.dtmf.put_nowait(digit)

    # ------------------------------------------------------------ an operator's phone
    async def ring(self, phone: Channel, op: Operator, ringing: Hook, answered: Hook) -> None:
        """The phone rings, answers as ``op`` says (then ``answered`` runs; it may wait
        for the bridge), talks ``op.talk`` seconds and hangs up (BYE)."""
        pbx = self.pbx
        try:
            if op.busy:
                pbx.remote_hangup(phone, 17)
                return
            pbx.set_state(phone, 5)
            await ringing()
            if op.manual:
                await pbx.wait_for_event(phone, phone.manual_answer, None)
            else:
                await pbx.wait(phone, op.answer_after)
            pbx.set_state(phone, 6)
            await answered()
            await pbx.wait(phone, op.talk)
            pbx.remote_hangup(phone)  # the operator puts the phone down
        except ChannelHungUp:
            return

    async def dial(self, ch: Channel, resource: str, timeout: float) -> str:
        """Dial(PJSIP/<endpoint>): ring the operator's phone, bridge on answer; DIALSTATUS."""
        pbx = self.pbx
        endpoint = resource
        # app_dial: the phone's caller ID is the dialling channel's extension with the
        # customer's name; its connected line is the customer (capture 27, 20)
        phone = self.new_channel(
            endpoint, context=pbx.config.phone_context, exten=ch.exten, linkedid=ch.linkedid
        )
        phone.origin = "dial"
        pbx.set_callerid(phone, ch.exten, ch.caller_name)
        pbx.set_connected(phone, ch.caller_num, ch.caller_name)
        dest = lambda: [*ch.block(), *phone.block("Dest")]  # noqa: E731
        pbx.emit("DialBegin", "call", [*dest(), ("DialString", endpoint)])
        pbx.set_connected(ch, phone.caller_num, phone.caller_name)

        async def ringing() -> None:
            pbx.emit("DialState", "call", [*dest(), ("DialStatus", "RINGING")])
            pbx.device_state(phone.device, "RINGING")

        async def answered() -> None:
            pbx.device_state(phone.device, "INUSE")
            phone.answered_event.set()
            await pbx.wait_for_event(phone, phone.proceed, None)

        op = pbx.operator(phone.device)
        task = pbx.spawn(self.ring(phone, op, ringing, answered), name=phone.name)
        try:
            got = await self.answered_or_gone(ch, phone, timeout or None)
        except ChannelHungUp:
            pbx.emit("DialEnd", "call", [*dest(), ("DialStatus", "CANCEL")])
            await self.drop(phone, task)
            raise
        if not got or phone.dead or (phone.hangup_requested.is_set() and phone.state != 6):
            status = "BUSY" if phone.cause == 17 else "NOANSWER"
            pbx.emit("DialEnd", "call", [*dest(), ("DialStatus", status)])
            await self.drop(phone, task, cause=17 if status == "BUSY" else 0)
            return status
        pbx.emit("DialEnd", "call", [*dest(), ("DialStatus", "ANSWER")])
        try:
            await self.talk(ch, phone)
        finally:
            await self.drop(phone, task)
        return "ANSWER"

    async def answered_or_gone(self, ch: Channel, phone: Channel, timeout: float | None) -> bool:
        """Wait until ``phone`` answers (True), hangs up or rings out (False); raises if the
        caller ``ch`` hangs up first."""
        pbx = self.pbx
        answered = asyncio.ensure_future(phone.answered_event.wait())
        gone = asyncio.ensure_future(phone.hangup_requested.wait())
        caller = asyncio.ensure_future(ch.hangup_requested.wait())
        try:
            done, _ = await asyncio.wait(
                {answered, gone, caller},
                timeout=pbx.scaled(timeout),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for waiter in (answered, gone, caller):
                waiter.cancel()
        if caller in done or ch.hangup_requested.is_set():
            raise pbx.interrupt(ch)
        return answered in done

    async def talk(self, ch: Channel, other: Channel) -> None:
        """Bridge ``ch`` with ``other`` until one of them hangs up."""
        pbx = self.pbx
        bridge = pbx.bridge_create()
        pbx.bridge_enter(bridge, other)
        pbx.answer_dialer(ch)  # an Atxfer consultation is answered now (capture 17's order)
        pbx.bridge_enter(bridge, ch)
        ch.cdr_dest_channel = other.name
        other.proceed.set()
        try:
            await pbx.wait_for_event(ch, other.hangup_requested, None)
        finally:
            self.unbridge(bridge, ch, other)

    def unbridge(self, bridge: Bridge, ch: Channel, other: Channel) -> None:
        pbx = self.pbx
        for leg in (ch, other):
            if leg in bridge.channels:
                pbx.bridge_leave(bridge, leg)
        pbx.bridge_destroy(bridge)

    async def drop(self, phone: Channel, task: asyncio.Task[None], cause: int = 16) -> None:
        """Hang up a phone leg that is no longer needed and wait for its task."""
        pbx = self.pbx
        if not phone.dead:
            if not phone.hangup_requested.is_set():
                phone.cause = cause
            pbx.finish(phone, soft=False)
        await asyncio.shield(task)

    # ------------------------------------------------------------ the provider
    async def dial_provider(self, ch: Channel, number: str, timeout: float) -> str:
        """Dial(PJSIP/<number>@trunk): the customer answers after ``external_answer_after``
        seconds (never if that is longer than the Dial timeout) and stays until hung up."""
        pbx = self.pbx
        far = self.new_channel(
            pbx.config.trunk_endpoint, context=pbx.config.trunk_context, linkedid=ch.linkedid
        )
        pbx.set_callerid(far, number, "")
        pbx.set_connected(far, ch.caller_num, ch.caller_name)
        far.exten = number
        dest = lambda: [*ch.block(), *far.block("Dest")]  # noqa: E731
        pbx.emit("DialBegin", "call", [*dest(), ("DialString", f"{number}@trunk")])
        pbx.set_state(far, 5)
        pbx.emit("DialState", "call", [*dest(), ("DialStatus", "RINGING")])
        answer_after, status, talk_for = pbx.config.external_answer_after, "ANSWER", None
        drawn = dialled_customer(pbx, number, ch.variables.get("CC_KIND", ""))  # callees.py
        if drawn is not None:
            answer_after, status, talk_for = drawn
        if (timeout and answer_after > timeout) or status != "ANSWER":
            try:
                await pbx.wait(ch, answer_after if status == "BUSY" else timeout)
            except ChannelHungUp:
                pbx.emit("DialEnd", "call", [*dest(), ("DialStatus", "CANCEL")])
                far.cause = 0
                pbx.finish(far, soft=False)
                raise
            status = "BUSY" if status == "BUSY" else "NOANSWER"
            pbx.emit("DialEnd", "call", [*dest(), ("DialStatus", status)])
            far.cause = 17 if status == "BUSY" else 0
            pbx.finish(far, soft=False)
            return status
        try:
            await pbx.wait(ch, answer_after)
        except ChannelHungUp:
            pbx.emit("DialEnd", "call", [*dest(), ("DialStatus", "CANCEL")])
            far.cause = 0
            pbx.finish(far, soft=False)
            raise
        pbx.set_state(far, 6)
        pbx.emit("DialEnd", "call", [*dest(), ("DialStatus", "ANSWER")])
        pbx.set_connected(ch, number, "")
        if talk_for is not None:
            pbx.spawn(hang_up_after(pbx, far, talk_for), name=f"callee {far.name}")
        try:
            await self.talk(ch, far)
        finally:
            pbx.finish(far, soft=False)
        return "ANSWER"

    # ------------------------------------------------------------ AMI Originate
    def originate(
        self,
        endpoint: str,
        then: tuple[str, str, str],
        *,
        caller: tuple[str, str] | None,
        variables: dict[str, str],
        report: Callable[[Channel, bool], None],
        timeout: float,
        uniqueid: str = "",
    ) -> Channel:
        """Originate ``PJSIP/<endpoint>``: the phone rings as its Operator config says;
        answered, it runs ``then`` (context, exten) in the dial plan."""
        pbx = self.pbx
        phone = self.new_channel(endpoint, context=pbx.config.phone_context, uniqueid=uniqueid)
        for name, value in variables.items():
            # Asterisk reports an Originate's Variable as VarSet on the new channel (capture
            # 21); the simulator sends the ones a consumer reads (our CC_* tags)
            pbx.set_var(phone, name, value, event=reports_varset(name))
            phone.variables[name] = value
        if caller is not None:
            pbx.set_callerid(phone, *caller)
            pbx.set_connected(phone, *caller)
        pbx.emit("DialBegin", "call", [*phone.block("Dest"), ("DialString", endpoint)])
        pbx.spawn(self.run_originated(phone, then, report, timeout), name=phone.name)
        return phone

    async def run_originated(
        self,
        phone: Channel,
        then: tuple[str, str, str],
        report: Callable[[Channel, bool], None],
        timeout: float,
    ) -> None:
        pbx = self.pbx
        op = pbx.operator(phone.device)
        queues = pbx.queues

        async def ringing() -> None:
            pbx.emit("DialState", "call", [*phone.block("Dest"), ("DialStatus", "RINGING")])
            pbx.device_state(phone.device, "RINGING")

        async def answered() -> None:
            pbx.device_state(phone.device, "INUSE")
            phone.answered_event.set()
            await pbx.wait_for_event(phone, phone.proceed, None)

        ring = pbx.spawn(self.ring(phone, op, ringing, answered), name=f"ring {phone.name}")
        try:
            got = await pbx.wait_for_event(phone, phone.answered_event, timeout)
        except ChannelHungUp:
            got = False
        if not got:
            pbx.emit("DialEnd", "call", [*phone.block("Dest"), ("DialStatus", "NOANSWER")])
            report(phone, False)
            phone.cause = 0
            pbx.finish(phone, soft=False)
            await asyncio.shield(ring)
            return
        pbx.emit("DialEnd", "call", [*phone.block("Dest"), ("DialStatus", "ANSWER")])
        context, exten, data = then
        report(phone, True)
        # ringinuse=no: an operator on an originated call is not offered queue calls
        claimed = phone.device not in queues.busy
        queues.busy.add(phone.device)
        phone.proceed.set()
        try:
            if context:
                pbx.dialplan.jump(phone, context, exten)
                await pbx.dialplan.run(phone)
            else:
                await pbx.wait(phone, float(data or 0))
                pbx.finish(phone, soft=False)
        except ChannelHungUp:
            pbx.finish(phone)
        finally:
            if claimed:
                queues.busy.discard(phone.device)
                for q in queues.queues.values():
                    queues.notify(q)
            ring.cancel()
