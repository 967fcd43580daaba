"""The FastAGI scripts the shipped dialplan calls, over real TCP against our IVR service.

Every ``AGI(${CC_AGI}/NAME,…)`` in deploy/asterisk/extensions.conf is run the way Asterisk runs
it (the simulator's FastAGI client, with the dialplan's own arguments) and must reach a handler
of its own — before issue 17, ``callback-offer`` fell through to the bank menu. Then the
callback offer itself, and a missing prompt that must not end the call.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls.events import CallbackRequested, DomainEvent, IvrStep
from contact_center.config import AgiSettings
from contact_center.ivr.agi import AgiHangup, FastAgiServer
from contact_center.ivr.cli import declared_prompts
from contact_center.ivr.runner import CALLBACK_OFFER_SCRIPT, TRUNK_SCRIPT
from contact_center.ivr.service import IvrService
from contact_center.ivr.session import AgiSession
from contact_center.sim.agi import AgiEnvironment, Press, ScriptedCaller, Silence, run_fastagi
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Base, Callback
from tests.unit import asterisk_conf

ROOT = Path(__file__).resolve().parents[2]
DIALPLAN = ROOT / "deploy" / "asterisk" / "extensions.conf"
AGI_CALL = re.compile(r"\$\{CC_AGI\}/(?P<script>[\w-]+)(?:,(?P<args>.*))?")
# What ${EXTEN} is when each context runs its AGI: a DID from the trunk, a queue name.
EXTEN_IN = {"from-trunk": "4951110003", "to-queue": "support"}


def dialplan_agi_calls() -> list[tuple[str, str, list[str]]]:
    """(context, script, arguments) of every AGI() in the shipped dialplan."""
    calls = []
    for step in asterisk_conf.dialplan(DIALPLAN):
        if step.app != "AGI":
            continue
        m = AGI_CALL.fullmatch(step.args)
        assert m, f"{step.file}:{step.line}: AGI not through ${{CC_AGI}}: {step.args}"
        args = [a.replace("${EXTEN}", EXTEN_IN[step.context]) for a in (m["args"] or "").split(",")]
        calls.append((step.context, m["script"], args))
    return calls


def write_silence(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 80)


@dataclass
class Rig:
    ivr: IvrService
    sessions: async_sessionmaker[AsyncSession]
    events: list[DomainEvent]

    def url(self, script: str) -> str:
        return f"agi://127.0.0.1:{self.ivr.port}/{script}"

    def steps(self) -> list[IvrStep]:
        return [e for e in self.events if isinstance(e, IvrStep)]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    menus = tmp_path / "ivr_menus"
    menus.mkdir()
    for path in (ROOT / "ivr_menus").glob("*.yaml"):
        shutil.copy(path, menus / path.name)
    for lang, name in declared_prompts(menus):
        write_silence(menus / "prompts" / lang / f"{name}.wav")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(engine)
    events: list[DomainEvent] = []

    async def sink(event: DomainEvent) -> None:
        events.append(event)

    # The service as the compose file runs it: default settings but the port and menus.
    ivr = IvrService(AgiSettings(port=0, menus_dir=str(menus)), sink=sink, sessions=sessions)
    await ivr.start()
    try:
        yield Rig(ivr, sessions, events)
    finally:
        await ivr.close()
        await engine.dispose()


def test_the_shipped_dialplan_calls_the_scripts_we_serve() -> None:
    calls = dialplan_agi_calls()
    scripts = {script for _context, script, _args in calls}
    assert {TRUNK_SCRIPT, CALLBACK_OFFER_SCRIPT} == scripts


@pytest.mark.parametrize(("context", "script", "args"), dialplan_agi_calls())
async def test_every_agi_of_the_shipped_dialplan_reaches_its_own_handler(
    rig: Rig, context: str, script: str, args: list[str]
) -> None:
    result = await run_fastagi(
        rig.url(script), args, caller=ScriptedCaller([Silence()] * 6), timeout=20
    )

    menus = {step.menu for step in rig.steps()}
    if script == TRUNK_SCRIPT:
        # the DID picks the menu; no mapping configured: the default menu, as shipped
        assert {AgiSettings().default_menu} <= menus
    else:
        assert {script} == menus
        assert "SUCCESS" == result.status  # back to the dialplan, which hangs up


async def test_callback_offer_accepted_is_stored_and_announced_like_the_menu_node(
    rig: Rig,
) -> None:
    result = await run_fastagi(
        rig.url(CALLBACK_OFFER_SCRIPT),
        ["support"],
        caller=ScriptedCaller([Press("1")]),
        env=AgiEnvironment(callerid="+74951234567"),
        linkedid="1796588628.42",
        timeout=10,
    )

    assert [
        "GET VARIABLE CHANNEL(linkedid)",
        "GET DATA cc/common/callback-offer 5000 1",
        'STREAM FILE cc/common/callback-done ""',
        "SET VARIABLE CC_IVR_DONE 1",  # the offer ran to its end: the dial plan hangs up
    ] == result.commands()
    async with rig.sessions() as db:
        rows = (await db.execute(select(Callback))).scalars().all()
    assert [("+74951234567", "support", "pending", "1796588628.42")] == [
        (r.number, r.queue, r.status, r.call_linkedid) for r in rows
    ]
    announced = [e for e in rig.events if isinstance(e, CallbackRequested)]
    assert [("+74951234567", "support", "1796588628.42")] == [
        (e.number, e.queue, e.call_id) for e in announced
    ]
    assert [("callback-offer", "callback_offer", "callback:support", "1")] == [
        (s.menu, s.node, s.result, s.digits) for s in rig.steps()
    ]


async def test_callback_offer_declined_or_unanswered_stores_nothing(rig: Rig) -> None:
    result = await run_fastagi(
        rig.url(CALLBACK_OFFER_SCRIPT),
        ["support"],
        caller=ScriptedCaller([Silence(), Silence()]),
        env=AgiEnvironment(callerid="+74951234567"),
        timeout=10,
    )

    assert 2 == result.commands().count("GET DATA cc/common/callback-offer 5000 1")
    assert ['STREAM FILE cc/common/goodbye ""', "SET VARIABLE CC_IVR_DONE 1"] == (
        result.commands()[-2:]
    )
    async with rig.sessions() as db:
        assert [] == (await db.execute(select(Callback))).scalars().all()
    assert ["declined"] == [s.result for s in rig.steps()]


# --- a missing prompt is not a hang-up --------------------------------------------------------

ENV = (
    "agi_network: yes\nagi_network_script: ivr\nagi_request: agi://127.0.0.1/ivr\n"
    "agi_channel: PJSIP/trunk-00000001\nagi_uniqueid: 1796588628.7\nagi_language: en\n\n"
)


async def asterisk_side(port: int, replies: dict[str, str]) -> list[str]:
    """Play Asterisk's side of a FastAGI session: answer each command from ``replies``
    (the bytes res_agi.c writes; capture 08 for the hang-up), record what was asked."""
    asked: list[str] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV.encode())
    while line := await reader.readline():
        command = line.decode().rstrip("\n")
        asked.append(command)
        writer.write(replies[command].encode())
        await writer.drain()
    writer.close()
    return asked


@pytest.mark.parametrize(
    ("channel_status", "outcome"),
    [
        ("200 result=6\n", "digits 4"),  # the channel is up: only the prompt file is missing
        # capture 08 agi-2: after the hang-up Asterisk writes HANGUP before the next reply
        ("HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n", "hangup"),
    ],
)
async def test_get_data_of_a_missing_prompt_is_told_apart_from_a_hang_up(
    channel_status: str, outcome: str
) -> None:
    seen: list[str] = []

    async def handler(session: AgiSession) -> None:
        try:
            got = await session.get_data("cc/bank/welcome", 5000, 1)
            seen.append(f"digits {got.digits}")
        except AgiHangup:
            seen.append("hangup")

    server = FastAgiServer(handler, host="127.0.0.1", port=0)
    await server.start()
    try:
        # res_agi.c handle_getdata: "200 result=-1" when ast_app_getdata_full fails, which
        # it does at once when ast_streamfile cannot open the prompt (main/app.c).
        asked = await asterisk_side(
            server.port,
            {
                "GET DATA cc/bank/welcome 5000 1": "200 result=-1\n",
                "CHANNEL STATUS": channel_status,
                'GET DATA "" 5000 1': "200 result=4\n",
            },
        )
    finally:
        await server.close()

    assert [outcome] == seen
    expected = ["GET DATA cc/bank/welcome 5000 1", "CHANNEL STATUS"]
    if outcome != "hangup":
        expected.append('GET DATA "" 5000 1')
    assert expected == asked
