"""Pricing one call against one plan: a pure function, Decimal money, explicit rounding.

The rules, in order:

1. The number's longest matching prefix picks the rates (one per band).
2. A call of 0 s (never answered) or up to the grace period costs nothing at all.
3. The first ``free_seconds`` are not billed; the rest is rounded up to the increments
   (first/next: 60/60 bills whole minutes, 30/6 a first half minute then 6 s steps).
4. The billed seconds are laid on the clock from the end of the free seconds and split where a
   time band ends; each piece is priced at its band's per-minute rate.
5. The connection fee (of the band the call started in) is added; the minimum charge is a floor.
6. The total is rounded once, with the plan's places and mode; pieces stay exact.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from contact_center.billing.errors import BillingError, NoRateError
from contact_center.billing.tariffs import ZERO, Rate, TariffPlan, digits_of

SIXTY = Decimal(60)
BAND_CACHE_SIZE = 200_000  # minutes (about 4.5 months of distinct call minutes)


@dataclass(frozen=True, slots=True)
class RatableCall:
    """What rating needs to know of a call."""

    number: str  # the number matched against the plan's prefixes
    start: datetime  # timezone-aware: when billing starts (the answer)
    seconds: int  # billable duration (talk time), whole seconds
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class ChargeSegment:
    band: str
    start: datetime
    seconds: int
    per_minute: Decimal
    amount: Decimal  # exact: seconds × per_minute / 60


@dataclass(frozen=True, slots=True)
class Charge:
    plan: str
    currency: str
    number: str
    prefix: str
    description: str
    seconds: int  # duration of the call
    billed_seconds: int  # after free seconds and increments
    free_seconds: int
    first_increment: int
    next_increment: int
    connection_fee: Decimal
    segments: tuple[ChargeSegment, ...]
    subtotal: Decimal  # fee + segments, exact
    minimum_applied: bool
    amount: Decimal  # what the customer pays, rounded by the plan's rule
    reason: str = ""  # "" | "unanswered" | "grace"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready breakdown; money as strings so no precision is lost."""
        return {
            "plan": self.plan,
            "currency": self.currency,
            "number": self.number,
            "prefix": self.prefix,
            "description": self.description,
            "seconds": self.seconds,
            "billed_seconds": self.billed_seconds,
            "free_seconds": self.free_seconds,
            "increment": f"{self.first_increment}/{self.next_increment}",
            "connection_fee": str(self.connection_fee),
            "segments": [
                {
                    "band": s.band,
                    "start": s.start.isoformat(),
                    "seconds": s.seconds,
                    "per_minute": str(s.per_minute),
                    "amount": str(s.amount),
                }
                for s in self.segments
            ],
            "subtotal": str(self.subtotal),
            "minimum_applied": self.minimum_applied,
            "amount": str(self.amount),
            "reason": self.reason,
        }


