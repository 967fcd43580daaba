"""Screen pops in the worker: calls offered to an operator become cards on their console."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def worker(svc: Service) -> None:
    from contact_center.crm.service import build_crm
    from contact_center.screenpop.service import ScreenPop

    core = svc.need_core()
    s = svc.settings
    template_dirs = [s.web.pop_templates_dir] if s.web.pop_templates_dir else []
    crm = build_crm(s)  # None without a [crm] adapter
    if crm is not None:
        svc.on_stop(crm.aclose)  # after the pops (the stop runs in reverse)
    pops = ScreenPop(core.bus, core.lookup, core.sessions, template_dirs=template_dirs, crm=crm)
    svc.on_stop(pops.close)
    await pops.start()
    svc.components.screenpop = pops
    # In order, never waiting on a lookup: pops that must wait do so in their
    # operator's lane (see contact_center/screenpop/service.py). On the in-process bus
    # it runs in the step the event is published, ahead of the other consumers' turns;
    # on Redis it reads bigger batches, so a burst's backlog is behind it sooner (its
    # events cost microseconds each; the 500-call flood test).
    # Offers are acknowledged once their pops are out (a worker killed with pops in its
    # lanes leaves the offers to the worker that takes the group over).
    svc.consume("screenpop", pops.feed, batch=500, in_step=True, settling=pops)
