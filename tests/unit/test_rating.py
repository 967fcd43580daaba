"""Rating against hand-computed prices: prefixes, bands, increments, grace, free, minimum."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from contact_center.billing.errors import NoRateError
from contact_center.billing.rating import RatableCall, billed_seconds, rate_call
from contact_center.billing.tariffs import Rate, Rounding, TariffPlan, load_plans

TARIFFS = Path(__file__).resolve().parents[2] / "tariffs"
OUTBOUND = load_plans(TARIFFS / "outbound.yaml")[0]  # Europe/Moscow, UTC+3 all year


def price(plan: TariffPlan, number: str, start: str, seconds: int) -> Decimal:
    return rate_call(RatableCall(number, datetime.fromisoformat(start), seconds), plan).amount


# (number, local start, seconds, expected amount, why) — worked out by hand from
# tariffs/outbound.yaml; 2026-03-03 is a Tuesday, 2026-03-07 a Saturday, 2026-01-01 a holiday.
HAND_PRICED = [
    ("+74951234567", "2026-03-03T14:00:00+03:00", 125, "4.50", "7495 peak 1.50, 60/60: 3 min"),
    ("+74951234567", "2026-03-03T17:59:00+03:00", 125, "3.50", "1 min peak 1.50 + 2 min 1.00"),
    ("+74951234567", "2026-03-03T22:59:30+03:00", 90, "1.25", "30 s at 1.00 + 90 s night 0.50"),
    ("+74951234567", "2026-03-06T23:30:00+03:00", 3600, "30.00", "night across midnight, 0.50"),
    ("+74951234567", "2026-03-03T14:00:00+03:00", 3, "0.00", "within the 3 s grace"),
    ("+74951234567", "2026-03-03T14:00:00+03:00", 4, "1.50", "past grace: a whole minute"),
    ("+79161234567", "2026-03-03T10:00:00+03:00", 31, "2.90", "30/6: 36 s at 4.00 + 0.50 fee"),
    ("+79161234567", "2026-03-03T10:00:00+03:00", 30, "2.50", "30/6: 30 s at 4.00 + 0.50 fee"),
    ("+73812345678", "2026-03-07T12:00:00+03:00", 61, "2.54", "7 weekend 2.50, 60/1: 2.5416"),
    ("+73812345678", "2026-03-03T12:00:00+03:00", 61, "3.05", "7 peak 3.00, 60/1: 61 s"),
    ("+73812345678", "2026-03-03T17:59:30+03:00", 61, "2.79", "30 s peak 3.00 + 31 s 2.50"),
    ("+441234567890", "2026-01-01T10:00:00+03:00", 30, "6.00", "1/1 at 12.00, holiday band"),
    ("+441234567890", "2026-03-03T10:00:00+03:00", 20, "5.00", "4.00 raised to the minimum"),
    ("+12125551234", "2026-03-03T10:00:00+03:00", 59, "9.00", "60/1: first minute whole"),
    ("+12125551234", "2026-03-03T10:00:00+03:00", 0, "0.00", "never answered"),
]


@pytest.mark.parametrize(("number", "start", "seconds", "expected", "why"), HAND_PRICED)
def test_hand_computed_prices(
    number: str, start: str, seconds: int, expected: str, why: str
) -> None:
    assert Decimal(expected) == price(OUTBOUND, number, start, seconds), why


def test_longest_prefix_wins() -> None:
    charge = rate_call(
        RatableCall("+7 (495) 123-45-67", datetime.fromisoformat("2026-03-03T14:00+03:00"), 60),
        OUTBOUND,
    )
    assert ("7495", "Moscow peak") == (charge.prefix, charge.description)


def test_a_band_crossing_call_is_split_and_priced_per_band() -> None:
    charge = rate_call(
        RatableCall("+74951234567", datetime.fromisoformat("2026-03-03T17:59:00+03:00"), 125),
        OUTBOUND,
    )
    assert [("peak", 60, Decimal("1.50")), ("standard", 120, Decimal("2.00"))] == [
        (s.band, s.seconds, s.amount) for s in charge.segments
    ]
    assert "2026-03-03T15:00:00+00:00" == charge.segments[1].start.isoformat()


def test_unknown_destination_is_an_error() -> None:
    with pytest.raises(NoRateError, match="no rate for number '\\+999'"):
        rate_call(
            RatableCall("+999", datetime.fromisoformat("2026-03-03T10:00+03:00"), 60),
            load_plans(TARIFFS / "outbound.yaml")[0],
        )


def flat_plan(**rate: object) -> TariffPlan:
    fields = {"prefix": "7", "per_minute": Decimal("6.00"), **rate}
    rounding = fields.pop("rounding", Rounding())
    return TariffPlan(name="t", currency="RUB", rates=(Rate(**fields),), rounding=rounding)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "seconds", "expected"),
    [
        ({"first_increment": 1, "next_increment": 1, "free_seconds": 10}, 25, "1.50"),
        (
            {
                "first_increment": 1,
                "next_increment": 1,
                "free_seconds": 10,
                "connection_fee": Decimal("0.30"),
            },
            8,
            "0.30",
        ),
        ({"first_increment": 60, "next_increment": 60, "grace_seconds": 5}, 5, "0.00"),
        ({"first_increment": 60, "next_increment": 60, "grace_seconds": 5}, 6, "6.00"),
        ({"first_increment": 60, "next_increment": 1}, 61, "6.10"),
        ({"first_increment": 30, "next_increment": 6}, 37, "4.20"),
        ({"minimum_charge": Decimal("10"), "first_increment": 1, "next_increment": 1}, 30, "10.00"),
    ],
)
def test_free_seconds_grace_increments_minimum(
    rate: dict[str, object], seconds: int, expected: str
) -> None:
    plan = flat_plan(**rate)
    assert Decimal(expected) == price(plan, "+70000000000", "2026-03-03T10:00+00:00", seconds)


@pytest.mark.parametrize(
    ("mode", "seconds", "expected"),
    [("up", 5, "0.09"), ("half_up", 5, "0.08"), ("down", 7, "0.11"), ("half_up", 7, "0.12")],
)
def test_rounding_is_explicit(mode: str, seconds: int, expected: str) -> None:
    plan = flat_plan(
        per_minute=Decimal("1.00"), first_increment=1, next_increment=1, rounding=Rounding(2, mode)
    )
    assert Decimal(expected) == price(plan, "+70000000000", "2026-03-03T10:00+00:00", seconds)


@pytest.mark.parametrize(
    ("chargeable", "first", "nxt", "expected"),
    [
        (0, 60, 60, 0),
        (1, 60, 60, 60),
        (60, 60, 60, 60),
        (61, 60, 60, 120),
        (61, 60, 1, 61),
        (7, 30, 6, 30),
        (31, 30, 6, 36),
        (36, 30, 6, 36),
        (37, 30, 6, 42),
        (5, 1, 1, 5),
    ],
)
def test_billed_seconds(chargeable: int, first: int, nxt: int, expected: int) -> None:
    assert expected == billed_seconds(chargeable, first, nxt)


def test_inbound_toll_free_plan_prices_by_caller_origin() -> None:
    plan = load_plans(TARIFFS / "inbound.yaml")[0]
    assert ("inbound", "caller") == (plan.direction, plan.match)
    # Mobile 1.80/min, 1/1, rounded up: 61 s = 1.83; landline 0.90: 7 s = 0.105 -> 0.11.
    assert Decimal("1.83") == price(plan, "+79161234567", "2026-03-03T10:00+03:00", 61)
    assert Decimal("0.11") == price(plan, "+74951234567", "2026-03-03T10:00+03:00", 7)
    assert Decimal("0.00") == price(plan, "+74951234567", "2026-03-03T10:00+03:00", 5)
