"""Skills reach Asterisk: a queue that needs a skill gets each operator's penalty from their
level (experts ring first), the penalties change in Asterisk when the levels change, and the
next caller goes to the new expert — the whole service beside the simulator, real TCP AMI."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from contact_center.routing.rules import RulesFile
from contact_center.sim.config import Operator
from contact_center.store.models import User
from tests.conftest import wait_for
from tests.e2e.service_support import Rig, running_service

ANNA, BORIS = "Local/101@agents", "Local/102@agents"
RULES = """\
default_queue: support
queues:
  support: {skills: [billing]}
  sales: {}
rules: []
"""


async def set_skills(rig: Rig, login: str, skills: dict[str, int]) -> None:
    core = rig.service.core
    assert core is not None
    async with core.sessions.begin() as db:
        await db.execute(update(User).where(User.login == login).values(skills=skills))


def penalties(rig: Rig) -> dict[tuple[str, str], int]:
    return {
        (m.queue, m.interface): m.penalty
        for q in rig.pbx.queues.queues.values()
        for m in q.members.values()
    }


async def answered_by(rig: Rig, told: list[object]) -> str:
    seen = len([e for e in told if getattr(e, "name", "") == "AgentConnect"])
    call = await rig.pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
    await wait_for(
        lambda: len([e for e in told if getattr(e, "name", "") == "AgentConnect"]) > seen, 10
    )
    connect = [e for e in told if getattr(e, "name", "") == "AgentConnect"][-1]
    await rig.pbx.hangup(call.phone)
    await wait_for(lambda: call.channel not in rig.pbx.channels, 10)
    return str(connect.get("Interface"))  # type: ignore[attr-defined]


async def test_skill_levels_set_penalties_and_the_expert_answers(
    tmp_path: Path, sqlite_url: str
) -> None:
    operators = (
        Operator(ANNA, "Anna", answer_after=0.3),
        Operator(BORIS, "Boris", answer_after=0.3),
    )
    async with running_service(tmp_path, sqlite_url, operators=operators) as rig:
        rules = tmp_path / "routing.yaml"
        rules.write_text(RULES, encoding="utf-8")
        rig.service.components["routing_rules"] = RulesFile(rules)
        told: list[object] = []
        unsubscribe = rig.pbx.subscribe(told.append)
        try:
            await set_skills(rig, "anna", {"billing": 5})
            await set_skills(rig, "boris", {"billing": 2})
            for login, iface in (("anna", ANNA), ("boris", BORIS)):
                await rig.command(login, "operator", iface, "available")
            want = {
                ("support", ANNA): 0,
                ("sales", ANNA): 0,
                ("support", BORIS): 3,
                ("sales", BORIS): 0,
            }
            await wait_for(lambda: want == penalties(rig), 10)
            added = {
                (e.get("Queue"), e.get("Interface"), e.get("Penalty"))  # type: ignore[attr-defined]
                for e in told
                if getattr(e, "name", "") == "QueueMemberAdded"
            }
            assert ("support", BORIS, "3") in added  # QueueAdd carried the penalty
            assert ANNA == await answered_by(rig, told)

            rig.service.components["operator_states"].start(0.2)
            await set_skills(rig, "anna", {"billing": 1})
            await set_skills(rig, "boris", {"billing": 5})
            want = {
                ("support", ANNA): 4,
                ("sales", ANNA): 0,
                ("support", BORIS): 0,
                ("sales", BORIS): 0,
            }
            await wait_for(lambda: want == penalties(rig), 10)
            changed = {
                (e.get("Queue"), e.get("Interface"), e.get("Penalty"))  # type: ignore[attr-defined]
                for e in told
                if getattr(e, "name", "") == "QueueMemberPenalty"
            }
            assert {("support", ANNA, "4"), ("support", BORIS, "0")} == changed
            assert BORIS == await answered_by(rig, told)
        finally:
            unsubscribe()
