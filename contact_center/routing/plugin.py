"""Routing on the connector: operator commands carried out through AMI (the executor), the
routing rules applied at IVR hand-off (:func:`router`), and the waiting-overflow sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contact_center.service import Service


async def executor(svc: Service) -> None:
    """Operator commands from the console and wallboard, carried out through AMI."""
    from contact_center.ami.control import AmiPbxControl, TrackerCallDirectory
    from contact_center.routing.control import CallControl
    from contact_center.routing.directory import StoreOperators
    from contact_center.routing.executor import CommandExecutor
    from contact_center.routing.operators import OperatorStates
    from contact_center.routing.rules import queue_skills

    core = svc.need_core()
    parts = svc.components
    connector = parts["connector"]
    server = svc.settings.general.server_id
    pbx = AmiPbxControl(connector.actions)
    # penalties from skill levels, for the queues routing.yaml says need skills (the
    # rules file is loaded with the router, and re-read when it changes)
    directory = StoreOperators(
        core.sessions,
        queue_skills=lambda: queue_skills(
            parts.routing_rules.current() if parts.routing_rules is not None else None
        ),
        server=server,
    )
    # Intents survive a restart in operator_sessions; the sweep repairs Asterisk to them
    # (members lost in an Asterisk restart send no event).
    states = OperatorStates(
        pbx, core.publish, server=server, intents=directory, directory=directory
    )
    svc.on_stop(states.close)
    control = CallControl(pbx, TrackerCallDirectory(connector.tracker), core.publish, server=server)
    # Commands marked begun/done across the connectors of this server (exactly once across
    # a leader change); in one process the bus' own marks do.
    executor = CommandExecutor(
        states, control, directory, core.publish, server=server, ledger=core.bus
    )
    if parts.leader is not None:
        # A standby's intents would be stale when it takes over: read them on each lead.
        import os
        import socket

        from contact_center.bus.base import EVENTS, server_group
        from contact_center.bus.pump import pump
        from contact_center.service import decoding

        group = server_group("executor", server)
        consumer = f"{socket.gethostname()}-{os.getpid()}"

        async def lead() -> None:
            await states.restore(await directory.all())
            await pump(
                core.bus, EVENTS, decoding(executor.handle), group=group,
                consumer=consumer, claim_idle_ms=0,
            )  # fmt: skip

        svc.spawn(f"consume-{group}", svc.while_leading(lead))
    else:
        await states.restore(await directory.all())
        svc.consume_leading("executor", executor.handle)
    states.start()
    parts.operator_states = states
    parts.call_control = control
    parts.executor = executor


async def overflow(svc: Service) -> None:
    """Callers already waiting longer than routing.yaml allows move to the next queue."""
    from contact_center.ami.control import AmiPbxControl, TrackerCallDirectory
    from contact_center.routing.overflow import WaitingOverflow

    core = svc.need_core()
    parts = svc.components
    connector = parts["connector"]
    overflow = WaitingOverflow(
        AmiPbxControl(connector.actions),
        TrackerCallDirectory(connector.tracker),
        lambda: parts["routing_rules"].current(),
        core.publish,
        server=svc.settings.general.server_id,
    )
    svc.consume_leading("overflow", overflow.handle)
    svc.spawn("waiting-overflow", svc.while_leading(overflow.run))
    parts.waiting_overflow = overflow


def router(svc: Service, store: Any) -> Any:
    """Routing rules at IVR hand-off (VIP priority, sticky operator, overflow), from the
    rules file, which is re-read when it changes."""
    from dataclasses import replace
    from pathlib import Path

    from contact_center.ivr.runner import HandOff
    from contact_center.routing.rules import RulesFile
    from contact_center.routing.service import Router, RouteRequest

    core = svc.need_core()
    # Re-read when it changes; a broken file leaves the previous rules in use, and with
    # none (no file, or never a good one) the menus choose the queue alone.
    rules = RulesFile(Path(svc.settings.agi.routing_rules))
    rules.current()  # load (or report) now, not at the first call
    svc.components.routing_rules = rules

    async def route(hand: HandOff) -> HandOff:
        current = rules.current()
        if current is None:
            return hand
        router = Router(core.sessions, core.lookup, current, store.load_snapshot, core.publish)
        decision = await router.route(
            RouteRequest(
                server=hand.server,
                call_id=hand.call_id,
                caller_number=hand.caller,
                customer_id=hand.customer_id,
                ivr_choice=hand.digits[-1:],
                language=hand.language,
                fallback_queue=hand.queue,
            )
        )
        return replace(
            hand,
            queue=decision.queue,
            priority=max(hand.priority, decision.priority),
            skills=tuple(dict.fromkeys(hand.skills + decision.skills)),
            preferred_interface=decision.preferred_interface,
            ring_first_seconds=decision.ring_first_seconds,
            action=decision.action,
        )

    return route
