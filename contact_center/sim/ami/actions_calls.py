"""Actions on calls: Originate, Hangup, Redirect, BlindTransfer, Atxfer, Getvar/Setvar, PlayDTMF."""

from __future__ import annotations

import re
from typing import Any

from contact_center.sim.ami.fields import originate_variables, parse_callerid, truthy
from contact_center.sim.ami.session import AmiSession, register
from contact_center.sim.dialplan.varsets import reports_varset
from contact_center.sim.errors import TransferFailed
from contact_center.sim.wire import Request


async def originate(session: AmiSession, req: Request) -> None:
    target = req.get("Channel")
    if not target:
        session.error(req, "Channel not specified")
        return
    priority = req.get("Priority", "1") or "1"
    if req.has("Exten") and not priority.isdigit():
        session.error(req, "Invalid priority")
        return
    application = req.get("Application")
    if application:
        then = ("", application, req.get("Data"))
    else:
        then = (req.get("Context", "default"), req.get("Exten", "s"), "")
    match = re.fullmatch(r"Local/([^@]+)@([^/]+?)(/n)?", target)
    phone = re.fullmatch(r"PJSIP/([^@/]+)", target)
    customer = re.fullmatch(rf"PJSIP/([^@/]+)@{session.pbx.config.trunk_endpoint}", target)
    if customer is not None and then[0]:
        _originate_customer(session, req, customer.group(1), then)
        return
    if phone is not None:
        _originate_phone(session, req, phone.group(1), then)
        return
    if match is None:
        session.error(req, "Originate failed")
        return
    session.respond(req, "Success", ("Message", "Originate successfully queued"))
    session.pbx.dialplan.originate(
        match.group(1),
        match.group(2),
        then=then,
        action_id=req.action_id,
        report=truthy(req.get("Async")),
        **_call_options(req),
        ids=(req.get("ChannelId"), req.get("OtherChannelId")),
    )


def _call_options(req: Request) -> dict[str, Any]:
    """What every Originate carries: its caller ID, channel variables and ring timeout."""
    return {
        "caller": parse_callerid(req.get("CallerID")) if req.has("CallerID") else None,
        "variables": originate_variables(req.get_all("Variable")),
        "timeout": float(req.get("Timeout", "30000") or 30000) / 1000,
    }


def _queued(session: AmiSession, req: Request, then: tuple[str, str, str]) -> bool:
    """Answer the Originate: refused when the dial plan has not ``then``'s context/exten."""
    if then[0] and not session.pbx.dialplan.exists(then[0], then[1]):
        session.error(req, "Originate failed")
        return False
    session.respond(req, "Success", ("Message", "Originate successfully queued"))
    return True


def _originate_phone(
    session: AmiSession, req: Request, endpoint: str, then: tuple[str, str, str]
) -> None:
    """Originate ``PJSIP/<endpoint>`` (an operator's phone, capture 27)."""
    if not _queued(session, req, then):
        return
    report_async = truthy(req.get("Async"))

    def report(phone: Any, ok: bool) -> None:
        if report_async:
            session.pbx.dialplan.originate_response(phone, then, req.action_id, ok=ok)

    session.pbx.phones.originate(
        endpoint,
        then,
        report=report,
        uniqueid=req.get("ChannelId"),
        **_call_options(req),
    )


def _originate_customer(
    session: AmiSession, req: Request, number: str, then: tuple[str, str, str]
) -> None:
    """Originate ``PJSIP/<number>@trunk`` (a campaign dials its customer first)."""
    from contact_center.sim.callees import originate_customer

    if not _queued(session, req, then):  # then[0] is set: originate() checked
        return
    originate_customer(
        session.pbx,
        number,
        then,
        uniqueid=req.get("ChannelId"),
        action_id=req.action_id,
        **_call_options(req),
        report=truthy(req.get("Async")),
    )


async def hangup(session: AmiSession, req: Request) -> None:
    name = req.get("Channel")
    cause = int(req.get("Cause", "16") or 16)
    if len(name) > 2 and name.startswith("/") and name.endswith("/"):
        matched = session.pbx.channels_matching(name[1:-1])
        session.respond(
            req, "Success", ("EventList", "start"), ("Message", "Channels hung up will follow")
        )
        for ch in matched:
            session.pbx.request_hangup(ch, cause)
            session.list_item("ChannelHungup", [("Channel", ch.name)], req, id_last=True)
        session.list_complete("ChannelsHungupListComplete", req, len(matched))
        return
    ch = session.pbx.find(name)
    session.respond(req, "Success", ("Message", "Channel Hungup"))
    session.pbx.request_hangup(ch, cause)


