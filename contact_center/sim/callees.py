"""Customers we call: who answers, after how long, who is busy, whose machine picks up, and
how long a conversation lasts — for campaigns run in the demo, the tests and the pacing
benchmark.

A :class:`Callees` draws one :class:`CalleeOutcome` per attempt from a seeded generator keyed
by (seed, number, attempt), so a run is reproducible whatever order the calls are placed in.
The figures of :data:`REALISTIC` are of the order outbound-dialling literature reports for
consumer lists (about a third of dials reach a person, one in six an answering machine, talk
times log-normal around two minutes).

What ``AMD()`` reports is drawn here too, in app_amd.c's (Asterisk 22.10.1) words:
``AMDSTATUS`` HUMAN | MACHINE | NOTSURE | HANGUP, ``AMDCAUSE`` such as ``HUMAN-300-800``,
``LONGGREETING-1600-1500``, ``MAXWORDS-4-4`` or ``TOOLONG-5000``. Detection is not perfect:
``amd_false_machine`` of people are taken for machines, ``amd_missed_machine`` of machines
for people.
"""

from __future__ import annotations

import asyncio
import math
import random
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from contact_center.sim.errors import ChannelHungUp

if TYPE_CHECKING:
    from contact_center.sim.core import PbxCore
    from contact_center.sim.model import Channel

Kind = Literal["human", "machine", "busy", "no_answer"]


