"""A campaign on a simulated clock: the pacer (``pacing.py``) against the callee model
(``sim/callees.py``), event by event, no sleeping — an hour of fifty operators runs in
seconds. The pacing benchmark and the suite both run it.

Each second the pacer is asked how many to dial. A dial rings (busy after a moment, no answer
at the dial timeout, or answered); answered, ``AMD()`` listens; a machine is hung up, a person
is connected to a free operator — or, with none free, hears the apology and is counted as
abandoned. An operator is busy for the talk and the wrap-up. Occupancy is the share of the
operators' signed-in time spent talking or wrapping up.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from contact_center.campaigns.pacing import Floor, Measured, PacingSettings, calls_to_place
from contact_center.sim.callees import REALISTIC, CalleeOutcome, CalleeProfile, Callees


@dataclass(frozen=True, slots=True)
class Figures:
    mode: str
    operators: int
    seconds: float
    dialled: int
    reached: int  # AMD said a person
    machine: int
    busy: int
    no_answer: int
    connected: int
    abandoned: int
    occupancy: float

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.reached if self.reached else 0.0

    @property
    def connects_per_operator_hour(self) -> float:
        return self.connected / self.operators / (self.seconds / 3600.0)

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "mode": self.mode,
            "operators": self.operators,
            "dialled": self.dialled,
            "reached": self.reached,
            "machine": self.machine,
            "busy": self.busy,
            "no_answer": self.no_answer,
            "connected": self.connected,
            "abandoned": self.abandoned,
            "abandon_rate": round(self.abandon_rate, 4),
            "occupancy": round(self.occupancy, 4),
            "connects_per_operator_hour": round(self.connects_per_operator_hour, 2),
        }


def run(
    mode: str,
    *,
    operators: int = 50,
    seconds: float = 3600.0,
    profile: CalleeProfile = REALISTIC,
    seed: int = 1,
    abandon_cap: float = 0.03,
    dial_timeout: float = 25.0,
    wrapup: float = 10.0,
) -> Figures:
    settings = PacingSettings(mode=mode, abandon_cap=abandon_cap)
    callees = Callees(profile, seed)
    measured = Measured()
    events: list[tuple[float, int, str, object]] = []
    seq = itertools.count()
    numbers = itertools.count(1)
    free = operators
    busy_since: dict[int, float] = {}  # operator call id → when it started
    in_flight = 0
    busy_seconds = 0.0
    counts = dict.fromkeys(
        ("dialled", "reached", "machine", "busy", "no_answer", "connected", "abandoned"), 0
    )

    def at(when: float, kind: str, payload: object) -> None:
        heapq.heappush(events, (when, next(seq), kind, payload))

    def dial(now: float) -> None:
        nonlocal in_flight
        outcome = callees.outcome(f"+4420{next(numbers):07d}")
        counts["dialled"] += 1
        in_flight += 1
        if outcome.kind == "busy":
            at(now + (outcome.ring_seconds or 0.0), "busy", outcome)
        elif outcome.ring_seconds is None or outcome.ring_seconds >= dial_timeout:
            at(now + dial_timeout, "no_answer", outcome)
        else:
            at(now + outcome.ring_seconds + outcome.amd_seconds, "amd", outcome)

    now = 0.0
    at(0.0, "tick", None)
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if now > seconds:
            break
        if kind == "tick":
            floor = Floor(
                free=free,
                busy_elapsed=tuple(now - t for t in busy_since.values()),
                in_flight=in_flight,
            )
            for _ in range(calls_to_place(settings, floor, measured)):
                dial(now)
            at(now + 1.0, "tick", None)
        elif kind in ("busy", "no_answer"):
            in_flight -= 1
            counts[kind] += 1
            measured.dial_ended(False)
        elif kind == "amd":
            assert isinstance(payload, CalleeOutcome)
            in_flight -= 1
            ring = payload.ring_seconds or 0.0
            if not payload.detected_human:
                counts["machine"] += 1
                measured.dial_ended(False, ring)
                continue
            counts["reached"] += 1
            measured.dial_ended(True, ring)
            if free == 0:
                counts["abandoned"] += 1
                measured.person_abandoned()
                continue
            free -= 1
            counts["connected"] += 1
            measured.person_connected()
            call = next(seq)
            busy_since[call] = now
            at(now + payload.talk_seconds + wrapup, "free", call)
        elif kind == "free":
            assert isinstance(payload, int)
            started = busy_since.pop(payload)
            busy_seconds += now - started
            measured.handled(now - started)
            free += 1
    busy_seconds += sum(seconds - t for t in busy_since.values())
    return Figures(
        mode=mode,
        operators=operators,
        seconds=seconds,
        occupancy=busy_seconds / (operators * seconds),
        **counts,
    )