def billed_seconds(chargeable: int, first: int, nxt: int) -> int:
    """Round chargeable seconds up to the first increment, then to whole next increments."""
    if chargeable <= 0:
        return 0
    if chargeable <= first:
        return first
    extra = chargeable - first
    return first + -(-extra // nxt) * nxt


def rate_call(call: RatableCall, plan: TariffPlan) -> Charge:
    """The price of a call under a plan. Raises NoRateError when no prefix matches."""
    if call.seconds < 0:
        raise BillingError(f"call {call.call_id or call.number}: negative duration {call.seconds}")
    found = plan.table.longest_match(digits_of(call.number))
    if found is None:
        raise NoRateError(plan.name, call.number)
    prefix, by_band = found
    # Whole seconds: band edges are whole minutes, and a sub-second start must not make a
    # piece of 0.4 s.
    start_ts = int(call.start.timestamp())
    first_band = _band_at(plan, start_ts) if plan.bands else plan.default_band
    rule = _rate_for(by_band, first_band)
    if call.seconds == 0 or call.seconds <= rule.grace_seconds:
        return _free_charge(
            call, plan, prefix, rule, "unanswered" if call.seconds == 0 else "grace"
        )
    chargeable = max(0, call.seconds - rule.free_seconds)
    billed = billed_seconds(chargeable, rule.first_increment, rule.next_increment)
    if billed == 0:
        segments: tuple[ChargeSegment, ...] = ()
    elif plan.bands:
        segments = _split_by_band(plan, by_band, start_ts + rule.free_seconds, billed)
    else:
        per_minute = rule.per_minute
        segments = (
            ChargeSegment(
                plan.default_band,
                _utc(start_ts + rule.free_seconds),
                billed,
                per_minute,
                per_minute * billed / SIXTY,
            ),
        )
    subtotal = rule.connection_fee + sum((s.amount for s in segments), ZERO)
    minimum_applied = subtotal < rule.minimum_charge
    total = rule.minimum_charge if minimum_applied else subtotal
    return Charge(
        plan=plan.name,
        currency=plan.currency,
        number=call.number,
        prefix=prefix,
        description=rule.description,
        seconds=call.seconds,
        billed_seconds=billed,
        free_seconds=min(rule.free_seconds, call.seconds),
        first_increment=rule.first_increment,
        next_increment=rule.next_increment,
        connection_fee=rule.connection_fee,
        segments=segments,
        subtotal=subtotal,
        minimum_applied=minimum_applied,
        amount=plan.rounding.apply(total),
    )


def _rate_for(by_band: dict[str, Rate], band: str) -> Rate:
    rate = by_band.get(band)
    if rate is None:
        # Import checks that every prefix is priced in every band, so "" must be here.
        rate = by_band[""]
    return rate


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _free_charge(call: RatableCall, plan: TariffPlan, prefix: str, rule: Rate, why: str) -> Charge:
    return Charge(
        plan=plan.name,
        currency=plan.currency,
        number=call.number,
        prefix=prefix,
        description=rule.description,
        seconds=call.seconds,
        billed_seconds=0,
        free_seconds=0,
        first_increment=rule.first_increment,
        next_increment=rule.next_increment,
        connection_fee=ZERO,
        segments=(),
        subtotal=ZERO,
        minimum_applied=False,
        amount=plan.rounding.apply(ZERO),
        reason=why,
    )


def _band_at(plan: TariffPlan, ts: int) -> str:
    return _band_and_edge(plan, ts)[0]


def _band_and_edge(plan: TariffPlan, ts: int) -> tuple[str, int]:
    """The band in force at ts, and the epoch second of the next band edge (or local midnight)
    strictly after ts.

    Band edges are whole local minutes, so both answers are the same for every second of one
    minute: they are cached per minute (calls cluster in time, so most look-ups hit)."""
    minute_key = ts // 60
    cached = plan.band_cache.get(minute_key)
    if cached is None:
        if len(plan.band_cache) >= BAND_CACHE_SIZE:
            plan.band_cache.clear()
        cached = plan.band_cache[minute_key] = _compute_band_and_edge(plan, minute_key * 60)
    band, edge = cached
    return band, edge if edge > ts else ts + 60


def _compute_band_and_edge(plan: TariffPlan, ts: int) -> tuple[str, int]:
    local = datetime.fromtimestamp(ts, plan.tz)
    minute = local.hour * 60 + local.minute + local.second / 60
    band = plan.band_at(local.date(), local.weekday(), minute)
    edge = plan.boundaries[bisect_right(plan.boundaries, minute)]
    midnight = datetime(local.year, local.month, local.day, tzinfo=plan.tz)
    at = int((midnight + timedelta(minutes=edge)).timestamp())
    # A DST jump can put the wall-clock edge behind us; never stall.
    return band, at if at > ts else ts + 60


def _split_by_band(
    plan: TariffPlan, by_band: dict[str, Rate], start_ts: int, billed: int
) -> tuple[ChargeSegment, ...]:
    pieces: list[tuple[str, int, int]] = []  # band, start, seconds
    ts, remaining = start_ts, billed
    while remaining > 0:
        band, edge = _band_and_edge(plan, ts)
        length = min(remaining, edge - ts)
        if pieces and pieces[-1][0] == band:
            b, s, n = pieces[-1]
            pieces[-1] = (b, s, n + length)
        else:
            pieces.append((band, ts, length))
        ts += length
        remaining -= length
    segments = []
    for band, start, seconds in pieces:
        per_minute = _rate_for(by_band, band).per_minute
        segments.append(
            ChargeSegment(band, _utc(start), seconds, per_minute, per_minute * seconds / SIXTY)
        )
    return tuple(segments)
