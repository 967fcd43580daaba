"""What the IVR does at a queue node when routing says nobody can take the call now: a callback
request (stored, announced, hung up) or the queue's voicemail — over real FastAGI TCP sessions
with the sim/agi.py client as Asterisk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls.events import CallbackRequested, DomainEvent, IvrStep
from contact_center.ivr import runner as runner_module
from contact_center.ivr.agi import FastAgiServer
from contact_center.ivr.data import SqlIvrData
from contact_center.ivr.menus import MenuLibrary
from contact_center.ivr.runner import CallOutcome, HandOff, IvrRunner
from contact_center.ivr.session import AgiSession
from contact_center.sim.agi import AgiCallResult, AgiEnvironment, Press, ScriptedCaller, run_fastagi
from contact_center.store.db import create_engine, session_factory
from contact_center.store.models import Base, Callback
from tests.integration.test_ivr_runner import OPEN, menus_dir

__all__ = ["menus_dir"]  # the shipped menus with stand-in prompts (a fixture)

LINKEDID = "1795344700.120"
TO_SUPPORT = [Press("2"), Press("0")]  # bank: language, then "operator"


class Rig:
    def __init__(self, port: int, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.port = port
        self.sessions = sessions
        self.events: list[DomainEvent] = []
        self.outcomes: list[CallOutcome] = []
        self.handoffs: list[HandOff] = []

    async def call(self, callerid: str = "+74951234567") -> AgiCallResult:
        return await run_fastagi(
            f"agi://127.0.0.1:{self.port}/ivr",
            ["bank"],
            caller=ScriptedCaller(TO_SUPPORT),
            env=AgiEnvironment(callerid=callerid),
            linkedid=LINKEDID,
            timeout=10,
        )

    def results(self, node: str) -> list[str]:
        return [e.result for e in self.events if isinstance(e, IvrStep) and e.node == node]


MakeRig = Callable[[str], Awaitable[Rig]]


@pytest.fixture
async def make_rig(menus_dir: Path, sqlite_url: str) -> AsyncIterator[MakeRig]:
    engine = create_engine(sqlite_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(engine)
    servers: list[FastAgiServer] = []

    async def make(action: str) -> Rig:
        library = MenuLibrary(menus_dir)
        assert [] == library.reload()
        rig = Rig(0, sessions)

        async def sink(event: DomainEvent) -> None:
            rig.events.append(event)

        async def router(hand: HandOff) -> HandOff:
            rig.handoffs.append(hand)
            if action == "no answer":  # its Redis or database stopped answering
                await asyncio.Event().wait()
            return replace(hand, action=action)

        runner = IvrRunner(
            library,
            sink,
            data=SqlIvrData(sessions),
            now=lambda: OPEN,
            estimate=lambda queue: (1, 60.0),
            router=router,
        )

        async def handler(session: AgiSession) -> None:
            rig.outcomes.append(await runner.handle(session))

        server = FastAgiServer(handler, port=0)
        await server.start()
        servers.append(server)
        rig.port = server.port
        return rig

    yield make
    for server in servers:
        await server.close()
    await engine.dispose()


async def test_routing_says_callback_the_request_is_stored_and_the_caller_told(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig("callback")
    result = await rig.call()

    assert ["queue"] == [h.action for h in rig.handoffs]  # the menu's default
    assert ["callback:support"] == rig.results("support_queue")
    commands = result.commands()
    assert 'STREAM FILE cc/common/callback-done ""' in commands
    assert "HANGUP" == commands[-1]
    assert "CC_QUEUE" not in result.variables
    async with rig.sessions() as db:
        rows = (await db.execute(select(Callback))).scalars().all()
    assert [("+74951234567", "support", "pending", LINKEDID)] == [
        (r.number, r.queue, r.status, r.call_linkedid) for r in rows
    ]
    requested = [e for e in rig.events if isinstance(e, CallbackRequested)]
    assert [("+74951234567", "support")] == [(e.number, e.queue) for e in requested]
    assert "callback" == rig.outcomes[0].end


async def test_routing_says_voicemail_the_call_goes_to_the_queues_mailbox(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig("voicemail")
    result = await rig.call()

    assert ("voicemail", "support", "1") == (result.context, result.extension, result.priority)
    assert "support@voicemail" == result.variables["CC_TRANSFER"]
    assert "CC_QUEUE" not in result.variables
    assert ["voicemail:support"] == rig.results("support_queue")
    assert ("voicemail", "support") == (rig.outcomes[0].end, rig.outcomes[0].queue)


async def test_a_callback_without_a_number_to_call_goes_to_voicemail(make_rig: MakeRig) -> None:
    rig = await make_rig("callback")
    result = await rig.call(callerid="")

    assert ("voicemail", "support") == (result.context, result.extension)
    async with rig.sessions() as db:
        assert [] == (await db.execute(select(Callback))).scalars().all()


async def test_routing_says_queue_the_call_is_queued(make_rig: MakeRig) -> None:
    rig = await make_rig("queue")
    result = await rig.call()

    assert "support" == result.variables["CC_QUEUE"]
    assert "" == result.context
    assert ["queue:support"] == rig.results("support_queue")


async def test_routing_that_does_not_answer_leaves_the_call_in_the_menu_s_queue(
    make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "DEPENDENCY_WAIT_SECONDS", 0.2)
    rig = await make_rig("no answer")
    result = await rig.call()

    assert ["queue"] == [h.action for h in rig.handoffs]  # asked, never answered
    assert "support" == result.variables["CC_QUEUE"]
    assert ["queue:support"] == rig.results("support_queue")
    assert "queue" == rig.outcomes[0].end


def test_the_dialplan_has_the_voicemail_context_the_ivr_jumps_to() -> None:
    from contact_center.ivr.runner import VOICEMAIL_CONTEXT
    from tests.unit.test_deploy_config import ASTERISK, parse_asterisk_conf

    ext = parse_asterisk_conf(ASTERISK / "extensions.conf")
    lines = [v for _k, v in ext[VOICEMAIL_CONTEXT]]
    assert lines[0].startswith("_[a-z].,1,")  # queue names, like [to-queue]
    assert any("VoiceMail(${EXTEN}@contact-center,u)" in v for v in lines)
