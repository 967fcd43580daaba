"""Recording: the index and the post-processing worker (worker role), and the sensitive
pause policy that mutes MixMonitor through AMI (connector role)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contact_center.service import Service


async def worker(svc: Service) -> None:
    from contact_center.recording.index import RecordingIndexer
    from contact_center.recording.worker import RecordingWorker
    from contact_center.service import retrying_outages, retrying_outages_many

    core = svc.need_core()
    worker = await svc.enter(
        RecordingWorker(core.sessions, svc.settings.recording, publish=core.publish)
    )
    indexer = RecordingIndexer(core.sessions, on_stopped=worker.notify)
    # a batch of events per transaction: one each fell behind on SQLite at 25 new calls/s
    svc.consume(
        "recording",
        retrying_outages(indexer.handle),
        batch=1000,  # a starved loop reads a long backlog in few transactions
        many=retrying_outages_many(indexer.handle_many),
    )
    svc.spawn("recording-worker", worker.run)
    svc.components.recording_worker = worker
    svc.components.indexer = indexer


async def policy(svc: Service) -> None:
    from contact_center.recording.policy import SensitivePausePolicy

    # Card data spoken during a call: the console's sensitive form publishes
    # recording.pause/resume; the policy mutes MixMonitor through AMI (write=call).
    policy = SensitivePausePolicy(svc.components["connector"].actions)
    svc.consume_leading("recording-policy", policy.handle)
    svc.components.recording_policy = policy
