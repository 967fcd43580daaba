"""The simulator's mutable state: channels, bridges, queue members and callers.

These are live objects owned by :class:`~contact_center.sim.pbx.SimPbx`, not values, so they
are ordinary (non-frozen) dataclasses compared by identity.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from contact_center.sim.records import Recording
from contact_center.sim.wire import Headers

if TYPE_CHECKING:
    from contact_center.sim.config import Operator, QueueConfig

Hook = Callable[[], Awaitable[None]]

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
UNKNOWN = "<unknown>"


@dataclass(eq=False)
class Channel:
    """One Asterisk channel (for us always one half of a Local pair)."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    device: str  # Local/101@agents: what DeviceStateChange names
    priority: int = 1
    fresh: bool = True  # just entered an extension: the next application runs at ``priority``
    state: int = 0
    caller_num: str = UNKNOWN
    caller_name: str = UNKNOWN
    conn_num: str = UNKNOWN
    conn_name: str = UNKNOWN
    variables: dict[str, str] = field(default_factory=dict)
    app: str = ""
    appdata: str = ""
    created: float = field(default_factory=time.time)
    answered: float | None = None
    peer: Channel | None = None  # the other half of the Local pair
    bridge: Bridge | None = None
    hangup_requested: asyncio.Event = field(default_factory=asyncio.Event)
    soft_hangup_sent: bool = False
    dead: bool = False
    cause: int = 16
    hangup_handlers: list[str] = field(default_factory=list)
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    # digits received from this channel's own phone side while bridged (PlayDTMF Receive):
    # what a bridge's feature codes read — a digit played *out* of it never lands here
    feature_digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    recording: Recording | None = None
    cdr_userfield: str = ""
    cdr_ivr_choice: str = ""
    cdr_start: float = field(default_factory=time.time)
    cdr_answer: float | None = None
    cdr_dest_channel: str = ""
    cdr_last_app: str = ""
    cdr_last_data: str = ""
    cdr_peers: list[str] = field(default_factory=list)  # multi-party bridge: one CDR per peer
    on_hold_music: bool = False
    answered_event: asyncio.Event = field(default_factory=asyncio.Event)
    manual_answer: asyncio.Event = field(default_factory=asyncio.Event)
    proceed: asyncio.Event = field(default_factory=asyncio.Event)  # the dialer is done with us
    redirect_to: tuple[str, str, int] | None = None
    # called once when the channel is asked to hang up (a queue's AgentComplete after a Redirect)
    hangup_watchers: list[Callable[[], None]] = field(default_factory=list)
    transfer_to: tuple[str, str] | None = None  # blind transfer asked by this (operator) leg
    attended_to: Channel | None = None  # attended transfer: the target leg being consulted
    consultation: Consultation | None = None  # the attended transfer this operator leg runs
    origin: str = "originate"  # who created the Local pair: originate | queue | dial | pjsip
    dnid: str = ""  # the number this channel dialled (a provider call: the DID)
    hangupcause: int = 0  # Asterisk's channel hangup cause, once something set it
    # The dial plan's state beyond context/exten/priority.
    timeouts: dict[str, float] = field(default_factory=dict)  # TIMEOUT(digit|response)
    gosub_stack: list[tuple[str, str, int]] = field(default_factory=list)
    phone: Operator | None = None  # a simulated operator's phone: Wait() rings/talks per it
    on_ringing: Hook | None = None  # Ringing() on this ;2: what its dialler sees
    on_answer: Hook | None = None  # Answer() on this ;2: what its dialler sees (may wait)

    def block(self, prefix: str = "", **override: str) -> Headers:
        """The standard channel snapshot headers, optionally prefixed (``Dest``, ``Spyer``…)."""
        values = {
            "Channel": self.name,
            "ChannelState": str(self.state),
            "ChannelStateDesc": STATE_DESC.get(self.state, "Unknown"),
            "CallerIDNum": self.caller_num,
            "CallerIDName": self.caller_name,
            "ConnectedLineNum": self.conn_num,
            "ConnectedLineName": self.conn_name,
            "Language": "en",
            "AccountCode": "",
            "Context": self.context,
            "Exten": self.exten,
            "Priority": str(self.priority),
            "Uniqueid": self.uniqueid,
            "Linkedid": self.linkedid,
        }
        values.update(override)
        return [(prefix + key, value) for key, value in values.items()]

    @property
    def caller_id(self) -> str:
        num = "" if self.caller_num == UNKNOWN else self.caller_num
        name = "" if self.caller_name == UNKNOWN else self.caller_name
        return f'"{name}" <{num}>'

    def set_caller(self, num: str, name: str) -> None:
        self.caller_num, self.caller_name = num or UNKNOWN, name or UNKNOWN

    def set_connected(self, num: str, name: str) -> None:
        self.conn_num, self.conn_name = num or UNKNOWN, name or UNKNOWN


