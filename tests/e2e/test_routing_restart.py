"""Operator states survive a restart of the service: Asterisk (the simulator) keeps its queue
members, the new process reads them back from QueueStatus and carries on from there."""

from __future__ import annotations

from pathlib import Path

from contact_center.routing.operators import OperatorStates
from contact_center.service import Service
from contact_center.sim.config import Operator
from tests.conftest import wait_for
from tests.e2e.service_support import Rig, running_service

ANNA = "PJSIP/101"
OPERATORS = (Operator(ANNA, "Anna", manual=True),)


def queue_log(rig: Rig, event: str) -> list[str]:
    """Lines of Asterisk's queue_log with ``event`` (ADDMEMBER, PAUSE, UNPAUSE…)."""
    path = Path(rig.pbx.config.queue_log_path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [line for line in lines if line.split("|")[4:5] == [event]]


def paused_in(rig: Rig) -> dict[str, bool]:
    queues = rig.pbx.queues.queues
    return {name: q.members[ANNA].paused for name, q in queues.items() if ANNA in q.members}


async def test_a_paused_operator_is_still_paused_after_a_restart_and_can_resume(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_service(
        tmp_path, sqlite_url, operators=OPERATORS, dialplan="shipped"
    ) as rig:
        await rig.command("anna", "operator", ANNA, "available")
        await rig.command("anna", "operator", ANNA, "pause", reason="lunch")
        await wait_for(lambda: {"support": True, "sales": True} == paused_in(rig), timeout=10)
        assert 2 == len(queue_log(rig, "ADDMEMBER"))
        await rig.service.stop()

        async with Service(rig.settings, "all") as again:
            await again.components["connector"].wait_connected()
            states: OperatorStates = again.components["operator_states"]
            await wait_for(lambda: "paused" == states.status("anna").state, timeout=10)
            assert ("paused", "lunch") == (
                states.status("anna").state,
                states.status("anna").reason,
            )

            await Rig(rig.pbx, again, rig.settings).command("anna", "operator", ANNA, "available")
            await wait_for(lambda: "available" == states.status("anna").state, timeout=10)
            await wait_for(lambda: {"support": False, "sales": False} == paused_in(rig), timeout=10)
            assert 2 == len(queue_log(rig, "UNPAUSE"))
            assert 2 == len(queue_log(rig, "ADDMEMBER"))  # resumed, not signed in again
