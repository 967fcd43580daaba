"""ConfBridge actions: ConfbridgeListRooms, ConfbridgeList, ConfbridgeKick, ConfbridgeMute and
ConfbridgeUnmute."""

from __future__ import annotations

import time

from contact_center.sim.ami.session import AmiSession, register
from contact_center.sim.model import Channel
from contact_center.sim.wire import Headers, Request


async def confbridge_list_rooms(session: AmiSession, req: Request) -> None:
    rooms = session.pbx.dialplan.conferences
    if not rooms:
        session.error(req, "No active conferences.")
        return
    session.respond(
        req,
        "Success",
        ("EventList", "start"),
        ("Message", "Confbridge conferences will follow"),
    )
    for room, bridge in rooms.items():
        fields: Headers = [
            ("Conference", room),
            ("Parties", str(len(bridge.channels))),
            ("Marked", "0"),
            ("Locked", "No"),
            ("Muted", "No"),
        ]
        session.list_item("ConfbridgeListRooms", fields, req)
    session.list_complete("ConfbridgeListRoomsComplete", req, len(rooms))


def _conference(session: AmiSession, req: Request) -> tuple[str, list[Channel]] | None:
    room = req.get("Conference")
    if not room:
        session.error(req, "No Conference name provided.")
        return None
    bridge = session.pbx.dialplan.conferences.get(room)
    if bridge is None:
        session.error(req, "No Conference by that name found.")
        return None
    return room, list(bridge.channels)


async def confbridge_list(session: AmiSession, req: Request) -> None:
    found = _conference(session, req)
    if found is None:
        return
    room, channels = found
    session.respond(
        req, "Success", ("EventList", "start"), ("Message", "Confbridge user list will follow")
    )
    for ch in channels:
        answered = int(time.time() - (ch.answered or ch.created))
        fields: Headers = [
            ("Conference", room),
            ("Admin", "No"),
            ("MarkedUser", "No"),
            ("WaitMarked", "No"),
            ("EndMarked", "No"),
            ("EndMarkedAny", "No"),
            ("Waiting", "No"),
            ("Muted", ch.variables.get("__CONF_MUTED", "No")),
            ("Talking", "No"),
            ("AnsweredTime", str(answered)),
            *ch.block(),
        ]
        session.list_item("ConfbridgeList", fields, req)
    session.list_complete("ConfbridgeListComplete", req, len(channels))


def _conference_member(session: AmiSession, req: Request) -> tuple[str, Channel] | None:
    found = _conference(session, req)
    if found is None:
        return None
    room, channels = found
    name = req.get("Channel")
    ch = next((c for c in channels if c.name == name), None)
    if ch is None:
        session.error(req, "No Channel by that name found in Conference.")
        return None
    return room, ch


async def confbridge_kick(session: AmiSession, req: Request) -> None:
    """ConfbridgeKick: ``Channel`` (a name, ``all`` or ``participants``) leaves the room and
    its dial plan goes on after ConfBridge(); the checks and texts of app_confbridge.c
    ``action_confbridgekick`` (22.10.1)."""
    room, channel = req.get("Conference"), req.get("Channel")
    conferences = session.pbx.dialplan.conferences
    if not room:
        session.error(req, "No Conference name provided.")
    elif not conferences:
        session.error(req, "No active conferences.")
    elif room not in conferences:
        session.error(req, "No Conference by that name found.")
    elif session.pbx.dialplan.kick(room, channel):
        # Asterisk compares with strcmp here: only a lower-case "all" gets the plural text
        said = "All participants kicked" if channel == "all" else "User kicked"
        session.respond(req, "Success", ("Message", said))
    else:
        session.error(req, "No Channel by that name found in Conference.")


async def confbridge_mute(session: AmiSession, req: Request) -> None:
    await _mute(session, req, True)


async def confbridge_unmute(session: AmiSession, req: Request) -> None:
    await _mute(session, req, False)


async def _mute(session: AmiSession, req: Request, mute: bool) -> None:
    found = _conference_member(session, req)
    if found is None:
        return
    room, ch = found
    ch.variables["__CONF_MUTED"] = "Yes" if mute else "No"
    session.respond(req, "Success", ("Message", "User muted" if mute else "User unmuted"))
    bridge = session.pbx.dialplan.conferences[room]
    session.pbx.emit(
        "ConfbridgeMute" if mute else "ConfbridgeUnmute",
        "call",
        [("Conference", room), *bridge.block(), *ch.block(), ("Admin", "No")],
    )


register(
    {
        "confbridgelistrooms": confbridge_list_rooms,
        "confbridgelist": confbridge_list,
        "confbridgekick": confbridge_kick,
        "confbridgemute": confbridge_mute,
        "confbridgeunmute": confbridge_unmute,
    }
)
