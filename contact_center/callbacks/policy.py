"""What happens after each attempt to call a customer back.

An attempt ends with one outcome, from the tracker's ``CallEnded`` of the outbound call:
``answered`` (the customer answered: reached), ``no_answer``, ``busy``, ``failed`` (the
number could not be reached), or ``operator_no_answer`` (the operator's own phone was not
answered: the customer was never dialled, so the attempt does not count and another
operator is tried soon). Anything else a tracker may report counts as ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contact_center.config import CallbackSettings

REACHED = "answered"
NOT_COUNTED = "operator_no_answer"
OUTCOMES = ("answered", "no_answer", "busy", "failed", "operator_no_answer")
OUTCOME_WORDS = {
    "answered": "reached",
    "no_answer": "no answer",
    "busy": "busy",
    "failed": "could not be reached",
    "operator_no_answer": "the operator did not answer",
}
# Statuses of a callback row.
PENDING, DIALING, REACHED_STATUS, FAILED, CANCELLED = (
    "pending",
    "dialing",
    "reached",
    "failed",
    "cancelled",
)
OPEN_STATUSES = (PENDING, DIALING)


@dataclass(frozen=True, slots=True)
class Next:
    status: str  # pending (try again at due_at) | reached | failed (given up)
    due_at: datetime | None
    counted: bool  # whether this attempt counts against max_attempts

    @property
    def next_at(self) -> datetime | None:
        """``due_at`` under the name the campaigns' ``Next`` uses (contact_center.dialing)."""
        return self.due_at


def outcome_of(raw: str) -> str:
    return raw if raw in OUTCOMES else "failed"


def after_attempt(policy: CallbackSettings, outcome: str, attempts: int, now: datetime) -> Next:
    """``attempts``: attempts counted so far, this one included."""
    outcome = outcome_of(outcome)
    if outcome == REACHED:
        return Next(REACHED_STATUS, None, True)
    if outcome == NOT_COUNTED:
        return Next(PENDING, now + timedelta(seconds=policy.operator_retry_seconds), False)
    if attempts >= policy.max_attempts:
        return Next(FAILED, None, True)
    minutes = {
        "no_answer": policy.retry_no_answer_minutes,
        "busy": policy.retry_busy_minutes,
    }.get(outcome, policy.retry_failed_minutes)
    return Next(PENDING, now + timedelta(minutes=minutes), True)
