"""Callers already waiting move when they wait longer than routing.yaml allows: the whole
service beside the simulator over real TCP AMI. Nobody serves support; a caller waits there
past the overflow limit, is moved into sales and answered there; the figures count a move
out of support, not an abandon, and the call's history says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from contact_center.routing.rules import RulesFile
from contact_center.sim.config import Operator
from contact_center.store.models import InteractionEvent, User
from tests.conftest import wait_for
from tests.e2e.service_support import running_service

ANNA = "Local/101@agents"
RULES = """\
default_queue: support
queues:
  support: {overflow: {after_seconds: 2, to: sales}}
  sales: {}
rules: []
"""


async def test_a_caller_waiting_too_long_moves_to_the_overflow_queue(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_service(
        tmp_path, sqlite_url, operators=(Operator(ANNA, "Anna", answer_after=0.3),)
    ) as rig:
        rules = tmp_path / "routing.yaml"
        rules.write_text(RULES, encoding="utf-8")
        rig.service.components["routing_rules"] = RulesFile(rules)
        core = rig.service.core
        assert core is not None
        async with core.sessions.begin() as db:
            await db.execute(update(User).where(User.login == "anna").values(queues={"sales": 0}))
        told: list[Any] = []
        unsubscribe = rig.pbx.subscribe(told.append)
        try:
            await rig.command("anna", "operator", ANNA, "available")
            await wait_for(lambda: ["sales"] == [m.queue for m in rig.pbx.members(ANNA)], 10)

            call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")

            def connected() -> list[Any]:
                return [e for e in told if e.name == "AgentConnect"]

            await wait_for(lambda: bool(connected()), 15)
            joins = [
                (e.get("Queue"), e.get("Linkedid")) for e in told if e.name == "QueueCallerJoin"
            ]
            assert [("support", call.linkedid), ("sales", call.linkedid)] == joins
            assert ("sales", ANNA) == (connected()[0].get("Queue"), connected()[0].get("Interface"))
            redirects = [e for e in told if e.name == "QueueCallerAbandon"]
            assert ["support"] == [e.get("Queue") for e in redirects]  # what Asterisk says

            stats = rig.service.components["stats"]

            def figures() -> tuple[int, int, int, int]:
                snap = stats.snapshot()
                support, sales = snap.queues["support"], snap.queues["sales"]
                return support.abandoned, support.left, sales.offered, sales.answered

            await wait_for(lambda: (0, 1, 1, 1) == figures(), 10)
            await rig.pbx.hangup(call.phone)

            async def why() -> list[str]:
                async with core.sessions() as db:
                    rows = await db.execute(
                        select(InteractionEvent.summary).where(
                            InteractionEvent.call_linkedid == call.linkedid,
                            InteractionEvent.kind == "call.routing_decided",
                        )
                    )
                    return [str(s) for s in rows.scalars()]

            await wait_for(lambda: why(), 10)
            assert any("overflow support -> sales" in s for s in await why()), await why()
        finally:
            unsubscribe()