@dataclass(eq=False)
class Bridge:
    """A two-party basic bridge or a ConfBridge softmix bridge."""

    bridge_type: str = "basic"
    technology: str = "simple_bridge"
    creator: str = UNKNOWN
    name: str = UNKNOWN
    uniqueid: str = field(default_factory=lambda: str(uuid.uuid4()))
    channels: list[Channel] = field(default_factory=list)
    extra_channels: int = 0  # ConfBridge counts its announcer channel
    history: list[Channel] = field(default_factory=list)  # everyone who ever entered

    def block(self) -> Headers:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", self.bridge_type),
            ("BridgeTechnology", self.technology),
            ("BridgeCreator", self.creator),
            ("BridgeName", self.name),
            ("BridgeNumChannels", str(len(self.channels) + self.extra_channels)),
            ("BridgeVideoSourceMode", "none"),
        ]


@dataclass(eq=False)
class Consultation:
    """An attended transfer in progress (main/bridge_basic.c): the transferer ``operator``
    left the caller's bridge ``home`` for ``bridge``, where the consultation channel
    ``target`` (``Local/<exten>@<context>-…;1``, whose ``;2`` dials the person) waits.

    ``state`` as bridge_basic.c names them: ``calling`` (the target rings, the operator
    hears it), ``consulting`` (operator and target talk, the caller on hold), ``hesitant``
    (the target rings, the operator swapped back to the caller), ``doublechecking`` (the
    operator talks to the caller again, the target on hold)."""

    operator: Channel
    caller: Channel | None
    home: Bridge | None
    bridge: Bridge
    target: Channel
    state: str = "calling"
    dialling: asyncio.Task[None] | None = None  # the target's ;2 running the dial plan

    @property
    def with_caller(self) -> bool:
        return self.state in ("hesitant", "doublechecking")


@dataclass(eq=False)
class Member:
    """A dynamic queue member (``QueueAdd``)."""

    queue: str
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    calls_taken: int = 0
    last_call: int = 0
    last_call_at: float = 0.0  # monotonic end of the last call (wrap-up, autopausedelay)
    last_queue: str = ""  # the queue of that call (its wrapuptime applies)
    last_pause: int = 0
    login_time: int = field(default_factory=lambda: int(time.time()))
    in_call: bool = False
    busy: bool = False  # ringing or talking (ringinuse=no)

    def status(self, device_in_use: bool) -> int:
        return 2 if device_in_use else 1

    def headers(self, device_in_use: bool, *, listing: bool = False) -> Headers:
        """QueueMember* event fields; the ``QueueMember`` list item says Name/Location."""
        name_key, iface_key = ("Name", "Location") if listing else ("MemberName", "Interface")
        out: Headers = [
            ("Queue", self.queue),
            (name_key, self.name),
            (iface_key, self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", "dynamic"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(self.status(device_in_use))),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.paused_reason),
        ]
        if not listing:
            out.append(("Ringinuse", "0"))
        out.append(("Wrapuptime", "0"))
        return out


@dataclass(eq=False)
class QueueEntry:
    """A caller waiting in a queue."""

    channel: Channel
    joined: float
    original_position: int
    priority: int = 0  # QUEUE_PRIO: higher waits ahead of lower


@dataclass
class QueueStats:
    """app_queue's counters: EWMA hold and talk time, completed/abandoned, service level."""

    holdtime: float = 0.0
    talktime: float = 0.0
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0

    def record_answer(self, hold: float) -> None:
        self.holdtime = (3 * self.holdtime + hold) / 4

    def record_complete(self, hold: float, talk: float, servicelevel: int) -> None:
        self.talktime = (3 * self.talktime + talk) / 4
        self.completed += 1
        if hold <= servicelevel:
            self.completed_in_sl += 1

    def record_abandon(self, hold: float, servicelevel: int) -> None:
        self.abandoned += 1
        if hold <= servicelevel:
            self.abandoned_in_sl += 1

    def sl_perf(self) -> str:
        if not self.completed:
            return "0.0"
        return f"{100.0 * self.completed_in_sl / self.completed:.1f}"

    def sl_perf2(self) -> str:
        total = self.completed + self.abandoned
        if not total:
            return "0.0"
        return f"{100.0 * (self.completed_in_sl + self.abandoned_in_sl) / total:.1f}"


@dataclass(eq=False)
class QueueState:
    """One queue: its configuration, members, waiting callers and figures."""

    config: QueueConfig
    members: dict[str, Member] = field(default_factory=dict)
    entries: list[QueueEntry] = field(default_factory=list)
    stats: QueueStats = field(default_factory=QueueStats)
    last_rung: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.config.name
