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
import importlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contact_center import aio
from contact_center.backoff import Backoff, retry
from contact_center.bus.base import EVENTS, Bus, BusUnavailable, create_bus
from contact_center.bus.pump import Settling, follow, pump
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
ManyHandler = Callable[[list[DomainEvent]], Awaitable[None]]
T = TypeVar("T")


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
        payload = to_dict(event)

        def warn(exc: Exception, delay: float) -> None:
            log.warning("%s: bus unavailable, retrying in %.1f s: %s", event.kind, delay, exc)

        await retry(
            lambda: self.bus.publish(EVENTS, payload),
            retry_on=lambda exc: isinstance(exc, BusUnavailable),
            backoff=Backoff(first=0.1, ceiling=ceiling),
            on_retry=warn,
        )

    async def publish_many(self, events: Sequence[DomainEvent], *, ceiling: float = 2.0) -> None:
        """:meth:`publish` for several events, in order, in one round trip (one pipeline on
        Redis). A retry after an outage may append some of them again: consumers dedupe on
        the key."""
        payloads = [to_dict(event) for event in events]
        publish_many = getattr(self.bus, "publish_many", None)

        async def send() -> None:
            if publish_many is not None:
                await publish_many(EVENTS, payloads)
                return
            for payload in payloads:
                await self.bus.publish(EVENTS, payload)

        def warn(exc: Exception, delay: float) -> None:
            log.warning(
                "%d events: bus unavailable, retrying in %.1f s: %s", len(payloads), delay, exc
            )

        await retry(
            send,
            retry_on=lambda exc: isinstance(exc, BusUnavailable),
            backoff=Backoff(first=0.1, ceiling=ceiling),
            on_retry=warn,
        )

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
CONNECTOR_GROUPS = ("executor", "recording-policy", "overflow", "callbacks", "campaigns")


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


def decoding_many(
    handler: ManyHandler,
) -> Callable[[list[dict[str, Any]]], Coroutine[Any, Any, None]]:
    """A handler of a batch of bus messages that gives ``handler`` the typed events."""

    async def handle(messages: list[dict[str, Any]]) -> None:
        await handler([from_dict(message) for message in messages])

    return handle


def retrying_outages_many(
    handler: ManyHandler, *, first: float = 0.5, ceiling: float = 30.0
) -> ManyHandler:
    """:func:`retrying_outages` for a handler of a batch of events."""
    from contact_center.history.writer import is_outage

    async def handle(events: list[DomainEvent]) -> None:
        def warn(exc: Exception, delay: float) -> None:
            log.warning("%d events: database unavailable, retrying in %.1f s", len(events), delay)

        await retry(
            lambda: handler(events),
            retry_on=is_outage,
            backoff=Backoff(first=first, ceiling=ceiling),
            on_retry=warn,
        )

    return handle


def retrying_outages(handler: Handler, *, first: float = 0.5, ceiling: float = 30.0) -> Handler:
    """Retry an event while the database is down, so an outage delays but loses nothing."""
    from contact_center.history.writer import is_outage

    async def handle(event: DomainEvent) -> None:
        def warn(exc: Exception, delay: float) -> None:
            log.warning("%s: database unavailable, retrying in %.1f s", event.kind, delay)

        await retry(
            lambda: handler(event),
            retry_on=is_outage,
            backoff=Backoff(first=first, ceiling=ceiling),
            on_retry=warn,
        )

    return handle


