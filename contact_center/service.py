"""The composition root: builds a process for a role — ``web``, ``connector``, ``worker`` or
``all`` — and is the only module that imports every package.

* **connector**: the AMI connection of the Asterisk server (tracker → domain events on the
  bus stream ``events``), the FastAGI IVR server, and the executor of operator commands
  (queue membership, pauses, transfers), since only the connector talks to Asterisk.
* **worker**: consumers of ``events``, each in its own consumer group so each sees every
  event in order: history, billing, statistics, recording index, screen pops, webhooks,
  metrics. Recording post-processing runs here too (process pool).
* **web**: the aiohttp surface (console, wallboard, history, QA, exports, webhooks admin,
  ``/metrics``). Several web instances can run behind a load balancer on the Redis bus.

Every role serves ``/healthz``, ``/readyz`` and ``/metrics`` on the web port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contact_center import aio
from contact_center.bus.base import EVENTS, Bus, BusUnavailable, create_bus
from contact_center.bus.pump import follow, pump
from contact_center.calls.events import DomainEvent, from_dict, to_dict
from contact_center.config import ConfigError, Settings, load_settings, production_problems
from contact_center.customers.lookup import CustomerLookup
from contact_center.customers.phones import normalize_number
from contact_center.store.db import create_engine, is_sqlite, session_factory

log = logging.getLogger(__name__)

ROLES = ("web", "connector", "worker", "all")
# Connections the caller lookup keeps for itself, statements prepared (PostgreSQL).
LOOKUP_CONNECTIONS = 2
Handler = Callable[[DomainEvent], Awaitable[None]]


@dataclass
class Core:
    """What every role shares: settings, database, bus, customer lookup."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: Bus
    lookup: CustomerLookup

    async def publish(self, event: DomainEvent, *, ceiling: float = 2.0) -> None:
        """Publish ``event``; while the bus (Redis) is unreachable, wait and retry — each
        producer publishes one event at a time, so an outage delays events, in order, but
        loses none (consumers dedupe on the key if a timed-out write did land)."""
        delay = 0.1
        while True:
            try:
                await self.bus.publish(EVENTS, to_dict(event))
                return
            except BusUnavailable as exc:
                log.warning("%s: bus unavailable, retrying in %.1f s: %s", event.kind, delay, exc)
                await asyncio.sleep(delay)
                delay = min(ceiling, delay * 2)

    def normalize(self, raw: str) -> str:
        g = self.settings.general
        number = normalize_number(raw, region=g.default_region, area_code=g.default_area_code)
        return number.e164 or raw


async def open_core(settings: Settings, *, migrate: bool | None = None) -> Core:
    """Connect storage and bus; the embedded SQLite database is migrated on start."""
    url = settings.database_url
    if migrate is None:
        migrate = is_sqlite(url)
    if migrate:
        from contact_center.store.migrate import upgrade

        await upgrade(url)
    # No pre-ping: the lookup retries a dropped connection itself, and a ping is a round trip
    # per checkout on the path of every pop.
    engine = create_engine(
        url, echo=settings.database.echo, pool_size=settings.database.pool_size, pre_ping=False
    )
    sessions = session_factory(engine)
    g = settings.general
    lookup = CustomerLookup(
        sessions,
        region=g.default_region,
        area_code=g.default_area_code,
        suffix_digits=g.lookup_suffix_digits,
        # Pops and routing decisions look callers up on the path of every call.
        dedicated_connections=LOOKUP_CONNECTIONS,
    )
    return Core(settings, engine, sessions, create_bus(settings.bus), lookup)


def decoding(handler: Handler) -> Callable[[dict[str, Any]], Coroutine[Any, Any, None]]:
    """A bus-message handler that gives ``handler`` the typed event."""

    async def handle(message: dict[str, Any]) -> None:
        await handler(from_dict(message))

    return handle


