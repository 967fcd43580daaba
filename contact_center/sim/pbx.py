"""SimPbx: the simulated Asterisk — events, channels, Local pairs, hang-ups, bridges.

The dial plan (``dialplan/``, an extensions.conf interpreter) and the queues (``queues.py``)
run on top of this core. Every AMI event goes through :meth:`SimPbx.emit`, which builds the
bytes once and hands them to the listeners (AMI sessions, transcript recorder, tests).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contact_center import aio
from contact_center.sim.agistep import AgiStep, ScriptedAgi
from contact_center.sim.ami import AmiServer
from contact_center.sim.config import DEFAULT_QUEUES, Operator, QueueConfig, SimConfig
from contact_center.sim.core import Event, Listener
from contact_center.sim.dialplan.engine import Dialplan
from contact_center.sim.dialplan.sources import (
    features_file_for,
    load_dialplan,
    queue_files_for,
)
from contact_center.sim.errors import (
    ChannelHungUp,
    NoSuchChannel,
    Redirected,
    SimError,
    TransferFailed,
)
from contact_center.sim.features import FeatureCodes, load_features
from contact_center.sim.model import UNKNOWN, Bridge, Channel, Member
from contact_center.sim.phones import Phones
from contact_center.sim.queueconf import load_queues
from contact_center.sim.queues import QueueEngine
from contact_center.sim.records import CdrCsv, CdrRecord, QueueLog, Recording
from contact_center.sim.wire import Headers, encode, timestamp

if TYPE_CHECKING:
    from contact_center.sim.transcript import TranscriptWriter

log = logging.getLogger(__name__)

CAUSE_TEXT = {0: "Unknown", 16: "Normal Clearing", 17: "User busy", 19: "No answer"}


__all__ = ["Call", "Event", "Listener", "SimPbx"]


def _queues_for(dialplan: str) -> tuple[QueueConfig, ...]:
    files = queue_files_for(dialplan)
    return load_queues(*files) if files else DEFAULT_QUEUES


@dataclass(frozen=True, slots=True)
class Call:
    """A call placed with :meth:`SimPbx.place_call`: the caller's phone and the PBX leg."""

    phone: str  # Local/<DID>@inbound-XXXXXXXX;1 — hang this up to end the call as the caller
    channel: str  # …;2 — the call as the PBX sees it
    uniqueid: str
    linkedid: str


