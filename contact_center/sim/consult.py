"""Attended transfer as Asterisk 22 runs it (main/manager.c ``action_atxfer``,
main/bridge_basic.c's attended transfer state machine), with the events of captures 17 and 19.

AMI ``Atxfer`` types the ``atxfer`` code and the number into the operator's channel
(``DTMFEnd`` ``Direction: Received``, ``DurationMs: 0``); the operator's leg is put on hold
(``Hold``, the caller gets ``MusicOnHoldStart``), a consultation channel
``Local/<exten>@<context>-…;1`` enters a new bridge while its ``;2`` runs the dial plan
(``Dial`` of the person), and the operator leaves the caller's bridge for that one.

What then happens to the consultation, as bridge_basic.c does it:

* the operator hangs up, or sends the ``atxfercomplete`` code: the transfer completes — the
  queue's bridge (queues.py ``attended_transfer``) merges the consultation into the caller's
  bridge (``BridgeMerge``, ``AttendedTransfer``); while the target still rings the caller
  waits for it (a "blond" transfer);
* the target hangs up, or the operator sends ``atxferabort``: the operator is back in the
  caller's bridge (``Unhold``, the caller's ``MusicOnHoldStop``), the consultation channel
  hangs up — no transfer event at all (capture 19);
* ``atxferswap``: the operator goes to the other party, the one left is held (``Hold`` /
  ``Unhold`` of the operator, ``MusicOnHoldStart``/``Stop`` of the held party); a hang-up of
  the target then leaves the operator with the caller;
* ``atxferthreeway`` is not simulated (the digits are ignored).

The feature codes are read from the features.conf beside the dial plan
(:mod:`contact_center.sim.features`); AMI ``PlayDTMF`` with ``Receive: yes`` on the operator's
channel is how our connector presses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from contact_center.sim.model import Channel, Consultation

if TYPE_CHECKING:
    from contact_center.sim.core import PbxCore

log = logging.getLogger(__name__)

ATXFER_RING_TIMEOUT = 30.0  # seconds an Atxfer target may ring (atxfernoanswertimeout)


def typed(pbx: PbxCore, ch: Channel, digits: str) -> None:
    """Digits Atxfer queues on the transferer's channel: DTMFEnd only, DurationMs 0."""
    for digit in digits:
        pbx.emit_channel(
            "DTMFEnd",
            "dtmf",
            ch,
            [("Digit", digit), ("DurationMs", "0"), ("Direction", "Received")],
        )


def hold(pbx: PbxCore, op: Channel, held: Channel | None) -> None:
    """The operator puts the party they leave on hold: ``Hold`` on the operator's leg, music
    for the held party (capture 17: the caller's ``MusicOnHoldStart Class: default``)."""
    pbx.emit_channel("Hold", "call", op)
    if held is not None and not held.dead and not held.on_hold_music:
        held.on_hold_music = True
        pbx.emit_channel("MusicOnHoldStart", "call", held, [("Class", "default")])


def unhold(pbx: PbxCore, op: Channel, held: Channel | None) -> None:
    if held is not None and not held.dead and held.on_hold_music:
        held.on_hold_music = False
        pbx.emit_channel("MusicOnHoldStop", "call", held)
    pbx.emit_channel("Unhold", "call", op)


def move(pbx: PbxCore, op: Channel, to: Any) -> None:
    """The operator's leg leaves its bridge for ``to``."""
    if op.bridge is not None and op.bridge is not to:
        pbx.bridge_leave(op.bridge, op)
    if to is not None and op.bridge is not to:
        pbx.bridge_enter(to, op)


async def wind_down(pbx: PbxCore, c: Consultation) -> None:
    """The target side hung up (the person, or AMI Hangup of the consultation channel): as
    in capture 19 its dial ends (``DialEnd CANCEL`` while it rang) before the operator is
    moved back; then :func:`back_to_caller`."""
    target = c.target
    if target in c.bridge.channels:
        pbx.bridge_leave(c.bridge, target)
    leg = target.peer
    if leg is not None and not leg.dead:
        pbx.peer_hangup(leg, target.cause)
        if c.dialling is not None:
            await asyncio.wait({c.dialling}, timeout=2.0)
    back_to_caller(pbx, c, target_gone=True)


