"""The dial plan engine: runs channels through the contexts of an extensions.conf.

:class:`Dialplan` walks a channel from its context/extension/priority, substitutes each
step's arguments, announces it with ``Newexten`` (Asterisk's application names, arguments
after substitution) and runs the application (``apps.py``) on the PBX's primitives. Jumps
(Goto, GotoIf, Gosub/Return, digits dialled in Background/WaitExten, AGI's SET CONTEXT,
AMI Redirect) move the channel; falling off the end hangs it up (autofallthrough). Hang-up
handlers run inside the hang-up. A step the simulator cannot carry out raises
:class:`DialplanError` naming the file and line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from contact_center.sim import consult as consultation
from contact_center.sim.dialplan.agiadapter import AgiAdapter
from contact_center.sim.dialplan.apps import AppError, Applications, HandlerReturned
from contact_center.sim.dialplan.parser import (
    APPLICATIONS,
    DialplanConfig,
    DialplanError,
    Step,
)
from contact_center.sim.dialplan.rooms import Rooms
from contact_center.sim.dialplan.subst import SubstitutionError, substitute
from contact_center.sim.dialplan.varsets import reports_varset
from contact_center.sim.errors import ChannelHungUp, Redirected
from contact_center.sim.localdial import dial_local
from contact_center.sim.model import UNKNOWN, Bridge, Channel

if TYPE_CHECKING:
    from contact_center.sim.core import PbxCore

log = logging.getLogger(__name__)

_NO_REPORT = "\x00no-originate-response"


class _Scope:
    """What ``${...}`` sees on one channel: its variables, then the globals."""

    def __init__(self, dp: Dialplan, ch: Channel) -> None:
        self.dp, self.ch = dp, ch

    def variable(self, name: str) -> str:
        ch = self.ch
        builtin = {
            "EXTEN": lambda: ch.exten,
            "CONTEXT": lambda: ch.context,
            "PRIORITY": lambda: str(ch.priority),
            "UNIQUEID": lambda: ch.uniqueid,
            "CHANNEL": lambda: ch.name,
            "EPOCH": lambda: str(int(time.time())),
            "HANGUPCAUSE": lambda: str(ch.cause) if ch.hangup_requested.is_set() else "",
        }.get(name)
        if builtin is not None:
            return builtin()
        if name in ch.variables:
            return ch.variables[name]
        return self.dp.globals.get(name, "")

    def function(self, name: str, args: str) -> str:
        ch = self.ch
        if name == "CALLERID":
            what = args.strip().lower()
            num = "" if ch.caller_num == UNKNOWN else ch.caller_num
            name_ = "" if ch.caller_name == UNKNOWN else ch.caller_name
            if what == "all":
                return ch.caller_id
            if what in {"num", "number"}:
                return num
            if what == "name":
                return name_
        elif name == "GLOBAL":
            return self.dp.globals.get(args.strip(), "")
        elif name == "CDR":
            what = args.strip().lower()
            if what == "userfield":
                return ch.cdr_userfield
            if what == "ivr_choice":
                return ch.cdr_ivr_choice
        elif name == "CHANNEL":
            what = args.strip().lower()
            if what in {"name", "channel"}:
                return ch.name
            if what == "uniqueid":
                return ch.uniqueid
            if what == "linkedid":
                return ch.linkedid
        elif name == "TIMEOUT":
            value = ch.timeouts.get(args.strip().lower())
            return "" if value is None else f"{value:g}"
        raise SubstitutionError(f"{name}({args}) is not supported")


class Dialplan:
    """Runs simulated channels through one loaded dial plan."""

    def __init__(self, pbx: PbxCore, config: DialplanConfig) -> None:
        self.pbx = pbx
        self.config = config
        self.globals = {**config.globals, **dict(pbx.config.dialplan_globals)}
        self.rooms = Rooms(pbx)
        self.apps = Applications(self)
        self.mailboxes: dict[str, int] = {}  # mailbox → new messages
        self._first_step: dict[Channel, Callable[[], None]] = {}

    @property
    def conferences(self) -> dict[str, Bridge]:
        return self.rooms.conferences

    def kick(self, room: str, channel: str) -> bool:
        """ConfbridgeKick: see :meth:`Rooms.kick`."""
        return self.rooms.kick(room, channel)

    # ------------------------------------------------------------ lookups
    def exists(self, context: str, exten: str) -> bool:
        ctx = self.config.contexts.get(context)
        return ctx is not None and ctx.find(exten) is not None

    def step_at(self, ch: Channel) -> Step | None:
        ctx = self.config.contexts.get(ch.context)
        ext = ctx.find(ch.exten) if ctx is not None else None
        return ext.steps.get(ch.priority) if ext is not None else None

    def app_name(self, name: str) -> str:
        app = APPLICATIONS.get(name.strip().lower())
        if app is None:
            raise AppError(f"application {name}() is not supported by the simulator")
        return app

    # ------------------------------------------------------------ moving a channel
    def jump(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None:
        ch.context, ch.exten, ch.priority, ch.fresh = context, exten, priority, True

    def goto_target(self, ch: Channel, target: str) -> None:
        """``[[context,]exten,]priority|label`` as Goto() reads it."""
        parts = [p.strip() for p in target.split(",")]
        if len(parts) == 1:
            context, exten, where = ch.context, ch.exten, parts[0]
        elif len(parts) == 2:
            context, exten, where = ch.context, parts[0], parts[1]
        elif len(parts) == 3:
            context, exten, where = parts
        else:
            raise AppError(f"bad jump target {target!r}")
        if where.isdigit():
            self.jump(ch, context, exten, int(where))
            return
        ctx = self.config.contexts.get(context)
        ext = ctx.find(exten) if ctx is not None else None
        if ext is None or where not in ext.labels:
            raise AppError(f"no label {where!r} in {context},{exten}")
        self.jump(ch, context, exten, ext.labels[where])

    def assign(self, ch: Channel, name: str, value: str) -> None:
        """``Set(name=value)``: a variable (``_``/``__`` inherited) or a writable function."""
        if name.endswith(")") and "(" in name:
            function, _, arg = name[:-1].partition("(")
            self.assign_function(ch, function.strip().upper(), arg.strip(), value)
            return
        self.pbx.set_var(ch, name, value, event=reports_varset(name))

    def assign_function(self, ch: Channel, function: str, arg: str, value: str) -> None:
        lower = arg.lower()
        if function == "CDR" and lower == "userfield":
            ch.cdr_userfield = value
        elif function == "CDR" and lower == "ivr_choice":
            ch.cdr_ivr_choice = value
        elif function == "CHANNEL" and lower == "hangup_handler_push":
            ch.hangup_handlers.append(value)
            self.pbx.emit_channel("HangupHandlerPush", "dialplan", ch, [("Handler", value)])
        elif function == "TIMEOUT" and lower in {"digit", "response", "absolute"}:
            ch.timeouts[lower] = float(value or 0)
        elif function == "GLOBAL":
            self.globals[arg] = value
        elif function == "CALLERID" and lower in {"num", "name"}:
            # func_callerid: the channel's caller ID changes, announced with NewCallerid
            num, name = (value, ch.caller_name) if lower == "num" else (ch.caller_num, value)
            self.pbx.set_callerid(ch, num, name)
        else:
            raise AppError(f"Set({function}({arg})=…) is not supported by the simulator")

    # ------------------------------------------------------------ running
    def substitute(self, ch: Channel, step: Step) -> str:
        try:
            return substitute(step.args, _Scope(self, ch))
        except SubstitutionError as exc:
            raise DialplanError(f"{step.where}: {step.app}({step.args}): {exc}") from exc

    async def run(self, ch: Channel) -> None:
        """Run a channel's dial plan from its current place until it hangs up."""
        while True:
            try:
                await self.execute(ch)
                self.pbx.request_hangup(ch)  # autofallthrough: the end of the extension
            except Redirected:
                assert ch.redirect_to is not None
                context, exten, priority = ch.redirect_to
                ch.redirect_to = None
                ch.hangup_requested.clear()
                self.jump(ch, context, exten, priority)
                continue
            except ChannelHungUp:
                pass
            except (DialplanError, HandlerReturned) as exc:
                log.error("simulated channel %s stopped: %s", ch.name, exc)
                self.pbx.request_hangup(ch)
            break
        self.pbx.finish(ch)

    async def execute(self, ch: Channel) -> None:
        while True:
            step = self.step_at(ch)
            if step is None:
                if not self.exists(ch.context, ch.exten) and self.exists(ch.context, "i"):
                    # Asterisk sends a channel that jumped to a missing extension to 'i'
                    self.jump(ch, ch.context, "i")
                    continue
                return
            ch.fresh = False
            data = self.substitute(ch, step)
            self.pbx.newexten(ch, step.app, data)
            hook = self._first_step.pop(ch, None)
            if hook is not None:
                hook()
            try:
                await self.apps.run(ch, step.app, data)
            except (AppError, ValueError) as exc:
                raise DialplanError(f"{step.where}: {step.app}({data}): {exc}") from exc
            if not ch.fresh:
                ch.priority += 1

    def resume_elsewhere(self, ch: Channel) -> asyncio.Task[None]:
        """A channel some other task drove (a queue's operator leg) was redirected: it now
        runs the dial plan at its redirect target in a task of its own (returned)."""
        assert ch.redirect_to is not None
        context, exten, priority = ch.redirect_to
        ch.redirect_to = None
        ch.hangup_requested.clear()
        self.jump(ch, context, exten, priority)
        return self.pbx.spawn(self.run(ch), name=ch.name)

    def run_hangup_handler(self, ch: Channel, handler: str) -> None:
        """Run ``context,exten,priority`` inside the hang-up: only steps that do not wait
        (NoOp, Set, Goto…, Return) can run there."""
        self.goto_target(ch, handler)
        for _ in range(1000):  # a handler that loops forever is a dial plan bug
            step = self.step_at(ch)
            if step is None:
                return
            ch.fresh = False
            data = self.substitute(ch, step)
            self.pbx.newexten(ch, step.app, data)
            app = self.apps.sync.get(step.app)
            if app is None:
                raise DialplanError(
                    f"{step.where}: {step.app}() in a hang-up handler is not supported by the "
                    "simulator"
                )
            try:
                app(ch, data)
            except HandlerReturned:
                return
            except (AppError, ValueError) as exc:
                raise DialplanError(f"{step.where}: {step.app}({data}): {exc}") from exc
            if not ch.fresh:
                ch.priority += 1
        raise DialplanError(f"hang-up handler {handler} on {ch.name} does not end")

    # ------------------------------------------------------------ digits
    async def dialled(self, ch: Channel, digit: str) -> None:
        """Background/WaitExten got a digit: collect more while a longer extension could
        still match (TIMEOUT(digit) between digits), then go there, or to ``i``."""
        ctx = self.config.contexts.get(ch.context)
        if ctx is None:
            return
        number = digit
        wait = ch.timeouts.get("digit", 5.0)
        while ctx.can_match_more(number):
            more = await self.pbx.read_digit(ch, wait)
            if more is None:
                break
            number += more
        if ctx.find(number) is not None:
            self.jump(ch, ch.context, number)
        elif ctx.find("i") is not None:
            self.jump(ch, ch.context, "i")
        else:
            self.pbx.request_hangup(ch)
            raise ChannelHungUp(ch.name)

    def timed_out(self, ch: Channel) -> None:
        """WaitExten ran out: the ``t`` extension, or hang up."""
        if self.exists(ch.context, "t"):
            self.jump(ch, ch.context, "t")
            return
        self.pbx.request_hangup(ch)
        raise ChannelHungUp(ch.name)

    # ------------------------------------------------------------ AGI, Dial, VoiceMail
    async def agi(self, ch: Channel, url: str, args: list[str]) -> None:
        """AGI(agi://host:port/script,args…): the simulator connects to its configured
        FastAGI server (``agi_host``/``agi_port``) whatever host the dial plan names."""
        pbx = self.pbx
        script = url.rsplit("/", 1)[-1]
        real = f"agi://{pbx.config.agi_host}:{pbx.config.agi_port}/{script}"
        adapter = AgiAdapter(pbx, ch)
        try:
            status = await pbx.agi(adapter, real, args)
        except ChannelHungUp:
            pbx.set_var(ch, "AGISTATUS", "HANGUP")
            raise
        pbx.set_var(ch, "AGISTATUS", status)
        where = adapter.goto
        if where:
            priority = where.get("priority", "")
            self.jump(
                ch,
                where.get("context", ch.context),
                where.get("extension", ch.exten),
                int(priority) if priority.isdigit() else ch.priority + 1,
            )

    async def dial(self, ch: Channel, target: str, timeout: float) -> str:
        """Dial() of one target; returns DIALSTATUS."""
        tech, _, resource = target.partition("/")
        if tech == "Local":
            exten, at, context = resource.partition("@")
            if not at:
                raise AppError(f"Dial({target}): a Local channel needs exten@context")
            return await dial_local(self.pbx, ch, exten, context, timeout)
        if tech == "PJSIP":
            number, at, endpoint = resource.partition("@")
            if at and endpoint == self.pbx.config.trunk_endpoint:
                return await self.pbx.phones.dial_provider(ch, number, timeout)
            if not at:
                return await self.pbx.phones.dial(ch, number, timeout)
        raise AppError(f"Dial({target}): technology {tech} is not simulated")

    async def voicemail(self, ch: Channel, data: str) -> None:
        """VoiceMail(mailbox@context,options): greeting, beep, the caller speaks until they
        hang up; the message is then waiting (``MessageWaiting``)."""
        pbx = self.pbx
        mailbox = data.split(",")[0]
        if "@" not in mailbox:
            mailbox += "@default"
        if ch.state != 6:
            pbx.set_state(ch, 6)
        await pbx.wait(ch, pbx.config.prompt_seconds)
        try:
            await pbx.wait(ch, None)
        except ChannelHungUp:
            count = self.mailboxes.get(mailbox, 0) + 1
            self.mailboxes[mailbox] = count
            pbx.emit_channel(
                "MessageWaiting",
                "call",
                ch,
                [("Mailbox", mailbox), ("Waiting", "1"), ("New", str(count)), ("Old", "0")],
            )
            pbx.device_state(f"MWI:{mailbox}", "INUSE")
            ch.variables["VMSTATUS"] = "SUCCESS"
            raise

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
            for half in (one, two):  # capture 21: VarSet on both halves (the reported ones)
                pbx.set_var(half, name, value, event=reports_varset(name))
                half.variables[name] = value
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
        self.prepare_phone(two)
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
            if context:
                # The ;1 half runs the dial plan like any channel; Asterisk reports the
                # originate once the first step has started.
                self._first_step[one] = lambda: self.originate_response(
                    one, then, action_id, ok=True
                )
                self.jump(one, context, exten)
                await self.run(one)
                return
            self.originate_response(one, then, action_id, ok=True)
            await pbx.wait(one, float(data or 0))
            pbx.finish(one, soft=False)  # the application returned: no soft hang-up
        except ChannelHungUp:
            pbx.finish(one)

    def prepare_phone(self, two: Channel) -> None:
        """A Local ``;2`` into one of ``config.phone_contexts`` is a simulated operator's
        phone: its Wait() steps follow the Operator config (see apps.Applications.wait)."""
        pbx = self.pbx
        if two.context in pbx.config.phone_contexts:
            two.phone = pbx.operator(two.device)
            self.globals[f"RING_{two.exten}"] = two.phone.ring_text()

    async def consult(self, op: Channel, context: str, exten: str) -> None:
        """Atxfer on the operator leg ``op``: see :mod:`contact_center.sim.consult`."""
        await consultation.consult(self.pbx, op, context, exten)