STOP_STEP_SECONDS = 10.0  # the longest one task or closer may take to stop
# Worker consumer groups read by one worker at a time on the Redis bus (each keeps the facts
# of live calls in memory, or must see a call's events in order); the others share out events.
LEASED_GROUPS = frozenset({"history", "billing", "recording", "screenpop", "stats"})
# The connector's consumer groups, one per Asterisk server (``executor@pbx1``).
CONNECTOR_GROUPS = ("executor", "recording-policy", "overflow", "callbacks")


def _name(close: Callable[[], Awaitable[None]]) -> str:
    return getattr(close, "__qualname__", repr(close))


BACKLOG_INTERVAL = 5.0  # seconds between readings of the consumer groups' backlog


async def report_backlog(bus: Bus, metrics: Any, interval: float = BACKLOG_INTERVAL) -> None:
    """Keep ``cc_worker_backlog{worker=<consumer group>}`` up to date: the events each
    consumer of the ``events`` stream has not handled yet (an alert on it catches a worker
    that fell behind or died). A bus that is down is skipped until it is back."""
    while True:
        try:
            for group, items in (await bus.backlog(EVENTS)).items():
                metrics.set_worker_backlog(group, items)
        except BusUnavailable as exc:
            log.debug("backlog not read: %s", exc)
        await asyncio.sleep(interval)


def retrying_outages(handler: Handler, *, first: float = 0.5, ceiling: float = 30.0) -> Handler:
    """Retry an event while the database is down, so an outage delays but loses nothing."""
    from contact_center.history.writer import is_outage

    async def handle(event: DomainEvent) -> None:
        delay = first
        while True:
            try:
                await handler(event)
                return
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning("%s: database unavailable, retrying in %.1f s", event.kind, delay)
                await asyncio.sleep(delay)
                delay = min(ceiling, delay * 2)

    return handle