def back_to_caller(pbx: PbxCore, c: Consultation, *, target_gone: bool) -> None:
    """The consultation ends without a transfer (abort, the target hung up, or the caller
    did): the operator is with the caller again and the consultation channel hangs up."""
    op, target = c.operator, c.target
    op.attended_to = None
    op.consultation = None
    if target_gone and target in c.bridge.channels:
        pbx.bridge_leave(c.bridge, target)
    if not c.with_caller and c.home is not None and not op.hangup_requested.is_set():
        move(pbx, op, c.home)
        unhold(pbx, op, c.caller)  # capture 19: MusicOnHoldStop (caller), Unhold (operator)
    if target in c.bridge.channels:
        pbx.bridge_leave(c.bridge, target)
    if op.bridge is c.bridge:
        pbx.bridge_leave(c.bridge, op)
    pbx.bridge_destroy(c.bridge)
    if target.on_hold_music and not target.dead:
        target.on_hold_music = False
        pbx.emit_channel("MusicOnHoldStop", "call", target)
    pbx.finish(target)  # its ;2 then ends its Dial (DialEnd CANCEL while the phone rings)


def swap(pbx: PbxCore, c: Consultation) -> None:
    """``atxferswap``: talk to the other party (bridge_basic.c consulting_exit /
    double_checking_exit: hold, move, unhold)."""
    op = c.operator
    if c.state == "consulting":
        hold(pbx, op, c.target)
        move(pbx, op, c.home)
        unhold(pbx, op, c.caller)
        c.state = "doublechecking"
    elif c.state == "doublechecking":
        hold(pbx, op, c.caller)
        move(pbx, op, c.bridge)
        unhold(pbx, op, c.target)
        c.state = "consulting"
    elif c.state == "calling":  # hesitant_enter: back to the caller while the target rings
        move(pbx, op, c.home)
        unhold(pbx, op, c.caller)
        c.state = "hesitant"
    else:  # hesitant → calling (calling_target_enter)
        hold(pbx, op, c.caller)
        move(pbx, op, c.bridge)
        c.state = "calling"


async def consult(pbx: PbxCore, op: Channel, context: str, exten: str) -> None:
    """AMI Atxfer on the operator leg ``op`` (a queue's bridge holds it with the caller)."""
    home = op.bridge
    caller = next((ch for ch in home.channels if ch is not op), None) if home else None
    while not op.feature_digits.empty():  # digits from before the transfer are no code
        op.feature_digits.get_nowait()
    typed(pbx, op, pbx.features.atxfer)
    hold(pbx, op, caller)
    typed(pbx, op, exten)
    target, leg = pbx.local_pair(exten, context, linkedid=op.linkedid)
    leg.origin = "atxfer"
    pbx.set_callerid(leg, op.caller_num, op.caller_name)
    pbx.set_connected(target, op.caller_num, op.caller_name)
    pbx.local_bridge_event(target, leg)
    bridge = pbx.bridge_create()
    c = Consultation(op, caller, home, bridge, target)
    op.attended_to = target
    op.consultation = c
    pbx.dialplan.prepare_phone(leg)
    # capture 17/19: the ;2 dials the person (DialBegin) before the ;1 enters the bridge
    dialling = asyncio.Event()

    def watch(event: Any) -> None:
        if event.name in ("DialBegin", "QueueCallerJoin") and (
            ("Channel", leg.name) in event.headers
        ):
            dialling.set()

    unsubscribe = pbx.subscribe(watch)
    c.dialling = pbx.spawn(pbx.dialplan.run(leg), name=leg.name)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await dialling.wait()
    finally:
        unsubscribe()
    pbx.bridge_enter(bridge, target)
    move(pbx, op, bridge)
    await supervise(pbx, c)


