"""Start the whole service (role ``all``) beside the simulator, as ``make demo`` does. The
end-to-end tests run the dial plan we ship (``dialplan="shipped"``:
deploy/asterisk/extensions.conf), so every call comes from the provider (``PJSIP/trunk-…``),
goes through our IVR over FastAGI and rings the operators' PJSIP phones; the IVR menu is a
small one of the test's own (always open, 1 sales, 2 support), so nothing depends on the time
of day. Other suites keep the capture rig's dial plan (the default)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from contact_center.calls.events import OperatorCommand, make_key
from contact_center.config import Settings, load_settings
from contact_center.demo import free_port
from contact_center.service import Service, open_core
from contact_center.sim.agi import FastAgiStep
from contact_center.sim.config import Operator, SimConfig
from contact_center.sim.pbx import SimPbx
from contact_center.store.db import utcnow
from contact_center.store.models import Customer, CustomerPhone, Queue, User
from contact_center.web.auth import hash_password
from tests.integration.web_support import PASSWORD, Browser, sign_in_at

ROOT = Path(__file__).resolve().parents[2]
DID = "4951110006"  # any number reaches [from-trunk]; the IVR runs its default menu
LINE_MENU = """\
title: Test line
languages: [en]
start: main
prompts:
  line/main: {en: "Press 1 for sales, 2 for support."}
nodes:
  main:
    type: menu
    prompt: line/main
    options: {"1": sales, "2": support}
    on_invalid: support
  sales: {type: queue, queue: sales}
  support: {type: queue, queue: support}
"""


def write_menus(tmp_path: Path) -> Path:
    """The test line's IVR menu and its (empty) prompt."""
    menus = tmp_path / "menus"
    (menus / "prompts" / "en" / "line").mkdir(parents=True, exist_ok=True)
    (menus / "prompts" / "en" / "line" / "main.wav").write_bytes(b"RIFF")
    (menus / "line.yaml").write_text(LINE_MENU)
    return menus


@dataclass
class Rig:
    pbx: SimPbx
    service: Service
    settings: Settings

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.service.web_port}"

    async def command(
        self, login: str, role: str, interface: str, command: str, **args: Any
    ) -> None:
        core = self.service.core
        assert core is not None
        await core.publish(
            OperatorCommand(
                server=self.settings.general.server_id,
                call_id=str(args.pop("call_id", "")),
                at=0.0,
                key=make_key("test", login, command, len(str(args)), id(args)),
                user=login,
                role=role,
                interface=interface,
                command=command,
                args=args,
            )
        )


def rig_settings(
    tmp_path: Path,
    db_url: str,
    *,
    bus: str = "memory",
    redis_url: str = "",
    prefix: str = "cc",
    test_line: bool = False,
) -> Settings:
    """The service's settings for a test; ``test_line``: our IVR runs the test's own menu
    (always open) for every DID, else the example menus of ivr_menus/."""
    env = {
        "CC_GENERAL_DATA_DIR": str(tmp_path / "data"),
        "CC_DATABASE_URL": db_url,
        "CC_WEB_PORT": "0",
        "CC_BUS_BACKEND": bus,
        "CC_AGI_MENUS_DIR": str(write_menus(tmp_path) if test_line else ROOT / "ivr_menus"),
        "CC_AMI_PING_INTERVAL": "1",
        "CC_AMI_RECONNECT_MIN": "0.05",
        "CC_AMI_RECONNECT_MAX": "0.5",
        "CC_RECORDING_SPOOL_DIR": str(tmp_path / "spool"),
    }
    if test_line:
        env["CC_AGI_DEFAULT_MENU"] = "line"
    if redis_url:
        env["CC_BUS_REDIS_URL"] = redis_url
        env["CC_BUS_PREFIX"] = prefix
    return load_settings(environ=env)


