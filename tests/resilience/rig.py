"""The whole service beside the simulator, with fault proxies where a test needs them:
between the connector and the simulator (AMI), in front of Redis, in front of PostgreSQL.

The simulator runs the capture rig's dial plan unless a test asks for ``dialplan="shipped"``
(deploy/asterisk/extensions.conf): then calls come from the provider (``PJSIP/trunk-…``),
pass our IVR over FastAGI (the test line's menu: 1 sales, 2 support) and ring PJSIP phones."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from contact_center.config import Settings
from contact_center.demo import free_port
from contact_center.service import Service
from contact_center.sim.agi import FastAgiStep
from contact_center.sim.config import Operator, SimConfig
from contact_center.sim.pbx import SimPbx
from contact_center.store import models
from tests.e2e.service_support import RIG_PHONES, SHIPPED_PHONES, rig_settings, seed_people
from tests.resilience.proxy import FaultProxy

MANUAL = (
    Operator("Local/101@agents", "Anna", manual=True),
    Operator("Local/102@agents", "Boris", manual=True),
)
# Anna and Boris at the PJSIP phones of the dial plan we ship, answering by hand.
SHIPPED_MANUAL = (
    Operator("PJSIP/101", "Anna", manual=True),
    Operator("PJSIP/102", "Boris", manual=True),
)


@dataclass
class FaultRig:
    pbx: SimPbx
    service: Service
    settings: Settings
    ami: FaultProxy
    proxies: dict[str, FaultProxy] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.service.web_port}"

    @property
    def connector(self) -> Any:
        return self.service.components["connector"]


def sim_config(
    tmp_path: Path, operators: tuple[Operator, ...], agi_port: int, dialplan: str = "rig"
) -> SimConfig:
    return SimConfig(
        port=0,
        operators=operators,
        agi_port=agi_port,
        dialplan=dialplan,
        time_scale=0.1,
        spool_dir=str(tmp_path / "spool"),
        queue_log_path=str(tmp_path / "queue_log"),
        cdr_csv_path=str(tmp_path / "Master.csv"),
    )


def sim_pbx(config: SimConfig) -> SimPbx:
    """The simulator for ``config``; with the shipped dial plan its ``AGI()`` steps reach our
    IVR over FastAGI (the service's AGI port), as Asterisk does."""
    return SimPbx(config, agi=FastAgiStep() if config.dialplan == "shipped" else None)


def phones_of(dialplan: str) -> tuple[str, str, str]:
    """The phones anna, boris and sue are seeded at for ``dialplan``."""
    return SHIPPED_PHONES if dialplan == "shipped" else RIG_PHONES


def service_settings(
    tmp_path: Path,
    db_url: str,
    *,
    ami_port: int,
    agi_port: int,
    redis_url: str = "",
    prefix: str = "cc",
    leader_ttl_ms: int = 0,
    data_dir: str = "data",
    test_line: bool = False,
) -> Settings:
    base = rig_settings(
        tmp_path,
        db_url,
        bus="redis" if redis_url else "memory",
        redis_url=redis_url,
        prefix=prefix,
        test_line=test_line,
    )
    return replace(
        base,
        general=replace(base.general, data_dir=str(tmp_path / data_dir)),
        ami=replace(
            base.ami,
            port=ami_port,
            username="cc",
            secret="cc-test-secret",
            # Asterisk's durable records, on a volume shared with the connector: the resync
            # closes calls that ended while the socket was down.
            cdr_csv_path=str(tmp_path / "Master.csv"),
            queue_log_path=str(tmp_path / "queue_log"),
            leader_ttl_ms=leader_ttl_ms,
        ),
        agi=replace(base.agi, port=agi_port),
    )


@contextlib.asynccontextmanager
async def proxied(host: str, port: int) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy(host, port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def through(url: str, proxy: FaultProxy) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


@contextlib.asynccontextmanager
async def fault_rig(
    tmp_path: Path,
    db_url: str,
    *,
    operators: tuple[Operator, ...] | None = None,
    redis_url: str = "",
    prefix: str = "cc",
    proxy_redis: bool = False,
    proxy_db: bool = False,
    history_buffer: int = 0,
    dialplan: str = "rig",
) -> AsyncIterator[FaultRig]:
    """Simulator + service (role ``all``); AMI always through a proxy, Redis and the database
    through one when asked. The database is seeded directly, before any proxy matters.
    ``dialplan="shipped"``: the dial plan we ship, our IVR's test line, Anna and Boris at
    PJSIP phones (``operators`` defaults to the dial plan's)."""
    agi_port = free_port()
    shipped = dialplan == "shipped"
    if operators is None:
        operators = SHIPPED_MANUAL if shipped else MANUAL
    async with contextlib.AsyncExitStack() as stack:
        config = sim_config(tmp_path, operators, agi_port, dialplan)
        pbx = await stack.enter_async_context(sim_pbx(config))
        ami = await stack.enter_async_context(proxied("127.0.0.1", pbx.port))
        proxies = {"ami": ami}
        seed = service_settings(
            tmp_path, db_url, ami_port=ami.port, agi_port=agi_port, test_line=shipped
        )
        await seed_people(seed, phones_of(dialplan))
        service_db, service_redis = db_url, redis_url
        if proxy_db:
            url = make_url(db_url)
            proxies["db"] = await stack.enter_async_context(
                proxied(url.host or "127.0.0.1", url.port or 5432)
            )
            service_db = through(db_url, proxies["db"])
        if proxy_redis:
            url = make_url(redis_url)
            proxies["redis"] = await stack.enter_async_context(
                proxied(url.host or "127.0.0.1", url.port or 6379)
            )
            service_redis = through(redis_url, proxies["redis"])
        settings = service_settings(
            tmp_path,
            service_db,
            ami_port=ami.port,
            agi_port=agi_port,
            redis_url=service_redis,
            prefix=prefix,
            test_line=shipped,
        )
        if history_buffer:
            billing = replace(settings.billing, history_buffer_max_events=history_buffer)
            settings = replace(settings, billing=billing)
        service = await stack.enter_async_context(Service(settings, "all"))
        await service.components["connector"].wait_connected()
        yield FaultRig(pbx, service, settings, ami, proxies)


def died(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Background tasks the Service had to restart ("task ... died")."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and "died" in r.getMessage()
    ]


def pbx_live_calls(pbx: SimPbx) -> set[str]:
    """The calls (linkedids) the PBX has channels up for: Asterisk's truth."""
    return {ch.linkedid for ch in pbx.channels.values() if not ch.dead}


def tracker_live_calls(connector: Any) -> set[str]:
    return {call_id for (_server, call_id) in connector.tracker.calls}


async def history_kinds(sessions: Any, linkedid: str) -> list[str]:
    async with sessions() as db:
        rows = await db.execute(
            select(models.InteractionEvent.kind).where(
                models.InteractionEvent.call_linkedid == linkedid
            )
        )
        return sorted(rows.scalars())


async def history_keys(sessions: Any, linkedid: str) -> list[str]:
    async with sessions() as db:
        rows = await db.execute(
            select(models.InteractionEvent.key).where(
                models.InteractionEvent.call_linkedid == linkedid
            )
        )
        return sorted(rows.scalars())


async def bus_history_keys(bus: Any, linkedid: str) -> list[str]:
    """The keys of the history events the bus carried for one call: what must be written."""
    from contact_center.bus.base import EVENTS
    from contact_center.calls.events import from_dict
    from contact_center.history.describe import NOT_HISTORY, event_key

    keys: set[str] = set()
    after = "0"
    while entries := await bus.read(EVENTS, after, 1000):
        for sid, message in entries:
            after = sid
            event = from_dict(message)
            if event.call_id == linkedid and not isinstance(event, NOT_HISTORY):
                keys.add(event_key(event))
    return sorted(keys)


async def duplicate_keys(sessions: Any) -> int:
    """History rows beyond one per event key (0 when nothing was written twice)."""
    async with sessions() as db:
        rows = await db.scalar(select(func.count()).select_from(models.InteractionEvent))
        keys = await db.scalar(select(func.count(func.distinct(models.InteractionEvent.key))))
    return int(rows or 0) - int(keys or 0)


async def history_counts(sessions: Any, linkedid: str) -> tuple[int, int, int]:
    """(call rows, call.ended history rows, history rows total) of one call."""
    async with sessions() as db:
        calls = await db.scalar(
            select(func.count()).select_from(models.Call).where(models.Call.linkedid == linkedid)
        )
        ended = await db.scalar(
            select(func.count())
            .select_from(models.InteractionEvent)
            .where(
                models.InteractionEvent.call_linkedid == linkedid,
                models.InteractionEvent.kind == "call.ended",
            )
        )
        total = await db.scalar(
            select(func.count())
            .select_from(models.InteractionEvent)
            .where(models.InteractionEvent.call_linkedid == linkedid)
        )
    return int(calls or 0), int(ended or 0), int(total or 0)