async def supervise(pbx: PbxCore, c: Consultation) -> None:
    """Follow the consultation until it ends: the operator's or the caller's hang-up (the
    queue's bridge carries those out), the target's hang-up, or a feature code."""
    op, target = c.operator, c.target
    features = pbx.features
    codes = features.during_consultation()
    pressed = ""
    rings_until = asyncio.get_running_loop().time() + (pbx.scaled(ATXFER_RING_TIMEOUT) or 0)
    auto_complete: asyncio.Task[None] | None = None
    try:
        while True:
            waiters: dict[str, asyncio.Future[Any]] = {
                "operator": asyncio.ensure_future(op.hangup_requested.wait()),
                "target": asyncio.ensure_future(target.hangup_requested.wait()),
                "digit": asyncio.ensure_future(op.feature_digits.get()),
            }
            if c.caller is not None:
                waiters["caller"] = asyncio.ensure_future(c.caller.hangup_requested.wait())
            ringing = c.state in ("calling", "hesitant")
            if ringing:
                waiters["answer"] = asyncio.ensure_future(target.answered_event.wait())
            timeout: float | None = features.digit_timeout if pressed else None
            if ringing:
                left = max(0.0, rings_until - asyncio.get_running_loop().time())
                timeout = left if timeout is None else min(timeout, left)
            try:
                done, _ = await asyncio.wait(
                    set(waiters.values()), timeout=timeout, return_when="FIRST_COMPLETED"
                )
            finally:
                for name, waiter in waiters.items():
                    if name == "digit" and waiter.done() and not waiter.cancelled():
                        continue
                    waiter.cancel()
            digit_task = waiters["digit"]
            digit = digit_task.result() if digit_task in done else ""
            if op.hangup_requested.is_set() or op.consultation is not c:
                return  # completes the transfer (the queue's bridge merges the bridges)
            if c.caller is not None and c.caller.hangup_requested.is_set():
                return  # the queue's bridge ends the call, and this consultation with it
            if target.hangup_requested.is_set() or target.dead:
                await wind_down(pbx, c)
                return
            if not done and ringing and asyncio.get_running_loop().time() >= rings_until:
                back_to_caller(pbx, c, target_gone=False)  # atxfernoanswertimeout
                return
            answer = waiters.get("answer")
            if answer is not None and answer in done:
                c.state = "consulting" if c.state == "calling" else "doublechecking"
                after = pbx.config.atxfer_complete_after
                if after is not None and auto_complete is None:
                    auto_complete = pbx.spawn(_hang_up_after(pbx, op, after))
            if not digit:
                if not done:
                    pressed = ""  # featuredigittimeout: the digits so far were no code
                continue
            pressed += digit
            action = codes.get(pressed)
            if action is None:
                if not any(code.startswith(pressed) for code in codes):
                    pressed = ""
                continue
            pressed = ""
            if action == "complete":
                # the transferer is taken out of the bridge and hung up: as a hang-up
                operator_hangs_up(pbx, op)
            elif action == "abort":
                back_to_caller(pbx, c, target_gone=False)
                return
            elif action == "swap":
                swap(pbx, c)
            else:
                log.warning("%s on %s: three-way is not simulated", pressed, op.name)
    finally:
        if auto_complete is not None:
            auto_complete.cancel()


def operator_hangs_up(pbx: PbxCore, op: Channel) -> None:
    """The operator's own phone hangs up (a Local operator's phone is the ;2 behind its
    leg, a PJSIP phone is the leg itself)."""
    if op.name.startswith("Local/"):
        phone = op.peer
        if phone is not None and not phone.dead:
            pbx.request_hangup(phone)
            return
        pbx.request_hangup(op)
    else:
        pbx.remote_hangup(op)


async def _hang_up_after(pbx: PbxCore, op: Channel, seconds: float) -> None:
    """``SimConfig.atxfer_complete_after``: a scripted operator completes by hanging up."""
    with contextlib.suppress(Exception):
        await pbx.wait(op, seconds)
        if op.consultation is not None:
            operator_hangs_up(pbx, op)
