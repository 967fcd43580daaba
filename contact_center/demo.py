"""``make demo``: everything on embedded defaults, with the Asterisk simulator as the PBX.

SQLite under ``data/demo``, the in-process bus, generated demo customers with history, demo
users of every role (printed with their passwords), the IVR example menus with generated
prompts, tariffs, and a simulator placing a realistic mix of calls: known and unknown callers,
IVR choices, abandons, operators who answer from the browser and one scripted colleague. The
simulator runs the dial plan we ship (deploy/asterisk/extensions.conf): callers come from the
provider, go through our IVR over FastAGI and ring the operators' PJSIP phones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from contact_center.calls.events import OperatorCommand, make_key
from contact_center.config import Settings, load_settings
from contact_center.service import Service, open_core, wait_for_signal
from contact_center.store.models import Customer, CustomerPhone, Queue, User

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class DemoUser:
    login: str
    role: str
    name: str
    interface: str = ""
    queues: tuple[str, ...] = ()


DEMO_USERS = (
    DemoUser("anna", "operator", "Anna Smirnova", "PJSIP/101", ("support", "sales")),
    DemoUser("boris", "operator", "Boris Ivanov", "PJSIP/102", ("support", "sales")),
    DemoUser("robot", "operator", "Robo Colleague", "PJSIP/103", ("support", "sales")),
    DemoUser("sue", "supervisor", "Sue Supervisor", "PJSIP/105"),
    DemoUser("quinn", "qa", "Quinn Reviewer", queues=("support", "sales")),  # QA scope
    DemoUser("admin", "admin", "Administrator"),
)
# The provider's DIDs → our IVR menus: the bank and shop examples, and the demo's front desk
# (straight to support, open around the clock, so the demo has calls at any hour).
DEMO_DID_MENUS = "4951110006=bank,4951110007=shop,4951110004=desk"
FRONT_DESK_MENU = """\
# The demo's front desk (DID 4951110004): straight to the support queue, at any hour.
title: Front desk (demo)
languages: [en]
start: support
nodes:
  support: {type: queue, queue: support}
"""


def demo_menus(data_dir: Path) -> Path:
    """The example menus of ivr_menus/ (linked, prompts included) plus the front desk."""
    menus = data_dir / "menus"
    menus.mkdir(parents=True, exist_ok=True)
    for source in [*(ROOT / "ivr_menus").glob("*.yaml"), ROOT / "ivr_menus" / "prompts"]:
        link = menus / source.name
        if not link.exists():
            link.symlink_to(source)
    (menus / "desk.yaml").write_text(FRONT_DESK_MENU)
    return menus


DEMO_QUEUES = {"support": 20, "sales": 30}  # queue -> service level seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_settings(base: Settings, agi_port: int, ami_port: int) -> Settings:
    """The user's settings with the PBX pointed at the simulator."""
    from dataclasses import replace

    data_dir = base.general.data_dir if base.general.data_dir != "data" else "data/demo"
    return replace(
        base,
        general=replace(base.general, data_dir=data_dir),
        ami=replace(
            base.ami,
            host="127.0.0.1",
            port=ami_port,
            username="cc",
            secret="cc-test-secret",
            auth="md5",
        ),
        agi=replace(
            base.agi,
            host="127.0.0.1",
            port=agi_port,
            menus_dir=str(demo_menus(Path(data_dir)))
            if base.agi.menus_dir == "ivr_menus"
            else base.agi.menus_dir,
            did_menus=base.agi.did_menus or DEMO_DID_MENUS,
        ),
        recording=replace(base.recording, spool_dir=str(Path(data_dir) / "recordings")),
    )


