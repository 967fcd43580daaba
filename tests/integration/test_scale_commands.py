"""Commands reach the connector of their Asterisk server, exactly once: two simulated
servers, a connector each and a standby for the first, in this process on Redis."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from contact_center.bus import ONCE_NEW
from contact_center.calls.events import OperatorCommand, make_key, to_dict
from contact_center.config import Settings
from contact_center.demo import free_port
from contact_center.routing.executor import INTERRUPTED
from contact_center.service import Service, open_core
from contact_center.sim.config import Operator, SimConfig
from contact_center.sim.core import Event
from contact_center.sim.pbx import SimPbx
from contact_center.store.db import utcnow
from contact_center.store.models import Queue, User
from tests.conftest import wait_for
from tests.e2e.service_support import rig_settings

DIALPLAN = Path(__file__).resolve().parents[2] / "bench" / "asterisk" / "extensions.conf"
PHONES = {"pbx1": "Local/1000@agents", "pbx2": "Local/5000@agents"}
LOGINS = {"pbx1": "anna", "pbx2": "olga"}
TTL_MS = 1500


@dataclass
class Server:
    pbx: SimPbx
    originated: Counter[str]
    added: Counter[str]

    def listen(self, event: Event) -> None:
        if event.name == "OriginateResponse" and event.get("Context") == "cc-originate":
            self.originated[event.get("Channel").rsplit("-", 1)[0]] += 1
        elif event.name == "QueueMemberAdded":
            self.added[event.get("Interface")] += 1


async def seed(settings: Settings) -> None:
    core = await open_core(settings, migrate=True)
    try:
        async with core.sessions.begin() as db:
            db.add(Queue(name="support", title="Support", supervisors={}))
            for server, login in LOGINS.items():
                db.add(
                    User(
                        login=login, display_name=login.title(), password_hash="-",
                        role="operator", interface=PHONES[server], server_id=server,
                        queues={"support": 0}, skills={}, active=True, created_at=utcnow(),
                    )
                )  # fmt: skip
    finally:
        await core.engine.dispose()
        await core.lookup.aclose()
        await core.bus.close()


def connector_settings(base: Settings, tmp: Path, server: str, pbx: SimPbx) -> Settings:
    return replace(
        base,
        general=replace(base.general, server_id=server, data_dir=str(tmp / f"data-{server}")),
        ami=replace(
            base.ami, port=pbx.port, username="cc", secret="cc-test-secret", leader_ttl_ms=TTL_MS
        ),
        agi=replace(base.agi, port=free_port()),
        web=replace(base.web, port=0),
    )


@contextlib.asynccontextmanager
async def two_servers(
    tmp_path: Path, postgres_url: str, redis_url: str, prefix: str
) -> AsyncIterator[tuple[dict[str, Server], dict[str, Settings]]]:
    base = rig_settings(tmp_path, postgres_url, bus="redis", redis_url=redis_url, prefix=prefix)
    await seed(base)
    async with contextlib.AsyncExitStack() as stack:
        servers: dict[str, Server] = {}
        settings: dict[str, Settings] = {}
        for server, phone in PHONES.items():
            config = SimConfig(
                port=0, operators=(Operator(phone, answer_after=0.05),), dialplan=str(DIALPLAN),
                time_scale=0.2,
            )  # fmt: skip
            pbx = await stack.enter_async_context(SimPbx(config))
            servers[server] = Server(pbx, Counter(), Counter())
            pbx.subscribe(servers[server].listen)
            settings[server] = connector_settings(base, tmp_path, server, pbx)
        yield servers, settings


def command(server: str, name: str, n: int, **args: Any) -> OperatorCommand:
    login = LOGINS[server]
    return OperatorCommand(
        server=server, call_id="", at=float(n), key=make_key("scale-test", login, name, n),
        user=login, role="operator", interface=PHONES[server], command=name, args=args,
    )  # fmt: skip


async def actions(service: Service, kind: str) -> list[dict[str, Any]]:
    assert service.core is not None
    entries = await service.core.bus.read("events", "0", count=10_000)
    return [m for _, m in entries if m.get("kind") == "operator.action" and m["action"] == kind]


async def test_commands_of_two_servers_each_run_once_on_their_own(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Property: 12 click-to-calls for each of two servers, interleaved, each reach the
    connector of their own server — 12 Originates on each, none crossing — and none runs
    twice (the shared ``executor`` group used to hand about half to the other server's
    connector, which dropped them)."""
    async with two_servers(tmp_path, postgres_url, redis_url, redis_prefix) as (servers, cfg):
        async with Service(cfg["pbx1"], "connector") as one, Service(cfg["pbx2"], "connector"):
            await one.components["connector"].wait_connected()
            assert one.core is not None
            for n in range(12):
                for server in PHONES:
                    await one.core.publish(command(server, "click_to_call", n, number="5550"))

            def all_sent() -> bool:
                return all(s.originated[PHONES[k]] >= 12 for k, s in servers.items())

            await wait_for(all_sent, 20)
            await wait_for(lambda: _count(one, "click_to_call", 24), 10)
        for server, s in servers.items():
            other = next(k for k in PHONES if k != server)
            assert {PHONES[server]: 12} == dict(s.originated), server
            assert 0 == s.originated[PHONES[other]]


