"""The dial plan of tests/fixtures/asterisk-config/extensions.conf, run step by step.

Each context is a coroutine; :meth:`Dialplan.app` announces a step with ``Newexten`` exactly
as Asterisk does (same application names and argument strings after substitution).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from contact_center.sim.agistep import new_command_id
from contact_center.sim.config import Operator
from contact_center.sim.errors import ChannelHungUp, Redirected
from contact_center.sim.model import UNKNOWN, Bridge, Channel

if TYPE_CHECKING:
    from contact_center.sim.pbx import SimPbx

DIDS = {"4951110001", "4951110002", "4951110003", "4951110004", "4951110005"}
QUEUE_CONTEXT = "to-queue"
TRUNK_CONTEXT = "from-trunk"  # deploy/asterisk/extensions.conf: any DID, IVR by FastAGI
ORIGINATE_CONTEXT = "cc-originate"  # click-to-call: dial the customer through the trunk
ATXFER_RING_TIMEOUT = 30.0  # seconds an Atxfer target may ring
_NO_REPORT = "\x00no-originate-response"
SPY_OPTIONS = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}

# Variables the simulator reports with VarSet (the rest of Asterisk's VarSet noise is not
# emitted; see README.md). Inherited ``__`` variables are reported on the legs they reach.
EMITTED_VARSETS = frozenset(
    {"MIXMONITOR_FILENAME", "BACKGROUNDSTATUS", "RING", "IVR_CHOICE", "CC_NOTE", "AGISTATUS"}
)


def reports_varset(name: str) -> bool:
    """Whether a VarSet of ``name`` is one the simulator emits."""
    return name.startswith("__") or name in EMITTED_VARSETS


class Dialplan:
    """Runs the contexts of the capture rig on simulated channels."""

    def __init__(self, pbx: SimPbx) -> None:
        self.pbx = pbx
        self.conferences: dict[str, Bridge] = {}

    # ------------------------------------------------------------ helpers
    def app(self, ch: Channel, app: str, data: str = "") -> None:
        """Step to the next priority (unless just jumped) and announce the application."""
        if ch.fresh:
            ch.fresh = False
        else:
            ch.priority += 1
        self.pbx.newexten(ch, app, data)

    def goto(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None:
        ch.context, ch.exten, ch.priority, ch.fresh = context, exten, priority, True

    def set(self, ch: Channel, name: str, value: str) -> None:
        self.app(ch, "Set", f"{name}={value}")
        self.pbx.set_var(ch, name, value)

    def answer(self, ch: Channel) -> None:
        """Answer(): the Local ``;2`` goes Up, which answers its ``;1`` half too."""
        self.app(ch, "Answer")
        if ch.state == 6:
            return
        pbx = self.pbx
        pbx.set_state(ch, 6)
        one = ch.peer
        if one is None or one.dead:
            return
        if ch.origin == "originate":
            pbx.device_state(ch.device, "INUSE")
            pbx.set_state(one, 6)
            pbx.device_state(ch.device, "INUSE")
        else:
            pbx.set_state(one, 6)
        one.answered_event.set()

    def hangup_app(self, ch: Channel) -> None:
        self.app(ch, "Hangup")
        self.pbx.request_hangup(ch)
        raise ChannelHungUp(ch.name)

    def exists(self, context: str, exten: str) -> bool:
        if context == "inbound":
            return exten in DIDS
        if context == "ivr-main":
            return exten == "s"
        if context == "to-queue":
            return exten in self.pbx.queues.queues
        if context == "agents":
            return len(exten) == 3 and exten.startswith("1") and exten.isdigit()
        if context == "conference":
            return len(exten) == 4 and exten.startswith("8") and exten.isdigit()
        if context == "supervisor":
            return exten in SPY_OPTIONS
        if context == "callersim":
            return exten in {"s", "hold", "answer"}
        if context == "transfer-targets":
            return exten in self.pbx.queues.queues or self.exists("agents", exten)
        if context == TRUNK_CONTEXT:
            return exten.isdigit()
        if context == ORIGINATE_CONTEXT:
            return re.fullmatch(r"\+?\d+", exten) is not None
        return False

    # ------------------------------------------------------------ originate
    def originate(
        self,
        exten: str,
        context: str,
        *,
        caller: tuple[str, str] | None,
        then: tuple[str, str, str],
        variables: dict[str, str] | None = None,
        action_id: str | None = None,
        timeout: float = 30.0,
        report: bool = True,
        ids: tuple[str, str] = ("", ""),
    ) -> tuple[Channel, Channel]:
        """AMI Originate of ``Local/<exten>@<context>``: ``then`` is (context, exten, "") for
        the ``;1`` half's dial plan or ("", application, data). ``report``: send an
        OriginateResponse event (Async originates only). ``ids``: ChannelId/OtherChannelId,
        the Uniqueids of ``;1``/``;2`` (so the call's Linkedid is the ChannelId)."""
        pbx = self.pbx
        if not report:
            action_id = _NO_REPORT
        one, two = pbx.local_pair(exten, context, ids=ids)
        self.app_on_one(one)
        for name, value in (variables or {}).items():
            one.variables[name] = value
            two.variables[name] = value
        if not self.exists(context, exten):
            self.originate_failed(one, two, then, action_id)
            return one, two
        if caller is not None:
            num, name = caller
            pbx.set_callerid(one, num, name)
            pbx.set_connected(one, num, name)
            two.set_connected(num, name)
            pbx.set_callerid(two, num, name)
            pbx.set_connected(two, num, name)
        pbx.local_bridge_event(one, two)
        pbx.emit("DialBegin", "call", [*one.block("Dest"), ("DialString", f"{exten}@{context}")])
        pbx.processed_calls += 1
        pbx.spawn(self.run(two), name=two.name)
        pbx.spawn(self.run_originator(one, then, action_id, timeout), name=one.name)
        return one, two

    def app_on_one(self, one: Channel) -> None:
        self.pbx.newexten(one, "AppDial2", "(Outgoing Line)")

    def originate_failed(
        self, one: Channel, two: Channel, then: tuple[str, str, str], action_id: str | None
    ) -> None:
        pbx = self.pbx
        one.peer = two.peer = None  # no Local bridge was ever made: nothing to propagate
        pbx.finish(two, soft=False)
        self.originate_response(one, then, action_id, ok=False)
        pbx.finish(one, soft=False)

    def originate_response(
        self, one: Channel, then: tuple[str, str, str], action_id: str | None, *, ok: bool
    ) -> None:
        if action_id == _NO_REPORT:
            return
        fields: list[tuple[str, str]] = []
        if action_id is not None:
            fields.append(("ActionID", action_id))
        fields.append(("Response", "Success" if ok else "Failure"))
        fields.append(("Channel", one.name if ok else one.name.rsplit("-", 1)[0]))
        context, exten, data = then
        if context:
            fields += [("Context", context), ("Exten", exten)]
        else:
            fields += [("Application", exten), ("Data", data)]
        fields += [
            ("Reason", "4" if ok else "0"),
            ("Uniqueid", one.uniqueid if ok else UNKNOWN),
            ("CallerIDNum", one.caller_num),
            ("CallerIDName", one.caller_name),
        ]
        self.pbx.emit("OriginateResponse", "call", fields)

    async def run_originator(
        self, one: Channel, then: tuple[str, str, str], action_id: str | None, timeout: float
    ) -> None:
        """The ``;1`` half: wait for the far end to answer, then run ``then``."""
        pbx = self.pbx
        try:
            if not await pbx.wait_for_event(one, one.answered_event, timeout):
                pbx.emit("DialEnd", "call", [*one.block("Dest"), ("DialStatus", "NOANSWER")])
                self.originate_response(one, then, action_id, ok=False)
                pbx.request_hangup(one, 19)
                raise ChannelHungUp(one.name)
            pbx.emit("DialEnd", "call", [*one.block("Dest"), ("DialStatus", "ANSWER")])
            context, exten, data = then
            if context == "callersim":
                self.goto(one, context, exten)
                await self.callersim(one, response=(then, action_id))
            elif context:
                # any other context: the ;1 half runs the dial plan like any channel
                self.originate_response(one, then, action_id, ok=True)
                self.goto(one, context, exten)
                await self.run(one)
            else:
                self.originate_response(one, then, action_id, ok=True)
                await pbx.wait(one, float(data or 0))
                pbx.finish(one, soft=False)  # the application returned: no soft hang-up
        except ChannelHungUp:
            pbx.finish(one)

    async def callersim(
        self, ch: Channel, response: tuple[tuple[str, str, str], str | None] | None = None
    ) -> None:
        """[callersim]: the caller's phone (hold, or s: wait, send DTMF, talk, hang up)."""
        pbx = self.pbx

        def first_step_done() -> None:
            if response is not None:
                self.originate_response(ch, response[0], response[1], ok=True)

        if ch.exten == "hold":
            self.app(ch, "Wait", "600")
            first_step_done()
            await pbx.wait(ch, 600)
            self.hangup_app(ch)
        if ch.exten == "answer":
            self.answer(ch)
            first_step_done()
            self.app(ch, "Wait", "600")
            await pbx.wait(ch, 600)
            self.hangup_app(ch)
        self.app(ch, "NoOp", f"Caller phone {ch.caller_id}")
        first_step_done()
        delay = ch.variables.get("DTMF_DELAY", "") or "2"
        self.app(ch, "Wait", _num(delay))
        await pbx.wait(ch, float(delay))
        digits = ch.variables.get("DTMF", "")
        self.app(ch, "ExecIf", f"{1 if digits else 0}?SendDTMF({digits},250,100)")
        for digit in digits:
            pbx.play_dtmf(ch, digit, 250)
            await pbx.wait(ch, 0.35)
        talk = ch.variables.get("TALK", "") or "20"
        self.app(ch, "Wait", _num(talk))
        await pbx.wait(ch, float(talk))
        self.hangup_app(ch)

    # ------------------------------------------------------------ the ;2 side
    async def run(self, ch: Channel) -> None:
        """Run a channel's dial plan from its current context until it hangs up."""
        while True:
            try:
                await self.dispatch(ch)
                self.pbx.request_hangup(ch)
            except Redirected:
                assert ch.redirect_to is not None
                context, exten, priority = ch.redirect_to
                ch.redirect_to = None
                ch.hangup_requested.clear()
                self.goto(ch, context, exten, priority)
                continue
            except ChannelHungUp:
                pass
            break
        self.pbx.finish(ch)

    def resume_elsewhere(self, ch: Channel) -> None:
        """A channel some other task drove (a queue's operator leg) was redirected: it now
        runs the dial plan at its redirect target in a task of its own."""
        assert ch.redirect_to is not None
        context, exten, priority = ch.redirect_to
        ch.redirect_to = None
        ch.hangup_requested.clear()
        self.goto(ch, context, exten, priority)
        self.pbx.spawn(self.run(ch), name=ch.name)

    async def dispatch(self, ch: Channel) -> None:
        while True:
            context = ch.context
            if context == "inbound":
                await self.inbound(ch)
            elif context == "ivr-main":
                await self.ivr_main(ch)
            elif context == "to-queue":
                await self.to_queue(ch)
            elif context == "conference":
                await self.conference(ch)
            elif context == "supervisor":
                await self.supervisor(ch)
            elif context == "callersim":
                await self.callersim(ch)
            elif context == "transfer-targets":
                await self.transfer_target(ch)
            elif context == TRUNK_CONTEXT:
                await self.from_trunk(ch)
            elif context == ORIGINATE_CONTEXT:
                await self.cc_originate(ch)
            elif context == "agents":
                await self.agents(ch)
            else:
                return
            if ch.context == context:
                return

    async def inbound(self, ch: Channel) -> None:
        did = ch.exten
        self.app(ch, "NoOp", f"Inbound call from {ch.caller_id} to DID {did}")
        self.set(ch, "__CC_DID", did)
        if did == "4951110003":
            status = await self.agi(ch, "ivr", ["main", did])
            self.app(ch, "NoOp", self.agi_finished(ch, status))
            self.hangup_app(ch)
        self.answer(ch)
        if did == "4951110001":
            self.app(ch, "Goto", "ivr-main,s,1")
            self.goto(ch, "ivr-main", "s")
        elif did == "4951110002":
            await self.read_menu(ch)
        elif did == "4951110004":
            self.app(ch, "Goto", "to-queue,support,1")
            self.goto(ch, "to-queue", "support")
        elif did == "4951110005":
            status = await self.agi(ch, "ivr-route", [did])
            self.app(ch, "NoOp", self.agi_finished(ch, status))
            choice = ch.variables.get("IVR_CHOICE", "")
            self.app(ch, "GotoIf", f"{1 if choice == '1' else 0}?to-queue,sales,1")
            if choice == "1":
                self.goto(ch, "to-queue", "sales")
            else:
                self.app(ch, "Goto", "to-queue,support,1")
                self.goto(ch, "to-queue", "support")

    async def from_trunk(self, ch: Channel) -> None:
        """[from-trunk] _X. of deploy/asterisk/extensions.conf: our IVR (FastAGI ``main``)
        picks the queue (CC_QUEUE) and the priority (CC_PRIORITY); no queue: hang up."""
        did = ch.exten
        self.app(ch, "NoOp", f"Inbound {ch.caller_id} to {did}")
        self.set(ch, "__CC_DID", did)
        self.answer(ch)
        await self.agi(ch, "main", [did])
        queue = ch.variables.get("CC_QUEUE", "")
        self.app(ch, "GotoIf", f"{0 if queue else 1}?done")
        if not queue or queue not in self.pbx.queues.queues:
            self.hangup_app(ch)
        ch.variables["QUEUE_PRIO"] = ch.variables.get("CC_PRIORITY", "") or "0"
        self.app(ch, "Goto", f"to-queue,{queue},1")
        self.goto(ch, "to-queue", queue)

    async def cc_originate(self, ch: Channel) -> None:
        """[cc-originate]: dial the customer's number through the trunk and bridge."""
        number = ch.exten
        if not number.startswith("+"):
            self.app(ch, "Goto", f"cc-originate,+{number},1")
            self.goto(ch, ORIGINATE_CONTEXT, f"+{number}")
            number = ch.exten
        self.app(ch, "NoOp", f"Click-to-call {number}")
        self.app(ch, "Dial", f"PJSIP/{number}@trunk,60,tT")
        await self.pbx.queues.dial_external(ch, number, 60.0)
        self.hangup_app(ch)

    async def agents(self, ch: Channel) -> None:
        """[agents] on an originated operator phone (click-to-call, spying supervisor):
        ring as the Operator config says, answer, talk until hung up."""
        pbx = self.pbx
        op = pbx.operators.get(ch.device) or Operator(
            ch.device, answer_after=pbx.config.default_ring
        )
        self.app(ch, "NoOp", f"Operator {ch.exten} is being called by {ch.caller_id}")
        ring = "60" if op.answer_after is None else _num(str(op.answer_after))
        self.set(ch, "RING", ring)
        self.app(ch, "Ringing")
        one = ch.peer
        if one is not None and not one.dead:
            pbx.set_state(one, 5)
        self.app(ch, "Wait", ring)
        if op.manual:
            await pbx.wait_for_event(ch, ch.manual_answer, None)
        else:
            await pbx.wait(ch, 60.0 if op.answer_after is None else op.answer_after)
        self.answer(ch)
        self.app(ch, "Wait", "600" if op.talk is None else _num(str(op.talk)))
        queues = pbx.queues
        # ringinuse=no: an operator on an originated call is not offered queue calls
        claimed = ch.device not in queues.busy
        queues.busy.add(ch.device)
        try:
            await pbx.wait(ch, 600.0 if op.talk is None else op.talk)
        finally:
            if claimed:
                queues.busy.discard(ch.device)
                for q in queues.queues.values():
                    queues.notify(q)
        self.hangup_app(ch)

    async def consult(self, op: Channel, context: str, exten: str) -> None:
        """Atxfer on the operator leg ``op``: its caller hears hold while ``context,exten``
        rings; the queue's bridge completes the transfer when ``op`` goes away (the operator
        hangs up, or ``atxfer_complete_after`` seconds after the target answered)."""
        pbx = self.pbx
        bridge = op.bridge
        caller = next((c for c in bridge.channels if c is not op), None) if bridge else None
        if caller is not None and not caller.on_hold_music:
            caller.on_hold_music = True
            pbx.emit_channel("MusicOnHoldStart", "call", caller, [("Class", "default")])
        target, leg = pbx.local_pair(exten, context, linkedid=op.linkedid)
        leg.origin = "atxfer"
        pbx.newexten(target, "AppDial", "(Outgoing Line)")
        pbx.set_callerid(target, exten, "")
        if caller is not None:
            pbx.set_callerid(leg, caller.caller_num, caller.caller_name)
        pbx.local_bridge_event(target, leg)
        pbx.emit(
            "DialBegin",
            "call",
            [*op.block(), *target.block("Dest"), ("DialString", f"{exten}@{context}")],
        )
        op.attended_to = target
        pbx.spawn(self.run(leg), name=leg.name)
        try:
            answered = await pbx.wait_for_event(op, target.answered_event, ATXFER_RING_TIMEOUT)
            status = "ANSWER" if answered else "NOANSWER"
            pbx.emit(
                "DialEnd", "call", [*op.block(), *target.block("Dest"), ("DialStatus", status)]
            )
            if not answered:
                op.attended_to = None
                pbx.finish(target)
                if caller is not None and caller.on_hold_music and not caller.dead:
                    caller.on_hold_music = False
                    pbx.emit_channel("MusicOnHoldStop", "call", caller)
                return
            await pbx.wait(op, pbx.config.atxfer_complete_after)
            phone = op.peer  # the operator's own phone hangs up: that completes the transfer
            if phone is not None and not phone.dead:
                pbx.request_hangup(phone)
        except ChannelHungUp:
            return  # the operator hung up first: the queue's bridge takes it from here

    def agi_finished(self, ch: Channel, status: str) -> str:
        return f"AGI finished AGISTATUS={status} IVR_CHOICE={ch.variables.get('IVR_CHOICE', '')}"

    async def read_menu(self, ch: Channel) -> None:
        pbx = self.pbx
        self.app(ch, "Read", "CHOICE,hello-world,1,,1,6")
        digit = await pbx.read_digit(ch, pbx.config.prompt_seconds + pbx.config.ivr_timeout)
        status = "OK" if digit else "TIMEOUT"
        pbx.set_var(ch, "CHOICE", digit or "", event=False)
        self.app(ch, "NoOp", f"Read returned CHOICE={digit or ''} READSTATUS={status}")
        self.app(ch, "GotoIf", f"{1 if digit == '1' else 0}?to-queue,sales,1")
        if digit == "1":
            self.goto(ch, "to-queue", "sales")
            return
        self.app(ch, "GotoIf", f"{1 if digit == '2' else 0}?to-queue,support,1")
        if digit == "2":
            self.goto(ch, "to-queue", "support")
            return
        self.app(ch, "Playback", "vm-goodbye")
        await pbx.wait(ch, pbx.config.prompt_seconds)
        self.hangup_app(ch)

    async def ivr_main(self, ch: Channel) -> None:
        pbx = self.pbx
        self.app(ch, "Set", "TIMEOUT(digit)=3")
        self.app(ch, "Set", "TIMEOUT(response)=8")
        while True:
            self.app(ch, "BackGround", "hello-world")
            digit = await pbx.read_digit(ch, pbx.config.prompt_seconds)
            if digit is not None:
                pbx.set_var(ch, "BACKGROUNDSTATUS", "SUCCESS")
            else:
                pbx.set_var(ch, "BACKGROUNDSTATUS", "SUCCESS")
                self.app(ch, "WaitExten", "8")
                digit = await pbx.read_digit(ch, pbx.config.ivr_timeout)
            if digit is None:
                self.goto(ch, "ivr-main", "t")
                self.app(ch, "Playback", "vm-goodbye")
                await pbx.wait(ch, pbx.config.prompt_seconds)
                self.hangup_app(ch)
                return
            self.goto(ch, "ivr-main", digit)
            if digit in {"1", "2"}:
                queue = "sales" if digit == "1" else "support"
                self.set(ch, "__CC_IVR_CHOICE", digit)
                self.app(ch, "Goto", f"to-queue,{queue},1")
                self.goto(ch, "to-queue", queue)
                return
            if digit == "9":
                await self.agi(ch, "ivr", ["from-menu"])
                self.hangup_app(ch)
            self.goto(ch, "ivr-main", "i")
            self.app(ch, "Playback", "pbx-invalid")
            await pbx.wait(ch, pbx.config.prompt_seconds)
            self.app(ch, "Goto", "s,menu")
            self.goto(ch, "ivr-main", "s", 3)

    async def to_queue(self, ch: Channel) -> None:
        pbx = self.pbx
        queue = ch.exten
        self.app(ch, "NoOp", f"Queueing into {queue}")
        ch.cdr_ivr_choice = ch.variables.get("CC_IVR_CHOICE", "")
        self.app(ch, "Set", f"CDR(ivr_choice)={ch.cdr_ivr_choice}")
        ch.cdr_userfield = f"queue:{queue}"
        self.app(ch, "Set", f"CDR(userfield)=queue:{queue}")
        handler = "cc-hangup-handler,s,1"
        self.app(ch, "Set", f"CHANNEL(hangup_handler_push)={handler}")
        ch.hangup_handlers.append(handler)
        pbx.emit_channel("HangupHandlerPush", "dialplan", ch, [("Handler", handler)])
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        filename = f"{stamp}-{ch.uniqueid}.wav"
        self.app(ch, "MixMonitor", f"{filename},b")
        pbx.start_mixmonitor(ch, filename)
        self.app(ch, "Queue", f"{queue},tT,,,300")
        status = await pbx.queues.run(ch, queue)
        ch.variables["QUEUESTATUS"] = status
        self.app(ch, "NoOp", f"Queue ended QUEUESTATUS={status}")
        self.hangup_app(ch)

    async def transfer_target(self, ch: Channel) -> None:
        exten = ch.exten
        if exten in self.pbx.queues.queues:
            self.app(ch, "Goto", f"to-queue,{exten},1")
            self.goto(ch, "to-queue", exten)
            return
        self.app(ch, "NoOp", f"Transfer to operator {exten}")
        self.app(ch, "Dial", f"Local/{exten}@agents,20,tT")
        await self.pbx.queues.dial_operator(ch, f"Local/{exten}@agents", 20.0)
        self.hangup_app(ch)

    # ------------------------------------------------------------ AGI
    async def agi(self, ch: Channel, script: str, args: list[str]) -> str:
        pbx = self.pbx
        url = f"agi://{pbx.config.agi_host}:{pbx.config.agi_port}/{script}"
        self.app(ch, "AGI", ",".join([url, *args]))
        adapter = _AgiAdapter(pbx, ch)
        try:
            status = await pbx.agi(adapter, url, args)
        except ChannelHungUp:
            pbx.set_var(ch, "AGISTATUS", "HANGUP")
            raise
        pbx.set_var(ch, "AGISTATUS", status)
        return status

    # ------------------------------------------------------------ ConfBridge
    async def conference(self, ch: Channel) -> None:
        pbx = self.pbx
        room = ch.exten
        self.app(ch, "NoOp", f"Conference {room} for {ch.caller_id}")
        self.answer(ch)
        self.app(ch, "ConfBridge", f"{room},cc_bridge,cc_user,cc_menu")
        bridge = self.conferences.get(room)
        first = bridge is None
        if bridge is None:
            bridge = pbx.bridge_create(
                bridge_type="base", technology="softmix", creator="ConfBridge", name=room
            )
            bridge.extra_channels = 1
            self.conferences[room] = bridge
            pbx.emit("ConfbridgeStart", "call", [("Conference", room), *bridge.block()])
            pbx.device_state(f"confbridge:{room}", "INUSE")
            # the "you are the only person" prompt delays the first party's join
            await pbx.wait(ch, pbx.config.prompt_seconds)
        try:
            if first:
                self.confbridge_join(bridge, room, ch, muted=False)
                pbx.bridge_enter(bridge, ch)
            else:
                pbx.bridge_enter(bridge, ch)
                self.confbridge_join(bridge, room, ch, muted=False)
            await pbx.wait(ch, None)
        except ChannelHungUp:
            self.conference_leave(bridge, room, ch)
            raise

    def confbridge_join(self, bridge: Bridge, room: str, ch: Channel, *, muted: bool) -> None:
        ch.variables["__CONF_MUTED"] = "No"
        self.pbx.emit(
            "ConfbridgeJoin",
            "call",
            [("Conference", room), *bridge.block(), *ch.block(), ("Admin", "No"), ("Muted", "No")],
        )

    def conference_leave(self, bridge: Bridge, room: str, ch: Channel) -> None:
        pbx = self.pbx
        # Asterisk's CDR engine pairs a party with each party that joined after it.
        ch.cdr_peers = [c.name for c in bridge.history if c.created > ch.created]
        pbx.emit(
            "ConfbridgeLeave",
            "call",
            [("Conference", room), *bridge.block(), *ch.block(), ("Admin", "No")],
        )
        if ch.on_hold_music:
            ch.on_hold_music = False
            pbx.emit_channel("MusicOnHoldStop", "call", ch)
        pbx.bridge_leave(bridge, ch)
        if len(bridge.channels) == 1:
            alone = bridge.channels[0]
            alone.on_hold_music = True
            pbx.emit_channel("MusicOnHoldStart", "call", alone, [("Class", "default")])
        if not bridge.channels:
            pbx.device_state(f"confbridge:{room}", "NOT_INUSE")
            pbx.emit("ConfbridgeEnd", "call", [("Conference", room), *bridge.block()])
            pbx.bridge_destroy(bridge)
            pbx.device_state(f"CBAnn/{room}", "INUSE")
            pbx.device_state(f"CBAnn/{room}", "UNKNOWN")
            self.conferences.pop(room, None)

    # ------------------------------------------------------------ ChanSpy
    async def supervisor(self, ch: Channel) -> None:
        pbx = self.pbx
        mode = ch.exten
        self.answer(ch)
        target = ch.variables.get("CHANSPY_TARGET", "")
        self.app(ch, "ChanSpy", f"{target},{SPY_OPTIONS[mode]}")
        spyee = next(
            (c for c in pbx.channels.values() if c.name.startswith(target + "-") and c.bridge),
            None,
        )
        if spyee is None:
            await pbx.wait(ch, pbx.config.prompt_seconds)
            return
        pbx.emit("ChanSpyStart", "call", [*ch.block("Spyer"), *spyee.block("Spyee")])
        try:
            await pbx.wait(ch, None)
        finally:
            pbx.emit("ChanSpyStop", "call", [*ch.block("Spyer"), *spyee.block("Spyee")])


class _AgiAdapter:
    """What an AGI step sees of a channel (see agistep.AgiChannel)."""

    def __init__(self, pbx: SimPbx, ch: Channel) -> None:
        self.pbx = pbx
        self.ch = ch
        self.name = ch.name
        self.uniqueid = ch.uniqueid

    def agi_environment(self, url: str, args: list[str]) -> dict[str, str]:
        ch = self.ch
        env = {
            "agi_network": "yes",
            "agi_network_script": url.rsplit("/", 1)[-1],
            "agi_request": url,
            "agi_channel": ch.name,
            "agi_language": "en",
            "agi_type": "Local",
            "agi_uniqueid": ch.uniqueid,
            "agi_version": "22.10.1",
            "agi_callerid": ch.caller_num,
            "agi_calleridname": ch.caller_name,
            "agi_callingpres": "0",
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": "unknown",
            "agi_rdnis": "unknown",
            "agi_context": ch.context,
            "agi_extension": ch.exten,
            "agi_priority": str(ch.priority),
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": str(id(ch)),
        }
        for n, arg in enumerate(args, 1):
            env[f"agi_arg_{n}"] = arg
        return env

    async def agi_read_digit(self, timeout: float) -> str | None:
        return await self.pbx.read_digit(self.ch, timeout)

    def agi_set_variable(self, name: str, value: str) -> None:
        if name.upper().startswith("CDR(IVR_CHOICE)"):
            self.ch.cdr_ivr_choice = value
            return
        self.pbx.set_var(self.ch, name, value)

    def agi_get_variable(self, name: str) -> str:
        return self.ch.variables.get(name, "")

    def agi_exec_start(self, command: str) -> int:
        cid = new_command_id()
        self.pbx.emit_channel(
            "AGIExecStart", "agi", self.ch, [("CommandId", str(cid)), ("Command", command)]
        )
        return cid

    def agi_exec_end(self, command_id: int, command: str, code: int, result: str) -> None:
        self.pbx.emit_channel(
            "AGIExecEnd",
            "agi",
            self.ch,
            [
                ("CommandId", str(command_id)),
                ("Command", command),
                ("ResultCode", str(code)),
                ("Result", result),
            ],
        )


def _num(text: str) -> str:
    """How Asterisk prints a Wait() argument that came from a variable (as given)."""
    return text[:-2] if text.endswith(".0") else text
