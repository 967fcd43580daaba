"""The operator console (the operator's workspace): the page, state controls, call control,
wrap-up, identify / create / correct the caller, the operator's day.

The data work lives in :mod:`contact_center.web.workspace_store` (forms checked there, in one
place); these handlers check who may act, call it, and publish what the connector must do.
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
from sqlalchemy import select

from contact_center.admin.services import choice_names
from contact_center.bus.base import EVENTS, BusError, InvalidStreamId, compare_ids, parse_id
from contact_center.calls import events as ev
from contact_center.history.access import calls_clause, customer_visible, load_principal
from contact_center.i18n import gettext as _
from contact_center.recording.policy import PAUSE_ACTION, RESUME_ACTION
from contact_center.routing.targets import InvalidTarget, Target, parse_target
from contact_center.screenpop.render import DISPOSITIONS
from contact_center.stats.http import HUB_KEY as WALLBOARD_HUB_KEY
from contact_center.stats.http import reason_label
from contact_center.store.db import utcnow
from contact_center.store.models import Call, Customer, InteractionEvent, Queue, User
from contact_center.web import workspace_store as store
from contact_center.web.auth import Role, current_user, require_role
from contact_center.web.keys import BUS_KEY, HUB_KEY, SESSIONS_KEY, SETTINGS_KEY

STATES = ("available", "paused", "offline")
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
# One result poll reads at most this many new entries of the events stream, from the cursor
# the previous poll stopped at: each entry is read once per command, never again per poll.
RESULT_PAGE = 200
RESULT_PAGES_PER_POLL = 2
MAX_NOTE = 500  # a transfer note

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


async def form_fields(request: web.Request) -> dict[str, str]:
    """Form or JSON body as plain strings (anything else is ignored)."""
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise BadInput(_("Expected a JSON object"))
        return {str(k): str(v) for k, v in body.items() if isinstance(v, str | int | float)}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def optional_id(fields: dict[str, str], name: str) -> int | None:
    try:
        return store.optional_id(fields, name)
    except store.InvalidInput as exc:
        raise BadInput(str(exc)) from None


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
    async with request.app[SESSIONS_KEY]() as db:
        principal = await load_principal(
            db, user_id=user.id, login=user.login, role=user.role, interface=user.interface
        )
        found = await db.execute(
            select(Call.id).where(
                Call.server == server, Call.linkedid == call_id, calls_clause(principal)
            )
        )
        if found.first() is not None:
            return
    raise web.HTTPForbidden(text=_("This call was not offered to you or to your queues"))


async def publish_event(request: web.Request, event: ev.DomainEvent) -> str:
    return await request.app[BUS_KEY].publish(EVENTS, ev.to_dict(event))


# --- page --------------------------------------------------------------------------------------


def operator_state(request: web.Request) -> dict[str, Any]:
    """The signed-in operator's state as the wallboard and ``/api/stats/live`` show it: the
    one snapshot the statistics publish (the connector decides the state, the statistics
    add calls to it), so the three never disagree."""
    user = current_user(request)
    hub = request.app.get(WALLBOARD_HUB_KEY)
    snapshot = hub.latest if hub is not None else None
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
    state = operator_state(request)
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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def get_state(request: web.Request) -> web.Response:
    """``GET /api/operator/state``: your state now (the page polls it)."""
    return web.json_response(operator_state(request))


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
    if "no consultation in progress" in reason:
        return _("No transfer is waiting on this call any more.")
    if "control their own calls only" in reason:
        return _("This call is with another operator now.")
    if "may not do this" in reason:
        return _("Your role may not do this.")
    if "no phone interface or queues" in reason:
        return _("You have no phone or queues yet; ask an administrator.")
    return reason


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def command_result(request: web.Request) -> web.Response:
    """What the connector did with one of your commands: pending, done or failed (reason).

    Reads the ``events`` stream from ``after`` (the command's id at first, then the
    ``cursor`` the previous answer gave), at most :data:`RESULT_PAGE` ×
    :data:`RESULT_PAGES_PER_POLL` entries: a poll reads only what is new since the last one.
    """
    user = current_user(request)
    sid = request.match_info["sid"]
    after = request.query.get("after", "") or sid
    try:
        parse_id(sid)
        parse_id(after)
    except InvalidStreamId as exc:
        raise BadInput(str(exc)) from None
    if compare_ids(after, sid) < 0:
        after = sid
    key = request.query.get("key", "")[:64]
    call_id = request.query.get("call_id", "")
    done = set(request.query.getall("done", [])) & KNOWN_DONE
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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def set_state(request: web.Request) -> web.Response:
    """Available (signs in), paused with a reason, or offline (signs out) — via the connector,
    which keeps the intent and makes Asterisk match it; the page then shows the state the
    statistics publish (``GET /api/operator/state``), not what was asked."""
    fields = await form_fields(request)
    state = fields.get("state", "")
    if state not in STATES:
        raise BadInput(_("State must be one of %(values)s", values=", ".join(STATES)))
    reason = fields.get("reason", "").strip() if state == "paused" else ""
    if state == "paused":  # the admin's list (admin_choices), seeded with PAUSE_REASONS
        reasons = await choice_names(request.app[SESSIONS_KEY], "pause_reason")
        if reason not in reasons:
            raise BadInput(_("Choose a pause reason: %(reasons)s", reasons=", ".join(reasons)))
    sent = await publish_command(
        request, COMMAND_FOR_STATE[state], args={"reason": reason} if reason else {}
    )
    return web.json_response({"requested": state, "reason": reason, **sent})


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def end_wrapup(request: web.Request) -> web.Response:
    """Done with the after-call work before the wrap-up timer ran out."""
    return web.json_response(await publish_command(request, "end_wrapup"))


# --- call control --------------------------------------------------------------------------------


def target_field(fields: dict[str, str], name: str, *, required: bool) -> Target | None:
    """A transfer / conference / click-to-call target, or 400 with why it is refused."""
    raw = fields.get(name, "")
    if not raw.strip():
        if required:
            raise BadInput(_("%(field)s is required", field=name))
        return None
    try:
        return parse_target(raw)
    except InvalidTarget as exc:
        raise BadInput(str(exc)) from None


async def _call_command(
    request: web.Request, command: str, args: dict[str, Any], done: tuple[str, ...] = ()
) -> web.Response:
    server, call_id = request.match_info["server"], request.match_info["call_id"]
    await ensure_own_call(request, server, call_id)
    sent = await publish_command(
        request, command, server=server, call_id=call_id, args=args, done=done
    )
    return web.json_response(sent, status=202)


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def transfer(request: web.Request) -> web.Response:
    # Whose call first: input errors must not answer for calls the user may not touch.
    await ensure_own_call(request, request.match_info["server"], request.match_info["call_id"])
    fields = await form_fields(request)
    mode = fields.get("mode", "blind")
    if mode not in TRANSFER_MODES:
        raise BadInput(_("Mode must be blind or attended"))
    target = target_field(fields, "target", required=True)
    assert target is not None
    note = fields.get("note", "").strip()
    if len(note) > MAX_NOTE:
        raise BadInput(_("The note is longer than %(limit)s characters", limit=MAX_NOTE))
    if note:
        # Published before the transfer: the screen pop folds it into the call (in stream
        # order), so the next operator's card shows it.
        await publish_note(request, note)
    return await _call_command(request, TRANSFER_MODES[mode], {"target": target.value})


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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def add_note(request: web.Request) -> web.Response:
    """A note on the call (shown on every later pop of it, and in the history)."""
    server, call_id = _call_of(request)
    await ensure_own_call(request, server, call_id)
    text = (await form_fields(request)).get("text", "").strip()
    if not text:
        raise BadInput(_("Write the note first"))
    if len(text) > MAX_NOTE:
        raise BadInput(_("The note is longer than %(limit)s characters", limit=MAX_NOTE))
    await publish_note(request, text)
    return web.json_response({"saved": True}, status=202)


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def conference(request: web.Request) -> web.Response:
    target = target_field(await form_fields(request), "target", required=False)
    if target is None:
        return await _call_command(request, "conference", {})
    return await _call_command(
        request, "conference", {"target": target.value}, done=("conference_add",)
    )


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def hangup(request: web.Request) -> web.Response:
    return await _call_command(request, "hangup", {})


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def leave_conference(request: web.Request) -> web.Response:
    return await _call_command(request, "leave_conference", {})


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def click_to_call(request: web.Request) -> web.Response:
    fields = await form_fields(request)
    target = target_field(fields, "number", required=True)
    assert target is not None
    if target.kind not in ("external", "extension"):
        raise BadInput(_("Call a phone number or an extension"))
    customer_id = optional_id(fields, "customer_id")
    args: dict[str, Any] = {"number": target.value}
    if customer_id is not None:
        args["customer_id"] = customer_id
    return web.json_response(await publish_command(request, "click_to_call", args=args), status=202)


# --- recording pause (card payments) ------------------------------------------------------------

RECORDING_PAUSE_REASONS = ("manual", "card_payment")


async def _recording_action(request: web.Request, action: str) -> web.Response:
    user = current_user(request)
    server, call_id = request.match_info["server"], request.match_info["call_id"]
    await ensure_own_call(request, server, call_id)
    reason = (await form_fields(request)).get("reason", "manual") or "manual"
    if reason not in RECORDING_PAUSE_REASONS:
        raise BadInput(_("Unknown reason for pausing the recording"))
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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def pause_recording(request: web.Request) -> web.Response:
    return await _recording_action(request, PAUSE_ACTION)


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


def _wrapup_form(
    fields: dict[str, str], *, draft: bool, allowed: tuple[str, ...]
) -> store.WrapupForm:
    try:
        return store.WrapupForm.parse(fields, draft=draft, allowed=allowed)
    except store.InvalidInput as exc:
        raise BadInput(str(exc)) from None


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def wrapup(request: web.Request) -> web.Response:
    user = current_user(request)
    server, call_id = _call_of(request)
    await ensure_own_call(request, server, call_id)
    form = _wrapup_form(
        await form_fields(request), draft=False, allowed=await dispositions(request)
    )
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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def wrapup_draft(request: web.Request) -> web.Response:
    """What the operator typed so far, kept until saved (a reload or restart keeps it)."""
    user = current_user(request)
    server, call_id = _call_of(request)
    await ensure_own_call(request, server, call_id)
    form = _wrapup_form(await form_fields(request), draft=True, allowed=await dispositions(request))
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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def my_calls_today(request: web.Request) -> web.Response:
    user = current_user(request)
    since = utcnow() - timedelta(hours=24)
    rows = await store.calls_today(request.app[SESSIONS_KEY], interface=user.interface, since=since)
    return web.json_response({"items": rows})


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def transfer_targets(request: web.Request) -> web.Response:
    """``GET /api/operator/transfer-targets``: operators (name, extension, state) and
    queues (waiting, available operators) for the transfer dialog, from the snapshot the
    wallboard shows."""
    user = current_user(request)
    hub = request.app.get(WALLBOARD_HUB_KEY)
    snapshot = (hub.latest if hub is not None else None) or {}
    live_ops = snapshot.get("operators") or {}
    live_queues = snapshot.get("queues") or {}
    async with request.app[SESSIONS_KEY]() as db:
        users = (
            await db.execute(
                select(User.login, User.display_name, User.extension, User.interface).where(
                    User.active.is_(True), User.role == Role.OPERATOR, User.interface != ""
                )
            )
        ).all()
        queue_names = set((await db.scalars(select(Queue.name))).all())
    operators = []
    for login, name, extension, interface in users:
        if login == user.login or not extension:
            continue
        live = live_ops.get(interface) or {}
        operators.append(
            {
                "name": name or login,
                "extension": extension,
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


async def _customer_exists(request: web.Request, customer_id: int) -> bool:
    async with request.app[SESSIONS_KEY]() as db:
        found = await db.execute(select(Customer.id).where(Customer.id == customer_id))
        return found.scalar_one_or_none() is not None


async def _customer_of_call(
    request: web.Request, server: str, call_id: str, customer_id: int
) -> bool:
    """Is this the customer of the call: shown on this operator's pop of it, or so recorded
    in the history (the call's record, or identified on it by the IVR or an operator)?"""
    user = current_user(request)
    if customer_id in request.app[HUB_KEY].popped_customers(user.login, server, call_id):
        return await _customer_exists(request, customer_id)
    async with request.app[SESSIONS_KEY]() as db:
        on_call = await db.execute(
            select(Call.id).where(
                Call.server == server, Call.linkedid == call_id, Call.customer_id == customer_id
            )
        )
        if on_call.first() is not None:
            return True
        in_history = await db.execute(
            select(InteractionEvent.id)
            .where(
                InteractionEvent.server == server,
                InteractionEvent.call_linkedid == call_id,
                InteractionEvent.customer_id == customer_id,
            )
            .limit(1)
        )
        return in_history.first() is not None


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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def identify(request: web.Request) -> web.Response:
    await ensure_own_call(request, request.match_info["server"], request.match_info["call_id"])
    fields = await form_fields(request)
    customer_id = optional_id(fields, "customer_id")
    if customer_id is None or not await _customer_exists(request, customer_id):
        raise BadInput(_("No such customer"))
    await _identify(
        request, request.match_info["server"], request.match_info["call_id"], customer_id
    )
    return web.json_response({"customer_id": customer_id})


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def create_customer(request: web.Request) -> web.Response:
    fields = await form_fields(request)
    server, call_id = fields.get("server", ""), fields.get("call_id", "")
    if server and call_id:
        await ensure_own_call(request, server, call_id)
    general = request.app[SETTINGS_KEY].general
    try:
        customer_id = await store.create_customer(
            request.app[SESSIONS_KEY],
            fields,
            region=general.default_region,
            area_code=general.default_area_code,
        )
    except store.InvalidInput as exc:
        raise BadInput(str(exc)) from None
    if server and call_id:
        await _identify(request, server, call_id, customer_id)
    return web.json_response({"customer_id": customer_id}, status=201)


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
    server, call_id = fields.get("server", ""), fields.get("call_id", "")
    if len(server) > 40 or len(call_id) > 64:
        raise BadInput(_("No such call"))
    allowed = False
    if server and call_id:
        await ensure_own_call(request, server, call_id)
        allowed = await _customer_of_call(request, server, call_id, customer_id)
    if not allowed and user.role != Role.ADMIN:
        async with request.app[SESSIONS_KEY]() as db:
            principal = await load_principal(
                db, user_id=user.id, login=user.login, role=user.role, interface=user.interface
            )
            allowed = await customer_visible(db, principal, customer_id)
    if not allowed and user.role != Role.ADMIN:
        raise web.HTTPNotFound(text=_("No such customer"))
    try:
        changed = await store.update_contact(
            request.app[SESSIONS_KEY],
            customer_id,
            {k: v for k, v in fields.items() if k in store.CONTACT_FIELDS},
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
