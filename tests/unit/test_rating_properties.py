"""Properties of rating that must hold for any plan, number, start and duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from contact_center.billing.rating import RatableCall, rate_call
from contact_center.billing.tariffs import (
    Rate,
    Rounding,
    TariffPlan,
    TimeBand,
    plan_from_definition,
)

INCREMENTS = [(60, 60), (60, 1), (1, 1), (30, 6)]
money = st.decimals(min_value=0, max_value=50, places=2, allow_nan=False, allow_infinity=False)
BANDS = (
    TimeBand("peak", frozenset(range(5)), 9 * 60, 18 * 60),
    TimeBand("night", frozenset(range(7)), 23 * 60, 7 * 60),
    TimeBand("holiday", holiday=True),
)


@st.composite
def plans(draw: st.DrawFn) -> TariffPlan:
    banded = draw(st.booleans())
    names = ["", "peak", "night", "holiday"] if banded else [""]
    rates = []
    for prefix in ("7", "7495", "79"):
        first, nxt = draw(st.sampled_from(INCREMENTS))
        shared = {
            "first_increment": first,
            "next_increment": nxt,
            "grace_seconds": draw(st.integers(0, 10)),
            "free_seconds": draw(st.integers(0, 30)),
            "connection_fee": draw(money),
            "minimum_charge": draw(money),
        }
        for band in names:
            rates.append(Rate(prefix=prefix, band=band, per_minute=draw(money), **shared))
    return TariffPlan(
        name="p",
        currency="RUB",
        rates=tuple(rates),
        bands=BANDS if banded else (),
        holidays=frozenset({datetime(2026, 1, 1).date(), datetime(2026, 5, 9).date()}),
        timezone=draw(st.sampled_from(["UTC", "Europe/Moscow", "Europe/Berlin"])),
        rounding=Rounding(2, draw(st.sampled_from(["half_up", "up", "half_even", "down"]))),
    )


numbers = st.sampled_from(["+74951234567", "+79161234567", "+73812345678", "74950000000"])
starts = st.integers(0, 366 * 86400).map(
    lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s)
)
durations = st.integers(0, 20_000)


@settings(max_examples=120, deadline=None)
@given(plans(), numbers, starts, durations)
def test_never_negative(plan: TariffPlan, number: str, start: datetime, seconds: int) -> None:
    charge = rate_call(RatableCall(number, start, seconds), plan)
    assert charge.amount >= 0
    assert all(s.amount >= 0 for s in charge.segments)


@settings(max_examples=120, deadline=None)
@given(plans(), numbers, starts, durations, st.integers(1, 5000))
def test_monotonic_in_duration(
    plan: TariffPlan, number: str, start: datetime, seconds: int, more: int
) -> None:
    shorter = rate_call(RatableCall(number, start, seconds), plan)
    longer = rate_call(RatableCall(number, start, seconds + more), plan)
    assert shorter.amount <= longer.amount


@settings(max_examples=120, deadline=None)
@given(plans(), numbers, starts, durations)
def test_increments_honoured(plan: TariffPlan, number: str, start: datetime, seconds: int) -> None:
    charge = rate_call(RatableCall(number, start, seconds), plan)
    first, nxt = charge.first_increment, charge.next_increment
    if charge.reason:  # unanswered or within grace: nothing billed
        assert 0 == charge.billed_seconds
        return
    chargeable = max(0, seconds - charge.free_seconds)
    billed = charge.billed_seconds
    assert billed >= chargeable
    if chargeable == 0:
        assert 0 == billed
    elif chargeable <= first:
        assert first == billed
    else:
        assert 0 == (billed - first) % nxt
        assert billed - chargeable < nxt


@settings(max_examples=120, deadline=None)
@given(plans(), numbers, starts, durations)
def test_band_split_sums_to_the_whole(
    plan: TariffPlan, number: str, start: datetime, seconds: int
) -> None:
    charge = rate_call(RatableCall(number, start, seconds), plan)
    assert charge.billed_seconds == sum(s.seconds for s in charge.segments)
    assert charge.subtotal == charge.connection_fee + sum(
        (s.amount for s in charge.segments), Decimal(0)
    )
    for before, after in zip(charge.segments, charge.segments[1:], strict=False):
        assert before.start + timedelta(seconds=before.seconds) == after.start
        assert before.band != after.band


@settings(max_examples=120, deadline=None)
@given(plans(), numbers, starts, durations)
def test_rerating_gives_the_same_result(
    plan: TariffPlan, number: str, start: datetime, seconds: int
) -> None:
    call = RatableCall(number, start, seconds)
    # Re-rating reads the plan back from the database: rebuild it from what is stored.
    stored = plan_from_definition(
        name=plan.name,
        direction=plan.direction,
        currency=plan.currency,
        definition=plan.definition(),
        rates=plan.rates,
    )
    assert rate_call(call, plan) == rate_call(call, plan) == rate_call(call, stored)
