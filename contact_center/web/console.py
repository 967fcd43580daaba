"""The operator console (the operator's workspace): the page, state controls, call control,
wrap-up, identify / create / correct the caller, the operator's day.

Bodies are read into the pydantic forms of :mod:`contact_center.web.console_schemas` (every
check there, in one place; the OpenAPI operations are written from them with
:func:`contact_center.web.forms.documented`); the data work — every query — lives in
:mod:`contact_center.web.workspace_store`. These handlers check who may act, call it, and
publish what the connector must do.
Wrap-ups are kept on the server until saved: ``POST …/wrapup/draft`` as the operator types,
``GET /api/operator/wrapups`` lists what is still owed (after a reload or a restart).

Loaded by :func:`contact_center.web.app.create_app` like any plugin. Only the connector talks
to Asterisk, so what needs the PBX (sign-in, pause, sign-out, transfers, conference, hang-up,
click-to-call) is published as an ``OperatorCommand`` on the bus ``events`` stream; the
connector's executor carries it out and logs an ``OperatorAction`` (``<command>.failed`` with
the reason when it could not), which ``GET /api/operator/commands/{id}`` finds for the page,
reading on from the ``cursor`` its previous answer gave (never the same entries twice).
Facts the web knows itself (wrap-up, caller identified) are published as ``OperatorAction`` /
``CallerIdentified``; the wrap-up is also written to the customer's interaction history at
once, under the event's idempotency key, so the history consumer writing the same event later
changes nothing.

Call-control routes (operators on calls popped to them; supervisors on any):

* ``POST /api/calls/{server}/{call_id}/transfer`` — ``target``, ``mode`` = blind | attended,
  optional ``note`` (published as a note on the call first, so the next operator's pop has it)
* ``POST /api/calls/{server}/{call_id}/transfer/complete`` | ``…/cancel`` | ``…/swap`` — during
  an attended transfer's consultation: hand the caller over, end the consultation (back to
  the caller), or talk to the other party (the connector checks a consultation is running)
* ``POST /api/calls/{server}/{call_id}/note`` — ``text``
* ``GET /api/operator/transfer-targets`` — operators and queues with who is free
* ``GET /api/operator/calls`` — my calls of the last 24 hours
* ``POST /api/workspace/customers/{customer_id}/contact`` — correct contact fields (audited)
* ``POST /api/calls/{server}/{call_id}/conference`` — optional ``target`` (a third party)
* ``POST /api/calls/{server}/{call_id}/conference/invite`` — ``target``: someone more into the
  room the operator is in now (the connector refuses when she is in none)
* ``POST /api/calls/{server}/{call_id}/hangup``
* ``POST /api/calls/{server}/{call_id}/conference/leave``
* ``POST /api/operator/click-to-call`` — ``number``, optional ``customer_id``
* ``POST /api/calls/{server}/{call_id}/recording/pause`` and ``…/recording/resume`` — optional
  ``reason`` = manual | card_payment; published as ``OperatorAction`` ``recording.pause`` /
  ``recording.resume``, which the connector's ``SensitivePausePolicy`` turns into AMI
  ``MixMonitorMute`` (the gap is then marked on the recording). Answers 202.

Targets are checked here with :func:`contact_center.routing.targets.parse_target` (the
executor checks them again): a bad one answers 400 with the reason. Each answers 202 with the
command's stream id and a ``result_url`` to poll for what the connector did.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from pydantic_core import PydanticCustomError

from contact_center.admin.services import choice_names
from contact_center.bus.base import EVENTS, BusError, compare_ids
from contact_center.calls import events as ev
from contact_center.i18n import gettext as _
from contact_center.recording.policy import PAUSE_ACTION, RESUME_ACTION
from contact_center.screenpop.render import DISPOSITIONS
from contact_center.stats.http import HUB_KEY as WALLBOARD_HUB_KEY
from contact_center.stats.http import reason_label
from contact_center.store.db import utcnow
from contact_center.web import console_schemas as schemas
from contact_center.web import workspace_store as store
from contact_center.web.auth import Role, current_user, require_role
from contact_center.web.forms import (
    CALL_ID,
    SERVER,
    documented,
    form_fields,
    parse_form,
    read_form,
    read_query,
)
from contact_center.web.keys import BUS_KEY, HUB_KEY, SESSIONS_KEY, SETTINGS_KEY

STATES = schemas.STATES
COMMAND_FOR_STATE = {"available": "available", "paused": "pause", "offline": "offline"}
# What the executor logs (OperatorAction.action) once it carried a command out.
DONE_ACTIONS: dict[str, tuple[str, ...]] = {
    "available": ("sign_in", "resume"),
    "pause": ("pause",),
    "offline": ("sign_out",),
    "end_wrapup": ("wrapup_end",),
    "blind_transfer": ("blind_transfer",),
    "attended_transfer": ("attended_transfer",),
    "transfer_complete": ("transfer_complete",),
    "transfer_cancel": ("transfer_cancel",),
    "transfer_swap": ("transfer_swap",),
    "conference": ("conference",),
    "hangup": ("hangup",),
    "leave_conference": ("conference_leave",),
    "conference_invite": ("conference_invite",),
    "click_to_call": ("click_to_call",),
}
KNOWN_DONE = frozenset(a for actions in DONE_ACTIONS.values() for a in actions) | {"conference_add"}
TRANSFER_MODES = {"blind": "blind_transfer", "attended": "attended_transfer"}
# An attended transfer's consultation, steered from the console: URL step → command.
CONSULTATION_STEPS = {
    "complete": "transfer_complete",
    "cancel": "transfer_cancel",
    "swap": "transfer_swap",
}
RECORDING_PAUSE_REASONS = schemas.RECORDING_PAUSE_REASONS
# One result poll reads at most this many new entries of the events stream, from the cursor
# the previous poll stopped at: each entry is read once per command, never again per poll.
RESULT_PAGE = 200
RESULT_PAGES_PER_POLL = 2
MAX_NOTE = schemas.MAX_NOTE  # a transfer note

# Buttons other plugins add to the current call (the demo's simulated phone): a list of
# PhoneButton, set in the plugin's setup. The console knows nothing of who adds them.
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PhoneButton:
    """A button on the current call that posts to ``action`` (``label`` translated when
    shown: give a ``lazy_gettext``)."""

    id: str
    label: Any
    action: str
    key: str = ""  # Alt+key presses it (a letter the console does not use itself)


PHONE_BUTTONS_KEY = web.AppKey("cc_console_phone_buttons", tuple[PhoneButton, ...])


def add_phone_buttons(app: web.Application, *buttons: PhoneButton) -> None:
    """Add buttons to the console's current call (call from a plugin's setup)."""
    app[PHONE_BUTTONS_KEY] = (*app.get(PHONE_BUTTONS_KEY, ()), *buttons)


class BadInput(web.HTTPBadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(text=message)


def actor(request: web.Request) -> store.Actor:
    user = current_user(request)
    return store.Actor(user.id, user.login, str(user.role), user.interface)


async def ensure_own_call(request: web.Request, server: str, call_id: str) -> None:
    """Operators act only on calls that rang for them; supervisors on calls of their queues
    (:mod:`contact_center.history.access`); admins on any call.

    Known from this instance's recent pops, else from the call record (its operator
    interface and queue), which the history writer keeps — so a web restart does not lock
    them out.
    """
    user = current_user(request)
    if user.role == Role.ADMIN:
        return
    if user.role == Role.OPERATOR and request.app[HUB_KEY].was_popped(user.login, server, call_id):
        return
    if await store.call_in_scope(request.app[SESSIONS_KEY], actor(request), server, call_id):
        return
    raise web.HTTPForbidden(text=_("This call was not offered to you or to your queues"))


async def publish_event(request: web.Request, event: ev.DomainEvent) -> str:
    return await request.app[BUS_KEY].publish(EVENTS, ev.to_dict(event))


# --- page --------------------------------------------------------------------------------------


async def operator_state(request: web.Request) -> dict[str, Any]:
    """The signed-in operator's state as the wallboard and ``/api/stats/live`` show it: the
    one snapshot the statistics publish (the connector decides the state, the statistics
    add calls to it), so the three never disagree."""
    user = current_user(request)
    hub = request.app.get(WALLBOARD_HUB_KEY)
    snapshot = await hub.current() if hub is not None else None
    entry = (
        ((snapshot or {}).get("operators") or {}).get(user.interface) if user.interface else None
    )
    if not entry:
        return {"state": "offline", "reason": "", "since": 0.0, "until": 0.0, "queues": []}
    return {
        "state": str(entry.get("state", "offline")),
        "reason": str(entry.get("reason", "")),
        "since": float(entry.get("since") or 0.0),
        "until": float(entry.get("until") or 0.0),
        "queues": list(entry.get("queues") or []),
        "current_call": str(entry.get("current_call", "")),
        "at": float((snapshot or {}).get("at") or 0.0),
    }


async def dispositions(request: web.Request) -> tuple[str, ...]:
    """The wrap-up's dispositions as the admin keeps them (admin_choices); the built-in list
    when none is stored."""
    return tuple(await choice_names(request.app[SESSIONS_KEY], "disposition")) or DISPOSITIONS


@require_role(Role.OPERATOR, Role.SUPERVISOR)
@aiohttp_jinja2.template("console.html")
async def console_page(request: web.Request) -> dict[str, Any]:
    state = await operator_state(request)
    return {
        "title": _("Console"),
        "state": state["state"],
        "reason": state["reason"],
        "since": state["since"],
        "until": state["until"],
        # (code, words): the stored reasons as the wallboard names them
        "pause_reasons": [
            (code, reason_label(code))
            for code in await choice_names(request.app[SESSIONS_KEY], "pause_reason")
        ],
        "dispositions": await dispositions(request),
        "phone_buttons": request.app.get(PHONE_BUTTONS_KEY, ()),
    }


@documented(
    "GET",
    "/api/operator/state",
    operation_id="getOperatorState",
    tag="console",
    summary="Your state now, as the wallboard and /api/stats/live show it (operator, supervisor)",
    answer=schemas.OperatorStateOut,
    answer_description="offline, available, ringing, on_call, wrapup (with `until`, the epoch "
    "when it ends) or paused (with the `reason`: yours, a supervisor's, or Asterisk's "
    "`Auto-Pause` after a call you did not answer).",
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def get_state(request: web.Request) -> web.Response:
    """``GET /api/operator/state``: your state now (the page polls it)."""
    return web.json_response(await operator_state(request))


# --- commands for the connector ----------------------------------------------------------------


async def publish_command(
    request: web.Request,
    command: str,
    *,
    server: str = "",
    call_id: str = "",
    args: dict[str, Any] | None = None,
    done: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Publish an ``OperatorCommand`` for the connector; answer where to read its outcome."""
    user = current_user(request)
    now = time.time()
    event = ev.OperatorCommand(
        # the connector of the operator's own Asterisk server (their phone is there)
        server=server or user.server_id or request.app[SETTINGS_KEY].general.server_id,
        call_id=call_id,
        at=now,
        key=ev.make_key("operator.command", user.login, command, call_id, now),
        user=user.login,
        role=str(user.role),
        interface=user.interface,
        command=command,
        args=dict(args or {}),
    )
    try:
        sid = await publish_event(request, event)
    except BusError as exc:
        # The operator sees that nothing happened; the address of Redis stays in the log.
        log.warning("command %s of %s not sent: %s", command, user.login, exc)
        raise web.HTTPServiceUnavailable(text="the event bus is unavailable, try again") from exc
    query = urlencode(
        [("key", event.key), ("call_id", call_id)]
        + [("done", a) for a in done or DONE_ACTIONS.get(command, ())]
    )
    return {
        "status": "sent",
        "command": command,
        "id": sid,
        "key": event.key,
        "result_url": f"/api/operator/commands/{sid}?{query}",
    }


