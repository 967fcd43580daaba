"""How each domain event reads in a customer's history: actor, one-line summary, data.

Pure functions; digits the caller typed in a sensitive IVR step (card number, PIN) are masked
here, before anything is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from contact_center.calls import events as ev

# Fields every event has; the stored ``data`` keeps only what is specific to the kind.
_COMMON = {"server", "call_id", "at", "seq", "key", "kind"}
# Operator and queue-member state changes are not the customer's interactions. A charge is,
# but billing writes its timeline row itself (key ``charge_event_key``, updated on rerate):
# writing the published CallCharged too would show every charge twice.
NOT_HISTORY: tuple[type[ev.DomainEvent], ...] = (
    ev.OperatorState,
    ev.CallCharged,
    ev.OperatorFound,  # for the screen pop: the answer itself is on the timeline
)


def is_history(event: ev.DomainEvent) -> bool:
    """Whether ``event`` belongs in a customer's history. Operator states the connector
    publishes (``OperatorAction`` with a ``state``, outside any call) and its repairs of
    Asterisk's members are about the operator, not a customer: they stay out."""
    if isinstance(event, NOT_HISTORY):
        return False
    if isinstance(event, ev.OperatorAction) and not event.call_id:
        return "state" not in event.detail and event.action != "member_repair"
    return True


@dataclass(frozen=True, slots=True)
class Entry:
    actor: str
    summary: str
    data: dict[str, Any]


def event_key(event: ev.DomainEvent) -> str:
    """The event's idempotency key; derived from its content if the producer left it empty."""
    if event.key:
        return event.key
    content = {k: v for k, v in ev.to_dict(event).items() if k != "seq"}
    return ev.make_key(json.dumps(content, sort_keys=True, default=str))


def mask(digits: str) -> str:
    return "*" * len(digits)


def describe(event: ev.DomainEvent) -> Entry:
    data = {k: v for k, v in ev.to_dict(event).items() if k not in _COMMON}
    if isinstance(event, ev.IvrStep) and event.sensitive:
        data["digits"] = mask(event.digits)
    actor, summary = _summarise(event)
    return Entry(actor[:120], summary[:400], data)


def _operator(member_name: str, interface: str) -> str:
    if member_name and interface and member_name != interface:
        return f"{member_name} ({interface})"
    return member_name or interface


