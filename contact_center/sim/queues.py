"""app_queue in miniature: members, strategies, ringing operators, bridging, abandons."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contact_center.sim.consult import back_to_caller
from contact_center.sim.errors import ChannelHungUp, QueueError
from contact_center.sim.model import Bridge, Channel, Member, QueueEntry, QueueState

if TYPE_CHECKING:
    from contact_center.sim.core import PbxCore

__all__ = ["AUTOPAUSE_REASON", "Attempt", "QueueEngine", "QueueError", "QueueState"]

AUTOPAUSE_REASON = "Auto-Pause"  # app_queue's rna() pauses with this reason


@dataclass(eq=False)
class Attempt:
    """One operator being rung for one caller."""

    member: Member
    one: Channel  # the leg bridged with the caller (Local ;1, or the PJSIP phone itself)
    two: Channel | None  # the Local ;2 running the phone's dial plan (None for PJSIP)
    phone: asyncio.Task[Any]
    started: float


class QueueEngine:
    """Queues of one PBX."""

    def __init__(self, pbx: PbxCore) -> None:
        self.pbx = pbx
        self.queues = {q.name: QueueState(q) for q in pbx.queue_configs}
        self.device_states: dict[str, str] = {}
        self.busy: set[str] = set()  # interfaces ringing or talking, in any queue

    # ------------------------------------------------------------ device state
    def device_changed(self, device: str, state: str) -> None:
        """Queue pseudo-devices report only real changes."""
        if self.device_states.get(device) != state:
            self.device_states[device] = state
            self.pbx.device_state(device, state)

    def update_avail(self, q: QueueState) -> None:
        available = any(
            not m.paused and not m.busy and not self.wrapping_up(q, m) for m in q.members.values()
        )
        self.device_changed(f"Queue:{q.name}_avail", "NOT_INUSE" if available else "INUSE")

    def member_event(self, name: str, m: Member) -> None:
        self.pbx.emit(name, "agent", m.headers(m.busy))

    def notify(self, q: QueueState) -> None:
        q.changed.set()
        q.changed = asyncio.Event()

    # ------------------------------------------------------------ members (AMI)
    def get(self, name: str) -> QueueState:
        q = self.queues.get(name)
        if q is None:
            raise QueueError("Unable to add interface to queue: No such queue")
        return q

    def add_member(
        self,
        queue: str,
        interface: str,
        name: str = "",
        state_interface: str = "",
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
    ) -> Member:
        q = self.get(queue)
        if interface in q.members:
            raise QueueError("Unable to add interface: Already there")
        m = Member(queue, interface, name or interface, state_interface or interface, penalty)
        m.paused, m.paused_reason = paused, reason if paused else ""
        q.members[interface] = m
        self.device_changed(f"Queue:{queue}_pause_{interface}", "INUSE" if paused else "NOT_INUSE")
        self.member_event("QueueMemberAdded", m)
        self.update_avail(q)
        self.pbx.queue_log.write("MANAGER", queue, m.name, "ADDMEMBER", "PAUSED" if paused else "")
        self.notify(q)
        return m

    def remove_member(self, queue: str, interface: str) -> None:
        q = self.queues.get(queue)
        if q is None:
            raise QueueError("Unable to remove interface from queue: No such queue")
        m = q.members.pop(interface, None)
        if m is None:
            raise QueueError("Unable to remove interface: Not there")
        self.member_event("QueueMemberRemoved", m)
        self.update_avail(q)
        self.device_changed(f"Queue:{queue}_pause_{interface}", "NOT_INUSE")
        self.pbx.queue_log.write("MANAGER", queue, m.name, "REMOVEMEMBER", "")

    def pause_member(self, queue: str, interface: str, paused: bool, reason: str = "") -> None:
        targets = [
            (q, q.members[interface])
            for q in self.queues.values()
            if (not queue or q.name == queue) and interface in q.members
        ]
        if not targets:
            raise QueueError("Interface not found")
        if not queue:  # set_member_paused("") logs PAUSEALL before the per-queue lines
            event = "PAUSEALL" if paused else "UNPAUSEALL"
            self.pbx.queue_log.write("NONE", "NONE", targets[0][1].name, event, reason)
        for q, m in targets:
            m.paused = paused
            m.paused_reason = reason if paused else ""
            if paused:
                m.last_pause = int(time.time())
            state = "INUSE" if paused else "NOT_INUSE"
            self.device_changed(f"Queue:{q.name}_pause_{interface}", state)
            self.update_avail(q)
            self.member_event("QueueMemberPause", m)
            event = "PAUSE" if paused else "UNPAUSE"
            self.pbx.queue_log.write("NONE", q.name, m.name, event, reason)
            self.notify(q)

    def set_penalty(self, queue: str, interface: str, penalty: int) -> None:
        targets = [
            (q, q.members[interface])
            for q in self.queues.values()
            if (not queue or q.name == queue) and interface in q.members
        ]
        if not targets:
            raise QueueError("Invalid interface, queuename or penalty")
        for q, m in targets:
            m.penalty = penalty
            self.member_event("QueueMemberPenalty", m)
            self.pbx.queue_log.write("NONE", q.name, interface, "PENALTY", str(penalty))

    def show(self, name: str) -> list[str]:
        """``queue show <name>`` as the CLI prints it."""
        q = self.queues.get(name)
        if q is None:
            return [f"No such queue: {name}."]
        s = q.stats
        lines = [
            f"{name} has {len(q.entries)} calls (max unlimited) in '{q.config.strategy}' strategy "
            f"({int(s.holdtime)}s holdtime, {int(s.talktime)}s talktime), W:0, C:{s.completed}, "
            f"A:{s.abandoned}, SL:{s.sl_perf()}%, SL2:{s.sl_perf2()}% within "
            f"{q.config.servicelevel}s",
            "   Members: " if q.members else "   No Members",
        ]
        for m in q.members.values():
            penalty = f" with penalty {m.penalty}" if m.penalty else ""
            paused = (
                f" (paused{':' + m.paused_reason if m.paused_reason else ''})" if m.paused else ""
            )
            state = "In use" if m.busy else "Not in use"
            lines.append(
                f"      {m.name} ({m.interface}){penalty} (ringinuse disabled) (dynamic)"
                f"{paused} ({state}) has taken {m.calls_taken or 'no'} calls"
            )
        lines.append("   Callers: " if q.entries else "   No Callers")
        now = time.time()
        for pos, e in enumerate(q.entries, 1):
            wait = int(now - e.joined)
            lines.append(
                f"      {pos}. {e.channel.name} (wait: {wait // 60}:{wait % 60:02d}, "
                f"prio: {e.priority})"
            )
        return [*lines, "", ""]

    # ------------------------------------------------------------ choosing
    def in_use(self, interface: str) -> bool:
        """ringinuse=no: an operator busy in any queue is not rung by another."""
        return interface in self.busy

    def choose(self, q: QueueState, entry: QueueEntry) -> list[Member]:
        busy = self.busy
        available = [
            m
            for m in q.members.values()
            if not m.paused and m.interface not in busy and not self.wrapping_up(q, m)
        ]
        if not available:
            return []
        # autofill: a caller is served only while there are free members for everyone ahead
        waiting_ahead = [e for e in q.entries if not e.channel.dead].index(entry)
        if waiting_ahead >= len(available):
            return []
        best = min(m.penalty for m in available)
        tier = [m for m in available if m.penalty == best]
        strategy = q.config.strategy
        if strategy == "ringall":
            return tier
        if strategy == "leastrecent":
            return [min(tier, key=lambda m: m.last_call)]
        order = list(q.members)
        start = order.index(q.last_rung) + 1 if q.last_rung in order else 0
        rotated = order[start:] + order[:start]
        for iface in rotated:
            m = q.members[iface]
            if m in tier:
                return [m]
        return [tier[0]]

    def wrapping_up(self, q: QueueState, m: Member) -> bool:
        """app_queue's can_ring_entry: within the wrapuptime of the queue of the member's
        last call (``lastqueue``), the member is not offered a call."""
        if not m.last_call_at:
            return False
        last = self.queues.get(m.last_queue, q)
        wrapup = self.pbx.scaled(last.config.wrapuptime) or 0.0
        return wrapup > 0 and time.monotonic() - m.last_call_at < wrapup

    def call_done(self, q: QueueState, m: Member) -> None:
        """update_queue: the member's call ended — count it and start its wrap-up (in every
        queue the interface is a member of, with ``shared_lastcall``)."""
        now, mono = int(time.time()), time.monotonic()
        members = [m]
        if q.config.shared_lastcall:
            members = [
                o.members[m.interface] for o in self.queues.values() if m.interface in o.members
            ]
        for member in members:
            member.calls_taken += 1
            member.last_call, member.last_call_at, member.last_queue = now, mono, q.name
        wrapup = self.pbx.scaled(q.config.wrapuptime) or 0.0
        if wrapup > 0:
            # app_queue re-checks waiting callers every second; here the end of the wrap-up
            # wakes them
            asyncio.get_running_loop().call_later(wrapup + 0.01, self.wrapup_over)

    def wrapup_over(self) -> None:
        # no device state event: app_queue notices the end of a wrap-up only when it looks
        for q in self.queues.values():
            self.notify(q)

    # ------------------------------------------------------------ Queue()
    async def run(self, ch: Channel, queue: str, timeout: float | None = None) -> str:
        """The Queue() application for caller channel ``ch``; returns QUEUESTATUS
        (``TIMEOUT`` once ``timeout`` seconds passed between attempts, as app_queue checks
        it with ``timeoutpriority``)."""
        pbx = self.pbx
        q = self.queues.get(queue)
        if q is None:
            return "UNKNOWN"
        priority = _int(ch.variables.get("QUEUE_PRIO", ""))
        # QUEUE_PRIO: a caller waits behind everyone of the same or a higher priority
        index = next((i for i, e in enumerate(q.entries) if e.priority < priority), len(q.entries))
        entry = QueueEntry(ch, time.time(), index + 1, priority)
        q.entries.insert(index, entry)
        position = str(index + 1)
        self.device_changed(f"Queue:{queue}", "RINGING")
        pbx.emit_channel(
            "QueueCallerJoin",
            "agent",
            ch,
            [("Queue", queue), ("Position", position), ("Count", str(len(q.entries)))],
        )
        number = "" if ch.caller_num == "<unknown>" else ch.caller_num
        pbx.queue_log.write(ch.uniqueid, queue, "NONE", "ENTERQUEUE", "", number, position)
        pbx.emit_channel("MusicOnHoldStart", "call", ch, [("Class", "default")])
        scale = pbx.config.time_scale or 1.0
        deadline = None if not timeout else time.monotonic() + timeout * scale
        try:
            while True:
                left = None if deadline is None else (deadline - time.monotonic()) / scale
                if left is not None and left <= 0:
                    return self.time_out(ch, q, entry)
                members = self.choose(q, entry)
                if not members:
                    # woken by any member change; the 5 s are only a safety net
                    await pbx.wait_for_event(ch, q.changed, min(5.0, left or 5.0))
                    continue
                attempt = await self.ring(ch, q, members)
                if attempt is not None:
                    return await self.connect(ch, q, entry, attempt)
                await pbx.wait(ch, q.config.retry)
        except ChannelHungUp:
            if entry in q.entries:
                self.abandon(ch, q, entry)
            raise

    def time_out(self, ch: Channel, q: QueueState, entry: QueueEntry) -> str:
        """Queue()'s own timeout: the caller leaves (queue_log EXITWITHTIMEOUT)."""
        pbx = self.pbx
        waited = int(time.time() - entry.joined)
        pbx.emit_channel("MusicOnHoldStop", "call", ch)
        position = self.leave(ch, q, entry)
        pbx.queue_log.write(
            ch.uniqueid, q.name, "NONE", "EXITWITHTIMEOUT", str(position),
            str(entry.original_position), str(waited),
        )  # fmt: skip
        return "TIMEOUT"

    def leave(self, ch: Channel, q: QueueState, entry: QueueEntry) -> int:
        position = q.entries.index(entry) + 1
        q.entries.remove(entry)
        if not q.entries:
            self.device_changed(f"Queue:{q.name}", "NOT_INUSE")
        self.pbx.emit_channel(
            "QueueCallerLeave",
            "agent",
            ch,
            [("Queue", q.name), ("Position", str(position)), ("Count", str(len(q.entries)))],
        )
        self.notify(q)
        return position

    def abandon(self, ch: Channel, q: QueueState, entry: QueueEntry) -> None:
        pbx = self.pbx
        hold = int(time.time() - entry.joined)
        position = q.entries.index(entry) + 1
        pbx.emit_channel("MusicOnHoldStop", "call", ch)
        pbx.emit_channel(
            "QueueCallerAbandon",
            "agent",
            ch,
            [
                ("Queue", q.name),
                ("Position", str(position)),
                ("OriginalPosition", str(entry.original_position)),
                ("HoldTime", str(hold)),
            ],
        )
        q.stats.record_abandon(hold, q.config.servicelevel)
        pbx.queue_log.write(
            ch.uniqueid,
            q.name,
            "NONE",
            "ABANDON",
            str(position),
            str(entry.original_position),
            str(hold),
        )
        self.leave(ch, q, entry)

    def agent_dest(self, one: Channel, queue: str, caller: Channel) -> list[tuple[str, str]]:
        """The operator leg as AgentCalled/AgentConnect show it (Exten is the queue name)."""
        return one.block(
            "Dest",
            Exten=queue,
            ConnectedLineNum=caller.caller_num,
            ConnectedLineName=caller.caller_name,
        )

    def agent_complete(
        self, ch: Channel, q: QueueState, a: Attempt, hold: int, talk: int, reason: str
    ) -> list[tuple[str, str]]:
        """AgentComplete's fields: the caller, the operator leg, the member, the times."""
        return [
            *ch.block(),
            *self.agent_dest(a.one, q.name, ch),
            ("Queue", q.name),
            ("Interface", a.member.interface),
            ("MemberName", a.member.name),
            ("HoldTime", str(hold)),
            ("TalkTime", str(talk)),
            ("Reason", reason),
        ]

    async def completed(
        self,
        ch: Channel,
        q: QueueState,
        entry: QueueEntry,
        a: Attempt,
        bridge: Bridge,
        hold: int,
        talk: int,
        event: str,
        *details: str,
    ) -> None:
        """A connected call is over for the queue (both legs left ``bridge``): the bridge
        goes, the figures count it, queue_log writes ``event`` (with ``details`` before the
        times), the member is free again."""
        pbx = self.pbx
        pbx.bridge_destroy(bridge)
        q.stats.record_complete(hold, talk, q.config.servicelevel)
        pbx.queue_log.write(
            ch.uniqueid, q.name, a.member.name, event, *details, str(hold), str(talk),
            str(entry.original_position),
        )  # fmt: skip
        self.call_done(q, a.member)
        await self.drop_attempt(q, a)

    async def ring(self, ch: Channel, q: QueueState, members: list[Member]) -> Attempt | None:
        """Ring members for up to the queue timeout; the first to answer wins. A PJSIP phone
        that answers busy (486) is dropped at once with ``DialEnd BUSY`` (app_queue's
        AST_CONTROL_BUSY), the others ring on."""
        pbx = self.pbx
        attempts = [self.start_ringing(ch, q, m) for m in members]
        q.last_rung = members[-1].interface
        waiters = {asyncio.ensure_future(a.one.answered_event.wait()): a for a in attempts}
        busy = {
            asyncio.ensure_future(a.one.hangup_requested.wait()): a
            for a in attempts
            if a.two is None
        }
        hang = asyncio.ensure_future(ch.hangup_requested.wait())
        deadline = time.monotonic() + (pbx.scaled(q.config.timeout) or 0.0)
        done: set[asyncio.Future[Any]] = set()
        try:
            while True:
                done, _ = await asyncio.wait(
                    {*waiters, *busy, hang},
                    timeout=max(deadline - time.monotonic(), 0.0),
                    return_when="FIRST_COMPLETED",
                )
                refused = [busy.pop(w) for w in list(busy) if w in done]
                if not refused or any(w in done for w in (*waiters, hang)):
                    break
                for a in refused:
                    if a.one.state == 6:
                        continue  # hung up after answering: the answer waiter decides
                    pbx.emit(
                        "DialEnd",
                        "call",
                        [*ch.block(), *a.one.block("Dest"), ("DialStatus", "BUSY")],
                    )
                    attempts.remove(a)
                    for w in [w for w, x in waiters.items() if x is a]:
                        w.cancel()
                        del waiters[w]
                    await self.drop_attempt(q, a)
                if not attempts:
                    break
        finally:
            for w in [*waiters, *busy, hang]:
                w.cancel()
        winner = next((waiters[w] for w in done if w in waiters), None)
        if hang in done or ch.hangup_requested.is_set():
            winner = None
        for a in attempts:
            if a is winner:
                continue
            if ch.hangup_requested.is_set() or winner is not None:
                pbx.emit(
                    "DialEnd", "call", [*ch.block(), *a.one.block("Dest"), ("DialStatus", "CANCEL")]
                )
            else:
                self.ring_no_answer(ch, q, a)
            await self.drop_attempt(q, a)
        if ch.hangup_requested.is_set():
            if winner is not None:
                await self.drop_attempt(q, winner)
            raise pbx.interrupt(ch)
        return winner

    def start_ringing(self, ch: Channel, q: QueueState, m: Member) -> Attempt:
        pbx = self.pbx
        m.busy = True
        self.busy.add(m.interface)
        if m.interface.startswith("PJSIP/"):
            return self.ring_pjsip(ch, q, m)
        exten, _, context = m.interface.partition("/")[2].partition("@")
        one, two = pbx.local_pair(exten, context or "agents", linkedid=ch.linkedid)
        two.origin = "queue"
        pbx.newexten(one, "AppQueue", "(Outgoing Line)")
        pbx.set_callerid(one, ch.caller_num, ch.caller_name)
        inherited = {k: v for k, v in ch.variables.items() if k.startswith("__")}
        for leg in (one, two):
            for name, value in inherited.items():
                pbx.set_var(leg, name, value)
        two.set_connected(ch.caller_num, ch.caller_name)
        pbx.set_callerid(two, ch.caller_num, ch.caller_name)
        pbx.set_connected(two, ch.caller_num, ch.caller_name)
        pbx.local_bridge_event(one, two)
        self.agent_called(ch, q, m, one)
        self.ring_hooks(ch, q, m, one, two)
        pbx.dialplan.prepare_phone(two)
        phone = pbx.spawn(pbx.dialplan.run(two), name=two.name)
        return Attempt(m, one, two, phone, time.time())

    def ring_pjsip(self, ch: Channel, q: QueueState, m: Member) -> Attempt:
        """A PJSIP member: one channel, the phone itself (capture 27's shapes)."""
        pbx = self.pbx
        phone = pbx.phones.outgoing(m.interface.partition("/")[2], ch)
        phone.origin = "queue"
        phone.exten = q.name  # app_queue gives the member's channel the caller's extension
        # ring_entry() in app_queue.c sets these on every member channel it requests, without
        # an event (capture 27 has no Newexten for a phone): CoreShowChannels lists them.
        phone.app, phone.appdata = "AppQueue", "(Outgoing Line)"
        self.agent_called(ch, q, m, phone)
        if (ch.conn_num, ch.conn_name) != (phone.caller_num, phone.caller_name):
            pbx.set_connected(ch, phone.caller_num, phone.caller_name)  # only a change is sent

        async def ringing() -> None:
            pbx.set_connected(phone, ch.caller_num, ch.caller_name)
            pbx.device_state(m.interface, "RINGING")
            self.member_event("QueueMemberStatus", m)
            self.update_avail(q)
            pbx.emit(
                "DialState",
                "call",
                [*ch.block(), *self.agent_dest(phone, q.name, ch), ("DialStatus", "RINGING")],
            )

        async def answered() -> None:
            phone.answered_event.set()
            await pbx.wait_for_event(phone, phone.proceed, None)

        op = pbx.operator(m.interface)
        task = pbx.spawn(pbx.phones.ring(phone, op, ringing, answered), name=phone.name)
        return Attempt(m, phone, None, task, time.time())

    def agent_called(self, ch: Channel, q: QueueState, m: Member, one: Channel) -> None:
        pbx = self.pbx
        pbx.emit(
            "AgentCalled",
            "agent",
            [
                *ch.block(),
                *self.agent_dest(one, q.name, ch),
                ("Queue", q.name),
                ("Interface", m.interface),
                ("MemberName", m.name),
            ],
        )
        pbx.emit(
            "DialBegin", "call", [*ch.block(), *one.block("Dest"), ("DialString", m.interface)]
        )

    def ring_hooks(
        self, caller: Channel, q: QueueState, m: Member, one: Channel, two: Channel
    ) -> None:
        """What app_queue sees of the operator's ``;2`` running its dial plan: Ringing()
        rings the member (DialState, member busy), Answer() answers the attempt and waits
        until the queue has bridged the call."""
        pbx = self.pbx

        async def ringing() -> None:
            pbx.set_state(one, 5)
            one.exten = q.name
            pbx.newexten(one, "AppQueue", "(Outgoing Line)")
            pbx.set_connected(one, caller.caller_num, caller.caller_name)
            pbx.emit(
                "DialState",
                "call",
                [*caller.block(), *self.agent_dest(one, q.name, caller), ("DialStatus", "RINGING")],
            )
            pbx.device_state(m.interface, "INUSE")
            self.member_event("QueueMemberStatus", m)
            self.update_avail(q)

        async def answered() -> None:
            pbx.set_state(one, 6)
            one.answered_event.set()
            await pbx.wait_for_event(two, one.proceed, None)

        two.on_ringing, two.on_answer = ringing, answered

    def ring_no_answer(self, ch: Channel, q: QueueState, a: Attempt) -> None:
        pbx = self.pbx
        ring_ms = int((time.time() - a.started) * 1000)
        pbx.emit(
            "AgentRingNoAnswer",
            "agent",
            [
                *ch.block(),
                *self.agent_dest(a.one, q.name, ch),
                ("Queue", q.name),
                ("Interface", a.member.interface),
                ("MemberName", a.member.name),
                ("RingTime", str(ring_ms)),
            ],
        )
        # capture 22: RINGNOANSWER, the autopause (QueueMemberPause), then DialEnd
        pbx.queue_log.write(ch.uniqueid, q.name, a.member.name, "RINGNOANSWER", str(ring_ms))
        self.autopause(q, a.member)
        pbx.emit("DialEnd", "call", [*ch.block(), *a.one.block("Dest"), ("DialStatus", "NOANSWER")])

    def autopause(self, q: QueueState, m: Member) -> None:
        """app_queue's rna(): ``autopause=yes`` pauses the member in this queue, ``all`` in
        every queue (PAUSEALL first), reason ``Auto-Pause`` — unless its last call ended
        within ``autopausedelay``."""
        mode = q.config.autopause
        if mode == "no" or m.interface not in q.members:
            return
        delay = self.pbx.scaled(q.config.autopausedelay) or 0.0
        if delay > 0 and m.last_call_at and time.monotonic() - m.last_call_at < delay:
            return
        self.pause_member(q.name if mode == "yes" else "", m.interface, True, AUTOPAUSE_REASON)

    async def drop_attempt(self, q: QueueState, a: Attempt) -> None:
        """Hang up an operator leg the queue no longer needs and wait for the phone."""
        pbx = self.pbx
        if a.one.redirect_to is not None and not a.one.dead:
            # AMI Redirect (ExtraChannel) took the operator's leg elsewhere (a conference):
            # it lives on; the member is free when the operator's phone hangs up.
            moved = pbx.dialplan.resume_elsewhere(a.one)
            # the member is busy until its phone hangs up: the Local ;2, or the PJSIP phone
            # channel itself, which now runs the dial plan where it was sent
            phone = a.phone if a.two is not None else moved
            pbx.spawn(self.free_after(q, a.member, phone), name=f"free {a.member.interface}")
            return
        if a.two is None:  # a PJSIP phone: its own channel ends
            await pbx.phones.drop(a.one, a.phone, cause=16 if a.one.state == 6 else 0)
        elif not a.one.dead:
            if not a.two.dead:
                pbx.peer_hangup(a.two, 16)
            a.one.peer = None
            pbx.finish(a.one, soft=False, cdr=False, device=False)
        await asyncio.shield(a.phone)
        self.member_free(q, a.member)

    async def free_after(self, q: QueueState, m: Member, phone: asyncio.Task[Any]) -> None:
        await asyncio.shield(phone)
        self.member_free(q, m)

    def member_free(self, q: QueueState, m: Member) -> None:
        m.busy = False
        self.busy.discard(m.interface)
        m.in_call = False
        self.member_event("QueueMemberStatus", m)
        self.update_avail(q)
        self.pbx.device_state(m.interface, "NOT_INUSE")
        for other in self.queues.values():  # a free operator may serve the other queues now
            self.notify(other)

    async def connect(self, ch: Channel, q: QueueState, entry: QueueEntry, a: Attempt) -> str:
        """Operator answered: leave the queue, bridge, and stay until one side hangs up."""
        pbx = self.pbx
        m, one = a.member, a.one
        now = time.time()
        hold = int(now - entry.joined)
        ring = int(now - a.started)
        dest = self.agent_dest(one, q.name, ch)
        pbx.emit("DialEnd", "call", [*ch.block(), *dest, ("DialStatus", "ANSWER")])
        pbx.device_state(m.interface, "INUSE")
        pbx.emit_channel("MusicOnHoldStop", "call", ch)
        pbx.device_state(m.interface, "INUSE")
        position = self.leave(ch, q, entry)
        del position
        pbx.emit(
            "AgentConnect",
            "agent",
            [
                *ch.block(),
                *dest,
                ("Queue", q.name),
                ("Interface", m.interface),
                ("MemberName", m.name),
                ("HoldTime", str(hold)),
                ("RingTime", str(ring)),
            ],
        )
        q.stats.record_answer(hold)
        pbx.queue_log.write(
            ch.uniqueid, q.name, m.name, "CONNECT", str(hold), one.uniqueid, str(ring)
        )
        m.in_call = True
        bridge = pbx.bridge_create()
        pbx.bridge_enter(bridge, one)
        pbx.answer_dialer(ch)  # an Atxfer consultation is answered now (capture 17's order)
        pbx.bridge_enter(bridge, ch)
        ch.cdr_dest_channel = one.name
        ch.variables["DIALSTATUS"] = ""
        one.proceed.set()
        talk_start = time.time()
        hang_caller = asyncio.ensure_future(ch.hangup_requested.wait())
        hang_agent = asyncio.ensure_future(one.hangup_requested.wait())
        try:
            await asyncio.wait({hang_caller, hang_agent}, return_when="FIRST_COMPLETED")
        finally:
            hang_caller.cancel()
            hang_agent.cancel()
        talk = int(time.time() - talk_start)
        transfer = one.transfer_to if not ch.hangup_requested.is_set() else None
        if transfer is not None:
            return await self.blind_transfer(ch, q, entry, a, bridge, hold, talk, transfer)
        target = one.attended_to
        one.attended_to = None
        running = one.consultation
        if running is not None and ch.hangup_requested.is_set():
            # the caller hung up during the consultation: it ends (the simulator does not
            # keep the operator talking to the target, as bridge_basic.c would)
            back_to_caller(pbx, running, target_gone=False)
            target = None
        if target is not None and not target.dead and not ch.hangup_requested.is_set():
            # answered, or still ringing: a "blond" transfer, which Asterisk merges at once
            # (bridge_basic.c blond_enter; the caller then hears the target ring)
            return await self.attended_transfer(ch, q, entry, a, bridge, hold, talk, target)
        if ch.redirect_to is not None and not ch.dead:
            # An AMI Redirect took the caller (and the operator: ExtraChannel) out of the
            # bridge, into a conference room: app_queue reports nothing now; it completes the
            # call when either channel hangs up (capture 27, e4_rec_conf: AgentComplete comes
            # after the caller's HangupRequest in the room, Context conference).
            pbx.bridge_leave(bridge, one)
            pbx.bridge_leave(bridge, ch)
            pbx.bridge_destroy(bridge)
            self.complete_on_hangup(ch, q, entry, m, one, hold, talk_start)
            self.call_done(q, m)
            await self.drop_attempt(q, a)
            raise pbx.interrupt(ch)
        if one.consultation is not None:  # the target is gone as well
            back_to_caller(pbx, one.consultation, target_gone=True)
        caller_left = ch.hangup_requested.is_set()
        reason = "caller" if caller_left else "agent"
        complete = self.agent_complete(ch, q, a, hold, talk, reason)
        if caller_left:
            # app_queue reports the completion before the caller's BridgeLeave (capture 27;
            # the Local captures show either order)
            pbx.emit("AgentComplete", "agent", complete)
            pbx.bridge_leave(bridge, ch)
        else:
            pbx.bridge_leave(bridge, one)
            pbx.emit("AgentComplete", "agent", complete)
        pbx.bridge_leave(bridge, one if caller_left else ch)
        event = "COMPLETECALLER" if caller_left else "COMPLETEAGENT"
        await self.completed(ch, q, entry, a, bridge, hold, talk, event)
        if caller_left:
            raise pbx.interrupt(ch)
        return "CONTINUE"

    def complete_on_hangup(
        self,
        ch: Channel,
        q: QueueState,
        entry: QueueEntry,
        m: Member,
        one: Channel,
        hold: int,
        talk_start: float,
    ) -> None:
        """After a Redirect: ``AgentComplete`` (and COMPLETECALLER/AGENT) the moment the caller
        or the operator's leg is asked to hang up, wherever they are now."""
        pbx = self.pbx
        done: list[bool] = []

        def complete(reason: str) -> None:
            if done:
                return
            done.append(True)
            talk = int(time.time() - talk_start)
            pbx.emit(
                "AgentComplete",
                "agent",
                [
                    *ch.block(),
                    *self.agent_dest(one, q.name, ch),
                    ("Queue", q.name),
                    ("Interface", m.interface),
                    ("MemberName", m.name),
                    ("HoldTime", str(hold)),
                    ("TalkTime", str(talk)),
                    ("Reason", reason),
                ],
            )
            q.stats.record_complete(hold, talk, q.config.servicelevel)
            event = "COMPLETECALLER" if reason == "caller" else "COMPLETEAGENT"
            pbx.queue_log.write(
                ch.uniqueid, q.name, m.name, event, str(hold), str(talk),
                str(entry.original_position),
            )  # fmt: skip

        ch.hangup_watchers.append(lambda: complete("caller"))
        one.hangup_watchers.append(lambda: complete("agent"))

    async def blind_transfer(
        self,
        ch: Channel,
        q: QueueState,
        entry: QueueEntry,
        a: Attempt,
        bridge: Bridge,
        hold: int,
        talk: int,
        target: tuple[str, str],
    ) -> str:
        """The operator sent the caller elsewhere: BlindTransfer, AgentComplete(transfer)."""
        pbx = self.pbx
        context, exten = target
        one = a.one
        # Asterisk unholds the transferer first, although nothing was on hold (17, 27)
        pbx.emit_channel("Unhold", "call", one)
        pbx.emit(
            "BlindTransfer",
            "call",
            [
                ("Result", "Success"),
                *one.block("Transferer"),
                *ch.block("Transferee"),
                *bridge.block(),
                ("IsExternal", "Yes"),  # requested over AMI
                ("Context", context),
                ("Extension", exten),
            ],
        )
        pbx.emit("AgentComplete", "agent", self.agent_complete(ch, q, a, hold, talk, "transfer"))
        pbx.bridge_leave(bridge, one)
        ch.context, ch.exten, ch.priority = context, exten, 1  # already on its way
        pbx.bridge_leave(bridge, ch)
        await self.completed(ch, q, entry, a, bridge, hold, talk, "BLINDTRANSFER", exten, context)
        pbx.redirect(ch, context, exten)
        raise pbx.interrupt(ch)

    async def attended_transfer(
        self,
        ch: Channel,
        q: QueueState,
        entry: QueueEntry,
        a: Attempt,
        bridge: Bridge,
        hold: int,
        talk: int,
        target: Channel,
    ) -> str:
        """The operator hung up (or completed) after consulting ``target``: the
        consultation's bridge merges into the caller's (``BridgeMerge``), the target's
        consultation channel joins the caller there, ``AttendedTransfer`` (capture 17) and
        ``AgentComplete Reason: transfer``; then caller and target talk until one hangs up."""
        pbx = self.pbx
        m, one = a.member, a.one
        running = one.consultation
        one.consultation = None
        second = running.bridge if running is not None else None
        if one.bridge is not None:
            pbx.bridge_leave(one.bridge, one)  # the transferer is gone
        if second is not None:
            pbx.emit(
                "BridgeMerge",
                "call",
                [
                    *[("To" + key, value) for key, value in bridge.block()],
                    *[("From" + key, value) for key, value in second.block()],
                ],
            )
            if target in second.channels:
                pbx.bridge_leave(second, target)
        pbx.bridge_enter(bridge, target)
        if ch.on_hold_music:
            ch.on_hold_music = False
            pbx.emit_channel("MusicOnHoldStop", "call", ch)
        if target.on_hold_music:
            target.on_hold_music = False
            pbx.emit_channel("MusicOnHoldStop", "call", target)
        second_block = second.block() if second is not None else bridge.block()
        pbx.emit(
            "AttendedTransfer",
            "call",
            [
                ("Result", "Success"),
                *one.block("OrigTransferer"),
                *[("Orig" + key, value) for key, value in bridge.block()],
                *one.block("SecondTransferer"),
                *[("Second" + key, value) for key, value in second_block],
                *ch.block("Transferee"),
                *target.block("TransferTarget"),
                ("IsExternal", "No"),
                # stasis_bridges.c appends the destination part after IsExternal
                ("DestType", "Bridge"),
                ("DestBridgeUniqueid", bridge.uniqueid),
            ],
        )
        pbx.emit(
            "AgentComplete",
            "agent",
            [
                *ch.block(),
                *self.agent_dest(one, q.name, ch),
                ("Queue", q.name),
                ("Interface", m.interface),
                ("MemberName", m.name),
                ("HoldTime", str(hold)),
                ("TalkTime", str(talk)),
                ("Reason", "transfer"),
            ],
        )
        if second is not None:
            pbx.bridge_destroy(second)
        q.stats.record_complete(hold, talk, q.config.servicelevel)
        pbx.queue_log.write(
            ch.uniqueid, q.name, m.name, "ATTENDEDTRANSFER", "BRIDGE", bridge.uniqueid,
            str(hold), str(talk), str(entry.original_position),
        )  # fmt: skip
        self.call_done(q, m)
        await self.drop_attempt(q, a)
        ch.cdr_dest_channel = target.name
        hang_caller = asyncio.ensure_future(ch.hangup_requested.wait())
        hang_target = asyncio.ensure_future(target.hangup_requested.wait())
        try:
            await asyncio.wait({hang_caller, hang_target}, return_when="FIRST_COMPLETED")
        finally:
            hang_caller.cancel()
            hang_target.cancel()
            pbx.bridge_leave(bridge, ch)
            pbx.bridge_leave(bridge, target)
            pbx.bridge_destroy(bridge)
            pbx.finish(target)
        if ch.hangup_requested.is_set():
            raise pbx.interrupt(ch)
        return "CONTINUE"


def _secs(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _int(text: str) -> int:
    try:
        return int(text.strip() or 0)
    except ValueError:
        return 0