async def seed(settings: Settings) -> dict[str, str]:
    """Demo customers, users, queues and tariffs; returns login → password (kept across runs)."""
    from contact_center.billing.repository import save_plans
    from contact_center.billing.tariffs import load_plans
    from contact_center.customers.demo_data import load_demo_data
    from contact_center.web.auth import hash_password

    data_dir = Path(settings.general.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    creds_file = data_dir / "demo-users.json"
    creds: dict[str, str] = json.loads(creds_file.read_text()) if creds_file.exists() else {}
    core = await open_core(settings, migrate=True)
    try:
        async with core.sessions() as db:
            customers = (await db.execute(select(func.count(Customer.id)))).scalar_one()
        if not customers:
            summary = await load_demo_data(core.engine, count=300, seed=7)
            log.info("demo customers: %s", summary.to_dict())
        async with core.sessions.begin() as db:
            for name, sl in DEMO_QUEUES.items():
                if (await db.execute(select(Queue).where(Queue.name == name))).scalar() is None:
                    db.add(
                        Queue(
                            name=name,
                            title=name.title(),
                            service_level_seconds=sl,
                            wrapup_seconds=5,
                            record=True,
                            supervisors={"logins": ["sue"]},
                        )
                    )
            for u in DEMO_USERS:
                if (await db.execute(select(User).where(User.login == u.login))).scalar():
                    continue
                password = creds.get(u.login) or secrets.token_urlsafe(9)
                creds[u.login] = password
                from contact_center.store.db import utcnow

                db.add(
                    User(
                        login=u.login,
                        display_name=u.name,
                        password_hash=hash_password(password),
                        role=u.role,
                        interface=u.interface,
                        queues={q: 0 for q in u.queues},
                        skills={},
                        active=True,
                        created_at=utcnow(),
                    )
                )
        from contact_center.callbacks.store import seed_demo as seed_callbacks
        from contact_center.campaigns.store import seed_demo as seed_campaigns
        from contact_center.recording.qa import ensure_demo_form
        from contact_center.store.db import utcnow as now_utc

        async with core.sessions.begin() as db:
            await ensure_demo_form(db)
            await seed_callbacks(db, now_utc())
            await seed_campaigns(db, now_utc())
        if not customers:
            await seed_history(settings, core)
        for path in sorted((ROOT / "tariffs").glob("*.yaml")):
            with contextlib.suppress(Exception):
                await save_plans(core.sessions, load_plans(path))
    finally:
        await core.engine.dispose()
    creds_file.write_text(json.dumps(creds, indent=1))
    creds_file.chmod(0o600)
    return creds


async def seed_history(settings: Settings, core: Any, calls: int = 120) -> None:
    """Past calls for the demo customers, written by the same history writer as live calls."""
    import time

    from contact_center.calls import events as ev
    from contact_center.history.writer import HistoryWriter

    async with core.sessions() as db:
        numbers = (await db.execute(select(CustomerPhone.e164).limit(60))).scalars().all()
    rng = random.Random(11)
    server = settings.general.server_id
    operators = [
        ("PJSIP/101", "Anna Smirnova", "anna"),
        ("PJSIP/102", "Boris Ivanov", "boris"),
    ]
    dispositions = ("resolved", "resolved", "callback promised", "escalated", "sale")
    now = time.time()
    async with HistoryWriter(core.sessions, lookup=core.lookup) as writer:
        for i in range(calls):
            number = rng.choice(numbers)
            start = now - rng.uniform(3600, 30 * 86400)
            cid = f"{int(start)}.{9000 + i}"
            queue = rng.choice(("support", "sales"))
            interface, name, login = rng.choice(operators)
            wait, talk = rng.uniform(3, 90), rng.uniform(40, 600)

            def key(kind: str, cid: str = cid) -> str:
                return make_key("demo-history", cid, kind)

            common: dict[str, Any] = {"server": server, "call_id": cid}
            answered = rng.random() > 0.12
            steps: list[ev.DomainEvent] = [
                ev.CallArrived(
                    **common,
                    at=start,
                    key=key("a"),
                    caller_number=number,
                    caller_number_raw=number,
                    caller_name="",
                    did="4951110006",
                ),
                ev.CallQueued(**common, at=start + 2, key=key("q"), queue=queue, position=1),
            ]
            if answered:
                steps += [
                    ev.CallAnswered(
                        **common,
                        at=start + 2 + wait,
                        key=key("ans"),
                        queue=queue,
                        interface=interface,
                        member_name=name,
                        hold_seconds=wait,
                        ring_seconds=2,
                    ),
                    ev.CallEnded(
                        **common,
                        at=start + 2 + wait + talk,
                        key=key("end"),
                        cause=16,
                        outcome="answered",
                        talk_seconds=talk,
                        hung_up_by="caller",
                    ),
                    ev.OperatorAction(
                        **common,
                        at=start + 10 + wait + talk,
                        key=key("disp"),
                        user=login,
                        action="disposition",
                        detail={"disposition": rng.choice(dispositions), "notes": ""},
                    ),
                ]
            else:
                steps += [
                    ev.CallAbandoned(
                        **common,
                        at=start + 2 + wait,
                        key=key("ab"),
                        queue=queue,
                        position=1,
                        original_position=1,
                        hold_seconds=wait,
                    ),
                    ev.CallEnded(
                        **common,
                        at=start + 2 + wait,
                        key=key("end"),
                        cause=16,
                        outcome="abandoned",
                        hung_up_by="caller",
                    ),
                ]
            for step in steps:
                await writer.handle(step)


def ensure_prompts(menus_dir: Path) -> None:
    """Generate the IVR prompts with espeak-ng once (they are not committed)."""
    if not shutil.which("espeak-ng"):
        log.warning("espeak-ng not installed: IVR prompts are not generated")
        return
    from contact_center.ivr.cli import generate_prompts

    made = generate_prompts(menus_dir)
    if made:
        log.info("generated %d IVR prompts", made)


async def demo_numbers(settings: Settings, count: int = 40) -> list[str]:
    core = await open_core(settings, migrate=False)
    try:
        async with core.sessions() as db:
            rows = (await db.execute(select(CustomerPhone.e164).limit(count))).scalars().all()
    finally:
        await core.engine.dispose()
    return list(rows)


UNKNOWN_CALLERS = (
    ("+74957770001", "Unknown Caller"),
    ("+79161234500", "<script>alert('pop')</script>"),
    ("anonymous", ""),
    ("101", "Internal 101"),
)


async def call_mix(pbx: Any, numbers: Sequence[str], *, every: float, rng: random.Random) -> None:
    """A realistic mix of calls, forever: known customers, unknown and hostile callers, all
    from the provider into the dial plan we ship, through our IVR menus (bank, shop, the
    front desk), some who give up while they wait."""
    names = ("Ivan Petrov", "Maria Sidorova", "Olga Kuznetsova", "Pavel Orlov", "Elena Volkova")
    while True:
        if numbers and rng.random() < 0.75:
            number, name = rng.choice(numbers), rng.choice(names)
        else:
            number, name = rng.choice(UNKNOWN_CALLERS)
        route = rng.random()
        talk = rng.uniform(20, 60)
        try:
            if route < 0.3:  # the bank line; 1 then 0 = speak to an operator
                await pbx.place_call("4951110006", number, name, dtmf="10", dtmf_delay=3, talk=talk)
            elif route < 0.45:  # the shop's order line: 2 = returns
                await pbx.place_call("4951110007", number, name, dtmf="2", dtmf_delay=3, talk=talk)
            elif route < 0.9:  # the front desk: straight to support
                await pbx.place_call("4951110004", number, name, talk=talk)
            else:  # gives up after a short wait
                await pbx.place_call("4951110004", number, name, talk=rng.uniform(3, 8))
        except Exception:
            log.exception("demo: could not place a call")
        await asyncio.sleep(rng.expovariate(1 / every))


# --- the browser's hand on the simulated phone ----------------------------------------------

PBX_KEY = web.AppKey("cc_demo_pbx", object)


def demo_plugin(pbx: Any) -> Any:
    """Routes the console uses in the demo to answer / hang up the simulated phone, and
    their buttons on the console's current call (the console does not know the demo)."""
    from contact_center.i18n import lazy_gettext
    from contact_center.web.auth import Role, current_user, require_role
    from contact_center.web.console import PhoneButton, add_phone_buttons

    @require_role(Role.OPERATOR, Role.SUPERVISOR)
    async def answer(request: web.Request) -> web.Response:
        await pbx.answer(current_user(request).interface)
        return web.json_response({"ok": True})

    @require_role(Role.OPERATOR, Role.SUPERVISOR)
    async def hangup(request: web.Request) -> web.Response:
        await pbx.hangup_operator(current_user(request).interface)
        return web.json_response({"ok": True})

    class Plugin:
        @staticmethod
        def setup(app: web.Application) -> None:
            app[PBX_KEY] = pbx
            app.router.add_post("/api/demo/answer", answer, name="demo_answer")
            app.router.add_post("/api/demo/hangup", hangup, name="demo_hangup")
            add_phone_buttons(
                app,
                PhoneButton(
                    "demo-answer", lazy_gettext("Answer (simulated phone)"), "/api/demo/answer", "a"
                ),
                PhoneButton(
                    "demo-hangup",
                    lazy_gettext("Hang up (simulated phone)"),
                    "/api/demo/hangup",
                    key="h",
                ),
            )

    return Plugin


@dataclass
class DemoRun:
    """A running demo: the simulated PBX, the service, and who may sign in."""

    pbx: Any
    service: Service
    settings: Settings
    creds: dict[str, str]
    numbers: list[str]

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.web.host}:{self.service.web_port}"


