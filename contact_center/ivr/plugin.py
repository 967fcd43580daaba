"""The FastAGI IVR server on the connector, with routing rules at hand-off and the expected
wait from live statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def connector(svc: Service) -> None:
    from contact_center.bus.outbox import Outbox
    from contact_center.calls.events import DomainEvent
    from contact_center.crm.service import build_crm
    from contact_center.ivr.service import IvrService
    from contact_center.routing.plugin import router
    from contact_center.stats.consumer import create_store
    from contact_center.stats.ewt import WaitEstimator
    from contact_center.stats.metrics import MetricsConfig

    core = svc.need_core()
    s = svc.settings
    store = svc.components.stats_store or create_store(s)
    estimator = WaitEstimator.from_store(store, MetricsConfig.from_settings(s))
    crm = build_crm(s)  # None without a [crm] adapter
    if crm is not None:
        svc.on_stop(crm.aclose)  # after the IVR (the stop runs in reverse)
    # A caller never waits on the bus for more than a moment (Redis away): see bus/outbox.py.
    events: Outbox[DomainEvent] = Outbox(core.publish, name="IVR events")
    svc.on_stop(events.close)  # after the IVR's own stop (the stop runs in reverse)
    svc.metrics.track_worker_backlog("ivr-events", lambda: len(events))  # waiting for the bus
    ivr = IvrService(
        s.agi,
        sink=events.put,
        sessions=core.sessions,
        server_id=s.general.server_id,
        estimate=estimator.estimate,
        router=router(svc, store),
        crm=crm,
        crm_wait=s.crm.timeout,
    )
    await ivr.start()
    svc.on_stop(ivr.close)
    svc.components.ivr = ivr
