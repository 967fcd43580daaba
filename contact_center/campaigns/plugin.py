"""Wiring: the campaign dialer on the connector (the process that holds AMI).

:func:`connector` is the plugin the composition root runs in the connector role (after the
operator states and the callbacks); the pages are the ``campaigns.http`` web plugin.
"""

from __future__ import annotations

import re
from typing import Any

from contact_center.campaigns.dialer import CAMPAIGN_CONTEXT, CampaignDialer, DialCustomer

TRUNK = "trunk"  # the provider's PJSIP endpoint (deploy/asterisk/pjsip.conf)
# OriginateResponse Reason (the last control frame, AST_CONTROL_*): 5 busy, 3 still ringing
# at the timeout, 8 congestion, 1 hung up, 0 nothing at all.
REASONS = {"5": "busy", "3": "no_answer", "0": "no_answer"}


def customer_dialler(actions: Any) -> DialCustomer:
    """Originate ``PJSIP/<number>@trunk`` into ``cc-campaign`` and wait for the answer."""
    from contact_center.ami.errors import AmiActionError

    async def dial(
        number: str, queue: str, variables: dict[str, str], timeout_ms: int
    ) -> tuple[str, str]:
        try:
            result = await actions.originate(
                f"PJSIP/{number}@{TRUNK}",
                CAMPAIGN_CONTEXT,
                queue,
                variables=variables,
                timeout_ms=timeout_ms,
                wait_answer=True,
            )
        except AmiActionError as exc:
            found = re.search(r"Reason (\d+)", str(exc))
            return "", REASONS.get(found.group(1) if found else "", "failed")
        return result.channel_id, "answered"

    return dial


async def connector(svc: Any) -> None:
    start(svc, svc.need_core(), svc.components["connector"])


def start(service: Any, core: Any, connector: Any) -> CampaignDialer:
    """Dial running campaigns; outcomes from the calls' ``CallEnded``."""
    from contact_center.ami.control import AmiPbxControl

    states = service.components["operator_states"]
    dialer = CampaignDialer(
        core.sessions,
        AmiPbxControl(connector.actions),
        states.all,
        server=service.settings.general.server_id,
        ready=lambda: bool(connector.connected),
        dial_customer=customer_dialler(connector.actions),
    )
    # this server's group, read only while this connector leads it (a standby never dials)
    service.consume_leading("campaigns", dialer.handle)
    service.spawn("campaign-dialer", service.while_leading(dialer.run))
    service.components["campaign_dialer"] = dialer
    return dialer