async def _count(service: Service, kind: str, n: int) -> bool:
    return n == len(await actions(service, kind))


async def test_a_new_leader_never_sends_an_interrupted_originate_again(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    """Property: the standby carries out nothing while the leader leads; after the leader
    stops, a command its predecessor began and never finished is sent again only when
    repeating it changes nothing (a sign-in), and an Originate is not sent twice — the
    operator is told it was interrupted; a command it never began runs once."""
    async with two_servers(tmp_path, postgres_url, redis_url, redis_prefix) as (servers, cfg):
        pbx1 = servers["pbx1"]
        phone = PHONES["pbx1"]
        a = Service(cfg["pbx1"], "connector")
        b = Service(
            replace(cfg["pbx1"], agi=replace(cfg["pbx1"].agi, port=free_port())), "connector"
        )
        await a.start()
        try:
            await a.components["connector"].wait_connected()
            await b.start()
            assert a.core is not None and b.core is not None
            bus = b.core.bus
            await a.core.publish(command("pbx1", "click_to_call", 1, number="5550"))
            await wait_for(lambda: pbx1.originated[phone] == 1, 10)
            assert (1, 0) == (a.components["executor"].executed, b.components["executor"].executed)

            # what a leader leaves when it dies between "begun" and "done"
            began = command("pbx1", "click_to_call", 2, number="5551")
            signin = command("pbx1", "available", 3)
            for cmd in (began, signin):
                assert ONCE_NEW == await bus.begin_once(f"command:pbx1:{cmd.key}", 60_000)
            await a.stop()
            await b.components["connector"].wait_connected()
            for cmd in (began, signin, command("pbx1", "click_to_call", 4, number="5552")):
                await bus.publish("events", to_dict(cmd))

            await wait_for(lambda: pbx1.originated[phone] == 2, 10)
            await wait_for(lambda: pbx1.pbx.members(phone), 10)
            await wait_for(lambda: _count(b, "click_to_call.failed", 1), 10)
            failed = await actions(b, "click_to_call.failed")
            assert INTERRUPTED == failed[0]["detail"]["reason"]
            assert make_key(began.key, "failed") == failed[0]["key"]
            assert 1 == pbx1.added[phone]
            assert {phone: 2} == dict(pbx1.originated)
            # the sign-in and the new click-to-call carried out; the interrupted one skipped
            assert (2, 1) == (b.components["executor"].executed, b.components["executor"].skipped)
        finally:
            await b.stop()
            await a.stop()
