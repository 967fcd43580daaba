"""Queue member actions: QueueAdd, QueueRemove, QueuePause, QueuePenalty, QueueLog."""

from __future__ import annotations

from contact_center.sim.ami.fields import truthy
from contact_center.sim.ami.session import AmiSession, register
from contact_center.sim.wire import Request


async def queue_add(session: AmiSession, req: Request) -> None:
    if not req.get("Queue"):
        session.error(req, "'Queue' not specified.")
        return
    if not req.get("Interface"):
        session.error(req, "'Interface' not specified.")
        return
    session.pbx.queues.add_member(
        req.get("Queue"),
        req.get("Interface"),
        req.get("MemberName"),
        req.get("StateInterface"),
        int(req.get("Penalty", "0") or 0),
        truthy(req.get("Paused")),
        req.get("Reason"),
    )
    session.respond(req, "Success", ("Message", "Added interface to queue"))


async def queue_remove(session: AmiSession, req: Request) -> None:
    if not req.get("Queue") or not req.get("Interface"):
        session.error(req, "Need 'Queue' and 'Interface' parameters.")
        return
    session.pbx.queues.remove_member(req.get("Queue"), req.get("Interface"))
    session.respond(req, "Success", ("Message", "Removed interface from queue"))


async def queue_pause(session: AmiSession, req: Request) -> None:
    if not req.get("Interface") or not req.get("Paused"):
        session.error(req, "Need 'Interface' and 'Paused' parameters.")
        return
    paused = truthy(req.get("Paused"))
    session.pbx.queues.pause_member(
        req.get("Queue"), req.get("Interface"), paused, req.get("Reason")
    )
    word = "paused" if paused else "unpaused"
    session.respond(req, "Success", ("Message", f"Interface {word} successfully"))


async def queue_penalty(session: AmiSession, req: Request) -> None:
    penalty = req.get("Penalty")
    if not req.get("Interface") or not penalty.lstrip("-").isdigit():
        session.error(req, "Need 'Interface' and 'Penalty' parameters.")
        return
    session.pbx.queues.set_penalty(req.get("Queue"), req.get("Interface"), int(penalty))
    session.respond(req, "Success", ("Message", "Interface penalty set successfully"))


async def queue_log(session: AmiSession, req: Request) -> None:
    session.pbx.queue_log.write(
        req.get("UniqueID", "NONE") or "NONE",
        req.get("Queue"),
        req.get("Interface"),
        req.get("Event"),
        req.get("Message"),
    )
    session.respond(req, "Success", ("Message", "Event added successfully"))


register(
    {
        "queueadd": queue_add,
        "queueremove": queue_remove,
        "queuepause": queue_pause,
        "queuepenalty": queue_penalty,
        "queuelog": queue_log,
    }
)