async def redirect(session: AmiSession, req: Request) -> None:
    ch = session.pbx.find(req.get("Channel"))
    context, exten = req.get("Context"), req.get("Exten")
    priority = req.get("Priority", "1")
    if not priority.isdigit():
        session.error(req, "Invalid priority")
        return
    if not session.pbx.dialplan.exists(context, exten):
        session.error(req, "Redirect failed")
        return
    extra = None
    if req.get("ExtraChannel"):
        # the second channel (e.g. the operator, for a conference) moves too
        extra = session.pbx.find(req.get("ExtraChannel"))
        extra_target = (
            req.get("ExtraContext") or context,
            req.get("ExtraExten") or exten,
            req.get("ExtraPriority") or priority,
        )
        if not extra_target[2].isdigit():
            session.error(req, "Invalid ExtraPriority")
            return
        if not session.pbx.dialplan.exists(extra_target[0], extra_target[1]):
            session.error(req, "Redirect failed")
            return
    session.respond(
        req,
        "Success",
        ("Message", "Dual Redirect successful" if extra else "Redirect successful"),
    )
    session.pbx.redirect(ch, context, exten, int(priority))
    if extra is not None:
        session.pbx.redirect(extra, extra_target[0], extra_target[1], int(extra_target[2]))


async def blind_transfer(session: AmiSession, req: Request) -> None:
    """BlindTransfer: the channels bridged to ``Channel`` go to Context/Exten."""
    name, exten = req.get("Channel"), req.get("Exten")
    if not name:
        session.error(req, "No channel specified")
        return
    if not exten:
        session.error(req, "No extension specified")
        return
    ch = session.pbx.find(name)
    context = req.get("Context") or ch.variables.get("TRANSFER_CONTEXT") or ch.context
    if not session.pbx.dialplan.exists(context, exten):
        session.error(req, "Transfer invalid")
        return
    try:
        session.pbx.transfer_blind(ch, context, exten)
    except TransferFailed:
        session.error(req, "Transfer failed")
        return
    session.respond(req, "Success", ("Message", "Transfer succeeded"))


async def atxfer(session: AmiSession, req: Request) -> None:
    """Atxfer: ``Channel`` (the operator) consults Context/Exten, its caller on hold."""
    name, exten = req.get("Channel"), req.get("Exten")
    if not name:
        session.error(req, "No channel specified")
        return
    if not exten:
        session.error(req, "No extension specified")
        return
    ch = session.pbx.channels.get(name)
    if ch is None or ch.dead:
        session.error(req, "Channel specified does not exist")
        return
    context = req.get("Context") or ch.variables.get("TRANSFER_CONTEXT") or ch.context
    if not session.pbx.dialplan.exists(context, exten):
        session.error(req, "Extension does not exist")
        return
    if not session.pbx.features.atxfer:
        # main/manager.c action_atxfer: Asterisk 22 ships no default atxfer code
        session.error(req, "No attended transfer feature code found")
        return
    try:
        session.pbx.transfer_attended(ch, context, exten)
    except TransferFailed:
        session.error(req, "Atxfer failed")
        return
    session.respond(req, "Success", ("Message", "Atxfer successfully queued"))


async def getvar(session: AmiSession, req: Request) -> None:
    name = req.get("Variable")
    if not name:
        session.error(req, "No variable specified")
        return
    ch = session.pbx.find(req.get("Channel"))
    value = ch.caller_id if name.upper() == "CALLERID(ALL)" else ch.variables.get(name, "")
    if name.upper() == "CALLERID(NUM)":
        value = ch.caller_num
    session.respond(req, "Success", ("Variable", name), ("Value", value))


async def setvar(session: AmiSession, req: Request) -> None:
    name = req.get("Variable")
    if not name:
        session.error(req, "No variable specified")
        return
    ch = session.pbx.find(req.get("Channel"))
    # Asterisk sends VarSet for it (capture 07); the simulator for the variables it reports
    session.pbx.set_var(ch, name, req.get("Value"), event=reports_varset(name))
    session.respond(req, "Success", ("Message", "Variable Set"))


async def play_dtmf(session: AmiSession, req: Request) -> None:
    digit = req.get("Digit")
    if not digit:
        session.error(req, "No digit specified")
        return
    ch = session.pbx.find(req.get("Channel"))
    session.respond(req, "Success", ("Message", "DTMF successfully queued"))
    receive = req.get("Receive").strip().lower() in ("yes", "true", "y", "t", "1", "on")
    session.pbx.play_dtmf(ch, digit[0], int(req.get("Duration", "250") or 250), receive=receive)


register(
    {
        "originate": originate,
        "hangup": hangup,
        "redirect": redirect,
        "blindtransfer": blind_transfer,
        "atxfer": atxfer,
        "getvar": getvar,
        "setvar": setvar,
        "playdtmf": play_dtmf,
    }
)
