"""How many customers to dial now: preview, progressive and predictive pacing.

* **preview** — nothing is dialled by the pacer: the operator sees the next card and presses
  call (the dialer then rings that operator first).
* **progressive** — one call per free operator: a call reserves its operator, so nobody who
  answers is ever abandoned, and the operator waits through every ring, busy and machine.
* **predictive** — calls are placed ahead of free operators. From the measured chance that a
  dial reaches a person (``p``), the measured handle time and the time a dial takes to be
  answered, it places the largest number of calls for which the *expected* number of people
  who answer with nobody free stays under ``target × expected people reached``. ``target``
  starts at the abandon cap and is steered by the abandon rate measured so far: above the cap
  it shrinks (down to zero, which is progressive), well under it it grows back. Until enough
  dials are measured, the prior ``p`` is cautious.

The abandon rate is abandoned / answered-by-a-person, the regulators' definition (Ofcom's
3 % over 24 hours, the FCC's 3 % over 30 days per campaign).

Pure: no clock, no I/O; :class:`Measured` is fed outcomes and :func:`calls_to_place` reads it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

MODES = ("preview", "progressive", "predictive")


@dataclass(frozen=True, slots=True)
class PacingSettings:
    mode: str = "progressive"
    abandon_cap: float = 0.03  # abandoned / answered by a person
    max_lines_per_operator: float = 3.0  # never more calls in flight than this × operators
    prior_reach: float = 0.25  # chance a dial reaches a person before we measured any
    prior_handle_seconds: float = 120.0
    prior_answer_seconds: float = 10.0
    min_samples: int = 30  # dials measured before the measured rate replaces the prior

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"pacing mode must be one of {', '.join(MODES)}")
        if not 0.0 <= self.abandon_cap <= 0.5:
            raise ValueError("the abandon cap must be between 0 % and 50 %")
        if self.max_lines_per_operator < 1.0:
            raise ValueError("at least one line per operator")


@dataclass
class Measured:
    """Rolling figures of one campaign (the last ``window`` dials and connects)."""

    window: int = 400
    dials: int = 0
    reached: int = 0  # a person answered (AMD said human)
    abandoned: int = 0
    connected: int = 0
    _reach: deque[bool] = field(default_factory=deque)
    _handle: deque[float] = field(default_factory=deque)
    _answer: deque[float] = field(default_factory=deque)

    def dial_ended(self, reached_person: bool, answer_seconds: float | None = None) -> None:
        """A dial's outcome is known (person, or machine / busy / no answer / failed)."""
        self.dials += 1
        self._push(self._reach, reached_person)
        if reached_person:
            self.reached += 1
        if answer_seconds is not None:
            self._push(self._answer, answer_seconds)

    def person_abandoned(self) -> None:
        self.abandoned += 1

    def person_connected(self) -> None:
        self.connected += 1

    def handled(self, seconds: float) -> None:
        """An operator is free again after this many seconds of talk and wrap-up."""
        self._push(self._handle, seconds)

    def _push(self, values: deque[float] | deque[bool], value: float | bool) -> None:
        values.append(value)  # type: ignore[arg-type]
        if len(values) > self.window:
            values.popleft()

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.reached if self.reached else 0.0

    def reach_rate(self, settings: PacingSettings) -> float:
        if len(self._reach) < settings.min_samples:
            return settings.prior_reach
        return sum(self._reach) / len(self._reach)

    def handle_seconds(self, settings: PacingSettings) -> float:
        if not self._handle:
            return settings.prior_handle_seconds
        return sum(self._handle) / len(self._handle)

    def answer_seconds(self, settings: PacingSettings) -> float:
        if not self._answer:
            return settings.prior_answer_seconds
        return sum(self._answer) / len(self._answer)


@dataclass(frozen=True, slots=True)
class Floor:
    """The operators of a campaign as the pacer sees them now."""

    free: int  # signed in, available, not reserved for a call
    busy_elapsed: tuple[float, ...] = ()  # seconds each busy operator has been on their call
    in_flight: int = 0  # dials placed and not yet answered or given up


def calls_to_place(settings: PacingSettings, floor: Floor, measured: Measured) -> int:
    """How many new dials to place now (never negative)."""
    if settings.mode == "preview":
        return 0
    if settings.mode == "progressive":
        return max(0, floor.free - floor.in_flight)
    return _predictive(settings, floor, measured)


def target_ratio(settings: PacingSettings, measured: Measured) -> float:
    """The share of reached people we plan to abandon, steered by the measured rate: at or
    above the cap nothing is planned to abandon; under it, a share that grows as the
    measured rate falls below the cap."""
    cap = settings.abandon_cap
    if cap <= 0.0:
        return 0.0
    if measured.reached < 20:
        return cap * 0.5  # too few people to know the rate: half the cap
    rate = measured.abandon_rate
    if rate >= cap:
        return 0.0
    return cap * min(1.5, (cap - rate) / cap * 1.5)


def _predictive(settings: PacingSettings, floor: Floor, measured: Measured) -> int:
    operators = floor.free + len(floor.busy_elapsed)
    if operators == 0:
        return 0
    p = measured.reach_rate(settings)
    if p <= 0.0:
        return max(0, floor.free - floor.in_flight)
    handle = measured.handle_seconds(settings)
    horizon = measured.answer_seconds(settings) + 2.5  # ring, then AMD's greeting
    # Each busy operator is free again within the horizon with a chance from the handle time
    # left (memoryless: exponential), which under-promises rather than over-promises.
    soon = [1.0 - math.exp(-horizon / max(1.0, handle)) for _ in floor.busy_elapsed]
    available = _poisson_binomial([1.0] * floor.free + soon)
    target = target_ratio(settings, measured)
    limit = int(settings.max_lines_per_operator * operators)
    short = _shortfall(available, limit + 1)
    best = min(floor.in_flight, limit)
    reached = _binomial(floor.in_flight, p)
    for total in range(floor.in_flight + 1, limit + 1):
        reached = _add_coin(reached, p)
        excess = sum(pr * short[r] for r, pr in enumerate(reached))
        if excess > target * total * p + 1e-12:
            break
        best = total
    # never fewer than progressive would place
    return max(best - floor.in_flight, floor.free - floor.in_flight, 0)


def _binomial(n: int, p: float) -> list[float]:
    dist = [1.0]
    for _ in range(n):
        dist = _add_coin(dist, p)
    return dist


def _poisson_binomial(ps: list[float]) -> list[float]:
    dist = [1.0]
    for q in ps:
        dist = _add_coin(dist, q)
    return dist


def _add_coin(dist: list[float], p: float) -> list[float]:
    out = [0.0] * (len(dist) + 1)
    for k, w in enumerate(dist):
        out[k] += w * (1.0 - p)
        out[k + 1] += w * p
    return out


def _shortfall(available: list[float], size: int) -> list[float]:
    """g[r] = E[max(0, r − A)]: people short of an operator when r answer at once;
    g[r + 1] = g[r] + P(A ≤ r)."""
    g = [0.0] * size
    below = 0.0
    for r in range(size - 1):
        below += available[r] if r < len(available) else 0.0
        g[r + 1] = g[r] + below
    return g
