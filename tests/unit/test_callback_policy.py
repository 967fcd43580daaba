"""What happens after each attempt to call a customer back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contact_center.callbacks.policy import after_attempt
from contact_center.config import CallbackSettings

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
POLICY = CallbackSettings(
    max_attempts=3,
    retry_no_answer_minutes=15,
    retry_busy_minutes=5,
    retry_failed_minutes=30,
    operator_retry_seconds=60,
)


def test_reached_ends_it_and_misses_are_retried_by_their_spacing() -> None:
    assert after_attempt(POLICY, "answered", 1, NOW).status == "reached"
    for outcome, minutes in (("no_answer", 15), ("busy", 5), ("failed", 30)):
        nxt = after_attempt(POLICY, outcome, 1, NOW)
        assert (nxt.status, nxt.due_at, nxt.counted) == (
            "pending",
            NOW + timedelta(minutes=minutes),
            True,
        )
    # anything a tracker may say that is not an outcome counts as failed
    assert after_attempt(POLICY, "ivr_only", 1, NOW).due_at == NOW + timedelta(minutes=30)


def test_the_last_attempt_gives_up_and_an_unanswered_operator_does_not_count() -> None:
    assert after_attempt(POLICY, "busy", 3, NOW).status == "failed"
    nxt = after_attempt(POLICY, "operator_no_answer", 3, NOW)
    assert (nxt.status, nxt.due_at, nxt.counted) == (
        "pending",
        NOW + timedelta(seconds=60),
        False,
    )
