"""Wiring: the campaign dialer on the connector (the process that holds AMI).

``start(service, core, connector)`` is the one call the composition root makes; the pages
are the ``campaigns.http`` web plugin.
"""

from __future__ import annotations

from typing import Any

from contact_center.campaigns.dialer import CampaignDialer


def start(service: Any, core: Any, connector: Any) -> CampaignDialer:
    """Dial running campaigns operator-first; outcomes from the calls' ``CallEnded``."""
    from contact_center.ami.control import AmiPbxControl

    states = service.components["operator_states"]
    dialer = CampaignDialer(
        core.sessions,
        AmiPbxControl(connector.actions),
        states.all,
        server=service.settings.general.server_id,
        ready=lambda: bool(connector.connected),
    )
    service.consume("campaigns", dialer.handle)
    service.spawn("campaign-dialer", dialer.run)
    service.components["campaign_dialer"] = dialer
    return dialer