def _summarise(event: ev.DomainEvent) -> tuple[str, str]:
    match event:
        case ev.CallArrived(direction="outbound"):
            number = event.did or event.caller_number or event.caller_number_raw
            who = event.operator_name or event.operator_interface
            by = f" by {who}" if who else ""
            kind = f" ({event.tags['KIND']})" if event.tags.get("KIND") else ""
            return who or "operator", f"Outbound call to {number or 'unknown'}{by}{kind}"
        case ev.CallArrived(direction="supervisor"):
            who = event.caller_name or event.caller_number or event.channel
            return who, f"Supervision call by {who}"
        case ev.CallArrived():
            number = event.caller_number or event.caller_number_raw
            name = f"({event.caller_name})" if event.caller_name else ""
            who = " ".join(x for x in (number, name) if x)
            to = f" to {event.did}" if event.did else ""
            return "caller", f"{event.direction.capitalize()} call from {who or 'unknown'}{to}"
        case ev.CallerIdentified():
            return "caller", f"Caller identified as customer #{event.customer_id} by {event.method}"
        case ev.IvrStep():
            digits = mask(event.digits) if event.sensitive else event.digits
            pressed = f": pressed {digits}" if digits else ""
            result = f" ({event.result})" if event.result else ""
            return "caller", f"IVR {event.menu}/{event.node}{pressed}{result}"
        case ev.CallQueued():
            return "caller", f"Queued in {event.queue} at position {event.position}"
        case ev.CallOffered():
            who = _operator(event.member_name, event.interface)
            source = {
                "queue": f"from {event.queue}",
                "direct": "directly",
                "transfer": "by transfer",
                "outbound": "to place the call",
            }.get(event.via, f"from {event.queue}")
            return who, f"Ringing {who} {source}"
        case ev.CallRingNoAnswer():
            who = _operator(event.member_name, event.interface)
            return who, f"{who} did not answer ({event.ring_seconds:.0f} s)"
        case ev.CallAnswered():
            who = _operator(event.member_name, event.interface)
            queue = f" from {event.queue}" if event.queue else ""
            return who, f"Answered by {who}{queue} after {event.hold_seconds:.0f} s"
        case ev.CallAbandoned():
            return "caller", f"Hung up in {event.queue} after {event.hold_seconds:.0f} s waiting"
        case ev.CallLeftQueue():
            return "caller", f"Left {event.queue} ({event.reason})"
        case ev.CallHeld():
            return event.channel, "Put on hold" if event.held else "Taken off hold"
        case ev.ConsultationChanged():
            who = _operator(event.by_name, event.by_interface)
            target = _operator(event.target_name, event.target_interface)
            return who, f"Consultation with {target}: {event.state}"
        case ev.CallTransferred():
            return event.by_interface, f"Transferred ({event.transfer_type}) to {event.target}"
        case ev.ConferenceJoined():
            who = event.caller_name or event.caller_number or event.channel
            return who, f"{who} joined conference {event.conference}"
        case ev.ConferenceLeft():
            return event.channel, f"{event.channel} left conference {event.conference}"
        case ev.ConferenceParticipantJoined():
            who = event.name or event.number or event.channel
            return who, f"{who} ({event.role}) entered conference {event.conference}"
        case ev.ConferenceParticipantLeft():
            who = event.name or event.number or event.channel
            return who, f"{who} ({event.role}) left conference {event.conference}"
        case ev.RecordingStarted():
            return "system", f"Recording started ({event.file})"
        case ev.RecordingMuted():
            state = "paused" if event.muted else "resumed"
            reason = f": {event.reason}" if event.reason else ""
            return "system", f"Recording {state}{reason}"
        case ev.RecordingStopped():
            return "system", "Recording stopped"
        case ev.OperatorLeft():
            who = _operator(event.member_name, event.interface)
            how = {
                "transfer": "transferred the call",
                "caller": "the caller hung up",
                "operator": "hung up",
            }.get(event.reason, event.reason or "left")
            return who, f"{who}: {how} after {event.talk_seconds:.0f} s talk"
        case ev.AgentCompleted():
            who = _operator(event.member_name, event.interface)
            return who, f"{who} finished after {event.talk_seconds:.0f} s talk ({event.reason})"
        case ev.CallEnded():
            by = f", {event.hung_up_by} hung up" if event.hung_up_by else ""
            cause = event.cause_txt or f"cause {event.cause}"
            outcome = f" {event.outcome}" if event.outcome else ""
            return (
                event.hung_up_by,
                f"Call ended{outcome}{by} ({cause}), talk {event.talk_seconds:.0f} s",
            )
        case ev.OperatorAction():
            return event.user, _operator_action(event)
        case ev.CallbackRequested():
            note = f": {event.note}" if event.note else ""
            return "caller", f"Callback requested to {event.number}{note}"
        case ev.RoutingDecided():
            return "system", f"Routed to {event.queue} (priority {event.priority}, {event.reason})"
        case ev.RecordingReady():
            return "system", "Recording ready"
    return "", event.kind


def _operator_action(event: ev.OperatorAction) -> str:
    detail = event.detail
    if event.action == "note":
        return f"Note: {detail.get('text', '')}"
    if event.action == "disposition":
        return f"Disposition: {disposition_of(event)}"
    if event.action == "wrapup":
        return f"Wrap-up: {disposition_of(event)}"
    extra = ", ".join(
        f"{k}={v}" for k, v in sorted(detail.items()) if not isinstance(v, dict | list)
    )
    return f"{event.action}" + (f" ({extra})" if extra else "")


def disposition_of(event: ev.OperatorAction) -> str:
    value = event.detail.get("disposition") or event.detail.get("code") or ""
    return str(value)


# --- plain language for people (the pop's "Recent interactions") ------------------------------
# The stored summary is for the log and exports; people read a row through :func:`plain`,
# which words it from the row's kind and data in the current language, without event names,
# hangup cause codes or the actor said twice. Added for the operator's pop card.

# Rows too small to show a person (each call's own steps are summed up by its end).
QUIET_KINDS = frozenset(
    {
        "call.offered",
        "call.ring_no_answer",
        "call.ivr_step",
        "call.queued",
        "call.held",
        "call.consultation",
        "call.recording_started",
        "call.recording_muted",
        "call.recording_stopped",
        "call.agent_completed",
        "call.operator_left",
        "call.conference_participant_joined",
        "call.conference_participant_left",
        "call.routing_decided",
        "call.identified",
    }
)
_NOBODY = {"", "caller", "system", "operator"}