# Why the connector refused, as the operator should read it (its reasons are for the log).
def _plain_reason(reason: str) -> str:
    if "has no operator yet" in reason or "is not live" in reason:
        return _("You are no longer on this call.")
    if "is not in a conference room" in reason:
        return _("You are in no conference room on this call: start the conference first.")
    if "no consultation in progress" in reason:
        return _("No transfer is waiting on this call any more.")
    if "control their own calls only" in reason:
        return _("This call is with another operator now.")
    if "may not do this" in reason:
        return _("Your role may not do this.")
    if "no phone interface or queues" in reason:
        return _("You have no phone or queues yet; ask an administrator.")
    return reason


@documented(
    "GET",
    "/api/operator/commands/{sid}",
    operation_id="commandResult",
    tag="console",
    summary="What the connector did with one of your commands (poll the `result_url`)",
    answer=schemas.CommandOutcome,
    answer_description="pending (with the `cursor` to poll from next), done (with the action) "
    "or failed (with the reason, in words for the operator).",
    errors=(503,),
    parameters=(
        {
            "name": "sid",
            "in": "path",
            "required": True,
            "description": "The command's bus stream id (`<ms>-<seq>`).",
            "schema": {"type": "string", "examples": ["1700000000000-3"]},
        },
    ),
    query=schemas.CommandQuery,
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def command_result(request: web.Request) -> web.Response:
    """What the connector did with one of your commands: pending, done or failed (reason).

    Reads the ``events`` stream from ``after`` (the command's id at first, then the
    ``cursor`` the previous answer gave), at most :data:`RESULT_PAGE` ×
    :data:`RESULT_PAGES_PER_POLL` entries: a poll reads only what is new since the last one.
    """
    user = current_user(request)
    sid = request.match_info["sid"]
    try:
        schemas.stream_id(sid)
    except PydanticCustomError as exc:  # the path's id first: its refusal is the one said
        raise BadInput(str(exc)) from None
    query = read_query(request, schemas.CommandQuery)
    after = query.after or sid
    if compare_ids(after, sid) < 0:
        after = sid
    key, call_id = query.key, query.call_id
    done = set(query.done) & KNOWN_DONE
    failed_key = ev.make_key(key, "failed")
    bus = request.app[BUS_KEY]
    cursor = after
    for _page in range(RESULT_PAGES_PER_POLL):
        try:
            entries = await bus.read(EVENTS, cursor, count=RESULT_PAGE)
        except BusError as exc:
            raise web.HTTPServiceUnavailable(text=_("Cannot read the outcome, try again")) from exc
        if not entries:
            break
        for _sid, message in entries:
            if message.get("kind") != ev.OperatorAction.kind or message.get("user") != user.login:
                continue
            action = str(message.get("action", ""))
            detail = message.get("detail") or {}
            if message.get("key") == failed_key:
                reason = str(detail.get("reason", "")) if isinstance(detail, dict) else ""
                return web.json_response(
                    {"status": "failed", "action": action, "reason": _plain_reason(reason)}
                )
            if action in done and message.get("call_id", "") == call_id:
                return web.json_response({"status": "done", "action": action})
        cursor = entries[-1][0]
        if len(entries) < RESULT_PAGE:
            break
    return web.json_response({"status": "pending", "cursor": cursor})


# --- state ---------------------------------------------------------------------------------------


@documented(
    "POST",
    "/api/operator/state",
    operation_id="setOperatorState",
    tag="console",
    summary="Sign in to your queues, pause with a reason, or sign out (operator, supervisor)",
    description="Sent to the connector as a command; poll `result_url` for what it did.",
    form=schemas.StateForm,
    answer=schemas.StateRequested,
    answer_description="The state asked for and the command sent for it. What you then are "
    "(the connector may find you on a call, or Asterisk may differ) is "
    "`GET /api/operator/state`.",
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def set_state(request: web.Request) -> web.Response:
    """Available (signs in), paused with a reason, or offline (signs out) — via the connector,
    which keeps the intent and makes Asterisk match it; the page then shows the state the
    statistics publish (``GET /api/operator/state``), not what was asked."""
    fields = await form_fields(request)
    # a pause reason is one of the admin's list (admin_choices), seeded with PAUSE_REASONS
    reasons = (
        await choice_names(request.app[SESSIONS_KEY], "pause_reason")
        if fields.get("state") == "paused"
        else []
    )
    form = parse_form(schemas.StateForm, fields, reasons=reasons)
    sent = await publish_command(
        request, COMMAND_FOR_STATE[form.state], args={"reason": form.reason} if form.reason else {}
    )
    return web.json_response({"requested": form.state, "reason": form.reason, **sent})


@documented(
    "POST",
    "/api/operator/wrapup/end",
    operation_id="endWrapup",
    tag="console",
    summary="End your wrap-up before its timer runs out (operator, supervisor)",
    description="Sent to the connector as a command; poll `result_url` for what it did.",
    answer=schemas.SentCommand,
    answer_description="The command sent.",
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def end_wrapup(request: web.Request) -> web.Response:
    """Done with the after-call work before the wrap-up timer ran out."""
    return web.json_response(await publish_command(request, "end_wrapup"))


# --- call control --------------------------------------------------------------------------------


async def _call_command(
    request: web.Request, command: str, args: dict[str, Any], done: tuple[str, ...] = ()
) -> web.Response:
    server, call_id = request.match_info["server"], request.match_info["call_id"]
    await ensure_own_call(request, server, call_id)
    sent = await publish_command(
        request, command, server=server, call_id=call_id, args=args, done=done
    )
    return web.json_response(sent, status=202)


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/transfer",
    operation_id="transferCall",
    tag="console",
    summary="Blind or attended transfer of a call you are on",
    form=schemas.TransferForm,
    parameters=(SERVER, CALL_ID),
    response="CommandSent",
    status=202,
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def transfer(request: web.Request) -> web.Response:
    # Whose call first: input errors must not answer for calls the user may not touch.
    await ensure_own_call(request, request.match_info["server"], request.match_info["call_id"])
    form = await read_form(request, schemas.TransferForm)
    if form.note:
        # Published before the transfer: the screen pop folds it into the call (in stream
        # order), so the next operator's card shows it.
        await publish_note(request, form.note)
    return await _call_command(request, TRANSFER_MODES[form.mode], {"target": form.parsed().value})


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/transfer/{step}",
    operation_id="transferStep",
    tag="console",
    summary="Complete, cancel or swap the attended transfer you are consulting for",
    description=(
        "During an attended transfer's consultation: `complete` hands the caller over to the "
        "consulted operator (your leg hangs up), `cancel` ends the consultation (the consulted "
        "operator is hung up, you talk to the caller again), `swap` talks to the other party "
        "while the one left waits on hold. The connector answers `<command>.failed` when no "
        "consultation is running."
    ),
    parameters=(
        SERVER,
        CALL_ID,
        {
            "name": "step",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": sorted(CONSULTATION_STEPS)},
        },
    ),
    response="CommandSent",
    status=202,
    errors=(404, 503),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def consultation_step(request: web.Request) -> web.Response:
    """Complete, cancel or swap the attended transfer of this call (its consultation)."""
    step = request.match_info["step"]
    command = CONSULTATION_STEPS.get(step)
    if command is None:
        raise web.HTTPNotFound(text=_("No such transfer step"))
    _call_of(request)
    return await _call_command(request, command, {})


async def publish_note(request: web.Request, text: str) -> None:
    user = current_user(request)
    server, call_id = request.match_info["server"], request.match_info["call_id"]
    now = time.time()
    await publish_event(
        request,
        ev.OperatorAction(
            server=server,
            call_id=call_id,
            at=now,
            key=ev.make_key("operator.note", server, call_id, user.login, now),
            user=user.login,
            action="note",
            detail={"text": text, "interface": user.interface},
        ),
    )


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/note",
    operation_id="addCallNote",
    tag="console",
    summary="A note on the call, shown on every later pop of it (a transfer note)",
    form=schemas.NoteForm,
    parameters=(SERVER, CALL_ID),
    answer=schemas.NoteSaved,
    answer_description="Published.",
    status=202,
    errors=(404, 503),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def add_note(request: web.Request) -> web.Response:
    """A note on the call (shown on every later pop of it, and in the history)."""
    server, call_id = _call_of(request)
    await ensure_own_call(request, server, call_id)
    form = await read_form(request, schemas.NoteForm)
    await publish_note(request, form.text)
    return web.json_response({"saved": True}, status=202)


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/conference",
    operation_id="conferenceCall",
    tag="console",
    summary="Turn the call into a conference, optionally adding a third party",
    form=schemas.ConferenceForm,
    form_required=False,
    parameters=(SERVER, CALL_ID),
    response="CommandSent",
    status=202,
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def conference(request: web.Request) -> web.Response:
    target = (await read_form(request, schemas.ConferenceForm)).parsed()
    if target is None:
        return await _call_command(request, "conference", {})
    return await _call_command(
        request, "conference", {"target": target.value}, done=("conference_add",)
    )


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/conference/invite",
    operation_id="inviteToConference",
    tag="console",
    summary="Invite someone more into the conference room you are in with the caller",
    description=(
        "Nobody already in the room is moved: the connector rings the target (AMI Originate "
        "of a Local channel) and, once answered, it joins the same ConfBridge room. Only the "
        "operator in the room (or a supervisor) may invite; the connector answers "
        "`conference_invite.failed` when the call is in no room."
    ),
    form=schemas.ConferenceInviteForm,
    parameters=(SERVER, CALL_ID),
    response="CommandSent",
    status=202,
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def conference_invite(request: web.Request) -> web.Response:
    # Whose call first: input errors must not answer for calls the user may not touch.
    await ensure_own_call(request, request.match_info["server"], request.match_info["call_id"])
    target = (await read_form(request, schemas.ConferenceInviteForm)).parsed()
    return await _call_command(request, "conference_invite", {"target": target.value})


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/hangup",
    operation_id="hangupCall",
    tag="console",
    summary="Hang up a call you are on",
    parameters=(SERVER, CALL_ID),
    response="CommandSent",
    status=202,
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def hangup(request: web.Request) -> web.Response:
    return await _call_command(request, "hangup", {})


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/conference/leave",
    operation_id="leaveConference",
    tag="console",
    summary="Leave a three-way conference; the caller and the third party stay connected",
    parameters=(SERVER, CALL_ID),
    response="CommandSent",
    status=202,
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def leave_conference(request: web.Request) -> web.Response:
    return await _call_command(request, "leave_conference", {})


@documented(
    "POST",
    "/api/operator/click-to-call",
    operation_id="clickToCall",
    tag="console",
    summary="Call a number or extension from your phone",
    form=schemas.ClickToCallForm,
    response="CommandSent",
    status=202,
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def click_to_call(request: web.Request) -> web.Response:
    form = await read_form(request, schemas.ClickToCallForm)
    args: dict[str, Any] = {"number": form.parsed().value}
    if form.customer_id is not None:
        args["customer_id"] = form.customer_id
    return web.json_response(await publish_command(request, "click_to_call", args=args), status=202)


# --- recording pause (card payments) ------------------------------------------------------------


async def _recording_action(request: web.Request, action: str) -> web.Response:
    user = current_user(request)
    server, call_id = request.match_info["server"], request.match_info["call_id"]
    await ensure_own_call(request, server, call_id)
    reason = (await read_form(request, schemas.RecordingForm)).reason
    now = time.time()
    event = ev.OperatorAction(
        server=server,
        call_id=call_id,
        at=now,
        key=ev.make_key(action, server, call_id, user.login, now),  # every click counts
        user=user.login,
        action=action,
        detail={"reason": reason, "interface": user.interface},
    )
    sid = await publish_event(request, event)
    return web.json_response({"action": action, "reason": reason, "id": sid}, status=202)


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/recording/pause",
    operation_id="pauseCallRecording",
    tag="console",
    summary="Pause the recording of a call you are on (card payment)",
    description="Published as an OperatorAction (recording.pause); the connector mutes or "
    "unmutes MixMonitor and the gap is marked on the recording. Operators only for calls "
    "offered to them; supervisors and admins for any call.",
    form=schemas.RecordingForm,
    form_required=False,
    parameters=(SERVER, CALL_ID),
    answer=schemas.RecordingAction,
    answer_description="Published for the connector.",
    status=202,
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def pause_recording(request: web.Request) -> web.Response:
    return await _recording_action(request, PAUSE_ACTION)


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/recording/resume",
    operation_id="resumeCallRecording",
    tag="console",
    summary="Resume the recording of a call after a pause",
    description="Published as an OperatorAction (recording.resume); the connector mutes or "
    "unmutes MixMonitor and the gap is marked on the recording. Operators only for calls "
    "offered to them; supervisors and admins for any call.",
    form=schemas.RecordingForm,
    form_required=False,
    parameters=(SERVER, CALL_ID),
    answer=schemas.RecordingAction,
    answer_description="Published for the connector.",
    status=202,
    errors=(503,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def resume_recording(request: web.Request) -> web.Response:
    return await _recording_action(request, RESUME_ACTION)


# --- wrap-up: kept on the server until saved (workspace_store) ------------------------------


def _call_of(request: web.Request) -> tuple[str, str]:
    """The call of the URL; ids longer than any stored one name no call."""
    server, call_id = request.match_info["server"], request.match_info["call_id"]
    if not server or len(server) > 40 or not call_id or len(call_id) > 64:
        raise web.HTTPNotFound(text=_("No such call"))
    return server, call_id


async def _wrapup_form(
    request: web.Request, model: type[schemas.WrapupDraftForm]
) -> store.WrapupForm:
    form = await read_form(request, model, dispositions=await dispositions(request))
    return store.WrapupForm.of(form)


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/wrapup",
    operation_id="wrapUpCall",
    tag="console",
    summary="Save the wrap-up of a call (saving again corrects it)",
    description="Operators only for calls offered to them; supervisors and admins for any call.",
    form=schemas.WrapupForm,
    parameters=(SERVER, CALL_ID),
    answer=schemas.WrapupSaved,
    answer_description="Saved and published.",
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def wrapup(request: web.Request) -> web.Response:
    user = current_user(request)
    server, call_id = _call_of(request)
    await ensure_own_call(request, server, call_id)
    form = await _wrapup_form(request, schemas.WrapupForm)
    if form.customer_id is not None and not await _customer_of_call(
        request, server, call_id, form.customer_id
    ):
        # Not this call's caller: a wrap-up must not land in anyone else's history.
        raise BadInput(_("No such customer on this call"))
    event = await store.save_wrapup(
        request.app[SESSIONS_KEY],
        server=server,
        call_id=call_id,
        login=user.login,
        interface=user.interface,
        form=form,
        at=time.time(),
    )
    sid = await publish_event(request, event)
    return web.json_response({"saved": True, "key": event.key, "id": sid})


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/wrapup/draft",
    operation_id="keepWrapupDraft",
    tag="console",
    summary="Keep what you typed in a wrap-up so far (survives a reload and a restart)",
    description="Not the history: nothing is decided until the wrap-up is saved. A draft for a "
    "wrap-up already saved changes nothing.",
    form=schemas.WrapupDraftForm,
    parameters=(SERVER, CALL_ID),
    answer=schemas.DraftKept,
    answer_description="Kept.",
    errors=(404,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def wrapup_draft(request: web.Request) -> web.Response:
    """What the operator typed so far, kept until saved (a reload or restart keeps it)."""
    user = current_user(request)
    server, call_id = _call_of(request)
    await ensure_own_call(request, server, call_id)
    form = await _wrapup_form(request, schemas.WrapupDraftForm)
    if form.customer_id is not None and not await _customer_of_call(
        request, server, call_id, form.customer_id
    ):
        form = store.WrapupForm(form.disposition, form.notes, None)
    await store.save_draft(
        request.app[SESSIONS_KEY],
        server=server,
        call_id=call_id,
        login=user.login,
        form=form,
        at=time.time(),
    )
    return web.json_response({"kept": True})


@documented(
    "GET",
    "/api/operator/wrapups",
    operation_id="pendingWrapups",
    tag="console",
    summary="The wrap-ups you still owe (answered calls of the last hours), with what you typed",
    answer=schemas.PendingWrapups,
    answer_description="Oldest first, and the dispositions to choose from.",
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def pending_wrapups(request: web.Request) -> web.Response:
    """``GET /api/operator/wrapups``: the wrap-ups you still owe, with what you typed."""
    user = current_user(request)
    pending = await store.pending_wrapups(
        request.app[SESSIONS_KEY], login=user.login, interface=user.interface
    )
    return web.json_response(
        {"items": [p.to_dict() for p in pending], "dispositions": list(await dispositions(request))}
    )


# --- the operator's day: calls today, people and queues to transfer to -----------------------


@documented(
    "GET",
    "/api/operator/calls",
    operation_id="myCallsToday",
    tag="console",
    summary="The calls you took or placed in the last 24 hours, newest first",
    answer=schemas.MyCalls,
    answer_description="The calls.",
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def my_calls_today(request: web.Request) -> web.Response:
    user = current_user(request)
    since = utcnow() - timedelta(hours=24)
    rows = await store.calls_today(request.app[SESSIONS_KEY], interface=user.interface, since=since)
    return web.json_response({"items": rows})


@documented(
    "GET",
    "/api/operator/transfer-targets",
    operation_id="transferTargets",
    tag="console",
    summary="Operators and queues to transfer to, with who is free (the wallboard's snapshot)",
    answer=schemas.TransferTargets,
    answer_description="Operators (available first) and queues.",
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def transfer_targets(request: web.Request) -> web.Response:
    """``GET /api/operator/transfer-targets``: operators (name, extension, state) and
    queues (waiting, available operators) for the transfer dialog, from the snapshot the
    wallboard shows."""
    user = current_user(request)
    hub = request.app.get(WALLBOARD_HUB_KEY)
    snapshot = (await hub.current() if hub is not None else None) or {}
    live_ops = snapshot.get("operators") or {}
    live_queues = snapshot.get("queues") or {}
    colleagues, queue_names = await store.transfer_directory(request.app[SESSIONS_KEY])
    operators = []
    for colleague in colleagues:
        if colleague.login == user.login or not colleague.extension:
            continue
        live = live_ops.get(colleague.interface) or {}
        operators.append(
            {
                "name": colleague.name or colleague.login,
                "extension": colleague.extension,
                "state": str(live.get("state", "offline")),
                "reason": str(live.get("reason", "")),
            }
        )
    operators.sort(key=lambda o: (o["state"] != "available", o["name"].lower()))
    queues = []
    for name in sorted(queue_names | set(live_queues)):
        live = live_queues.get(name) or {}
        counts = live.get("operators") or {}
        queues.append(
            {
                "name": name,
                "waiting": int(live.get("waiting") or 0),
                "available": int(counts.get("available") or 0),
            }
        )
    return web.json_response({"operators": operators, "queues": queues})


# --- identify / create / correct the caller ----------------------------------------------------


async def _customer_of_call(
    request: web.Request, server: str, call_id: str, customer_id: int
) -> bool:
    """Is this the customer of the call: shown on this operator's pop of it, or so recorded
    in the history (the call's record, or identified on it by the IVR or an operator)?"""
    user = current_user(request)
    sessions = request.app[SESSIONS_KEY]
    if customer_id in request.app[HUB_KEY].popped_customers(user.login, server, call_id):
        return await store.customer_exists(sessions, customer_id)
    return await store.customer_on_call(sessions, server, call_id, customer_id)


async def _identify(request: web.Request, server: str, call_id: str, customer_id: int) -> None:
    now = time.time()
    await publish_event(
        request,
        ev.CallerIdentified(
            server=server,
            call_id=call_id,
            at=now,
            key=ev.make_key("call.identified", server, call_id, customer_id, now),
            customer_id=customer_id,
            method="operator",
        ),
    )


@documented(
    "POST",
    "/api/calls/{server}/{call_id}/identify",
    operation_id="identifyCaller",
    tag="console",
    summary="Say which existing customer is calling",
    form=schemas.IdentifyForm,
    parameters=(SERVER, CALL_ID),
    answer=schemas.CustomerIdOut,
    answer_description="Published as a CallerIdentified event.",
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def identify(request: web.Request) -> web.Response:
    await ensure_own_call(request, request.match_info["server"], request.match_info["call_id"])
    customer_id = (await read_form(request, schemas.IdentifyForm)).customer_id
    if not await store.customer_exists(request.app[SESSIONS_KEY], customer_id):
        raise BadInput(_("No such customer"))
    await _identify(
        request, request.match_info["server"], request.match_info["call_id"], customer_id
    )
    return web.json_response({"customer_id": customer_id})


@documented(
    "POST",
    "/api/customers",
    operation_id="createCustomer",
    tag="console",
    summary="Create a customer (and identify the call given by server and call_id)",
    form=schemas.CustomerForm,
    answer=schemas.CustomerIdOut,
    answer_description="Created.",
    status=201,
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def create_customer(request: web.Request) -> web.Response:
    fields = await form_fields(request)
    call = parse_form(schemas.CallRef, fields)
    server, call_id = call.server, call.call_id
    if server and call_id:  # whose call first: input errors must not answer for others' calls
        await ensure_own_call(request, server, call_id)
    form = parse_form(schemas.CustomerForm, fields)
    general = request.app[SETTINGS_KEY].general
    try:
        customer_id = await store.create_customer(
            request.app[SESSIONS_KEY],
            form,
            region=general.default_region,
            area_code=general.default_area_code,
        )
    except store.InvalidInput as exc:
        raise BadInput(str(exc)) from None
    if server and call_id:
        await _identify(request, server, call_id, customer_id)
    return web.json_response({"customer_id": customer_id}, status=201)


@documented(
    "POST",
    "/api/workspace/customers/{customer_id}/contact",
    operation_id="correctContact",
    tag="console",
    summary="Correct the caller's contact details from the pop (audited on their timeline)",
    description="The customer of a call of yours (give `server` and `call_id`), or one in your "
    "scope. What changed, before and after, is written to the customer's timeline with your "
    "login.",
    form=schemas.ContactForm,
    parameters=(
        {"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string"}},
    ),
    answer=schemas.ContactChanged,
    answer_description="Saved; the fields that changed.",
    errors=(404,),
)
@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def update_contact(request: web.Request) -> web.Response:
    """``POST /api/workspace/customers/{customer_id}/contact``: correct the caller's contact
    fields from the pop (the customer of a call of yours); the change is on their timeline."""
    user = current_user(request)
    raw = request.match_info["customer_id"]
    if not raw.isdecimal() or len(raw) > 18:
        raise web.HTTPNotFound(text=_("No such customer"))
    customer_id = int(raw)
    fields = await form_fields(request)
    call = parse_form(schemas.CallRef, fields)
    server, call_id = call.server, call.call_id
    sessions = request.app[SESSIONS_KEY]
    allowed = False
    if server and call_id:
        await ensure_own_call(request, server, call_id)
        allowed = await _customer_of_call(request, server, call_id, customer_id)
    if not allowed and user.role != Role.ADMIN:
        allowed = await store.customer_in_scope(sessions, actor(request), customer_id)
    if not allowed and user.role != Role.ADMIN:
        raise web.HTTPNotFound(text=_("No such customer"))
    form = parse_form(schemas.ContactForm, fields)  # whose customer first, then the input
    try:
        changed = await store.update_contact(
            sessions,
            customer_id,
            form.values(),
            login=user.login,
            server=server,
            call_id=call_id,
            at=time.time(),
        )
    except store.InvalidInput as exc:
        raise BadInput(str(exc)) from None
    return web.json_response({"customer_id": customer_id, "changed": sorted(changed)})


def setup(app: web.Application) -> None:
    app.router.add_get("/console", console_page, name="console")
    app.router.add_post("/api/operator/state", set_state, name="operator_state")
    app.router.add_get("/api/operator/state", get_state, name="operator_state_get")
    app.router.add_post("/api/operator/wrapup/end", end_wrapup, name="operator_wrapup_end")
    app.router.add_post("/api/calls/{server}/{call_id}/wrapup", wrapup, name="call_wrapup")
    app.router.add_post(
        "/api/calls/{server}/{call_id}/wrapup/draft", wrapup_draft, name="call_wrapup_draft"
    )
    app.router.add_get("/api/operator/wrapups", pending_wrapups, name="operator_wrapups")
    app.router.add_get("/api/operator/calls", my_calls_today, name="operator_calls")
    app.router.add_get(
        "/api/operator/transfer-targets", transfer_targets, name="operator_transfer_targets"
    )
    app.router.add_post("/api/calls/{server}/{call_id}/note", add_note, name="call_note")
    app.router.add_post(
        "/api/workspace/customers/{customer_id}/contact", update_contact, name="contact_update"
    )
    app.router.add_post("/api/calls/{server}/{call_id}/identify", identify, name="call_identify")
    app.router.add_post("/api/customers", create_customer, name="customer_create")
    app.router.add_get(
        "/api/operator/commands/{sid}", command_result, name="operator_command_result"
    )
    app.router.add_post("/api/calls/{server}/{call_id}/transfer", transfer, name="call_transfer")
    app.router.add_post(
        "/api/calls/{server}/{call_id}/transfer/{step}",
        consultation_step,
        name="call_transfer_step",
    )
    app.router.add_post(
        "/api/calls/{server}/{call_id}/conference", conference, name="call_conference"
    )
    app.router.add_post("/api/calls/{server}/{call_id}/hangup", hangup, name="call_hangup")
    app.router.add_post(
        "/api/calls/{server}/{call_id}/conference/leave", leave_conference, name="call_conf_leave"
    )
    app.router.add_post(
        "/api/calls/{server}/{call_id}/conference/invite",
        conference_invite,
        name="call_conf_invite",
    )
    app.router.add_post(
        "/api/calls/{server}/{call_id}/recording/pause",
        pause_recording,
        name="call_recording_pause",
    )
    app.router.add_post(
        "/api/calls/{server}/{call_id}/recording/resume",
        resume_recording,
        name="call_recording_resume",
    )
    app.router.add_post("/api/operator/click-to-call", click_to_call, name="click_to_call")
