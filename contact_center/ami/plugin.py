"""The AMI connector (connector role): Asterisk's events become domain events on the bus.
With Redis and a leader lease, one connector per Asterisk server is active across hosts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.calls.events import DomainEvent
    from contact_center.service import Service


async def connector(svc: Service) -> None:
    from contact_center.ami.connector import AmiConnector

    core = svc.need_core()
    s = svc.settings
    metrics = svc.metrics

    async def sink(event: DomainEvent) -> None:
        metrics.ami_event(event)
        await core.publish(event)

    async def sink_many(events: list[DomainEvent]) -> None:
        await core.publish_many(events)
        for event in events:  # after: a batch that fails is handed to sink, which counts
            metrics.ami_event(event)

    connector = AmiConnector(
        s.ami,
        s.general.server_id,
        sink,
        normalize=core.normalize,
        state_dir=s.general.data_dir,
        # the events of a burst in one round trip; on the in-process bus one at a time
        # (each publish runs the in-step screen pop: nothing to save)
        sink_many=sink_many if s.bus.backend == "redis" else None,
    )
    svc.components.connector = connector
    if s.bus.backend == "redis" and s.ami.leader_ttl_ms > 0:
        # One active connector per Asterisk server across hosts; a standby takes over
        # when the leader's lease expires.
        from contact_center.ami.leader import LeaderLock, leader_key, run_as_leader

        lock = LeaderLock(
            s.bus.redis_url, leader_key(s.bus.prefix, s.general.server_id), s.ami.leader_ttl_ms
        )
        svc.on_stop(lock.close)
        svc.components.leader = lock
        svc.spawn("ami-connector", lambda: run_as_leader(lock, connector.run))
    else:
        svc.spawn("ami-connector", connector.run)
    # this server's connector groups (executor@pbx1 …), created at the stream's end if new
    await svc.ensure_connector_groups()
