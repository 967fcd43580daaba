"""Timeline rows as people read them, in the reader's language: one sentence per row.

The stored ``summary`` is written once, in English, when the fact happens. A page shows the
row again from its kind and data, at read time, so it reads in the reader's language, with
people's names (not ``PJSIP/101``), durations as m:ss and times in the reader's time zone:
"Called from +7 495 123-45-67, waited 0:42, talked 3:10 with Anna Petrova",
"QA score 87 % by Quinn Reviewer", "Callback: no answer, next try 14:30". A kind this module
does not know falls back to the stored summary. Pure functions: the caller loads the names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from contact_center.i18n import format_datetime, format_duration, format_number
from contact_center.i18n import gettext as _


@dataclass(frozen=True, slots=True)
class Names:
    """Who is who: people by phone interface and by login (display names)."""

    by_interface: Mapping[str, str] = field(default_factory=dict)
    by_login: Mapping[str, str] = field(default_factory=dict)

    def operator(self, interface: str = "", member_name: str = "") -> str:
        """The person at a phone: their user's name, else Asterisk's member name."""
        if interface and interface in self.by_interface:
            return self.by_interface[interface]
        if member_name and member_name != interface:
            return member_name
        return interface or _("an operator")

    def user(self, login: str) -> str:
        if not login:
            return _("an operator")
        return self.by_login.get(login, login)


def phone(number: str) -> str:
    """+74951234567 → "+7 495 123-45-67"; anything else as it is."""
    if not number.startswith("+"):
        return number
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _seconds(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _outcome_words(outcome: str) -> str:
    words = {
        "answered": _("reached"),
        "no_answer": _("no answer"),
        "busy": _("busy"),
        "failed": _("could not be reached"),
        "operator_no_answer": _("the operator did not answer"),
    }
    return words.get(outcome, outcome.replace("_", " "))


def _ended_words(outcome: str) -> str:
    words = {
        "answered": _("answered"),
        "abandoned": _("the caller hung up waiting"),
        "ivr_only": _("ended in the IVR"),
        "unanswered": _("not answered"),
        "voicemail": _("voicemail"),
        "no_answer": _("no answer"),
        "busy": _("busy"),
        "failed": _("failed"),
        "operator_no_answer": _("the operator did not answer"),
    }
    return words.get(outcome, outcome.replace("_", " "))


@dataclass(frozen=True, slots=True)
class Clock:
    """How times read: the reader's zone."""

    zone: tzinfo | str | None = None

    def time(self, moment: datetime, *, day_of: datetime | None = None) -> str:
        """Date and time; the time alone when it falls on the same day as ``day_of``."""
        zone = ZoneInfo(self.zone) if isinstance(self.zone, str) else self.zone
        if day_of is not None and zone is not None:
            if moment.astimezone(zone).date() == day_of.astimezone(zone).date():
                return format_datetime(moment, self.zone, "HH:mm")
        return format_datetime(moment, self.zone, "short")


@dataclass(frozen=True, slots=True)
class When:
    """The row's own time and, for a callback attempt, the next try it set."""

    at: datetime | None = None
    next_try: datetime | None = None


def sentence(
    kind: str,
    data: Mapping[str, Any],
    *,
    actor: str = "",
    summary: str = "",
    names: Names | None = None,
    clock: Clock | None = None,
    callback_next: datetime | None = None,
    at: datetime | None = None,
) -> str:
    """One timeline row as a sentence in the current language."""
    names = names or Names()
    clock = clock or Clock()
    handler = _BY_KIND.get(kind)
    if handler is None:
        return summary or kind
    try:
        text = handler(data, actor, names, clock, When(at, callback_next))
    except (KeyError, TypeError, ValueError):
        text = ""
    return text or summary or kind


def _arrived(d: Mapping[str, Any], _a: str, names: Names, _c: Clock, _n: Any) -> str:
    direction = d.get("direction", "inbound")
    if direction == "outbound":
        who = d.get("operator_name") or names.operator(d.get("operator_interface", ""))
        number = phone(str(d.get("did") or d.get("caller_number") or ""))
        return _("%(who)s called %(number)s", who=who, number=number or _("an unknown number"))
    if direction == "supervisor":
        return _("A supervisor listened in")
    number = phone(str(d.get("caller_number") or d.get("caller_number_raw") or ""))
    if not number:
        return _("Called from an unknown number")
    return _("Called from %(number)s", number=number)


