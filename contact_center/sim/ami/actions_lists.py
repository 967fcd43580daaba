"""List actions: CoreShowChannels, Status, QueueStatus, QueueSummary, DeviceStateList and
BridgeList."""

from __future__ import annotations

import time

from contact_center.sim.ami.fields import hms
from contact_center.sim.ami.session import AmiSession, register
from contact_center.sim.wire import Headers, Request


async def core_show_channels(session: AmiSession, req: Request) -> None:
    channels = list(session.pbx.channels.values())
    session.respond(req, "Success", ("EventList", "start"), ("Message", "Channels will follow"))
    for ch in channels:
        fields = [
            *ch.block(),
            ("Application", ch.app),
            ("ApplicationData", ch.appdata),
            ("Duration", hms(time.time() - ch.created)),
            ("BridgeId", ch.bridge.uniqueid if ch.bridge else ""),
        ]
        session.list_item("CoreShowChannel", fields, req)
    session.list_complete("CoreShowChannelsComplete", req, len(channels))


async def status(session: AmiSession, req: Request) -> None:
    name = req.get("Channel")
    channels = [session.pbx.find(name)] if name else list(session.pbx.channels.values())
    session.respond(
        req, "Success", ("EventList", "start"), ("Message", "Channel status will follow")
    )
    all_vars = req.get("AllVariables").lower() in {"true", "yes", "1"}
    for ch in channels:
        fields: Headers = [
            ("Privilege", "Call"),
            *ch.block(),
            ("Type", "Local"),
            ("DNID", ""),
            ("EffectiveConnectedLineNum", ch.conn_num),
            ("EffectiveConnectedLineName", ch.conn_name),
            ("TimeToHangup", "0"),
            ("BridgeID", ch.bridge.uniqueid if ch.bridge else ""),
            ("Application", ch.app),
            ("Data", ch.appdata),
            ("Nativeformats", "(slin)"),
            ("Readformat", "slin"),
            ("Readtrans", ""),
            ("Writeformat", "slin"),
            ("Writetrans", ""),
            ("Callgroup", "0"),
            ("Pickupgroup", "0"),
            ("Seconds", str(int(time.time() - ch.created))),
        ]
        if all_vars:
            fields += [("Variable", f"{k}={v}") for k, v in ch.variables.items()]
        session.list_item("Status", fields, req, id_last=True)
    session.list_complete("StatusComplete", req, len(channels), ("Items", str(len(channels))))


async def queue_status(session: AmiSession, req: Request) -> None:
    queue, member = req.get("Queue"), req.get("Member")
    session.respond(req, "Success", ("EventList", "start"), ("Message", "Queue status will follow"))
    count = 0
    now = time.time()
    for q in session.pbx.queues.queues.values():
        if queue and q.name != queue:
            continue
        s = q.stats
        params: Headers = [
            ("Queue", q.name),
            ("Max", "0"),
            ("Strategy", q.config.strategy),
            ("Calls", str(len(q.entries))),
            ("Holdtime", str(int(s.holdtime))),
            ("TalkTime", str(int(s.talktime))),
            ("Completed", str(s.completed)),
            ("Abandoned", str(s.abandoned)),
            ("ServiceLevel", str(q.config.servicelevel)),
            ("ServicelevelPerf", s.sl_perf()),
            ("ServicelevelPerf2", s.sl_perf2()),
            ("Weight", "0"),
        ]
        session.list_item("QueueParams", params, req, id_last=True)
        count += 1
        for m in q.members.values():
            if member and m.interface != member:
                continue
            session.list_item("QueueMember", m.headers(m.busy, listing=True), req, id_last=True)
            count += 1
        for pos, entry in enumerate(q.entries, 1):
            ch = entry.channel
            fields: Headers = [
                ("Queue", q.name),
                ("Position", str(pos)),
                ("Channel", ch.name),
                ("Uniqueid", ch.uniqueid),
                ("CallerIDNum", ch.caller_num),
                ("CallerIDName", ch.caller_name),
                ("ConnectedLineNum", ch.conn_num),
                ("ConnectedLineName", ch.conn_name),
                ("Wait", str(int(now - entry.joined))),
                ("Priority", str(entry.priority)),
            ]
            session.list_item("QueueEntry", fields, req, id_last=True)
            count += 1
    session.list_complete("QueueStatusComplete", req, count)


async def queue_summary(session: AmiSession, req: Request) -> None:
    queue = req.get("Queue")
    session.respond(
        req, "Success", ("EventList", "start"), ("Message", "Queue summary will follow")
    )
    count = 0
    now = time.time()
    for q in session.pbx.queues.queues.values():
        if queue and q.name != queue:
            continue
        longest = max((now - e.joined for e in q.entries), default=0.0)
        available = sum(1 for m in q.members.values() if not m.paused and not m.busy)
        fields: Headers = [
            ("Queue", q.name),
            ("LoggedIn", str(len(q.members))),
            ("Available", str(available)),
            ("Callers", str(len(q.entries))),
            ("HoldTime", str(int(q.stats.holdtime))),
            ("TalkTime", str(int(q.stats.talktime))),
            ("LongestHoldTime", str(int(longest))),
        ]
        session.list_item("QueueSummary", fields, req, id_last=True)
        count += 1
    session.list_complete("QueueSummaryComplete", req, count)


async def device_state_list(session: AmiSession, req: Request) -> None:
    states = dict(session.pbx.queues.device_states)
    for room in session.pbx.dialplan.conferences:
        states[f"confbridge:{room}"] = "INUSE"
    session.respond(
        req, "Success", ("EventList", "start"), ("Message", "Device State Changes will follow")
    )
    for device, state in states.items():
        session.list_item("DeviceStateChange", [("Device", device), ("State", state)], req)
    session.list_complete("DeviceStateListComplete", req, len(states))


async def bridge_list(session: AmiSession, req: Request) -> None:
    bridges = list(session.pbx.bridges.values())
    session.respond(
        req, "Success", ("EventList", "start"), ("Message", "Bridge listing will follow")
    )
    for bridge in bridges:
        session.list_item("BridgeListItem", bridge.block(), req)
    session.list_complete("BridgeListComplete", req, len(bridges))


register(
    {
        "coreshowchannels": core_show_channels,
        "status": status,
        "queuestatus": queue_status,
        "queuesummary": queue_summary,
        "devicestatelist": device_state_list,
        "bridgelist": bridge_list,
    }
)
