"""Prometheus metrics of the service, in one registry the service owns (never the global one).

Names and meanings (all prefixed ``cc_``):

* ``cc_calls_total{outcome}`` — calls that ended, by outcome (answered, abandoned, ivr_only,
  unanswered, or "unknown"), counted at ``call.ended``.
* ``cc_calls_arrived_total{direction}`` — calls that reached the PBX.
* ``cc_ami_events_total{kind}`` — domain events produced from AMI; ``rate()`` gives events/s.
* ``cc_pop_latency_seconds`` — from the operator's phone ringing (``call.offered``) to the pop
  reaching the browser.
* ``cc_queue_depth{queue}`` — callers waiting, from queued/answered/abandoned/left events and
  replaced by each ``queue.snapshot``.
* ``cc_websocket_clients`` — open operator websockets on this instance.
* ``cc_worker_backlog{worker}`` — items a worker has yet to handle: per consumer group of the
  ``events`` stream, the events it has not acknowledged (read every 5 s by the worker role;
  the in-process bus's screen pop runs in the publisher's step and has no group); on a
  connector, ``ivr-events``: the IVR's events waiting for the bus (Redis away).
* ``cc_bus_lag_seconds{consumer}`` — how far behind Asterisk's clock a consumer handles events.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from contact_center.calls import events as ev

POP_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
# Events older than this are replays or resyncs, not lag: they would spoil the gauge.
MAX_PLAUSIBLE_LAG_SECONDS = 3600.0


class Metrics:
    """The service's metrics and the consumer that keeps the call counters."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock
        r = self.registry
        self.calls = Counter("cc_calls", "Calls ended, by outcome", ["outcome"], registry=r)
        self.calls_arrived = Counter(
            "cc_calls_arrived", "Calls that reached the PBX", ["direction"], registry=r
        )
        self.ami_events = Counter(
            "cc_ami_events", "Domain events produced from AMI", ["kind"], registry=r
        )
        self.pop_latency = Histogram(
            "cc_pop_latency_seconds",
            "From the operator's phone ringing to the pop in the browser",
            buckets=POP_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("cc_queue_depth", "Callers waiting", ["queue"], registry=r)
        self.websocket_clients = Gauge(
            "cc_websocket_clients", "Open operator websockets", registry=r
        )
        self.worker_backlog = Gauge(
            "cc_worker_backlog", "Items a worker has yet to handle", ["worker"], registry=r
        )
        self.bus_lag = Gauge(
            "cc_bus_lag_seconds", "Consumer behind the Asterisk clock", ["consumer"], registry=r
        )
        self._waiting: dict[str, set[str]] = {}  # queue -> call ids waiting in it

    # --- producers call these --------------------------------------------------------------

    def ami_event(self, event: ev.DomainEvent | None = None) -> None:
        """Count one event produced from AMI (the connector's sink calls it)."""
        self.ami_events.labels(event.kind if event is not None else "unknown").inc()

    def observe_pop_latency(self, seconds: float) -> None:
        self.pop_latency.observe(max(seconds, 0.0))

    def set_websocket_clients(self, count: int) -> None:
        self.websocket_clients.set(count)

    def track_websocket_clients(self, count: Callable[[], float]) -> None:
        """Read the number of websockets at each scrape."""
        self.websocket_clients.set_function(count)

    def set_worker_backlog(self, worker: str, items: int) -> None:
        self.worker_backlog.labels(worker).set(items)

    def track_worker_backlog(self, worker: str, items: Callable[[], float]) -> None:
        """Read a worker's backlog at each scrape (e.g. ``lambda: writer.pending``)."""
        self.worker_backlog.labels(worker).set_function(items)

    def set_bus_lag(self, consumer: str, seconds: float) -> None:
        self.bus_lag.labels(consumer).set(max(seconds, 0.0))

    # --- consumer --------------------------------------------------------------------------

    async def handle(self, event: ev.DomainEvent) -> None:
        """Update call counters and queue depth from one domain event."""
        self._observe_lag(event)
        match event:
            case ev.CallArrived():
                self.calls_arrived.labels(event.direction or "unknown").inc()
            case ev.CallEnded():
                self.calls.labels(event.outcome or "unknown").inc()
                self._leave_all(event.call_id)
            case ev.CallQueued():
                self._waiting.setdefault(event.queue, set()).add(event.call_id)
                self._publish_depth(event.queue)
            case ev.CallAnswered() | ev.CallAbandoned() | ev.CallLeftQueue():
                self._leave(event.queue, event.call_id)
            case ev.QueueSnapshot():
                ids = {str(e.get("call_id", "")) for e in event.entries}
                self._waiting[event.queue] = {i for i in ids if i}
                self._publish_depth(event.queue)
            case _:
                pass

    def _observe_lag(self, event: ev.DomainEvent) -> None:
        if event.at <= 0:
            return
        lag = self.clock() - event.at
        if lag <= MAX_PLAUSIBLE_LAG_SECONDS:
            self.set_bus_lag("metrics", lag)

    def _leave(self, queue: str, call_id: str) -> None:
        waiting = self._waiting.get(queue)
        if waiting is not None and call_id in waiting:
            waiting.discard(call_id)
            self._publish_depth(queue)

    def _leave_all(self, call_id: str) -> None:
        # A call that ended while queued (a missed leave event) must not count as waiting.
        for queue in list(self._waiting):
            self._leave(queue, call_id)

    def _publish_depth(self, queue: str) -> None:
        self.queue_depth.labels(queue).set(len(self._waiting.get(queue, ())))

    # --- exposition ------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
