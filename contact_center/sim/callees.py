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

import math
import random
from dataclasses import dataclass
from typing import Literal

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

    def __init__(self, profile: CalleeProfile = REALISTIC, seed: int = 1) -> None:
        self.profile = profile
        self.seed = seed
        self._attempts: dict[str, int] = {}

    def outcome(self, number: str) -> CalleeOutcome:
        attempt = self._attempts.get(number, 0) + 1
        self._attempts[number] = attempt
        return draw(self.profile, random.Random(f"{self.seed}:{number}:{attempt}"))


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