# --- plugins ----------------------------------------------------------------------------------
#
# Each feature package wires its own parts in ``<package>/plugin.py``: one ``async def`` per
# role it serves, taking the :class:`Service`. Adding a package is one line here:
# ``"contact_center.<package>.plugin:<function>"`` under the role it runs in. They start in
# this order and stop in the reverse order (the service's exit stack).
PLUGINS: dict[str, tuple[str, ...]] = {
    "worker": (
        "contact_center.history.plugin:worker",
        "contact_center.billing.plugin:worker",
        "contact_center.recording.plugin:worker",
        "contact_center.stats.plugin:worker",
        "contact_center.screenpop.plugin:worker",
        "contact_center.webhooks.plugin:worker",
        "contact_center.observability.plugin:worker",
    ),
    "connector": (
        "contact_center.ami.plugin:connector",
        "contact_center.routing.plugin:executor",
        "contact_center.callbacks.plugin:connector",
        "contact_center.campaigns.plugin:connector",
        "contact_center.recording.plugin:policy",
        "contact_center.ivr.plugin:connector",
        "contact_center.routing.plugin:overflow",
    ),
}
# The web surface: modules with ``setup(app)`` (see web/app.py), after observability's.
WEB_PLUGINS: tuple[str, ...] = (
    "contact_center.history.http",
    "contact_center.customers.http",
    "contact_center.callbacks.http",
    "contact_center.campaigns.http",
    "contact_center.stats.http",
    "contact_center.recording.http",
    "contact_center.exports.http",
    "contact_center.webhooks.http",
    "contact_center.web.openapi",
)

Plugin = Callable[["Service"], Awaitable[None]]


def load_plugin(spec: str) -> Plugin:
    """``"package.module:function"`` → the function (imported now, not at import time)."""
    module_name, _, function = spec.partition(":")
    module = importlib.import_module(module_name)
    return cast(Plugin, getattr(module, function))


class StartError(RuntimeError):
    """A part of the service failed to start; what had started was stopped again."""


@dataclass
class Components:
    """The parts a running service is made of (None: not in this role or not started).

    Plugins set the fields they build; tests and the web surface read them. Item access
    (``components["connector"]``) is kept for older callers: a part that is absent is a
    ``KeyError``.
    """

    metrics: Any = None
    app: web.Application | None = None
    # worker
    history: Any = None
    billing: Any = None
    indexer: Any = None
    recording_worker: Any = None
    stats_store: Any = None
    stats: Any = None
    screenpop: Any = None
    webhooks: Any = None
    # connector
    connector: Any = None
    leader: Any = None
    ivr: Any = None
    operator_states: Any = None
    call_control: Any = None
    executor: Any = None
    recording_policy: Any = None
    routing_rules: Any = None
    waiting_overflow: Any = None
    callback_dialer: Any = None
    campaign_dialer: Any = None
    # parts of packages that have no field of their own (yet)
    more: dict[str, Any] = field(default_factory=dict)

    def _known(self, name: str) -> bool:
        return name != "more" and name in self.__dataclass_fields__

    def get(self, name: str, default: Any = None) -> Any:
        value = getattr(self, name) if self._known(name) else self.more.get(name)
        return default if value is None else value

    def __getitem__(self, name: str) -> Any:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        if self._known(name):
            setattr(self, name, value)
        else:
            self.more[name] = value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