@contextlib.asynccontextmanager
async def demo_running(
    base: Settings, *, robot: bool = True, time_scale: float = 1.0
) -> AsyncIterator[DemoRun]:
    """Simulator + seeded data + the whole service, as ``make demo`` runs them."""
    from contact_center.sim.agi import FastAgiStep
    from contact_center.sim.config import Operator as SimOperator
    from contact_center.sim.config import SimConfig
    from contact_center.sim.pbx import SimPbx

    agi_port = free_port()
    data_dir = Path(base.general.data_dir if base.general.data_dir != "data" else "data/demo")
    operators = [
        SimOperator("PJSIP/101", "Anna Smirnova", manual=True),
        SimOperator("PJSIP/102", "Boris Ivanov", manual=True),
    ]
    if robot:
        operators.append(SimOperator("PJSIP/103", "Robo Colleague", answer_after=4.0, talk=25.0))
    sim_config = SimConfig(
        port=0,
        dialplan="shipped",  # deploy/asterisk/extensions.conf: what a deployment runs
        operators=tuple(operators),
        spool_dir=str(data_dir / "recordings"),
        queue_log_path=str(data_dir / "asterisk" / "queue_log"),
        cdr_csv_path=str(data_dir / "asterisk" / "Master.csv"),
        agi_port=agi_port,
        time_scale=time_scale,
    )
    (data_dir / "asterisk").mkdir(parents=True, exist_ok=True)
    async with SimPbx(sim_config, agi=FastAgiStep()) as pbx:
        settings = demo_settings(base, agi_port, pbx.port)
        ensure_prompts(Path(settings.agi.menus_dir))
        creds = await seed(settings)
        service = Service(settings, "all", extra_plugins=[demo_plugin(pbx)])
        async with service:
            if robot:
                who = next(u for u in DEMO_USERS if u.login == "robot")
                await service.core.publish(  # type: ignore[union-attr]
                    OperatorCommand(
                        server=settings.general.server_id,
                        call_id="",
                        at=0.0,
                        key=make_key("demo", who.login, "available", secrets.token_hex(4)),
                        user=who.login,
                        role=who.role,
                        interface=who.interface,
                        command="available",
                    )
                )
            numbers = await demo_numbers(settings)
            yield DemoRun(pbx, service, settings, creds, numbers)