@dataclass(frozen=True, slots=True)
class CalleeProfile:
    """How a list's customers behave. Rates are per attempt; what is left is no answer."""

    human_rate: float = 0.34
    machine_rate: float = 0.16
    busy_rate: float = 0.08
    # Seconds of ringing before a person (or a machine) answers: log-normal, median/sigma.
    answer_median: float = 7.0
    answer_sigma: float = 0.5
    machine_median: float = 14.0  # machines pick up after their configured rings
    busy_after: float = 2.0  # the network's 486 comes quickly
    # Conversation with the operator: log-normal, median/sigma, seconds.
    talk_median: float = 100.0
    talk_sigma: float = 0.6
    amd_human_seconds: float = 2.4  # AMD() hears a greeting and the silence after it
    amd_machine_seconds: float = 3.5  # … or a long greeting
    amd_false_machine: float = 0.02
    amd_missed_machine: float = 0.10

    def __post_init__(self) -> None:
        rates = (self.human_rate, self.machine_rate, self.busy_rate)
        if any(r < 0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("callee rates must be ≥ 0 and add up to at most 1")


REALISTIC = CalleeProfile()
# One behaviour every time (demos and tests that need a given path).
ALWAYS_PERSON = CalleeProfile(
    human_rate=1.0,
    machine_rate=0.0,
    busy_rate=0.0,
    answer_median=2.0,
    answer_sigma=0.1,
    amd_false_machine=0.0,
    talk_median=20.0,
)
ALWAYS_MACHINE = CalleeProfile(
    human_rate=0.0, machine_rate=1.0, busy_rate=0.0, machine_median=3.0, amd_missed_machine=0.0
)
ALWAYS_BUSY = CalleeProfile(human_rate=0.0, machine_rate=0.0, busy_rate=1.0)
NEVER_ANSWERS = CalleeProfile(human_rate=0.0, machine_rate=0.0, busy_rate=0.0)


@dataclass(frozen=True, slots=True)
class CalleeOutcome:
    """One attempt's fate. ``ring_seconds``: until answer (human, machine) or until the
    network says busy; ``None`` for no answer (rings until the dial timeout)."""

    kind: Kind
    ring_seconds: float | None
    talk_seconds: float
    amd_status: str  # what AMD() sets AMDSTATUS to (empty when not answered)
    amd_cause: str
    amd_seconds: float

    @property
    def detected_human(self) -> bool:
        return self.amd_status in ("HUMAN", "NOTSURE")


class Callees:
    """Draws outcomes for numbers; ``outcome(number)`` advances that number's attempt."""

    def __init__(
        self,
        profile: CalleeProfile = REALISTIC,
        seed: int = 1,
        *,
        per_number: dict[str, CalleeProfile] | None = None,
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.per_number = dict(per_number or {})  # customers who behave otherwise
        self._attempts: dict[str, int] = {}

    def outcome(self, number: str) -> CalleeOutcome:
        attempt = self._attempts.get(number, 0) + 1
        self._attempts[number] = attempt
        profile = self.per_number.get(number, self.profile)
        return draw(profile, random.Random(f"{self.seed}:{number}:{attempt}"))


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return float(median * math.exp(rng.gauss(0.0, sigma)))


def draw(p: CalleeProfile, rng: random.Random) -> CalleeOutcome:
    roll = rng.random()
    talk = max(5.0, _lognormal(rng, p.talk_median, p.talk_sigma))
    if roll < p.human_rate:
        ring = max(1.0, _lognormal(rng, p.answer_median, p.answer_sigma))
        if rng.random() < p.amd_false_machine:
            words = 4
            return CalleeOutcome(
                "human", ring, talk, "MACHINE", f"MAXWORDS-{words}-4", p.amd_machine_seconds
            )
        silence = 800 + int(rng.random() * 200)
        return CalleeOutcome(
            "human", ring, talk, "HUMAN", f"HUMAN-{silence}-800", p.amd_human_seconds
        )
    roll -= p.human_rate
    if roll < p.machine_rate:
        ring = max(1.0, _lognormal(rng, p.machine_median, 0.2))
        if rng.random() < p.amd_missed_machine:
            return CalleeOutcome(
                "machine", ring, 30.0, "HUMAN", "HUMAN-850-800", p.amd_human_seconds
            )
        greeting = 1500 + int(rng.random() * 3000)
        return CalleeOutcome(
            "machine",
            ring,
            30.0,
            "MACHINE",
            f"LONGGREETING-{greeting}-1500",
            p.amd_machine_seconds,
        )
    roll -= p.machine_rate
    if roll < p.busy_rate:
        return CalleeOutcome("busy", p.busy_after, 0.0, "", "", 0.0)
    return CalleeOutcome("no_answer", None, 0.0, "", "", 0.0)


# --- the simulator's side: customers dialled through the trunk, and AMD() ------------------------
#
# A campaign dials customer first: AMI ``Originate`` of ``PJSIP/<number>@trunk`` into the
# campaign's context. Each such customer behaves as the PBX's :class:`Callees` draws (by default
# ``REALISTIC``, seed 1; :func:`install` another): rings, then busy, no answer at the Originate
# timeout, or answers and runs the context; ``AMD()`` then reports what app_amd.c would; a person
# put through to an operator talks for their talk time, then hangs up.

_MODELS: weakref.WeakKeyDictionary[Any, Callees] = weakref.WeakKeyDictionary()
_ANSWERED: weakref.WeakKeyDictionary[Any, CalleeOutcome] = weakref.WeakKeyDictionary()
ORIGINATE_BUSY, ORIGINATE_NO_ANSWER, ORIGINATE_ANSWERED = "5", "3", "4"  # AST_CONTROL_*


def install(pbx: Any, callees: Callees) -> None:
    """The customers ``pbx`` dials through its trunk from now on."""
    _MODELS[pbx] = callees


def dialled_customer(
    pbx: Any, number: str, kind: str = ""
) -> tuple[float, str, float | None] | None:
    """``Dial(PJSIP/<number>@trunk)`` from the dial plan for a campaign's call (``CC_KIND``
    campaign: operator first, through cc-originate): (seconds of ringing, ANSWER | BUSY |
    NOANSWER, seconds the customer talks), drawn from the PBX's callees. None for any other
    call: the simulator's plain provider (answers after ``external_answer_after``, stays
    until hung up)."""
    if not kind.startswith("campaign"):
        return None
    outcome = model_of(pbx).outcome(number)
    if outcome.kind == "busy":
        return outcome.ring_seconds or 0.0, "BUSY", None
    if outcome.ring_seconds is None:
        return float("inf"), "NOANSWER", None
    talk = outcome.talk_seconds if outcome.kind == "human" else 30.0  # a machine's message
    return outcome.ring_seconds, "ANSWER", talk


async def hang_up_after(pbx: Any, ch: Channel, seconds: float) -> None:
    """The customer ends the conversation after ``seconds``."""
    try:
        await pbx.wait(ch, seconds)
    except ChannelHungUp:
        return
    pbx.request_hangup(ch, 16)


def model_of(pbx: Any) -> Callees:
    model = _MODELS.get(pbx)
    if model is None:
        model = _MODELS[pbx] = Callees()
    return model


def originate_customer(
    pbx: PbxCore,
    number: str,
    then: tuple[str, str, str],
    *,
    variables: dict[str, str],
    caller: tuple[str, str] | None,
    timeout: float,
    uniqueid: str,
    action_id: str | None,
    report: bool,
) -> Channel:
    """AMI Originate of ``PJSIP/<number>@trunk``: the provider's channel rings the customer."""
    from contact_center.sim.model import Channel

    endpoint = pbx.config.trunk_endpoint
    uid = uniqueid or pbx.new_uniqueid()
    name = f"PJSIP/{endpoint}-{pbx.new_local_suffix()}"
    ch = Channel(name, uid, uid, then[0], then[1], f"PJSIP/{endpoint}", state=0)
    ch.origin = "pjsip"
    pbx.channels[name] = ch
    pbx.emit_channel("Newchannel", "call", ch)
    for name, value in variables.items():
        pbx.set_var(ch, name, value)
    if caller is not None:
        pbx.set_callerid(ch, *caller)
    pbx.emit("DialBegin", "call", [*ch.block("Dest"), ("DialString", f"{number}@trunk")])
    pbx.spawn(_ring_customer(pbx, ch, number, then, timeout, action_id, report), name=ch.name)
    return ch


async def _ring_customer(
    pbx: PbxCore,
    ch: Channel,
    number: str,
    then: tuple[str, str, str],
    timeout: float,
    action_id: str | None,
    report: bool,
) -> None:
    outcome = model_of(pbx).outcome(number)
    pbx.set_state(ch, 5)
    pbx.emit("DialState", "call", [*ch.block("Dest"), ("DialStatus", "RINGING")])
    ring = outcome.ring_seconds
    try:
        if outcome.kind == "busy" or ring is None or ring >= timeout:
            busy = outcome.kind == "busy"
            await pbx.wait(ch, ring if busy else timeout)
            pbx.emit(
                "DialEnd",
                "call",
                [*ch.block("Dest"), ("DialStatus", "BUSY" if busy else "NOANSWER")],
            )
            if report:
                _originate_response(
                    pbx,
                    ch,
                    number,
                    then,
                    action_id,
                    ORIGINATE_BUSY if busy else ORIGINATE_NO_ANSWER,
                )
            ch.cause = 17 if busy else 19
            pbx.finish(ch, soft=False)
            return
        await pbx.wait(ch, ring)
    except ChannelHungUp:
        pbx.finish(ch, soft=False)
        return
    pbx.set_state(ch, 6)
    pbx.emit("DialEnd", "call", [*ch.block("Dest"), ("DialStatus", "ANSWER")])
    _ANSWERED[ch] = outcome
    if report:
        _originate_response(pbx, ch, number, then, action_id, ORIGINATE_ANSWERED)
    talker = pbx.spawn(_talk_then_leave(pbx, ch, outcome), name=f"callee {ch.name}")
    try:
        pbx.dialplan.jump(ch, then[0], then[1])
        await pbx.dialplan.run(ch)
    except ChannelHungUp:
        pbx.finish(ch)
    finally:
        talker.cancel()


async def _talk_then_leave(pbx: PbxCore, ch: Channel, outcome: CalleeOutcome) -> None:
    """Once put through to someone (bridged), the customer talks, then hangs up."""
    while ch.bridge is None:
        if ch.dead or ch.hangup_requested.is_set():
            return
        await asyncio.sleep(0.01)
    try:
        await pbx.wait(ch, outcome.talk_seconds)
    except ChannelHungUp:
        return
    pbx.request_hangup(ch, 16)


def _originate_response(
    pbx: PbxCore,
    ch: Channel,
    number: str,
    then: tuple[str, str, str],
    action_id: str | None,
    reason: str,
) -> None:
    ok = reason == ORIGINATE_ANSWERED
    fields: list[tuple[str, str]] = []
    if action_id is not None:
        fields.append(("ActionID", action_id))
    fields += [
        ("Response", "Success" if ok else "Failure"),
        ("Channel", ch.name if ok else f"PJSIP/{number}@{pbx.config.trunk_endpoint}"),
        ("Context", then[0]),
        ("Exten", then[1]),
        ("Reason", reason),
        ("Uniqueid", ch.uniqueid if ok else "<unknown>"),
        ("CallerIDNum", ch.caller_num or "<unknown>"),
        ("CallerIDName", ch.caller_name or "<unknown>"),
    ]
    pbx.emit("OriginateResponse", "call", fields)


async def amd(pbx: PbxCore, assign: Any, ch: Channel, data: str) -> None:
    """``AMD()``: listens for as long as app_amd needs, then sets ``AMDSTATUS`` and
    ``AMDCAUSE``. A channel that is no simulated customer says nothing: NOTSURE after the
    default total analysis time (5000 ms), as app_amd.c's TOOLONG."""
    outcome = _ANSWERED.get(ch)
    if outcome is None or not outcome.amd_status:
        status, cause, seconds = "NOTSURE", "TOOLONG-5000", 5.0
    else:
        status, cause, seconds = outcome.amd_status, outcome.amd_cause, outcome.amd_seconds
    try:
        await pbx.wait(ch, seconds)
    except ChannelHungUp:
        assign(ch, "AMDSTATUS", "HANGUP")
        assign(ch, "AMDCAUSE", "")
        raise
    assign(ch, "AMDSTATUS", status)
    assign(ch, "AMDCAUSE", cause)