@dataclass
class Service:
    """One process of the service. ``async with Service(settings, "all") as svc: ...``

    Everything it starts is entered into one :class:`contextlib.AsyncExitStack`: stopping
    unwinds it in reverse order, and so does a start that fails half-way (nothing is left
    running, and the error names the part that failed).
    """

    settings: Settings
    role: str = "all"
    core: Core | None = None
    web_port: int = 0  # bound port after start (settings.web.port may be 0 in tests)
    extra_plugins: list[Any] = field(default_factory=list)  # more web modules (setup(app))
    components: Components = field(default_factory=Components)
    stop_step: float = STOP_STEP_SECONDS  # the longest one task or closer may take to stop
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False

    def has(self, role: str) -> bool:
        return self.role == "all" or self.role == role

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def parts(self) -> Components:
        return self.components

    @property
    def metrics(self) -> Any:
        return self.components.metrics

    def need_core(self) -> Core:
        assert self.core is not None, "the service is not started"
        return self.core

    # --- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; one of {ROLES}")
        self._stopping = False
        step = "storage and bus"
        try:
            self.core = core = self.core or await open_core(self.settings)
            self.on_stop(core.engine.dispose)
            self.on_stop(core.lookup.aclose)
            self.on_stop(core.bus.close)
            # the bus answers before anything is built on it: a start without Redis fails
            # here in one line, instead of every part retrying on its own
            await core.bus.last_id(EVENTS)
            from contact_center.observability.metrics import Metrics

            self.components.metrics = Metrics()
            for role in ("worker", "connector"):
                if self.has(role):
                    for step in PLUGINS[role]:
                        await load_plugin(step)(self)
            step = "web"
            await self._start_web(core)
        except BaseException as exc:
            # A half-finished start: stop what did start, in reverse order, then report
            # the one error that stopped it.
            await self.stop()
            if isinstance(exc, Exception) and not isinstance(exc, StartError):
                detail = str(exc) or type(exc).__name__
                what = f"{self.role}: {_describe(step)}"
                raise StartError(f"{what} failed to start: {detail}") from exc
            raise
        # Everything built so far lives as long as the process: keep it out of the collector's
        # generations so its pauses stay short (pop latency outliers were GC pauses).
        gc.freeze()
        log.info("contact_center %s started (web on %s)", self.role, self.web_port)

    async def stop(self) -> None:
        """Graceful: websockets closed with 1001, AMI logoff, workers flushed — everything
        started is stopped in the reverse order of its start."""
        self._stopping = True
        stack, self._stack = self._stack, contextlib.AsyncExitStack()
        try:
            await stack.aclose()
        except Exception:
            log.exception("error while stopping")
        self._tasks.clear()

    def on_stop(self, close: Callable[[], Awaitable[Any]], name: str | None = None) -> None:
        """Call ``close()`` when the service stops (at most ``stop_step`` seconds; an error
        or a hang is logged and the rest of the stop goes on)."""
        what = name or _name(close)

        async def closing() -> None:
            try:
                await aio.wait_for(close(), self.stop_step)
            except TimeoutError:
                log.warning("stopping: %s did not finish within %.0f s", what, self.stop_step)
            except Exception:
                log.exception("error while stopping %s", what)

        self._stack.push_async_callback(closing)

    async def enter(self, part: contextlib.AbstractAsyncContextManager[T]) -> T:
        """Enter an async context manager now; it is exited when the service stops (within
        ``stop_step``, like :meth:`on_stop`)."""
        inner = contextlib.AsyncExitStack()
        entered = await inner.enter_async_context(part)
        self.on_stop(inner.aclose, name=type(part).__qualname__)
        return entered

    def spawn(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a long-lived task; if it dies it is logged and restarted (never forgotten)."""

        async def supervised() -> None:
            backoff = Backoff(first=0.5, ceiling=30.0)
            while not self._stopping:
                try:
                    await factory()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    delay = backoff.next()
                    log.exception("task %s died; restarting in %.1f s", name, delay)
                    await backoff.sleep(delay)

        task = asyncio.create_task(supervised(), name=name)
        self._tasks.append(task)
        self._stack.push_async_callback(self._end_task, task)

    async def _end_task(self, task: asyncio.Task[None]) -> None:
        """Cancel ``task`` and wait for it; one that does not end in time is named and left
        behind (a stop never hangs)."""
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=self.stop_step)
        if not done:
            log.warning(
                "stopping: task %s did not end within %.0f s", task.get_name(), self.stop_step
            )
        elif not task.cancelled():
            task.exception()  # retrieved: its own supervisor logged it
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    def consume(
        self,
        group: str,
        handler: Handler,
        *,
        batch: int = 100,
        in_step: bool = False,
        many: ManyHandler | None = None,
        settling: Settling | None = None,
    ) -> None:
        """Feed ``handler`` every domain event, in order, as consumer group ``group``,
        ``batch`` events per turn of the event loop. ``in_step``: on the in-process bus,
        inside the publisher's step instead (``bus.pump.InStep``). ``many``: a handler of
        a whole batch of events at once (one transaction), ``handler`` being the fallback
        for a batch it fails (``bus.pump.pump``). ``settling``: events are acknowledged
        only once what ``handler`` left running for them is done (``bus.pump.Settling``)."""
        bus = self.need_core().bus
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        batch_handler = decoding_many(many) if many is not None else None
        lease = self.lease(group)
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
                        count=batch, claim_idle_ms=0, many=batch_handler, settling=settling,
                    ),
                ),
            )  # fmt: skip
            return
        if in_step:
            self.spawn(
                f"consume-{group}",
                lambda: follow(
                    bus,
                    EVENTS,
                    decoding(handler),
                    group=group,
                    consumer=consumer,
                    count=batch,
                    settling=settling,
                ),
            )
            return
        self.spawn(
            f"consume-{group}",
            lambda: pump(
                bus, EVENTS, decoding(handler), group=group, consumer=consumer, count=batch,
                many=batch_handler, settling=settling,
            ),
        )  # fmt: skip

    def lease(self, group: str) -> Any:
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
            share = LeaseShare(
                s.bus.redis_url, lease_key(s.bus.prefix, "workers"), s.ami.leader_ttl_ms
            )
            self.components["lease_share"] = share
            self.on_stop(share.close)
            self.spawn("lease-share", share.register_forever)
        lock = LeaderLock(s.bus.redis_url, lease_key(s.bus.prefix, group), s.ami.leader_ttl_ms)
        self.on_stop(lock.close)
        self.components.more.setdefault("leases", {})[group] = share.add(lock)
        return lock

    def consume_leading(self, group: str, handler: Handler) -> None:
        """Feed ``handler`` as this Asterisk server's connector: group ``<group>@<server>``
        (each server's connector sees every event), read only while this process leads the
        server (a standby reads nothing); what a previous leader left unacknowledged is
        taken over at once."""
        from contact_center.bus.base import server_group

        bus = self.need_core().bus
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

    async def ensure_connector_groups(self) -> None:
        """Create this server's connector groups at the end of ``events`` if new: a group
        new to an existing stream (an upgrade from the shared ``executor`` group) must not
        carry out every command the stream still holds."""
        from contact_center.bus.base import server_group

        bus = self.need_core().bus
        for group in CONNECTOR_GROUPS:
            if group == "callbacks" and not self.settings.callbacks.enabled:
                continue  # a group nobody reads would show an ever-growing backlog
            name = server_group(group, self.settings.general.server_id)
            try:
                await bus.ensure_group(EVENTS, name, at="$")
            except BusUnavailable as exc:
                log.warning("group %s not created yet: %s", name, exc)

    # --- web (every role) -------------------------------------------------------------------

    async def _start_web(self, core: Core) -> None:
        from contact_center.observability import http as obs_http

        metrics = self.components.metrics
        checks = self._readiness_checks(core)
        extras: dict[web.AppKey[Any], Any] = {
            obs_http.METRICS_KEY: metrics,
            obs_http.CHECKS_KEY: checks,
        }
        plugins: list[Any] = [obs_http]
        if self.has("web"):
            from contact_center.stats import http as stats_http
            from contact_center.stats.consumer import create_store
            from contact_center.webhooks import http as webhooks_http

            store = self.components.stats_store or create_store(self.settings)
            extras[stats_http.STATS_STORE_KEY] = store
            if self.components.webhooks is not None:  # same process: admin changes apply at once
                extras[webhooks_http.DISPATCHER_KEY] = self.components.webhooks
            plugins += [importlib.import_module(name) for name in WEB_PLUGINS]
            plugins += self.extra_plugins
        from contact_center.web.app import Deps, create_app

        app = create_app(
            Deps(self.settings, core.sessions, core.bus),
            plugins,
            extras=extras,
            console=self.has("web"),
        )
        self.components.app = app
        runner = web.AppRunner(app, shutdown_timeout=5.0)
        await runner.setup()
        self.on_stop(runner.cleanup)
        site = web.TCPSite(runner, self.settings.web.host, self.settings.web.port)
        await site.start()
        # the bound port, when 0 asked the OS for one
        addresses = runner.addresses
        self.web_port = int(addresses[0][1]) if addresses else self.settings.web.port

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
                connector = self.components.connector
                return "not started" if connector is None else str(connector.readiness())

            checks["ami"] = ami
        return checks


def _describe(step: str) -> str:
    """``"contact_center.history.plugin:worker"`` → ``"history (worker)"``."""
    module, _, function = step.partition(":")
    if not function:
        return step
    package = module.removeprefix("contact_center.").removesuffix(".plugin")
    return f"{package} ({function})"


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
    try:
        asyncio.run(run_until_signalled(Service(settings, args.role)))
    except StartError as exc:  # what had started is stopped again; one line says why
        print(f"serve: {exc}", file=sys.stderr)
        return 1
    return 0
