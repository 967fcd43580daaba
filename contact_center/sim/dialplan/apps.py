"""The dial plan applications, each on top of the PBX's primitives.

Every application gets the channel and its argument string after substitution (the
``Newexten`` announcing it has already gone out). Flow control (``Goto``, ``GotoIf``,
``Gosub``, ``Return``, ``ExecIf``) and ``Set``/``NoOp`` are synchronous so that hang-up
handlers can run them inside the hang-up; everything else may wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Protocol

from contact_center.sim.dialplan.parser import split_outside_parens
from contact_center.sim.dialplan.subst import check_condition
from contact_center.sim.errors import ChannelHungUp, SimError
from contact_center.sim.model import Channel

if TYPE_CHECKING:
    from contact_center.sim.core import PbxCore
    from contact_center.sim.dialplan.rooms import Rooms

SyncApp = Callable[[Channel, str], None]
AsyncApp = Callable[[Channel, str], Awaitable[None]]
DEFAULT_DIGIT_TIMEOUT = 5.0  # TIMEOUT(digit), pbx.c's default
DEFAULT_RESPONSE_TIMEOUT = 10.0  # TIMEOUT(response)


class Interpreter(Protocol):
    """The engine (``engine.py``) as its applications use it."""

    @property
    def pbx(self) -> PbxCore: ...

    @property
    def rooms(self) -> Rooms: ...

    def app_name(self, name: str) -> str: ...

    def jump(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None: ...

    def goto_target(self, ch: Channel, target: str) -> None: ...

    def assign(self, ch: Channel, name: str, value: str) -> None: ...

    async def dialled(self, ch: Channel, digit: str) -> None: ...

    def timed_out(self, ch: Channel) -> None: ...

    async def agi(self, ch: Channel, url: str, args: list[str]) -> None: ...

    async def dial(self, ch: Channel, target: str, timeout: float) -> str: ...

    async def voicemail(self, ch: Channel, data: str) -> None: ...


class AppError(SimError):
    """An application was given arguments the simulator cannot carry out."""


class HandlerReturned(SimError):
    """Return() with nothing to return to: the end of a hang-up handler."""


class Applications:
    """The applications of one dial plan engine."""

    def __init__(self, dp: Interpreter) -> None:
        self.dp = dp
        self.pbx = dp.pbx
        self.sync: dict[str, SyncApp] = {
            "NoOp": lambda ch, data: None,
            "Set": self.set,
            "Goto": self.goto,
            "GotoIf": self.goto_if,
            "Gosub": self.gosub,
            "Return": self.return_,
        }
        self.waiting: dict[str, AsyncApp] = {
            "ExecIf": self.exec_if,
            "Answer": self.answer,
            "Ringing": self.ringing,
            "Wait": self.wait,
            "Hangup": self.hangup,
            "Playback": self.playback,
            "BackGround": self.background,
            "WaitExten": self.wait_exten,
            "Read": self.read,
            "SendDTMF": self.send_dtmf,
            "AGI": self.agi,
            "Queue": self.queue,
            "Dial": self.dial,
            "MixMonitor": self.mixmonitor,
            "ConfBridge": self.confbridge,
            "ChanSpy": self.chanspy,
            "VoiceMail": self.voicemail,
            "AMD": self.amd,
        }

    async def run(self, ch: Channel, app: str, data: str) -> None:
        sync = self.sync.get(app)
        if sync is not None:
            sync(ch, data)
            return
        await self.waiting[app](ch, data)

    # ------------------------------------------------------------ variables, flow
    def set(self, ch: Channel, data: str) -> None:
        name, eq, value = data.partition("=")
        if not eq:
            raise AppError(f"Set({data}): no '='")
        self.dp.assign(ch, name.strip(), value)

    def goto(self, ch: Channel, data: str) -> None:
        self.dp.goto_target(ch, data)

    def goto_if(self, ch: Channel, data: str) -> None:
        cond, _, branches = data.partition("?")
        yes, _, no = branches.partition(":")
        target = yes if check_condition(cond) else no
        if target.strip():
            self.dp.goto_target(ch, target)

    def gosub(self, ch: Channel, data: str) -> None:
        target, paren, args = data.partition("(")
        ch.gosub_stack.append((ch.context, ch.exten, ch.priority + 1))
        for n, arg in enumerate(split_outside_parens(args.rstrip(")"), ","), 1) if paren else ():
            ch.variables[f"ARG{n}"] = arg
        self.dp.goto_target(ch, target)

    def return_(self, ch: Channel, data: str) -> None:
        if not ch.gosub_stack:
            raise HandlerReturned(ch.name)  # the end of a hang-up handler
        context, exten, priority = ch.gosub_stack.pop()
        self.dp.jump(ch, context, exten, priority)

    async def exec_if(self, ch: Channel, data: str) -> None:
        cond, _, branches = data.partition("?")
        parts = split_outside_parens(branches, ":", 1)
        chosen = parts[0] if check_condition(cond) else (parts[1] if len(parts) > 1 else "")
        if not chosen.strip():
            return
        app, _, args = chosen.strip().partition("(")
        await self.run(ch, self.dp.app_name(app), args[:-1] if args.endswith(")") else args)

    # ------------------------------------------------------------ the line itself
    async def answer(self, ch: Channel, data: str) -> None:
        """Answer(): the channel goes Up; on a Local ``;2`` its ``;1`` half answers too."""
        pbx = self.pbx
        if ch.state == 6:
            return
        pbx.set_state(ch, 6)
        if not ch.name.startswith("Local/"):
            pbx.device_state(ch.device, "INUSE")
            return
        one = ch.peer
        if one is None or one.dead:
            return
        if ch.on_answer is not None:
            await ch.on_answer()
            return
        if ch.origin == "originate":
            pbx.device_state(ch.device, "INUSE")
            pbx.set_state(one, 6)
            pbx.device_state(ch.device, "INUSE")
        else:
            pbx.set_state(one, 6)
        one.answered_event.set()

    async def ringing(self, ch: Channel, data: str) -> None:
        if ch.on_ringing is not None:
            await ch.on_ringing()
            return
        one = ch.peer
        if one is not None and not one.dead:
            self.pbx.set_state(one, 5)

    async def wait(self, ch: Channel, data: str) -> None:
        """Wait(n). On a simulated operator's phone the Operator config decides instead:
        while ringing how long until it answers (or a person answers it), once answered
        how long the operator talks (``talk``; by default until someone hangs up)."""
        pbx = self.pbx
        op = ch.phone
        if op is None:
            await pbx.wait(ch, _seconds(data))
            return
        if ch.state != 6:
            if op.manual:
                await pbx.wait_for_event(ch, ch.manual_answer, None)
            else:
                await pbx.wait(ch, op.answer_after)
            return
        queues = pbx.queues
        # ringinuse=no: an operator on an originated call is not offered queue calls
        claimed = ch.origin == "originate" and ch.device not in queues.busy
        if claimed:
            queues.busy.add(ch.device)
        try:
            await pbx.wait(ch, op.talk)
        finally:
            if claimed:
                queues.busy.discard(ch.device)
                for q in queues.queues.values():
                    queues.notify(q)

    async def hangup(self, ch: Channel, data: str) -> None:
        cause = int(data) if data.strip().isdigit() else 16
        self.pbx.request_hangup(ch, cause)
        raise ChannelHungUp(ch.name)

    async def send_dtmf(self, ch: Channel, data: str) -> None:
        digits, _, rest = data.partition(",")
        between, _, duration = rest.partition(",")
        pbx = self.pbx
        duration_ms = int(duration) if duration.strip().isdigit() else 100
        gap = (int(between) if between.strip().isdigit() else 250) / 1000
        for digit in digits:
            pbx.play_dtmf(ch, digit, max(duration_ms, 250))
            await pbx.wait(ch, gap + 0.1)

    # ------------------------------------------------------------ prompts and digits
    async def playback(self, ch: Channel, data: str) -> None:
        await self.pbx.wait(ch, self.pbx.config.prompt_seconds)

    async def background(self, ch: Channel, data: str) -> None:
        pbx = self.pbx
        digit = await pbx.read_digit(ch, pbx.config.prompt_seconds)
        pbx.set_var(ch, "BACKGROUNDSTATUS", "SUCCESS")
        if digit is not None:
            await self.dp.dialled(ch, digit)

    async def wait_exten(self, ch: Channel, data: str) -> None:
        pbx = self.pbx
        seconds = _seconds(data.partition(",")[0]) if data.strip() else None
        if seconds is None:
            seconds = ch.timeouts.get("response", DEFAULT_RESPONSE_TIMEOUT)
        digit = await pbx.read_digit(ch, seconds)
        if digit is None:
            self.dp.timed_out(ch)
            return
        await self.dp.dialled(ch, digit)

    async def read(self, ch: Channel, data: str) -> None:
        """Read(var,prompt,maxdigits,options,attempts,timeout): digits until ``#``, the
        maximum, or the timeout; READSTATUS OK or TIMEOUT."""
        pbx = self.pbx
        args = [*data.split(","), "", "", "", "", ""]
        name, max_digits = args[0], int(args[2]) if args[2].isdigit() else 255
        timeout = _seconds(args[5]) or DEFAULT_RESPONSE_TIMEOUT
        digits = ""
        wait = pbx.config.prompt_seconds + timeout
        while len(digits) < max_digits:
            digit = await pbx.read_digit(ch, wait)
            if digit is None or digit == "#":
                break
            digits += digit
            wait = timeout
        self.dp.assign(ch, name, digits)
        self.dp.assign(ch, "READSTATUS", "OK" if digits else "TIMEOUT")

    # ------------------------------------------------------------ the rest of the PBX
    async def agi(self, ch: Channel, data: str) -> None:
        url, *args = data.split(",")
        await self.dp.agi(ch, url, args)

    async def queue(self, ch: Channel, data: str) -> None:
        """Queue(name,options,URL,announce,timeout): QUEUESTATUS after it returns."""
        args = [*data.split(","), "", "", "", ""]
        status = await self.pbx.queues.run(ch, args[0], _seconds(args[4]))
        self.dp.assign(ch, "QUEUESTATUS", status)

    async def dial(self, ch: Channel, data: str) -> None:
        """Dial(Tech/resource[&…],timeout,options): DIALSTATUS after it returns."""
        target, _, rest = data.partition(",")
        timeout = _seconds(rest.partition(",")[0]) or 0.0
        if "&" in target:
            raise AppError(f"Dial({data}): parallel dialling is not simulated")
        status = await self.dp.dial(ch, target.strip(), timeout)
        self.dp.assign(ch, "DIALSTATUS", status)

    async def mixmonitor(self, ch: Channel, data: str) -> None:
        filename = data.split(",")[0]
        path = PurePosixPath(filename)
        # An absolute path names Asterisk's spool; the simulator writes into its own.
        self.pbx.start_mixmonitor(ch, path.name if path.is_absolute() else filename)

    async def confbridge(self, ch: Channel, data: str) -> None:
        await self.dp.rooms.conference(ch, data.split(",")[0])

    async def chanspy(self, ch: Channel, data: str) -> None:
        await self.dp.rooms.chanspy(ch, data.split(",")[0])

    async def voicemail(self, ch: Channel, data: str) -> None:
        await self.dp.voicemail(ch, data)

    async def amd(self, ch: Channel, data: str) -> None:
        """AMD(): what the simulated customer's answering sounds like (sim/callees.py)."""
        from contact_center.sim.callees import amd

        await amd(self.pbx, self.dp.assign, ch, data)


def _seconds(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None
