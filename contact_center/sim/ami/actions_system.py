"""Actions about the session and the PBX itself: Ping, ListCommands, Events, CoreSettings,
CoreStatus, UserEvent, ExtensionState, Command."""

from __future__ import annotations

import time

from contact_center.sim.ami.rights import ACTION_RIGHTS, event_mask
from contact_center.sim.ami.session import HANDLERS, AmiSession, register
from contact_center.sim.wire import Request, timestamp


async def list_commands(session: AmiSession, req: Request) -> None:
    # main/manager.c action_listcommands: one "Name: synopsis (Priv: …)" line per action
    # the user's write classes grant (or that needs none).
    write = session.user.write if session.user is not None else frozenset()
    granted = [a for a in HANDLERS if not ACTION_RIGHTS.get(a) or ACTION_RIGHTS[a] & write]
    privs = {a: ",".join(sorted(ACTION_RIGHTS.get(a, ()))) or "<none>" for a in granted}
    session.respond(req, "Success", *((a, f"{a} (Priv: {privs[a]})") for a in granted))


async def ping(session: AmiSession, req: Request) -> None:
    session.respond(req, "Success", ("Ping", "Pong"), ("Timestamp", timestamp()))


async def events(session: AmiSession, req: Request) -> None:
    assert session.user is not None
    mask = req.get("EventMask", "on").strip().lower()
    session.listen(event_mask(mask, session.user.read))
    session.respond(req, "Success", ("Events", "On" if session.event_mask else "Off"))


async def core_settings(session: AmiSession, req: Request) -> None:
    session.respond(
        req,
        "Success",
        ("AMIversion", "11.0.0"),
        ("AsteriskVersion", "22.10.1"),
        ("SystemName", ""),
        ("CoreMaxCalls", "0"),
        ("CoreMaxLoadAvg", "0.000000"),
        ("CoreRunUser", ""),
        ("CoreRunGroup", ""),
        ("CoreMaxFilehandles", "0"),
        ("CoreRealTimeEnabled", "No"),
        ("CoreCDRenabled", "Yes"),
        ("CoreHTTPenabled", "No"),
        ("SoundsSearchCustomDir", "No"),
    )


async def core_status(session: AmiSession, req: Request) -> None:
    started = time.gmtime(session.pbx.started)
    date, clock = time.strftime("%Y-%m-%d", started), time.strftime("%H:%M:%S", started)
    calls = len({ch.linkedid for ch in session.pbx.channels.values()})
    session.respond(
        req,
        "Success",
        ("CoreStartupDate", date),
        ("CoreStartupTime", clock),
        ("CoreReloadDate", date),
        ("CoreReloadTime", clock),
        ("CoreCurrentCalls", str(calls)),
        ("CoreProcessedCalls", str(session.pbx.processed_calls)),
    )


async def user_event(session: AmiSession, req: Request) -> None:
    name = req.get("UserEvent")
    if not name:
        session.error(req, "UserEvent not specified")
        return
    session.respond(req, "Success", ("Message", "Event Sent"))
    extra = [(k, v) for k, v in req.headers if k.lower() not in {"action", "userevent"}]
    session.pbx.emit("UserEvent", "user", [("UserEvent", name), *extra])


async def extension_state(session: AmiSession, req: Request) -> None:
    session.respond(
        req,
        "Success",
        ("Message", "Extension Status"),
        ("Exten", req.get("Exten")),
        ("Context", req.get("Context")),
        ("Hint", ""),
        ("Status", "-1"),
        ("StatusText", "Unknown"),
    )


async def command(session: AmiSession, req: Request) -> None:
    words = req.get("Command").split()
    if words[:2] == ["queue", "show"] and len(words) == 3:
        output = session.pbx.queues.show(words[2])
    else:
        output = [f"No such command '{req.get('Command')}' (type 'core show help "
                  f"{' '.join(words[:1])}' for other possible commands)"]  # fmt: skip
    session.respond(
        req,
        "Success",
        ("Message", "Command output follows"),
        *[("Output", line) for line in output],
    )


register(
    {
        "listcommands": list_commands,
        "ping": ping,
        "events": events,
        "coresettings": core_settings,
        "corestatus": core_status,
        "userevent": user_event,
        "extensionstate": extension_state,
        "command": command,
    }
)