RIG_PHONES = ("Local/101@agents", "Local/102@agents", "Local/105@agents")
SHIPPED_PHONES = ("PJSIP/101", "PJSIP/102", "PJSIP/105")


async def seed_people(settings: Settings, phones: tuple[str, str, str] = RIG_PHONES) -> None:
    """Queues support/sales, anna and boris (operators) and sue (supervisor) at ``phones``,
    and the customer Ivan Petrov."""
    core = await open_core(settings, migrate=True)
    try:
        async with core.sessions.begin() as db:
            db.add(
                Queue(
                    name="support",
                    title="Support",
                    service_level_seconds=20,
                    wrapup_seconds=0,
                    record=True,
                    supervisors={"logins": ["sue"]},
                )
            )
            db.add(
                Queue(
                    name="sales",
                    title="Sales",
                    service_level_seconds=20,
                    wrapup_seconds=0,
                    record=True,
                    supervisors={"logins": ["sue"]},
                )
            )
            staff = zip(
                ("anna", "boris", "sue"),
                ("operator", "operator", "supervisor"),
                phones,
                strict=True,
            )
            for login, role, interface in [*staff, ("quinn", "qa", "")]:
                db.add(
                    User(
                        login=login,
                        display_name=login.title(),
                        password_hash=hash_password(PASSWORD),
                        role=role,
                        interface=interface,
                        queues={"support": 0, "sales": 0} if role == "operator" else {},
                        skills={},
                        active=True,
                        created_at=utcnow(),
                    )
                )
            now = utcnow()
            ivan = Customer(
                name="Ivan Petrov",
                company="Acme",
                segment="VIP",
                language="ru",
                notes="prefers mornings",
                custom={},
                created_at=now,
                updated_at=now,
                account_number="4000123",
            )
            ivan.phones.append(
                CustomerPhone(e164="+74951234567", suffix="1234567", raw="+7 495 123-45-67")
            )
            db.add(ivan)
    finally:
        await core.engine.dispose()


@contextlib.asynccontextmanager
async def running_service(
    tmp_path: Path,
    db_url: str,
    *,
    operators: tuple[Operator, ...],
    bus: str = "memory",
    redis_url: str = "",
    prefix: str = "cc",
    time_scale: float = 0.1,
    extra_plugins: tuple[Any, ...] = (),
    dialplan: str = "rig",
) -> AsyncIterator[Rig]:
    """The simulator and the whole service. ``dialplan="shipped"`` (the end-to-end tests):
    deploy/asterisk/extensions.conf, PJSIP phones, our IVR on the test's menu over FastAGI;
    ``"rig"``: the capture rig's dial plan and Local operators."""
    shipped = dialplan == "shipped"
    agi_port = free_port()
    sim = SimConfig(
        port=0,
        dialplan=dialplan,
        operators=operators,
        agi_port=agi_port,
        time_scale=time_scale,
        spool_dir=str(tmp_path / "spool"),
        queue_log_path=str(tmp_path / "queue_log"),
        cdr_csv_path=str(tmp_path / "Master.csv"),
    )
    async with SimPbx(sim, agi=FastAgiStep() if shipped else None) as pbx:
        base = rig_settings(
            tmp_path, db_url, bus=bus, redis_url=redis_url, prefix=prefix, test_line=shipped
        )
        settings = replace(
            base,
            ami=replace(base.ami, port=pbx.port, username="cc", secret="cc-test-secret"),
            agi=replace(base.agi, port=agi_port),
        )
        await seed_people(settings, SHIPPED_PHONES if shipped else RIG_PHONES)
        async with Service(settings, "all", extra_plugins=list(extra_plugins)) as service:
            connector = service.components["connector"]
            await connector.wait_connected()
            yield Rig(pbx, service, settings)


# An operator signed in over HTTP: the one client and sign-in of tests/integration/web_support.
Operator_ = Browser


async def sign_in(base: str, login: str) -> Browser:
    return await sign_in_at(base, login, PASSWORD)