@dataclass
class Service:
    """One process of the service. ``async with Service(settings, "all") as svc: ...``"""

    settings: Settings
    role: str = "all"
    core: Core | None = None
    web_port: int = 0  # bound port after start (settings.web.port may be 0 in tests)
    extra_plugins: list[Any] = field(default_factory=list)
    components: dict[str, Any] = field(default_factory=dict)
    stop_step: float = STOP_STEP_SECONDS  # the longest one task or closer may take to stop
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _stopping: bool = False

    def has(self, role: str) -> bool:
        return self.role == "all" or self.role == role

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; one of {ROLES}")
        self.core = core = self.core or await open_core(self.settings)
        self._closers.append(core.engine.dispose)
        self._closers.append(core.lookup.aclose)
        self._closers.append(core.bus.close)
        from contact_center.observability.metrics import Metrics

        metrics = self.components["metrics"] = Metrics()
        if self.has("worker"):
            await self._start_worker(core, metrics)
        if self.has("connector"):
            await self._start_connector(core, metrics)
        await self._start_web(core, metrics)
        # Everything built so far lives as long as the process: keep it out of the collector's
        # generations so its pauses stay short (pop latency outliers were GC pauses).
        gc.freeze()
        log.info("contact_center %s started (web on %s)", self.role, self.web_port)

    async def stop(self) -> None:
        """Graceful: websockets closed with 1001, AMI logoff, workers flushed."""
        self._stopping = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in reversed(self._tasks):
            task.cancel()
        if self._tasks:
            # A stop never hangs: what does not end in time is named and left behind.
            done, stuck = await asyncio.wait(self._tasks, timeout=self.stop_step)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: its own supervisor logged it
            for task in stuck:
                log.warning(
                    "stopping: task %s did not end within %.0f s",
                    task.get_name(),
                    self.stop_step,
                )
        self._tasks.clear()
        for close in reversed(self._closers):
            try:
                await aio.wait_for(close(), self.stop_step)
            except TimeoutError:
                log.warning(
                    "stopping: %s did not finish within %.0f s", _name(close), self.stop_step
                )
            except Exception:
                log.exception("error while stopping")
        self._closers.clear()

    def spawn(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a long-lived task; if it dies it is logged and restarted (never forgotten)."""

        async def supervised() -> None:
            delay = 0.5
            while not self._stopping:
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("task %s died; restarting in %.1f s", name, delay)
                    await asyncio.sleep(delay)
                    delay = min(30.0, delay * 2)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    def consume(
        self, group: str, handler: Handler, *, batch: int = 100, in_step: bool = False
    ) -> None:
        """Feed ``handler`` every domain event, in order, as consumer group ``group``,
        ``batch`` events per turn of the event loop. ``in_step``: on the in-process bus,
        inside the publisher's step instead (``bus.pump.InStep``)."""
        assert self.core is not None
        bus = self.core.bus
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        lease = self._lease(group)
        if lease is not None:
            # One holder at a time (the consumer keeps each call's facts in memory); what a
            # dead holder left unacknowledged is taken over at once (claim_idle_ms=0).
            from contact_center.ami.leader import run_as_leader

            self.spawn(
                f"consume-{group}",
                lambda: run_as_leader(
                    lease,
                    lambda: pump(
                        bus, EVENTS, decoding(handler), group=group, consumer=consumer,
                        count=batch, claim_idle_ms=0,
                    ),
                ),
            )  # fmt: skip
            return
        run = follow if in_step else pump
        self.spawn(
            f"consume-{group}",
            lambda: run(
                bus, EVENTS, decoding(handler), group=group, consumer=consumer, count=batch
            ),
        )

    def _lease(self, group: str) -> Any:
        """The lease of a worker consumer group that keeps per-call state in memory (Redis
        bus with several workers), else None: webhooks and metrics are read by every worker
        at once; the others by one, the rest standing by (``docs/scaling.md``)."""
        s = self.settings
        if s.bus.backend != "redis" or s.ami.leader_ttl_ms <= 0 or group not in LEASED_GROUPS:
            return None
        from contact_center.ami.leader import LeaderLock, LeaseShare, lease_key

        share = self.components.get("lease_share")
        if share is None:
            # the workers spread the leases between them (a fair share each)
            share = self.components["lease_share"] = LeaseShare(
                s.bus.redis_url, lease_key(s.bus.prefix, "workers"), s.ami.leader_ttl_ms
            )
            self._closers.append(share.close)
            self.spawn("lease-share", share.register_forever)
        lock = LeaderLock(s.bus.redis_url, lease_key(s.bus.prefix, group), s.ami.leader_ttl_ms)
        self._closers.append(lock.close)
        self.components.setdefault("leases", {})[group] = share.add(lock)
        return lock

    def consume_leading(self, group: str, handler: Handler) -> None:
        """Feed ``handler`` as this Asterisk server's connector: group ``<group>@<server>``
        (each server's connector sees every event), read only while this process leads the
        server (a standby reads nothing); what a previous leader left unacknowledged is
        taken over at once."""
        assert self.core is not None
        from contact_center.bus.base import server_group

        bus = self.core.bus
        name = server_group(group, self.settings.general.server_id)
        consumer = f"{socket.gethostname()}-{os.getpid()}"

        def run() -> Coroutine[Any, Any, None]:
            return pump(
                bus, EVENTS, decoding(handler), group=name, consumer=consumer, claim_idle_ms=0
            )

        self.spawn(f"consume-{name}", self.while_leading(run))

    def while_leading(
        self, factory: Callable[[], Coroutine[Any, Any, None]]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """``factory`` run only while this connector leads its server (always without a
        leader lock)."""
        lock = self.components.get("leader")
        if lock is None:
            return factory
        from contact_center.ami.leader import while_leading

        return lambda: while_leading(lock, factory)

    # --- roles ----------------------------------------------------------------------------

    async def _start_worker(self, core: Core, metrics: Any) -> None:
        from contact_center.billing.service import BillingService
        from contact_center.crm.service import build_crm
        from contact_center.history.writer import build_history_writer
        from contact_center.recording.index import RecordingIndexer
        from contact_center.recording.worker import RecordingWorker
        from contact_center.screenpop.service import ScreenPop
        from contact_center.stats.consumer import StatsConsumer, create_store
        from contact_center.stats.metrics import MetricsConfig
        from contact_center.webhooks.dispatcher import WebhookDispatcher
        from contact_center.webhooks.targets import TargetPolicy, parse_networks

        s = self.settings
        history = build_history_writer(
            s, core.sessions, lookup=core.lookup, registry=metrics.registry
        )
        await history.start()
        self._closers.append(history.close)
        self.consume("history", retrying_outages(history.handle))

        billing = BillingService(
            core.sessions,
            inbound_plan=s.billing.inbound_plan,
            outbound_plan=s.billing.outbound_plan,
        )
        self.consume("billing", retrying_outages(billing.handle))

        worker = RecordingWorker(core.sessions, s.recording, publish=core.publish)
        await worker.__aenter__()
        self._closers.append(lambda: worker.__aexit__(None, None, None))
        indexer = RecordingIndexer(core.sessions, on_stopped=worker.notify)
        self.consume("recording", retrying_outages(indexer.handle))
        self.spawn("recording-worker", worker.run)

        config = MetricsConfig.from_settings(s)
        store = self.components["stats_store"] = create_store(s)
        stats = self.components["stats"] = StatsConsumer(store, config)
        stats_lease = self._lease("stats")
        if stats_lease is not None:
            # several workers: the one holding the lease applies the events, from the
            # figures its predecessor saved in Redis
            from contact_center.ami.leader import run_as_leader

            consumer = f"{socket.gethostname()}-{os.getpid()}"
            self.spawn(
                "stats",
                lambda: run_as_leader(
                    stats_lease,
                    lambda: stats.lead(
                        core.bus, core.sessions, consumer=consumer,
                        interval=s.stats.publish_interval,
                    ),
                ),
            )  # fmt: skip
        else:
            await stats.start_or_rebuild(core.sessions)
            self.consume("stats", stats.handle)
            self.spawn(
                "stats-publisher",
                lambda: stats.publish_forever(core.bus, s.stats.publish_interval),
            )

        template_dirs = [s.web.pop_templates_dir] if s.web.pop_templates_dir else []
        crm = build_crm(s)  # None without a [crm] adapter
        if crm is not None:
            self._closers.append(crm.aclose)  # after the pops (closers run in reverse)
        pops = ScreenPop(core.bus, core.lookup, core.sessions, template_dirs=template_dirs, crm=crm)
        self._closers.append(pops.close)
        await pops.start()
        # In order, never waiting on a lookup: pops that must wait do so in their
        # operator's lane (see contact_center/screenpop/service.py). On the in-process bus
        # it runs in the step the event is published, ahead of the other consumers' turns;
        # on Redis it reads bigger batches, so a burst's backlog is behind it sooner (its
        # events cost microseconds each; the 500-call flood test).
        self.consume("screenpop", pops.feed, batch=500, in_step=True)

        webhooks = WebhookDispatcher(
            core.sessions,
            targets=TargetPolicy(parse_networks(self.settings.webhooks.allow_networks)),
            max_response_bytes=self.settings.webhooks.max_response_bytes,
            timeout_seconds=self.settings.webhooks.timeout_seconds,
        )
        self.consume("webhooks", retrying_outages(webhooks.handle))
        self.spawn("webhook-delivery", webhooks.run)

        self.consume("metrics", metrics.handle)
        self.spawn("bus-backlog", lambda: report_backlog(core.bus, metrics))
        self.components.update(
            history=history,
            billing=billing,
            indexer=indexer,
            recording_worker=worker,
            screenpop=pops,
            webhooks=webhooks,
        )

    async def _start_connector(self, core: Core, metrics: Any) -> None:
        from contact_center.ami.connector import AmiConnector
        from contact_center.crm.service import build_crm
        from contact_center.ivr.service import IvrService
        from contact_center.stats.consumer import create_store
        from contact_center.stats.ewt import WaitEstimator
        from contact_center.stats.metrics import MetricsConfig

        s = self.settings

        async def sink(event: DomainEvent) -> None:
            metrics.ami_event(event)
            await core.publish(event)

        connector = AmiConnector(
            s.ami,
            s.general.server_id,
            sink,
            normalize=core.normalize,
            state_dir=s.general.data_dir,
        )
        if s.bus.backend == "redis" and s.ami.leader_ttl_ms > 0:
            # One active connector per Asterisk server across hosts; a standby takes over
            # when the leader's lease expires.
            from contact_center.ami.leader import LeaderLock, leader_key, run_as_leader

            lock = LeaderLock(
                s.bus.redis_url, leader_key(s.bus.prefix, s.general.server_id), s.ami.leader_ttl_ms
            )
            self._closers.append(lock.close)
            self.components["leader"] = lock
            self.spawn("ami-connector", lambda: run_as_leader(lock, connector.run))
        else:
            self.spawn("ami-connector", connector.run)
        await self._ensure_connector_groups(core)
        store = self.components.get("stats_store") or create_store(s)
        estimator = WaitEstimator.from_store(store, MetricsConfig.from_settings(s))
        await self._start_executor(core, connector)
        self._start_callbacks(core, connector)
        from contact_center.recording.policy import SensitivePausePolicy

        # Card data spoken during a call: the console's sensitive form publishes
        # recording.pause/resume; the policy mutes MixMonitor through AMI (write=call).
        policy = SensitivePausePolicy(connector.actions)
        self.consume_leading("recording-policy", policy.handle)
        self.components["recording_policy"] = policy
        crm = build_crm(s)  # None without a [crm] adapter
        if crm is not None:
            self._closers.append(crm.aclose)  # after the IVR (closers run in reverse)
        ivr = IvrService(
            s.agi,
            sink=core.publish,
            sessions=core.sessions,
            server_id=s.general.server_id,
            estimate=estimator.estimate,
            router=self._router(core, store),
            crm=crm,
            crm_wait=s.crm.timeout,
        )
        await ivr.start()
        self._closers.append(ivr.close)
        self.components.update(connector=connector, ivr=ivr)
        self._start_overflow(core, connector)

    async def _ensure_connector_groups(self, core: Core) -> None:
        """Create this server's connector groups at the end of ``events`` if new: a group
        new to an existing stream (an upgrade from the shared ``executor`` group) must not
        carry out every command the stream still holds."""
        from contact_center.bus.base import server_group

        for group in CONNECTOR_GROUPS:
            if group == "callbacks" and not self.settings.callbacks.enabled:
                continue  # a group nobody reads would show an ever-growing backlog
            name = server_group(group, self.settings.general.server_id)
            try:
                await core.bus.ensure_group(EVENTS, name, at="$")
            except BusUnavailable as exc:
                log.warning("group %s not created yet: %s", name, exc)

    def _start_overflow(self, core: Core, connector: Any) -> None:
        """Callers already waiting longer than routing.yaml allows move to the next queue."""
        from contact_center.ami.control import AmiPbxControl, TrackerCallDirectory
        from contact_center.routing.overflow import WaitingOverflow

        overflow = WaitingOverflow(
            AmiPbxControl(connector.actions),
            TrackerCallDirectory(connector.tracker),
            lambda: self.components["routing_rules"].current(),
            core.publish,
            server=self.settings.general.server_id,
        )
        self.consume_leading("overflow", overflow.handle)
        self.spawn("waiting-overflow", self.while_leading(overflow.run))
        self.components["waiting_overflow"] = overflow

    def _router(self, core: Core, store: Any) -> Any:
        """Routing rules at IVR hand-off (VIP priority, sticky operator, overflow), from the
        rules file, which is re-read when it changes."""
        from pathlib import Path

        from contact_center.ivr.runner import HandOff
        from contact_center.routing.rules import RulesFile
        from contact_center.routing.service import Router, RouteRequest

        # Re-read when it changes; a broken file leaves the previous rules in use, and with
        # none (no file, or never a good one) the menus choose the queue alone.
        rules = RulesFile(Path(self.settings.agi.routing_rules))
        rules.current()  # load (or report) now, not at the first call
        self.components["routing_rules"] = rules

        async def route(hand: HandOff) -> HandOff:
            from dataclasses import replace

            current = rules.current()
            if current is None:
                return hand
            router = Router(core.sessions, core.lookup, current, store.load_snapshot, core.publish)
            decision = await router.route(
                RouteRequest(
                    server=hand.server,
                    call_id=hand.call_id,
                    caller_number=hand.caller,
                    customer_id=hand.customer_id,
                    ivr_choice=hand.digits[-1:],
                    language=hand.language,
                    fallback_queue=hand.queue,
                )
            )
            return replace(
                hand,
                queue=decision.queue,
                priority=max(hand.priority, decision.priority),
                skills=tuple(dict.fromkeys(hand.skills + decision.skills)),
                preferred_interface=decision.preferred_interface,
                ring_first_seconds=decision.ring_first_seconds,
                action=decision.action,
            )

        return route

    async def _start_executor(self, core: Core, connector: Any) -> None:
        """Operator commands from the console and wallboard, carried out through AMI."""
        from contact_center.ami.control import AmiPbxControl, TrackerCallDirectory
        from contact_center.routing.control import CallControl
        from contact_center.routing.directory import StoreOperators
        from contact_center.routing.executor import CommandExecutor
        from contact_center.routing.operators import OperatorStates

        server = self.settings.general.server_id
        pbx = AmiPbxControl(connector.actions)
        from contact_center.routing.rules import queue_skills

        # penalties from skill levels, for the queues routing.yaml says need skills (the
        # rules file is loaded with the router, and re-read when it changes)
        directory = StoreOperators(
            core.sessions,
            queue_skills=lambda: queue_skills(
                self.components["routing_rules"].current()
                if "routing_rules" in self.components
                else None
            ),
            server=server,
        )
        # Intents survive a restart in operator_sessions; the sweep repairs Asterisk to them
        # (members lost in an Asterisk restart send no event).
        states = OperatorStates(
            pbx, core.publish, server=server, intents=directory, directory=directory
        )
        control = CallControl(
            pbx, TrackerCallDirectory(connector.tracker), core.publish, server=server
        )
        # Commands marked begun/done across the connectors of this server (exactly once
        # across a leader change); in one process the bus' own marks do.
        executor = CommandExecutor(
            states, control, directory, core.publish, server=server, ledger=core.bus
        )
        self._closers.append(states.close)
        if "leader" in self.components:
            # A standby's intents would be stale when it takes over: read them on each lead.
            from contact_center.bus.base import server_group

            group = server_group("executor", server)
            consumer = f"{socket.gethostname()}-{os.getpid()}"

            async def lead() -> None:
                await states.restore(await directory.all())
                await pump(
                    core.bus, EVENTS, decoding(executor.handle), group=group,
                    consumer=consumer, claim_idle_ms=0,
                )  # fmt: skip

            self.spawn(f"consume-{group}", self.while_leading(lead))
        else:
            await states.restore(await directory.all())
            self.consume_leading("executor", executor.handle)
        states.start()
        self.components.update(operator_states=states, call_control=control, executor=executor)

    def _start_callbacks(self, core: Core, connector: Any) -> None:
        """Callbacks dialled back operator-first, on the connector that holds AMI."""
        if not self.settings.callbacks.enabled:
            return
        from contact_center.ami.control import AmiPbxControl
        from contact_center.callbacks.dialer import CallbackDialer

        states = self.components["operator_states"]

        def hours(queue: str) -> Any:
            rules = self.components.get("routing_rules")
            current = rules.current() if rules is not None else None
            policy = current.queues.get(queue) if current is not None else None
            return policy.hours if policy is not None else None

        dialer = CallbackDialer(
            core.sessions,
            AmiPbxControl(connector.actions),
            states.all,
            self.settings.callbacks,
            hours=hours,
            server=self.settings.general.server_id,
            ready=lambda: bool(connector.connected),
        )
        self.consume_leading("callbacks", dialer.handle)
        self.spawn("callback-dialer", self.while_leading(dialer.run))
        self.components["callback_dialer"] = dialer

    async def _start_web(self, core: Core, metrics: Any) -> None:
        from contact_center.observability import http as obs_http

        checks = self._readiness_checks(core)
        extras: dict[web.AppKey[Any], Any] = {
            obs_http.METRICS_KEY: metrics,
            obs_http.CHECKS_KEY: checks,
        }
        plugins: list[Any] = [obs_http]
        if self.has("web"):
            from contact_center.callbacks import http as callbacks_http
            from contact_center.customers import http as customers_http
            from contact_center.exports import http as exports_http
            from contact_center.history import http as history_http
            from contact_center.recording import http as recording_http
            from contact_center.stats import http as stats_http
            from contact_center.stats.consumer import create_store
            from contact_center.web import openapi as openapi_http
            from contact_center.webhooks import http as webhooks_http

            store = self.components.get("stats_store") or create_store(self.settings)
            extras[stats_http.STATS_STORE_KEY] = store
            if "webhooks" in self.components:  # same process: admin changes apply at once
                extras[webhooks_http.DISPATCHER_KEY] = self.components["webhooks"]
            plugins += [
                history_http,
                customers_http,
                callbacks_http,
                stats_http,
                recording_http,
                exports_http,
                webhooks_http,
            ]
            plugins.append(openapi_http)
            plugins += self.extra_plugins
        from contact_center.web.app import Deps, create_app

        app = create_app(
            Deps(self.settings, core.sessions, core.bus),
            plugins,
            extras=extras,
            console=self.has("web"),
        )
        self.components["app"] = app
        runner = web.AppRunner(app, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.web.host, self.settings.web.port)
        await site.start()
        self._runner = runner
        server = site._server  # the bound port, when 0 asked the OS for one
        sockets = getattr(server, "sockets", None) or []
        self.web_port = sockets[0].getsockname()[1] if sockets else self.settings.web.port

    def _readiness_checks(self, core: Core) -> dict[str, Callable[[], Awaitable[bool | str]]]:
        async def database() -> bool:
            from sqlalchemy import text

            async with core.sessions() as session:
                await session.execute(text("SELECT 1"))
            return True

        async def bus() -> bool:
            await core.bus.last_id(EVENTS)
            return True

        bus_name = "redis" if self.settings.bus.backend == "redis" else "bus"
        checks: dict[str, Callable[[], Awaitable[bool | str]]] = {
            "database": database,
            bus_name: bus,
        }
        if self.has("connector"):

            async def ami() -> str:
                # Connected is not enough: a login without the rights resync needs is named.
                connector = self.components.get("connector")
                return "not started" if connector is None else str(connector.readiness())

            checks["ami"] = ami
        return checks


# --- command line -------------------------------------------------------------------------


def add_arguments_cmd_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=ROLES, default="all")
    parser.add_argument("--host", help="web address (CC_WEB_HOST)")
    parser.add_argument("--port", type=int, help="web port (CC_WEB_PORT)")
    parser.add_argument(
        "--development",
        action="store_true",
        help="start even with default secrets, insecure cookies or a public /metrics",
    )


def configure_logging(settings: Settings) -> None:
    from contact_center.observability.logging import configure

    configure(settings.general.log_level, json_lines=settings.general.log_json)


async def wait_for_signal() -> None:
    """Return on SIGINT or SIGTERM (a graceful stop follows)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_until_signalled(service: Service) -> None:
    async with service:
        await wait_for_signal()


def cmd_serve(args: argparse.Namespace) -> int:
    overrides = {"web": {"host": args.host, "port": args.port}}
    try:
        settings = load_settings(args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    problems = [] if args.development else production_problems(settings, args.role)
    if problems:
        print(
            f"serve: refusing to start in production mode: {'; '.join(problems)}"
            " (or run `serve --development` on a trusted machine)",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings)
    asyncio.run(run_until_signalled(Service(settings, args.role)))
    return 0
