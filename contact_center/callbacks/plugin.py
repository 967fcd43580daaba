"""Callbacks dialled back operator-first, on the connector that holds AMI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contact_center.service import Service


async def connector(svc: Service) -> None:
    if not svc.settings.callbacks.enabled:
        return
    from contact_center.ami.control import AmiPbxControl
    from contact_center.callbacks.dialer import CallbackDialer

    parts = svc.components
    connector = parts["connector"]

    def hours(queue: str) -> Any:
        rules = parts.routing_rules
        current = rules.current() if rules is not None else None
        policy = current.queues.get(queue) if current is not None else None
        return policy.hours if policy is not None else None

    dialer = CallbackDialer(
        svc.need_core().sessions,
        AmiPbxControl(connector.actions),
        parts["operator_states"].all,
        svc.settings.callbacks,
        hours=hours,
        server=svc.settings.general.server_id,
        ready=lambda: bool(connector.connected),
    )
    svc.consume_leading("callbacks", dialer.handle)
    svc.spawn("callback-dialer", svc.while_leading(dialer.run))
    parts.callback_dialer = dialer