async def run_demo(base: Settings, *, every: float, seed_only: bool = False) -> None:
    if seed_only:
        settings = demo_settings(base, 0, 0)
        ensure_prompts(Path(settings.agi.menus_dir))
        await seed(settings)
        return
    async with demo_running(base) as run:
        print_banner(run.base_url, run.creds, run.pbx.port, run.settings.agi.port)
        mix = asyncio.create_task(call_mix(run.pbx, run.numbers, every=every, rng=random.Random()))
        try:
            await wait_for_signal()
        finally:
            mix.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mix


def print_banner(base_url: str, creds: dict[str, str], ami_port: int, agi_port: int) -> None:
    lines = [
        "",
        "contact_center demo is running (Ctrl-C stops it)",
        f"  operator console   {base_url}/console",
        f"  wallboard          {base_url}/wallboard",
        f"  QA recordings      {base_url}/qa/recordings",
        f"  history, exports   {base_url}/exports",
        f"  simulated Asterisk AMI 127.0.0.1:{ami_port}, FastAGI 127.0.0.1:{agi_port}",
        "  users (login / password / role):",
    ]
    roles = {u.login: u.role for u in DEMO_USERS}
    for login, password in creds.items():
        lines.append(f"    {login:<8} {password:<14} {roles.get(login, '')}")
    lines.append("  Operators anna and boris answer from the console; 'robot' answers by itself.")
    print("\n".join(lines), flush=True)


def add_arguments_cmd_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="web port (default 8080)")
    parser.add_argument("--every", type=float, default=12.0, help="mean seconds between calls")
    parser.add_argument("--seed-only", action="store_true", help="create the demo data and exit")


def cmd_demo(args: argparse.Namespace) -> int:
    from contact_center.service import configure_logging

    base = load_settings(args.config, overrides={"web": {"port": args.port}})
    configure_logging(base)
    asyncio.run(run_demo(base, every=args.every, seed_only=args.seed_only))
    return 0


__all__ = ["DemoRun", "cmd_demo", "demo_running", "run_demo", "seed"]
