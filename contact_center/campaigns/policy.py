"""What a campaign may do with one number: when it may be called (the customer's own time
zone), what follows each attempt (retries with spacing, recalls, giving up), dispositions.

Pure functions; the store and the dialer apply them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_timezones

from contact_center.i18n import gettext as _

# How an attempt ended. ``answered``: a person talked with an operator; ``abandoned``: a
# person answered and no operator was free (heard the apology); ``machine``: AMD() heard an
# answering machine; ``operator_no_answer``: the operator's phone was not answered (the
# customer was never dialled: not counted).
OUTCOMES = (
    "answered",
    "no_answer",
    "busy",
    "machine",
    "abandoned",
    "failed",
    "operator_no_answer",
)
OUTCOME_WORDS = {
    "answered": "talked with an operator",
    "no_answer": "no answer",
    "busy": "busy",
    "machine": "answering machine",
    "abandoned": "answered, no operator free (abandoned)",
    "failed": "could not be reached",
    "operator_no_answer": "the operator did not answer",
}
# Operators' dispositions after a conversation. "recall" needs a time.
DISPOSITIONS = {
    "done": "done",
    "sale": "sale",
    "not_interested": "not interested",
    "recall": "call back later",
    "wrong_number": "wrong number",
    "do_not_call": "asked not to be called",
}
# A contact's status.
PENDING, DIALING, DONE, FAILED, DNC, SKIPPED = (
    "pending",
    "dialing",
    "done",
    "failed",
    "dnc",
    "skipped",
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    no_answer_minutes: int = 60
    busy_minutes: int = 15
    machine_minutes: int = 240
    abandoned_minutes: int = 60  # an abandoned person is called again, as regulators expect
    failed_minutes: int = 120


@dataclass(frozen=True, slots=True)
class Next:
    status: str  # pending (again at next_at) | done | failed
    next_at: datetime | None
    counted: bool


def outcome_of(raw: str) -> str:
    return raw if raw in OUTCOMES else "failed"


def after_attempt(policy: RetryPolicy, outcome: str, attempts: int, now: datetime) -> Next:
    """``attempts``: counted so far, this one included."""
    outcome = outcome_of(outcome)
    if outcome == "answered":
        return Next(DONE, None, True)
    if outcome == "operator_no_answer":
        return Next(PENDING, now + timedelta(seconds=30), False)
    if attempts >= policy.max_attempts:
        return Next(FAILED, None, True)
    minutes = {
        "no_answer": policy.no_answer_minutes,
        "busy": policy.busy_minutes,
        "machine": policy.machine_minutes,
        "abandoned": policy.abandoned_minutes,
    }.get(outcome, policy.failed_minutes)
    return Next(PENDING, now + timedelta(minutes=minutes), True)


def after_disposition(disposition: str, recall_at: datetime | None) -> Next:
    """An operator's disposition of a conversation: a recall is pending again at its time;
    anything else closes the contact (``do_not_call`` also lists the number)."""
    if disposition not in DISPOSITIONS:
        raise ValueError(_("unknown disposition %(name)s", name=disposition))
    if disposition == "recall":
        if recall_at is None:
            raise ValueError(_("a recall needs a time"))
        return Next(PENDING, recall_at, False)
    if disposition == "do_not_call":
        return Next(DNC, None, False)
    return Next(DONE, None, False)


def zone_names(e164: str, explicit: str = "") -> list[str]:
    """The time zones a number may be in: the explicit one, else phonenumbers' (one for most
    numbers, several for a country or area that spans zones)."""
    if _zone(explicit) is not None:
        return [explicit]
    return [z.key for z in _number_zones(e164)]


def _zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Window:
    """Calling hours in the customer's time: ``start``–``end`` on ``days`` (ISO weekdays)."""

    start: time = time(9, 0)
    end: time = time(20, 0)
    days: str = "12345"

    @classmethod
    def parse(cls, start: str, end: str, days: str) -> Window:
        try:
            a, b = time.fromisoformat(start), time.fromisoformat(end)
        except ValueError:
            raise ValueError(_("calling hours look like 09:00 and 20:00")) from None
        if a >= b:
            raise ValueError(_("calling hours must end after they start"))
        clean = "".join(sorted(set(days)))
        if not clean or any(d not in "1234567" for d in clean):
            raise ValueError(_("calling days are ISO weekdays 1 (Monday) to 7 (Sunday)"))
        return cls(a, b, clean)

    def allows(self, moment: datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone)
        return str(local.isoweekday()) in self.days and self.start <= local.time() < self.end


def may_call(
    window: Window, number: str, now: datetime, *, explicit_tz: str = "", default_tz: str = ""
) -> bool:
    """Whether ``number`` may be called at ``now`` under ``window``, in the contact's own
    zone: the explicit one, else the number's when phonenumbers names exactly one. A number
    whose zone is ambiguous (a mobile number of a country spanning zones) is called in the
    campaign's ``default_tz`` when one is set, else only when every possible zone allows."""
    if _zone(explicit_tz) is not None:
        return window.allows(now, ZoneInfo(explicit_tz))
    zones = _number_zones(number)
    if len(zones) == 1:
        return window.allows(now, zones[0])
    default = _zone(default_tz)
    if default is not None or not zones:
        return window.allows(now, default or ZoneInfo("UTC"))
    return all(window.allows(now, z) for z in zones)


def _number_zones(e164: str) -> list[ZoneInfo]:
    try:
        parsed = phonenumbers.parse(e164, None)
        names = number_timezones.time_zones_for_number(parsed)
    except phonenumbers.NumberParseException:
        return []
    return [
        z
        for z in (_zone(n) for n in names if n != number_timezones.UNKNOWN_TIMEZONE)
        if z is not None
    ]
