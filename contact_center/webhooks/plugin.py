"""Webhooks in the worker: subscribed events queued for delivery (group ``webhooks``) and
the delivery loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def worker(svc: Service) -> None:
    from contact_center.service import retrying_outages
    from contact_center.webhooks.dispatcher import WebhookDispatcher
    from contact_center.webhooks.targets import TargetPolicy, parse_networks

    s = svc.settings.webhooks
    webhooks = WebhookDispatcher(
        svc.need_core().sessions,
        targets=TargetPolicy(parse_networks(s.allow_networks)),
        max_response_bytes=s.max_response_bytes,
        timeout_seconds=s.timeout_seconds,
        public_url=svc.settings.web.public_url,  # the outcome's recording link
    )
    svc.consume("webhooks", retrying_outages(webhooks.handle))
    svc.spawn("webhook-delivery", webhooks.run)
    svc.components.webhooks = webhooks
