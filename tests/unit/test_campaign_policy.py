"""Calling windows in the customer's own zone, retries by outcome, dispositions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contact_center.campaigns.policy import (
    RetryPolicy,
    Window,
    after_attempt,
    after_disposition,
    may_call,
    zone_names,
)

MONDAY_10_UTC = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
HOURS = Window.parse("09:00", "20:00", "12345")


def test_the_zone_comes_from_the_number_unless_given() -> None:
    assert zone_names("+74232123456") == ["Asia/Vladivostok"]
    assert zone_names("+12125551234") == ["America/New_York"]
    assert zone_names("+12125551234", explicit="Europe/London") == ["Europe/London"]
    assert len(zone_names("+79161234567")) > 5  # a Russian mobile: any zone of the country


@pytest.mark.parametrize(
    ("number", "tz", "default", "when", "allowed"),
    [
        ("+74951234567", "", "", MONDAY_10_UTC, True),  # 13:00 in Moscow
        ("+74232123456", "", "", MONDAY_10_UTC, False),  # 20:00 in Vladivostok: closed
        ("+74232123456", "", "", MONDAY_10_UTC - timedelta(hours=1), True),  # 19:00 there
        ("+12125551234", "", "", MONDAY_10_UTC, False),  # 05:00 in New York
        ("+12125551234", "", "", MONDAY_10_UTC + timedelta(hours=5), True),  # 10:00
        ("+12125551234", "Europe/Moscow", "", MONDAY_10_UTC, True),  # the explicit zone wins
        ("+79161234567", "", "Europe/Moscow", MONDAY_10_UTC, True),  # ambiguous: the default
        ("+79161234567", "", "", MONDAY_10_UTC, False),  # ambiguous, no default: every zone
        ("+74951234567", "", "", datetime(2026, 12, 12, 10, 0, tzinfo=UTC), False),  # Saturday
    ],
)
def test_calling_windows_in_the_customers_time(
    number: str, tz: str, default: str, when: datetime, allowed: bool
) -> None:
    assert may_call(HOURS, number, when, explicit_tz=tz, default_tz=default) is allowed


def test_windows_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="end after they start"):
        Window.parse("20:00", "09:00", "1")
    with pytest.raises(ValueError, match="ISO weekdays"):
        Window.parse("09:00", "20:00", "8")
    with pytest.raises(ValueError, match="09:00 and 20:00"):
        Window.parse("nine", "20:00", "1")


@given(
    st.sampled_from(["no_answer", "busy", "machine", "abandoned", "failed", "weird"]),
    st.integers(1, 10),
)
def test_retries_are_spaced_by_outcome_and_stop_at_the_maximum(outcome: str, attempts: int) -> None:
    policy = RetryPolicy(max_attempts=3, no_answer_minutes=60, busy_minutes=15)
    nxt = after_attempt(policy, outcome, attempts, MONDAY_10_UTC)
    assert nxt.counted
    if attempts >= 3:
        assert (nxt.status, nxt.next_at) == ("failed", None)
    else:
        assert nxt.status == "pending" and nxt.next_at is not None
        assert nxt.next_at > MONDAY_10_UTC
        if outcome == "busy":
            assert nxt.next_at == MONDAY_10_UTC + timedelta(minutes=15)
        if outcome == "no_answer":
            assert nxt.next_at == MONDAY_10_UTC + timedelta(minutes=60)


def test_answered_is_done_and_an_operator_not_answering_does_not_count() -> None:
    policy = RetryPolicy()
    assert after_attempt(policy, "answered", 1, MONDAY_10_UTC).status == "done"
    nxt = after_attempt(policy, "operator_no_answer", 3, MONDAY_10_UTC)
    assert (nxt.status, nxt.counted) == ("pending", False)


def test_dispositions() -> None:
    later = MONDAY_10_UTC + timedelta(days=1)
    assert after_disposition("recall", later).next_at == later
    assert after_disposition("do_not_call", None).status == "dnc"
    assert after_disposition("sale", None).status == "done"
    with pytest.raises(ValueError, match="needs a time"):
        after_disposition("recall", None)
    with pytest.raises(ValueError, match="unknown disposition"):
        after_disposition("maybe", None)