@dataclass(frozen=True, slots=True)
class PlainRow:
    text: str
    who: str  # a person to name beside the text, "" when the text names them already


def _dur(value: Any) -> str:
    from contact_center.i18n import format_duration

    try:
        return format_duration(float(value or 0))
    except (TypeError, ValueError):
        return format_duration(0)


def _who(data: dict[str, Any]) -> str:
    return str(data.get("member_name") or data.get("interface") or "")


def plain(kind: str, summary: str, actor: str, data: dict[str, Any] | None) -> PlainRow:
    """One history row as a person reads it, in the current language."""
    from contact_center.i18n import gettext as _

    d = dict(data or {})
    if isinstance(d.get("detail"), dict):  # an operator action's own fields
        d = {**d["detail"], **{k: v for k, v in d.items() if k != "detail"}}
    text = ""
    if kind == "call.arrived":
        number = str(d.get("caller_number") or d.get("caller_number_raw") or "")
        if d.get("direction") == "outbound":
            text = _("Outbound call to %(number)s", number=str(d.get("did") or number or "?"))
        else:
            text = _("Called from %(number)s", number=number or _("a hidden number"))
    elif kind == "call.answered":
        text = _(
            "Answered by %(name)s after %(wait)s waiting",
            name=_who(d) or _("an operator"),
            wait=_dur(d.get("hold_seconds")),
        )
    elif kind == "call.abandoned":
        text = _("Hung up after waiting %(wait)s", wait=_dur(d.get("hold_seconds")))
    elif kind == "call.left_queue":
        text = _("Left the queue %(queue)s", queue=str(d.get("queue", "")))
    elif kind == "call.ended":
        outcome = str(d.get("outcome", ""))
        by = str(d.get("hung_up_by", ""))
        if outcome in ("abandoned", "unanswered"):
            text = _("Call not answered")
        elif outcome == "ivr_only":
            text = _("Call ended in the voice menu")
        elif outcome == "voicemail":
            text = _("Left a voicemail")
        elif by == "caller":
            text = _("Call ended by the caller after %(talk)s", talk=_dur(d.get("talk_seconds")))
        elif by == "operator":
            text = _("Call ended by the operator after %(talk)s", talk=_dur(d.get("talk_seconds")))
        else:
            text = _("Call ended after %(talk)s", talk=_dur(d.get("talk_seconds")))
    elif kind == "call.transferred":
        text = _("Transferred to %(target)s", target=str(d.get("target", "")))
    elif kind in ("call.conference_joined", "call.conference_left"):
        text = _("Conference call")
    elif kind == "recording.ready":
        text = _("Call recorded")
    elif kind == "call.callback_requested":
        text = _("Asked to be called back at %(number)s", number=str(d.get("number", "")))
    elif kind == "callback.attempt":
        text = _("Called back")
    elif kind in ("operator.wrapup", "operator.action"):
        action = str(d.get("action", "wrapup" if kind == "operator.wrapup" else ""))
        disposition = str(d.get("disposition") or d.get("code") or "")
        notes = str(d.get("notes") or "")
        if action in ("wrapup", "disposition") and disposition:
            text = _("Wrap-up: %(disposition)s", disposition=disposition)
            if notes:
                text += " — " + notes
        elif action == "note":
            text = _("Note: %(text)s", text=str(d.get("text", "")))
    elif kind == "customer.updated":
        fields = ", ".join(sorted((d.get("after") or {}).keys()))
        text = _("Contact details changed: %(fields)s", fields=fields)
    elif kind == "qa.review":
        text = _("Quality review: %(summary)s", summary=summary.removeprefix("QA score "))
    if not text:
        # Something this function does not word: the stored summary, unless it is only the
        # event's name ("recording.ready"), which is made readable.
        text = summary if summary and summary != kind else kind.split(".")[-1].replace("_", " ")
        text = text[:1].upper() + text[1:]
    name = actor.split(" (", 1)[0]  # "Anna Smirnova (PJSIP/101)": the person is the name
    who = "" if actor in _NOBODY or name in text else actor
    return PlainRow(text, who)
