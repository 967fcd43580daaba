"""Billing's part of the worker: finished calls rated, fed by consumer group ``billing``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def worker(svc: Service) -> None:
    from contact_center.billing.service import BillingService
    from contact_center.service import retrying_outages, retrying_outages_many

    s = svc.settings
    billing = BillingService(
        svc.need_core().sessions,
        inbound_plan=s.billing.inbound_plan,
        outbound_plan=s.billing.outbound_plan,
    )
    # the calls a batch of events ends rated in one transaction (see recording/plugin.py)
    svc.consume(
        "billing",
        retrying_outages(billing.handle),
        batch=1000,  # a starved loop reads a long backlog in few transactions
        many=retrying_outages_many(billing.handle_many),
    )
    svc.components.billing = billing
