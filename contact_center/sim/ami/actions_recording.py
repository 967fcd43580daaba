"""MixMonitor actions: MixMonitor, StopMixMonitor, MixMonitorMute."""

from __future__ import annotations

import time

from contact_center.sim.ami.fields import truthy
from contact_center.sim.ami.session import AmiSession, register
from contact_center.sim.wire import Request


async def mixmonitor(session: AmiSession, req: Request) -> None:
    ch = session.pbx.find(req.get("Channel"))
    filename = req.get("File") or f"{ch.uniqueid}.wav"
    session.pbx.start_mixmonitor(ch, filename)
    session.respond(req, "Success")


async def stop_mixmonitor(session: AmiSession, req: Request) -> None:
    ch = session.pbx.find(req.get("Channel"))
    session.pbx.stop_mixmonitor(ch)
    session.respond(req, "Success")


async def mixmonitor_mute(session: AmiSession, req: Request) -> None:
    ch = session.pbx.find(req.get("Channel"))
    direction = req.get("Direction", "both") or "both"
    state = "1" if truthy(req.get("State")) else "0"
    if ch.recording is not None:
        ch.recording.set_muted(state == "1", time.time())
    session.respond(req, "Success")
    session.pbx.emit_channel(
        "MixMonitorMute", "call", ch, [("Direction", direction), ("State", state)]
    )


register(
    {
        "mixmonitor": mixmonitor,
        "stopmixmonitor": stop_mixmonitor,
        "mixmonitormute": mixmonitor_mute,
    }
)