def _identified(d: Mapping[str, Any], *_rest: Any) -> str:
    method = {
        "account": _("by account number"),
        "pin": _("by PIN"),
        "operator": _("by the operator"),
    }.get(str(d.get("method", "")), str(d.get("method", "")))
    return _("Identified as this customer %(how)s", how=method)


def _ivr(d: Mapping[str, Any], *_rest: Any) -> str:
    where = " › ".join(str(x) for x in (d.get("menu"), d.get("node")) if x)
    digits = str(d.get("digits") or "")
    if digits:
        return _("IVR %(where)s: pressed %(digits)s", where=where, digits=digits)
    result = str(d.get("result") or "")
    if result and result != "ok":
        return _("IVR %(where)s (%(result)s)", where=where, result=result)
    return _("IVR %(where)s", where=where)


def _queued(d: Mapping[str, Any], *_rest: Any) -> str:
    return _("Waited in the queue %(queue)s", queue=d.get("queue", ""))


def _offered(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    who = names.operator(d.get("interface", ""), d.get("member_name", ""))
    return _("%(who)s's phone rang", who=who)


def _no_answer(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    who = names.operator(d.get("interface", ""), d.get("member_name", ""))
    return _(
        "%(who)s did not answer (rang %(time)s)",
        who=who,
        time=format_duration(_seconds(d.get("ring_seconds"))),
    )


def _answered(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    who = names.operator(d.get("interface", ""), d.get("member_name", ""))
    return _(
        "%(who)s answered after %(wait)s waiting",
        who=who,
        wait=format_duration(_seconds(d.get("hold_seconds"))),
    )


def _abandoned(d: Mapping[str, Any], *_rest: Any) -> str:
    return _(
        "Hung up after waiting %(wait)s in %(queue)s",
        wait=format_duration(_seconds(d.get("hold_seconds"))),
        queue=d.get("queue", ""),
    )


def _left_queue(d: Mapping[str, Any], *_rest: Any) -> str:
    return _(
        "Left the queue %(queue)s (%(reason)s)",
        queue=d.get("queue", ""),
        reason=d.get("reason", ""),
    )


def _held(d: Mapping[str, Any], *_rest: Any) -> str:
    return _("Put on hold") if d.get("held") else _("Taken off hold")


def _consultation(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    by = names.operator(str(d.get("by_interface", "")), str(d.get("by_name", "")))
    target = names.operator(str(d.get("target_interface", "")), str(d.get("target_name", "")))
    state = str(d.get("state", ""))
    if state == "ringing":
        return _("%(by)s called %(target)s to hand the call over", by=by, target=target)
    if state == "talking":
        return _("%(by)s consulted %(target)s, the caller on hold", by=by, target=target)
    if state == "with_caller":
        return _("%(by)s went back to the caller, %(target)s on hold", by=by, target=target)
    if state == "completed":
        return _("%(by)s handed the call over to %(target)s", by=by, target=target)
    return _("%(by)s cancelled the transfer to %(target)s", by=by, target=target)


def _transferred(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    kind = {
        "blind": _("blind"),
        "attended": _("attended"),
        "redirect": _("redirect"),
    }.get(str(d.get("transfer_type", "")), str(d.get("transfer_type", "")))
    target = str(d.get("target", ""))
    target = names.by_interface.get(target, target)
    by = d.get("by_interface", "")
    if by:
        return _(
            "%(who)s transferred the call to %(target)s (%(kind)s)",
            who=names.operator(by),
            target=target,
            kind=kind,
        )
    return _("Transferred to %(target)s (%(kind)s)", target=target, kind=kind)


def _conference_joined(d: Mapping[str, Any], *_rest: Any) -> str:
    who = d.get("caller_name") or phone(str(d.get("caller_number") or "")) or _("Someone")
    return _("%(who)s joined the conference", who=who)


def _conference_left(d: Mapping[str, Any], *_rest: Any) -> str:
    return _("Someone left the conference")


def _participant(d: Mapping[str, Any], names: Names) -> str:
    if d.get("role") == "operator":
        return names.operator(str(d.get("interface") or ""), str(d.get("name") or ""))
    return str(d.get("name") or "") or phone(str(d.get("number") or "")) or _("Someone")


def _participant_joined(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    return _("%(who)s entered the conference room", who=_participant(d, names))


def _participant_left(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    return _("%(who)s left the conference room", who=_participant(d, names))


def _recording_started(*_rest: Any) -> str:
    return _("Recording started")


def _recording_muted(d: Mapping[str, Any], *_rest: Any) -> str:
    if d.get("muted"):
        reason = str(d.get("reason") or "")
        return _("Recording paused: %(reason)s", reason=reason) if reason else _("Recording paused")
    return _("Recording resumed")


def _recording_stopped(*_rest: Any) -> str:
    return _("Recording stopped")


def _recording_ready(d: Mapping[str, Any], *_rest: Any) -> str:
    return _(
        "Recording ready (%(length)s)", length=format_duration(_seconds(d.get("duration_seconds")))
    )


def _operator_left(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    who = names.operator(d.get("interface", ""), d.get("member_name", ""))
    talk = format_duration(_seconds(d.get("talk_seconds")))
    reason = str(d.get("reason", ""))
    if reason == "transfer":
        return _("%(who)s talked %(talk)s, then transferred the call", who=who, talk=talk)
    if reason == "caller":
        return _("%(who)s talked %(talk)s, then the caller hung up", who=who, talk=talk)
    if reason == "operator":
        return _("%(who)s talked %(talk)s, then hung up", who=who, talk=talk)
    return _("%(who)s talked %(talk)s", who=who, talk=talk)


def _agent_completed(d: Mapping[str, Any], _a: str, names: Names, *_rest: Any) -> str:
    who = names.operator(d.get("interface", ""), d.get("member_name", ""))
    return _(
        "%(who)s finished after talking %(talk)s",
        who=who,
        talk=format_duration(_seconds(d.get("talk_seconds"))),
    )


def _ended(d: Mapping[str, Any], *_rest: Any) -> str:
    outcome = _ended_words(str(d.get("outcome") or ""))
    talk = _seconds(d.get("talk_seconds"))
    if talk > 0:
        return _(
            "Call ended (%(outcome)s), talked %(talk)s",
            outcome=outcome,
            talk=format_duration(talk),
        )
    if outcome:
        return _("Call ended (%(outcome)s)", outcome=outcome)
    return _("Call ended")


def _operator_action(d: Mapping[str, Any], actor: str, names: Names, *_rest: Any) -> str:
    detail = d.get("detail") or {}
    who = names.user(str(d.get("user") or actor))
    action = str(d.get("action", ""))
    if action == "note":
        return _("Note by %(who)s: %(text)s", who=who, text=detail.get("text", ""))
    if action in ("disposition", "wrapup"):
        return _wrapup(detail, who)
    return _("%(who)s: %(action)s", who=who, action=action.replace("_", " "))


def _wrapup(detail: Mapping[str, Any], who: str) -> str:
    value = str(detail.get("disposition") or detail.get("code") or "")
    notes = str(detail.get("notes") or "")
    if notes:
        return _(
            "Disposition by %(who)s: %(disposition)s. Notes: %(notes)s",
            who=who,
            disposition=value,
            notes=notes,
        )
    return _("Disposition by %(who)s: %(disposition)s", who=who, disposition=value)


def _operator_wrapup(d: Mapping[str, Any], actor: str, names: Names, *_rest: Any) -> str:
    return _wrapup(d, names.user(actor))


def _callback_requested(d: Mapping[str, Any], *_rest: Any) -> str:
    note = str(d.get("note") or "")
    number = phone(str(d.get("number") or ""))
    if note:
        return _("Asked to be called back at %(number)s: %(note)s", number=number, note=note)
    return _("Asked to be called back at %(number)s", number=number)


def _callback_attempt(
    d: Mapping[str, Any], actor: str, names: Names, clock: Clock, when: When
) -> str:
    next_try = when.next_try
    words = _outcome_words(str(d.get("outcome", "")))
    status = str(d.get("status", ""))
    if status == "failed":
        return _("Callback: %(outcome)s, given up", outcome=words)
    if status == "pending" and next_try is not None:
        when_text = clock.time(next_try, day_of=when.at)  # "14:30" the same day
        return _("Callback: %(outcome)s, next try %(when)s", outcome=words, when=when_text)
    by = names.user(actor) if actor else ""
    if by and d.get("outcome") == "answered":
        return _("Callback: reached by %(who)s", who=by)
    return _("Callback: %(outcome)s", outcome=words)


def _charged(d: Mapping[str, Any], *_rest: Any) -> str:
    try:
        amount = float(d.get("amount") or 0)
    except ValueError:
        amount = 0.0
    billed = format_duration(_seconds(d.get("billed_seconds")))
    if not amount:
        return _("Not charged")
    return _(
        "Cost %(amount)s %(currency)s (%(billed)s billed)",
        amount=format_number(amount, 2),
        currency=d.get("currency", ""),
        billed=billed,
    )


def _qa_review(d: Mapping[str, Any], actor: str, names: Names, *_rest: Any) -> str:
    score = format_number(round(_seconds(d.get("score"))))
    who = names.user(actor) if actor else _("a reviewer")
    text = _("QA score %(score)s %% by %(who)s", score=score, who=who)
    if d.get("form"):
        text += f" ({d['form']})"
    if d.get("auto_failed"):
        text += " — " + _("auto-fail")
    return text


def _routing(d: Mapping[str, Any], *_rest: Any) -> str:
    return _("Routed to %(queue)s", queue=d.get("queue", ""))


def _command(d: Mapping[str, Any], actor: str, names: Names, *_rest: Any) -> str:
    who = names.user(str(d.get("user") or actor))
    command = str(d.get("command", "")).replace("_", " ")
    return _("%(who)s asked for: %(command)s", who=who, command=command)


def _queue_snapshot(d: Mapping[str, Any], *_rest: Any) -> str:
    return _("The queue %(queue)s as Asterisk reported it", queue=d.get("queue", ""))


_BY_KIND: dict[str, Any] = {
    "call.arrived": _arrived,
    "call.identified": _identified,
    "call.ivr_step": _ivr,
    "call.queued": _queued,
    "call.offered": _offered,
    "call.ring_no_answer": _no_answer,
    "call.answered": _answered,
    "call.abandoned": _abandoned,
    "call.left_queue": _left_queue,
    "call.held": _held,
    "call.transferred": _transferred,
    "call.consultation": _consultation,
    "call.conference_joined": _conference_joined,
    "call.conference_left": _conference_left,
    "call.conference_participant_joined": _participant_joined,
    "call.conference_participant_left": _participant_left,
    "call.recording_started": _recording_started,
    "call.recording_muted": _recording_muted,
    "call.recording_stopped": _recording_stopped,
    "recording.ready": _recording_ready,
    "call.operator_left": _operator_left,
    "call.agent_completed": _agent_completed,
    "call.ended": _ended,
    "operator.action": _operator_action,
    "operator.wrapup": _operator_wrapup,
    "call.callback_requested": _callback_requested,
    "callback.attempt": _callback_attempt,
    "call.charged": _charged,
    "qa.review": _qa_review,
    "call.routing_decided": _routing,
    "operator.command": _command,
    "queue.snapshot": _queue_snapshot,
}
KNOWN_KINDS = frozenset(_BY_KIND)


# --- a whole call in one line ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Talk:
    """One operator's part of a call."""

    name: str
    seconds: float


def call_headline(
    *,
    direction: str,
    caller_number: str,
    did: str,
    outcome: str,
    wait_seconds: float,
    talk_seconds: float,
    answered: bool,
    talks: Sequence[Talk],
    operator: str,
) -> str:
    """ "Called from +7 495 …, waited 0:42, talked 3:10 with Anna Petrova"."""
    number = phone(caller_number) or _("an unknown number")
    if direction == "outbound":
        target = phone(did) or number
        return _(
            "%(who)s called %(number)s: %(outcome)s",
            who=operator or _("an operator"),
            number=target,
            outcome=_outcome_words(outcome) if outcome else _("in progress"),
        )
    wait = format_duration(wait_seconds)
    if answered:
        parts = [t for t in talks if t.seconds > 0] or (
            [Talk(operator, talk_seconds)] if operator else []
        )
        if not parts:
            return _("Called from %(number)s, waited %(wait)s", number=number, wait=wait)
        with_whom = _(" and ").join(
            _("%(talk)s with %(who)s", talk=format_duration(t.seconds), who=t.name) for t in parts
        )
        return _(
            "Called from %(number)s, waited %(wait)s, talked %(talks)s",
            number=number,
            wait=wait,
            talks=with_whom,
        )
    if outcome == "abandoned":
        return _("Called from %(number)s, hung up after waiting %(wait)s", number=number, wait=wait)
    if outcome == "ivr_only":
        return _("Called from %(number)s, stayed in the IVR", number=number)
    if not outcome:
        return _("Called from %(number)s, in progress", number=number)
    return _("Called from %(number)s: %(outcome)s", number=number, outcome=_ended_words(outcome))
