"""The operator console: the page, state controls, call control, wrap-up, identify / create
the caller.

Loaded by :func:`contact_center.web.app.create_app` like any plugin. Only the connector talks
to Asterisk, so what needs the PBX (sign-in, pause, sign-out, transfers, conference, hang-up,
click-to-call) is published as an ``OperatorCommand`` on the bus ``events`` stream; the
connector's executor carries it out and logs an ``OperatorAction`` (``<command>.failed`` with
the reason when it could not), which ``GET /api/operator/commands/{id}`` finds for the page.
Facts the web knows itself (wrap-up, caller identified) are published as ``OperatorAction`` /
``CallerIdentified``; the wrap-up is also written to the customer's interaction history at
once, under the event's idempotency key, so the history consumer writing the same event later
changes nothing.

Call-control routes (operators on calls popped to them; supervisors on any):

* ``POST /api/calls/{server}/{call_id}/transfer`` — ``target``, ``mode`` = blind | attended
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
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from contact_center.bus.base import EVENTS, BusError, InvalidStreamId, parse_id
from contact_center.calls import events as ev
from contact_center.customers.phones import normalize_number, phone_suffix
from contact_center.history.access import calls_clause, load_principal
from contact_center.recording.policy import PAUSE_ACTION, RESUME_ACTION
from contact_center.routing.operators import PAUSE_REASONS
from contact_center.routing.targets import InvalidTarget, Target, parse_target
from contact_center.stats.http import HUB_KEY as WALLBOARD_HUB_KEY
from contact_center.store.db import from_epoch, utcnow
from contact_center.store.models import (
    Call,
    Customer,
    CustomerPhone,
    InteractionEvent,
)
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
    "conference": ("conference",),
    "hangup": ("hangup",),
    "leave_conference": ("conference_leave",),
    "click_to_call": ("click_to_call",),
}
KNOWN_DONE = frozenset(a for actions in DONE_ACTIONS.values() for a in actions) | {"conference_add"}
TRANSFER_MODES = {"blind": "blind_transfer", "attended": "attended_transfer"}
RESULT_SCAN_LIMIT = 5000  # entries of the events stream one result poll may read
MAX_NOTES = 4000
MAX_SHORT = 200

log = logging.getLogger(__name__)


class BadInput(web.HTTPBadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(text=message)


async def form_fields(request: web.Request) -> dict[str, str]:
    """Form or JSON body as plain strings (anything else is ignored)."""
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise BadInput("expected a JSON object")
        return {str(k): str(v) for k, v in body.items() if isinstance(v, str | int | float)}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def text_field(fields: dict[str, str], name: str, limit: int, *, required: bool = False) -> str:
    value = fields.get(name, "").strip()
    if required and not value:
        raise BadInput(f"{name} is required")
    if len(value) > limit:
        raise BadInput(f"{name} is longer than {limit} characters")
    return value


def optional_id(fields: dict[str, str], name: str) -> int | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    # isdecimal, not isdigit: int() refuses "²"; 18 digits keep it inside a BIGINT
    if not raw.isdecimal() or len(raw) > 18:
        raise BadInput(f"{name} must be a number")
    return int(raw)


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
    raise web.HTTPForbidden(text="this call was not offered to you or to your queues")


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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
@aiohttp_jinja2.template("console.html")
async def console_page(request: web.Request) -> dict[str, Any]:
    from contact_center.demo import PBX_KEY  # here: demo pulls in the whole service

    state = operator_state(request)
    return {
        "title": "Console",
        "state": state["state"],
        "reason": state["reason"],
        "until": state["until"],
        "pause_reasons": PAUSE_REASONS,
        "demo_phone": PBX_KEY in request.app,
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


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def command_result(request: web.Request) -> web.Response:
    """What the connector did with one of your commands: pending, done or failed (reason).

    Reads the ``events`` stream after the command for your ``OperatorAction`` that answers it
    (bounded, so a poll never reads the whole stream).
    """
    user = current_user(request)
    after = request.match_info["sid"]
    try:
        parse_id(after)
    except InvalidStreamId as exc:
        raise BadInput(str(exc)) from None
    key = request.query.get("key", "")[:64]
    call_id = request.query.get("call_id", "")
    done = set(request.query.getall("done", [])) & KNOWN_DONE
    failed_key = ev.make_key(key, "failed")
    bus = request.app[BUS_KEY]
    cursor, scanned = after, 0
    while scanned < RESULT_SCAN_LIMIT:
        try:
            entries = await bus.read(EVENTS, cursor, count=500)
        except BusError as exc:
            raise web.HTTPServiceUnavailable(text=f"cannot read the outcome: {exc}") from exc
        if not entries:
            break
        for _sid, message in entries:
            if message.get("kind") != ev.OperatorAction.kind or message.get("user") != user.login:
                continue
            action = str(message.get("action", ""))
            detail = message.get("detail") or {}
            if message.get("key") == failed_key:
                reason = str(detail.get("reason", "")) if isinstance(detail, dict) else ""
                return web.json_response({"status": "failed", "action": action, "reason": reason})
            if action in done and message.get("call_id", "") == call_id:
                return web.json_response({"status": "done", "action": action})
        cursor = entries[-1][0]
        scanned += len(entries)
    return web.json_response({"status": "pending"})


# --- state ---------------------------------------------------------------------------------------


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def set_state(request: web.Request) -> web.Response:
    """Available (signs in), paused with a reason, or offline (signs out) — via the connector,
    which keeps the intent and makes Asterisk match it; the page then shows the state the
    statistics publish (``GET /api/operator/state``), not what was asked."""
    fields = await form_fields(request)
    state = fields.get("state", "")
    if state not in STATES:
        raise BadInput(f"state must be one of {', '.join(STATES)}")
    reason = fields.get("reason", "").strip() if state == "paused" else ""
    if state == "paused" and reason not in PAUSE_REASONS:
        raise BadInput(f"reason must be one of {', '.join(PAUSE_REASONS)}")
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
            raise BadInput(f"{name} is required")
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
        raise BadInput(f"mode must be one of {', '.join(TRANSFER_MODES)}")
    target = target_field(fields, "target", required=True)
    assert target is not None
    return await _call_command(request, TRANSFER_MODES[mode], {"target": target.value})


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
        raise BadInput("click-to-call needs a phone number or an extension")
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
        raise BadInput(f"reason must be one of {', '.join(RECORDING_PAUSE_REASONS)}")
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


# --- wrap-up -------------------------------------------------------------------------------------


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def wrapup(request: web.Request) -> web.Response:
    user = current_user(request)
    server = request.match_info["server"]
    call_id = request.match_info["call_id"]
    await ensure_own_call(request, server, call_id)
    fields = await form_fields(request)
    disposition = text_field(fields, "disposition", 80, required=True)
    notes = text_field(fields, "notes", MAX_NOTES)
    customer_id = optional_id(fields, "customer_id")
    if customer_id is not None and not await _customer_of_call(
        request, server, call_id, customer_id
    ):
        # Not this call's caller: a wrap-up must not land in anyone else's history.
        raise BadInput("no such customer on this call")
    now = time.time()
    event = ev.OperatorAction(
        server=server,
        call_id=call_id,
        at=now,
        # One wrap-up per operator per call: saving again corrects it, never duplicates.
        key=ev.make_key("operator.wrapup", server, call_id, user.login),
        user=user.login,
        action="wrapup",
        detail={"disposition": disposition, "notes": notes, "interface": user.interface},
        customer_id=customer_id,
    )
    await save_wrapup(request, event)
    sid = await publish_event(request, event)
    return web.json_response({"saved": True, "key": event.key, "id": sid})


async def save_wrapup(request: web.Request, event: ev.OperatorAction) -> None:
    data = dict(event.detail)
    summary = f"Wrap-up: {data['disposition']}"
    async with request.app[SESSIONS_KEY].begin() as db:
        row = (
            await db.execute(select(InteractionEvent).where(InteractionEvent.key == event.key))
        ).scalar_one_or_none()
        if row is None:
            db.add(
                InteractionEvent(
                    key=event.key,
                    customer_id=event.customer_id,
                    server=event.server,
                    call_linkedid=event.call_id,
                    kind="operator.wrapup",
                    at=from_epoch(event.at),
                    actor=event.user,
                    summary=summary,
                    data=data,
                )
            )
        else:
            row.summary, row.data, row.at = summary, data, from_epoch(event.at)
            if event.customer_id is not None:
                row.customer_id = event.customer_id


# --- identify / create the caller --------------------------------------------------------------


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
        raise BadInput("no such customer")
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
    name = text_field(fields, "name", MAX_SHORT, required=True)
    company = text_field(fields, "company", MAX_SHORT)
    phone_raw = text_field(fields, "phone", 64)
    general = request.app[SETTINGS_KEY].general
    number = normalize_number(
        phone_raw, region=general.default_region, area_code=general.default_area_code
    )
    if phone_raw and number.e164 is None:
        raise BadInput(f"{phone_raw!r} is not a phone number we can store")
    now = utcnow()
    async with request.app[SESSIONS_KEY].begin() as db:
        customer = Customer(name=name, company=company, custom={}, created_at=now, updated_at=now)
        if number.e164 is not None:
            customer.phones.append(
                CustomerPhone(e164=number.e164, suffix=phone_suffix(number.e164), raw=phone_raw)
            )
        db.add(customer)
        await db.flush()
        customer_id = customer.id
    if server and call_id:
        await _identify(request, server, call_id, customer_id)
    return web.json_response({"customer_id": customer_id}, status=201)


def setup(app: web.Application) -> None:
    app.router.add_get("/console", console_page, name="console")
    app.router.add_post("/api/operator/state", set_state, name="operator_state")
    app.router.add_get("/api/operator/state", get_state, name="operator_state_get")
    app.router.add_post("/api/operator/wrapup/end", end_wrapup, name="operator_wrapup_end")
    app.router.add_post("/api/calls/{server}/{call_id}/wrapup", wrapup, name="call_wrapup")
    app.router.add_post("/api/calls/{server}/{call_id}/identify", identify, name="call_identify")
    app.router.add_post("/api/customers", create_customer, name="customer_create")
    app.router.add_get(
        "/api/operator/commands/{sid}", command_result, name="operator_command_result"
    )
    app.router.add_post("/api/calls/{server}/{call_id}/transfer", transfer, name="call_transfer")
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