class SimPbx:
    """A fake Asterisk 22: an AMI TCP server plus a call model driven by a fixed dial plan."""

    def __init__(self, config: SimConfig | None = None, *, agi: AgiStep | None = None) -> None:
        self.config = config or SimConfig()
        self.agi: AgiStep = agi or ScriptedAgi()
        self.started = time.time()
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.listeners: list[Listener] = []
        self.queue_log = QueueLog(self.config.queue_log_path)
        self.cdr_csv = CdrCsv(self.config.cdr_csv_path)
        self.operators = {op.interface: op for op in self.config.operators}
        self.queue_configs = self.config.queues or _queues_for(self.config.dialplan)
        self.queues = QueueEngine(self)
        self.phones = Phones(self)
        self.dialplan = Dialplan(self, load_dialplan(self.config.dialplan))
        # the attended transfer's codes of the features.conf beside the dial plan
        self.features: FeatureCodes = load_features(features_file_for(self.config.dialplan))
        self.processed_calls = 0
        self._seq = 0
        self._local_seq = 0
        self._cdr_seq = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: AmiServer | None = None
        self.events_emitted = 0
        self.recorder: TranscriptWriter | None = None  # set before start() to record traffic

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start the AMI server (``config.port`` 0 picks a free port; see :attr:`port`)."""
        self._server = AmiServer(self)
        await self._server.start(self.config.host, self.config.port)

    async def stop(self) -> None:
        """Close the AMI server and cancel every running call."""
        if self._server is not None:
            await self._server.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> SimPbx:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return int(self._server.port) if self._server is not None else 0

    @property
    def host(self) -> str:
        return self.config.host

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run a call-related coroutine owned by the PBX (cancelled in :meth:`stop`)."""
        task = asyncio.get_running_loop().create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task %s failed", task.get_name(), exc_info=task.exception())

    def operator(self, interface: str) -> Operator:
        """How the phone of ``interface`` behaves: its Operator config, or it answers after
        ``default_ring`` seconds."""
        return self.operators.get(interface) or Operator(
            interface, answer_after=self.config.default_ring
        )

    # ---------------------------------------------------------------- events
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Receive every event; returns a function that unsubscribes."""
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener) if listener in self.listeners else None

    def emit(self, name: str, privilege: str, fields: Iterable[tuple[str, str]]) -> Event:
        headers: Headers = [("Event", name), ("Privilege", f"{privilege},all")]
        headers.append(("Timestamp", timestamp()))
        headers.extend(fields)
        event = Event(name, privilege, tuple(headers), encode(headers))
        self.events_emitted += 1
        for listener in list(self.listeners):
            listener(event)
        return event

    def emit_channel(
        self, name: str, privilege: str, ch: Channel, extra: Iterable[tuple[str, str]] = ()
    ) -> Event:
        return self.emit(name, privilege, [*ch.block(), *extra])

    def device_state(self, device: str, state: str) -> None:
        self.emit("DeviceStateChange", "call", [("Device", device), ("State", state)])

    # ---------------------------------------------------------------- ids
    def new_uniqueid(self) -> str:
        uid = f"{int(time.time())}.{self._seq}"
        self._seq += 1
        return uid

    def new_local_suffix(self) -> str:
        suffix = f"{self._local_seq:08x}"
        self._local_seq += 1
        return suffix

    # ---------------------------------------------------------------- channels
    def find(self, name: str) -> Channel:
        ch = self.channels.get(name)
        if ch is None or ch.dead:
            raise NoSuchChannel(name)
        return ch

    def local_pair(
        self,
        exten: str,
        context: str,
        linkedid: str | None = None,
        ids: tuple[str, str] = ("", ""),
    ) -> tuple[Channel, Channel]:
        """Create ``Local/<exten>@<context>-XXXXXXXX;1`` and ``;2`` and announce both.

        ``ids``: Originate's ChannelId/OtherChannelId; as in Asterisk's Local channels a
        missing OtherChannelId becomes ``<ChannelId>;2``."""
        suffix = self.new_local_suffix()
        base = f"Local/{exten}@{context}-{suffix}"
        device = f"Local/{exten}@{context}"
        uid1 = ids[0] or self.new_uniqueid()
        uid2 = ids[1] or (f"{ids[0]};2" if ids[0] else self.new_uniqueid())
        link = linkedid or uid1
        one = Channel(f"{base};1", uid1, link, context, exten, device, state=0)
        two = Channel(f"{base};2", uid2, link, context, exten, device, state=4)
        one.peer, two.peer = two, one
        self.channels[one.name] = one
        self.channels[two.name] = two
        self.emit_channel("Newchannel", "call", one)
        self.emit_channel("Newchannel", "call", two)
        return one, two

    def local_bridge_event(self, one: Channel, two: Channel) -> None:
        self.emit(
            "LocalBridge",
            "call",
            [
                *one.block("LocalOne"),
                *two.block("LocalTwo"),
                ("Context", two.context),
                ("Exten", two.exten),
                ("LocalOptimization", "Yes"),
            ],
        )

    def set_callerid(self, ch: Channel, num: str, name: str) -> None:
        ch.set_caller(num, name)
        self.emit_channel(
            "NewCallerid",
            "call",
            ch,
            [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
        )

    def set_connected(self, ch: Channel, num: str, name: str) -> None:
        ch.set_connected(num, name)
        self.emit_channel("NewConnectedLine", "call", ch)

    def set_state(self, ch: Channel, state: int) -> None:
        ch.state = state
        if state == 6 and ch.answered is None:
            ch.answered = time.time()
            ch.cdr_answer = ch.cdr_answer or ch.answered
        self.emit_channel("Newstate", "call", ch)

    def set_var(self, ch: Channel, name: str, value: str, *, event: bool = True) -> None:
        ch.variables[name.lstrip("_")] = value
        if name.startswith("__"):
            ch.variables[name] = value
        if event:
            self.emit_channel("VarSet", "dialplan", ch, [("Variable", name), ("Value", value)])

    def newexten(self, ch: Channel, app: str, data: str) -> None:
        """Announce the dial-plan step about to run (``Newexten``) and note it for the CDR."""
        ch.app, ch.appdata = app, data
        self.emit_channel(
            "Newexten",
            "dialplan",
            ch,
            [("Extension", ch.exten), ("Application", app), ("AppData", data)],
        )
        if app not in {"AppDial2", "AppQueue"}:
            ch.cdr_last_app, ch.cdr_last_data = app, data

    # ---------------------------------------------------------------- waiting
    def scaled(self, seconds: float | None) -> float | None:
        return None if seconds is None else seconds * self.config.time_scale

    def interrupt(self, ch: Channel) -> ChannelHungUp:
        """The exception that ends the application running on ``ch`` right now."""
        if ch.redirect_to is not None and not ch.dead:
            return Redirected(ch.name)
        return ChannelHungUp(ch.name)

    def redirect(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None:
        """AMI Redirect: stop the current application and continue at context,exten,priority."""
        ch.redirect_to = (context, exten, priority)
        # Leaving its bridge this way sets the channel's hangup cause (capture 27: after a
        # transfer or Redirect a remote hang-up's HangupRequest carries Cause 16)
        ch.hangupcause = ch.hangupcause or 16
        ch.hangup_requested.set()

    async def wait(self, ch: Channel, seconds: float | None) -> None:
        """Sleep on a channel; raises ChannelHungUp as soon as it is asked to hang up."""
        if ch.hangup_requested.is_set():
            raise self.interrupt(ch)
        try:
            await aio.wait_for(ch.hangup_requested.wait(), self.scaled(seconds))
        except TimeoutError:
            return
        raise self.interrupt(ch)

    async def wait_for_event(
        self, ch: Channel, event: asyncio.Event, seconds: float | None
    ) -> bool:
        """Wait for ``event`` on a live channel: True if set, False on timeout."""
        if ch.hangup_requested.is_set():
            raise self.interrupt(ch)
        hang = asyncio.ensure_future(ch.hangup_requested.wait())
        got = asyncio.ensure_future(event.wait())
        try:
            done, _ = await asyncio.wait(
                {hang, got}, timeout=self.scaled(seconds), return_when="FIRST_COMPLETED"
            )
        finally:
            hang.cancel()
            got.cancel()
        if got in done:
            return True
        if hang in done:
            raise self.interrupt(ch)
        return False

    async def read_digit(self, ch: Channel, seconds: float | None) -> str | None:
        """The next DTMF digit received on ``ch``, or None after ``seconds``."""
        if not ch.dtmf.empty():
            return ch.dtmf.get_nowait()
        if ch.hangup_requested.is_set():
            raise self.interrupt(ch)
        hang = asyncio.ensure_future(ch.hangup_requested.wait())
        digit = asyncio.ensure_future(ch.dtmf.get())
        try:
            done, _ = await asyncio.wait(
                {hang, digit}, timeout=self.scaled(seconds), return_when="FIRST_COMPLETED"
            )
        finally:
            hang.cancel()
            if not digit.done():
                digit.cancel()
        if digit in done:
            return digit.result()
        if hang in done:
            raise self.interrupt(ch)
        return None

    # ---------------------------------------------------------------- hang-up
    def request_hangup(self, ch: Channel, cause: int = 16, *, soft: bool = True) -> None:
        """Ask a channel to hang up (AMI Hangup, or its own Hangup()): SoftHangupRequest."""
        if ch.dead or (ch.hangup_requested.is_set() and ch.redirect_to is None):
            return
        ch.redirect_to = None
        if soft:
            self.emit_channel("SoftHangupRequest", "call", ch, [("Cause", str(cause))])
            ch.soft_hangup_sent = True
        ch.cause = cause
        ch.hangup_requested.set()
        self.hangup_watched(ch)

    def hangup_watched(self, ch: Channel) -> None:
        """Tell whoever waits for this channel's hang-up (once)."""
        watchers, ch.hangup_watchers = ch.hangup_watchers, []
        for watcher in watchers:
            watcher()

    def peer_hangup(self, ch: Channel, cause: int = 16) -> None:
        """The other side went away: HangupRequest, then the channel's task winds down."""
        if ch.dead or ch.hangup_requested.is_set():
            return
        self.emit_channel("HangupRequest", "call", ch, [("Cause", str(cause))])
        ch.cause = cause
        ch.hangup_requested.set()
        self.hangup_watched(ch)

    def remote_hangup(self, ch: Channel, cause: int = 16) -> None:
        """A SIP peer sent BYE (or 486 Busy): chan_pjsip's ``ast_queue_hangup``, whose
        ``HangupRequest`` has a Cause only if the channel already had a hangup cause."""
        if ch.dead or ch.hangup_requested.is_set():
            return
        known = [("Cause", str(ch.hangupcause))] if ch.hangupcause else []
        self.emit_channel("HangupRequest", "call", ch, known)
        ch.cause = cause
        ch.hangup_requested.set()
        self.hangup_watched(ch)

    def finish(
        self, ch: Channel, *, soft: bool = True, cdr: bool = True, device: bool = True
    ) -> None:
        """The channel is gone: propagate to its Local peer, Hangup, device state, CDR."""
        if ch.dead:
            return
        if soft and not ch.soft_hangup_sent:
            self.emit_channel("SoftHangupRequest", "call", ch, [("Cause", str(ch.cause))])
            ch.soft_hangup_sent = True
        self.hangup_watched(ch)
        self.run_hangup_handlers(ch)
        peer = ch.peer
        if peer is not None and not peer.dead:
            self.peer_hangup(peer, ch.cause)
        ch.dead = True
        ch.hangup_requested.set()
        if ch.recording is not None:
            ch.recording.close(time.time())
        self.emit_channel(
            "Hangup",
            "call",
            ch,
            [("Cause", str(ch.cause)), ("Cause-txt", CAUSE_TEXT.get(ch.cause, "Unknown"))],
        )
        if device:
            self.device_state(ch.device, "NOT_INUSE")
        if cdr:
            for peer_name in ch.cdr_peers:
                ch.cdr_dest_channel = peer_name
                self.write_cdr(ch)
            if not ch.cdr_peers:
                self.write_cdr(ch)
        self.channels.pop(ch.name, None)

    def run_hangup_handlers(self, ch: Channel) -> None:
        for handler in ch.hangup_handlers:
            self.emit_channel("HangupHandlerRun", "dialplan", ch, [("Handler", handler)])
            if ch.cdr_dest_channel:
                # The bridge closed the first CDR; the handler runs in a new, zero-length one.
                self.write_cdr(ch)
                now = time.time()
                ch.cdr_start, ch.cdr_answer, ch.cdr_dest_channel = now, now, ""
            try:
                self.dialplan.run_hangup_handler(ch, handler)
            except SimError as exc:
                log.error("hang-up handler %s on %s failed: %s", handler, ch.name, exc)
        ch.hangup_handlers.clear()

    def write_cdr(self, ch: Channel) -> None:
        """Emit the ``Cdr`` event for this channel and append the Master.csv row."""
        self._cdr_seq += 1
        record = CdrRecord(
            source="" if ch.caller_num == UNKNOWN else ch.caller_num,
            destination=ch.exten,
            destination_context=ch.context,
            caller_id=ch.caller_id,
            channel=ch.name,
            destination_channel=ch.cdr_dest_channel,
            last_application=ch.cdr_last_app,
            last_data=ch.cdr_last_data,
            start=ch.cdr_start,
            answer=ch.cdr_answer,
            end=time.time(),
            disposition="ANSWERED" if ch.cdr_answer is not None else "NO ANSWER",
            uniqueid=ch.uniqueid,
            linkedid=ch.linkedid,
            userfield=ch.cdr_userfield,
            ivr_choice=ch.cdr_ivr_choice,
            sequence=self._cdr_seq,
        )
        self.emit("Cdr", "cdr", record.ami_headers())
        self.cdr_csv.write(record)

    # ---------------------------------------------------------------- bridges
    def bridge_create(
        self,
        bridge_type: str = "basic",
        technology: str = "simple_bridge",
        creator: str = UNKNOWN,
        name: str = UNKNOWN,
    ) -> Bridge:
        bridge = Bridge(bridge_type, technology, creator, name)
        self.bridges[bridge.uniqueid] = bridge
        self.emit("BridgeCreate", "call", bridge.block())
        return bridge

    def bridge_enter(self, bridge: Bridge, ch: Channel) -> None:
        bridge.channels.append(ch)
        bridge.history.append(ch)
        ch.bridge = bridge
        if ch.recording is not None:
            ch.recording.bridge_started(time.time())
        self.emit("BridgeEnter", "call", [*bridge.block(), *ch.block()])

    def bridge_leave(self, bridge: Bridge, ch: Channel) -> None:
        if ch in bridge.channels:
            bridge.channels.remove(ch)
        ch.bridge = None
        if ch.recording is not None:
            ch.recording.bridge_ended(time.time())
        self.emit("BridgeLeave", "call", [*bridge.block(), *ch.block()])

    def bridge_destroy(self, bridge: Bridge) -> None:
        self.bridges.pop(bridge.uniqueid, None)
        self.emit("BridgeDestroy", "call", bridge.block())

    # ---------------------------------------------------------------- recording
    def start_mixmonitor(self, ch: Channel, filename: str) -> str:
        """Begin a MixMonitor; returns the full path Asterisk would report."""
        spool = self.config.spool_dir
        path = Path(filename) if Path(filename).is_absolute() else Path(spool or ".") / filename
        shown = str(path) if spool else f"/var/spool/asterisk/monitor/{filename}"
        if spool:
            if ch.recording is not None:
                ch.recording.close(time.time())
            ch.recording = Recording(path, seed=self._seq)
            if ch.bridge is not None:
                ch.recording.bridge_started(time.time())
        self.set_var(ch, "MIXMONITOR_FILENAME", shown)
        self.emit_channel("MixMonitorStart", "call", ch)
        return shown

    def stop_mixmonitor(self, ch: Channel) -> None:
        if ch.recording is not None:
            ch.recording.close(time.time())
            ch.recording = None
        self.emit_channel("MixMonitorStop", "call", ch)

    # ---------------------------------------------------------------- public call API
    async def place_call(
        self,
        did: str,
        number: str,
        name: str = "",
        *,
        dtmf: str = "",
        dtmf_delay: float = 1.0,
        talk: float | None = None,
    ) -> Call:
        """A caller dials ``did``. With a dial plan that has ``[inbound]`` ``did`` (the
        rig) the caller is a Local pair whose ``;1`` runs ``[callersim]``; otherwise the
        call comes from the simulated provider: ``PJSIP/trunk-…`` into the trunk context
        (the shipped ``[from-trunk]``), and :attr:`Call.phone` is that same channel. With
        ``talk`` the caller hangs up by itself after ``dtmf_delay`` + ``talk`` seconds;
        otherwise it holds until :meth:`hangup` of :attr:`Call.phone`. ``dtmf`` digits
        are sent after ``dtmf_delay``."""
        if not self.dialplan.exists("inbound", did) and self.dialplan.exists(
            self.config.trunk_context, did
        ):
            ch = self.phones.arrive(did, number, name, dtmf=dtmf, dtmf_delay=dtmf_delay, talk=talk)
            return Call(ch.name, ch.name, ch.uniqueid, ch.linkedid)
        variables = {"DTMF": dtmf, "DTMF_DELAY": str(dtmf_delay)}
        exten = "hold" if talk is None and not dtmf else "s"
        if talk is not None:
            variables["TALK"] = str(talk)
        elif dtmf:
            variables["TALK"] = "600"
        one, two = self.dialplan.originate(
            did,
            "inbound",
            caller=(number, name),
            then=("callersim", exten, ""),
            variables=variables,
        )
        return Call(one.name, two.name, two.uniqueid, two.linkedid)

    async def send_dtmf(self, channel: str, digits: str, duration_ms: int = 120) -> None:
        """The phone ``channel`` (a ``;1``) sends digits (AMI PlayDTMF does the same)."""
        ch = self.find(channel)
        for digit in digits:
            self.play_dtmf(ch, digit, duration_ms)

    def play_dtmf(
        self, ch: Channel, digit: str, duration_ms: int, *, receive: bool = False
    ) -> None:
        """AMI PlayDTMF: the digit is sent out of ``ch`` (a Local ``;1``'s digit arrives
        on its ``;2``); with ``receive`` (PlayDTMF ``Receive: yes``, app_senddtmf.c queues a
        DTMF end frame on the channel) it is read on ``ch`` itself, as if its phone sent it:
        a bridge's feature codes see it (``DTMFEnd`` only, as for Atxfer's digits)."""
        if receive:
            self.dtmf_received(ch, digit, duration_ms)
            return
        target = ch.peer if ch.peer is not None and not ch.peer.dead else ch
        self.emit_channel(
            "DTMFBegin", "dtmf", target, [("Digit", digit), ("Direction", "Received")]
        )
        self.emit_channel(
            "DTMFEnd",
            "dtmf",
            target,
            [("Digit", digit), ("DurationMs", str(duration_ms)), ("Direction", "Received")],
        )
        target.dtmf.put_nowait(digit)

    def dtmf_received(self, ch: Channel, digit: str, duration_ms: int) -> None:
        """A DTMF end frame queued on ``ch`` (Atxfer's digits, PlayDTMF Receive)."""
        self.emit_channel(
            "DTMFEnd",
            "dtmf",
            ch,
            [("Digit", digit), ("DurationMs", str(duration_ms)), ("Direction", "Received")],
        )
        ch.dtmf.put_nowait(digit)
        ch.feature_digits.put_nowait(digit)

    async def hangup(self, channel: str, cause: int = 16) -> None:
        """Hang up a channel by name (what AMI ``Hangup`` does)."""
        self.request_hangup(self.find(channel), cause)

    def phone_channels(self, interface: str) -> list[Channel]:
        """The live channels that are the phone of ``interface``: a Local pair's ``;2``
        (``Local/101@agents``) or a PJSIP phone's own channel (``PJSIP/101``)."""
        return [
            ch
            for ch in self.channels.values()
            if ch.device == interface
            and not ch.dead
            and (ch.name.endswith(";2") or not ch.name.startswith("Local/"))
        ]

    def operator_leg(self, interface: str) -> Channel | None:
        """The leg of ``interface`` bridged with a caller (a Local ``;1`` or the phone)."""
        for ch in self.channels.values():
            if ch.device != interface or ch.dead or ch.bridge is None:
                continue
            if ch.name.endswith(";1") or not ch.name.startswith("Local/"):
                return ch
        return None

    async def hangup_caller(self, call: Call) -> None:
        """The caller hangs up: the Local caller's phone ``;1`` is hung up, a provider
        caller sends BYE."""
        ch = self.find(call.phone)
        if ch.name.startswith("Local/"):
            self.request_hangup(ch)
        else:
            self.remote_hangup(ch)

    async def answer(self, interface: str) -> None:
        """A person answers the ringing phone of operator ``interface``."""
        for ch in self.phone_channels(interface):
            ch.manual_answer.set()

    async def blind_transfer(
        self, interface: str, exten: str, context: str = "transfer-targets"
    ) -> None:
        """The operator ``interface`` blind-transfers their caller (features ``#1``)."""
        ch = self.operator_leg(interface)
        if ch is None:
            raise NoSuchChannel(f"{interface} is not in a call")
        self.transfer_blind(ch, context, exten)

    def transferable(self, ch: Channel) -> bool:
        """Whether ``ch`` is an operator leg bridged with a queue caller (what the
        simulator can transfer; the queue then reports ``AgentComplete Reason: transfer``)."""
        dialled = ch.peer if ch.name.startswith("Local/") else ch
        return (
            ch.bridge is not None
            and dialled is not None
            and dialled.origin == "queue"
            and ch.transfer_to is None
            and ch.attended_to is None
            and not ch.hangup_requested.is_set()
        )

    def transfer_blind(self, ch: Channel, context: str, exten: str) -> None:
        """AMI BlindTransfer on the operator leg ``ch``: its bridged caller goes to
        ``context,exten``; the queue's bridge (queues.py ``connect``) carries it out."""
        if not self.transferable(ch):
            raise TransferFailed(ch.name)
        ch.transfer_to = (context, exten)
        ch.hangup_requested.set()

    def transfer_attended(self, ch: Channel, context: str, exten: str) -> None:
        """AMI Atxfer on the operator leg ``ch``: the caller hears hold while the operator
        rings ``context,exten``; once the target answered and the operator hangs up (or
        ``atxfer_complete_after`` passed) the caller is bridged with the target."""
        if not self.transferable(ch):
            raise TransferFailed(ch.name)
        self.spawn(self.dialplan.consult(ch, context, exten), name=f"atxfer {ch.name}")

    def answer_dialer(self, ch: Channel) -> None:
        """A consultation leg (Atxfer target) counts as answered once its party answered (the
        imparted ``;1``'s DialEnd has no Channel, capture 17); so does the ``;2`` of a Local
        channel we originated that dials someone (the bridge answers the caller: a colleague
        invited into a conference room, whose ``;1`` then goes on into the room)."""
        if ch.origin not in ("atxfer", "originate") or ch.state == 6 or ch.dead:
            return
        self.set_state(ch, 6)
        peer = ch.peer
        if peer is not None and not peer.dead:
            self.set_state(peer, 6)
            self.emit("DialEnd", "call", [*peer.block("Dest"), ("DialStatus", "ANSWER")])
            peer.answered_event.set()

    async def hangup_operator(self, interface: str) -> None:
        """The operator ``interface`` hangs up their phone (ends the conversation)."""
        for ch in self.phone_channels(interface):
            if ch.name.startswith("Local/"):
                self.request_hangup(ch)
            else:
                self.remote_hangup(ch)  # the phone's BYE

    def members(self, interface: str) -> list[Member]:
        queues = self.queues.queues.values()
        return [m for q in queues for m in q.members.values() if m.interface == interface]

    def channels_matching(self, pattern: str) -> list[Channel]:
        regex = re.compile(pattern)
        return [ch for ch in self.channels.values() if not ch.dead and regex.search(ch.name)]
