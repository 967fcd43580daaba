"""No sequence of clicks strands an operator: random sequences of console actions, supervisor
force pauses and Asterisk-side events, against the whole service beside the simulator over
real TCP AMI and real HTTP. After every step the service's state, Asterisk's members and what
the console, the API and the wallboard's figures show all converge on what the step means.

Two Asterisk behaviours the simulator does not have are played from here, on its queue engine,
with the events real Asterisk sends (capture 22, and what a restart does):

* autopause after a ring-no-answer (``autopause=yes``): the member that rang unanswered gets
  ``QueueMemberPause Paused: 1 PausedReason: Auto-Pause`` in the queue that rang it;
* an Asterisk restart that loses the dynamic members: the AMI connection drops, the members
  are gone without any ``QueueMemberRemoved``, and AMI comes back on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from contact_center.routing.operators import AUTOPAUSE_REASON, WRAPUP_REASON, OperatorStates
from contact_center.sim.config import Operator
from contact_center.store.models import Queue
from tests.conftest import wait_for
from tests.e2e.service_support import Operator_, Rig, running_service, sign_in

ANNA = "Local/101@agents"
QUEUES = {"support": 0, "sales": 0}  # as service_support seeds anna
WRAPUP_SECONDS = 60  # longer than an example: a wrap-up ends by "end wrap-up" or a click
REASONS = ("lunch", "meeting", "break")
SETTLE = 8.0  # seconds to converge after a step


@dataclass(frozen=True)
class Expected:
    """What the step sequence means for anna (the test's own model)."""

    state: str = "offline"  # offline | available | paused | wrapup
    reason: str = ""

    def after(self, step: tuple[str, str]) -> Expected:
        action, reason = step
        if action == "available":
            return Expected("available")
        if action == "pause":
            return Expected("paused", reason)
        if action == "offline":
            return Expected("offline")
        if action == "force_pause":
            return self if self.state == "offline" else Expected("paused", reason)
        if action == "end_wrapup":
            return Expected("available") if self.state == "wrapup" else self
        if action == "autopause":
            return Expected("paused", AUTOPAUSE_REASON) if self.state == "available" else self
        if action == "call":
            return Expected("wrapup") if self.state == "available" else self
        return self  # "restart": Asterisk forgets, the intent stands

    def members(self) -> dict[str, tuple[int, bool, str]]:
        """anna's memberships in Asterisk: queue -> (penalty, paused, reason)."""
        if self.state == "offline":
            return {}
        paused = self.state in ("paused", "wrapup")
        reason = self.reason if self.state == "paused" else WRAPUP_REASON if paused else ""
        return {q: (p, paused, reason) for q, p in QUEUES.items()}


STEPS = st.one_of(
    st.tuples(
        st.sampled_from(["available", "offline", "end_wrapup", "restart", "call"]), st.just("")
    ),
    st.tuples(st.just("autopause"), st.just("")),
    st.tuples(st.sampled_from(["pause", "force_pause"]), st.sampled_from(REASONS)),
)


@dataclass
class Desk:
    rig: Rig
    anna: Operator_
    sue: Operator_
    told: list[Any] = field(default_factory=list)  # every event the simulator emitted

    def seen(self, name: str) -> int:
        return sum(1 for e in self.told if e.name == name)

    def live(self) -> set[str]:
        return {name for name, ch in self.rig.pbx.channels.items() if not ch.dead}

    @property
    def states(self) -> OperatorStates:
        states: OperatorStates = self.rig.service.components["operator_states"]
        return states

    def asterisk(self) -> dict[str, tuple[int, bool, str]]:
        return {m.queue: (m.penalty, m.paused, m.paused_reason) for m in self.rig.pbx.members(ANNA)}

    async def console_state(self) -> tuple[str, str]:
        async with self.anna.http.get(self.rig.base + "/api/operator/state") as resp:
            assert 200 == resp.status, await resp.text()
            body = await resp.json()
        return body["state"], body["reason"]

    async def wallboard_state(self) -> tuple[str, str]:
        async with self.sue.http.get(self.rig.base + "/api/stats/live") as resp:
            if resp.status == 503:
                return "offline", ""  # nothing published yet
            body = await resp.json()
        op = body["operators"].get(ANNA)
        return (op["state"], op["reason"]) if op else ("offline", "")

    async def agrees_with(self, want: Expected) -> bool:
        service = self.states.status("anna")
        return (
            want.members() == self.asterisk()
            and (want.state, want.reason) == (service.state, service.reason)
            and (want.state, want.reason) == await self.console_state()
            and (want.state, want.reason) == await self.wallboard_state()
        )

    async def do(self, step: tuple[str, str], now: Expected) -> None:
        action, reason = step
        if action in ("available", "pause", "offline"):
            state = {"available": "available", "pause": "paused", "offline": "offline"}[action]
            data = {"state": state, **({"reason": reason} if reason else {})}
            await self._ok(await self.anna.post("/api/operator/state", data))
        elif action == "end_wrapup":
            # signed out, there is no wrap-up to end: the console says so, nothing changes
            want = "failed" if now.state == "offline" else "done"
            await self._ok(await self.anna.post("/api/operator/wrapup/end", {}), want)
        elif action == "force_pause":
            data = {"action": "pause", "interface": ANNA, "reason": reason}
            resp = await self.sue.post("/wallboard/action", data)
            # the wallboard refuses to pause someone who is in none of sue's queues (offline)
            assert resp.status == (403 if now.state == "offline" else 200), await resp.text()
        elif action == "autopause":
            if now.state == "available":
                await self._ring_no_answer()
        elif action == "call":
            await self._call(answered=now.state == "available")
        elif action == "restart":
            await self._asterisk_restart()

    async def _ok(self, resp: aiohttp.ClientResponse, want: str = "done") -> None:
        assert 200 == resp.status, await resp.text()
        sent = await resp.json()
        # the page polls the result: the connector carried the command out, nothing failed
        for _ in range(100):
            async with self.anna.http.get(self.rig.base + sent["result_url"]) as poll:
                result = await poll.json()
            if result["status"] != "pending":
                break
            await asyncio.sleep(0.05)
        assert want == result["status"], result

    async def _call(self, *, answered: bool) -> None:
        pbx = self.rig.pbx
        pbx.operators[ANNA] = Operator(ANNA, "Anna", answer_after=0.5)
        seen = self.seen("AgentConnect")
        call = await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
        if answered:
            await wait_for(lambda: self.seen("AgentConnect") > seen, 5)
        await pbx.hangup(call.phone)
        await wait_for(lambda: call.channel not in self.live(), 5)

    async def _ring_no_answer(self) -> None:
        pbx = self.rig.pbx
        pbx.operators[ANNA] = Operator(ANNA, "Anna", answer_after=None)
        seen = self.seen("AgentRingNoAnswer")
        call = await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
        await wait_for(lambda: self.seen("AgentRingNoAnswer") > seen, 5)
        await pbx.hangup(call.phone)
        await wait_for(lambda: call.channel not in self.live(), 5)

    async def _asterisk_restart(self) -> None:
        pbx = self.rig.pbx
        server = pbx._server
        connector = self.rig.service.components["connector"]
        await server.stop()
        await wait_for(lambda: not connector.connected, 5)
        for q in pbx.queues.queues.values():
            q.members.pop(ANNA, None)  # dynamic members do not survive; no event says so
        await server.start(pbx.config.host, pbx.port)
        # while Asterisk restarts a click fails ("not connected") and changes nothing; the
        # operator clicks again once it is back
        await wait_for(lambda: connector.connected, 5)


def autopause_after_ring_no_answer(rig: Rig) -> None:
    """The rig's queues as with queues.conf ``autopause = yes`` (the simulator's app_queue
    then pauses the member that rang unanswered, reason Auto-Pause, in the queue that rang
    it)."""
    for q in rig.pbx.queues.queues.values():
        q.config = replace(q.config, autopause="yes")


@contextlib.asynccontextmanager
async def desk(tmp: Path) -> AsyncIterator[Desk]:
    url = f"sqlite+aiosqlite:///{tmp / 'cc.sqlite3'}"
    async with running_service(
        tmp, url, operators=(Operator(ANNA, "Anna", answer_after=0.5),), time_scale=0.1
    ) as rig:
        told: list[Any] = []
        unsubscribe = rig.pbx.subscribe(told.append)
        autopause_after_ring_no_answer(rig)
        core = rig.service.core
        assert core is not None
        async with core.sessions.begin() as db:
            await db.execute(update(Queue).values(wrapup_seconds=WRAPUP_SECONDS))
        rig.service.components["operator_states"].start(0.2)
        anna, sue = await sign_in(rig.base, "anna"), await sign_in(rig.base, "sue")
        try:
            yield Desk(rig, anna, sue, told)
        finally:
            await anna.http.close()
            await sue.http.close()
            unsubscribe()


async def run_steps(steps: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with desk(Path(tmp)) as d:
            want = Expected()
            await wait_for(lambda: d.agrees_with(want), SETTLE, interval=0.1)
            for i, step in enumerate(steps):
                await d.do(step, want)
                want = want.after(step)
                try:
                    await wait_for(lambda want=want: d.agrees_with(want), SETTLE, interval=0.1)
                except AssertionError:
                    raise AssertionError(
                        f"after {steps[: i + 1]}: want {want}, Asterisk {d.asterisk()}, "
                        f"service {d.states.status('anna')}, console {await d.console_state()}, "
                        f"wallboard {await d.wallboard_state()}"
                    ) from None
            # and it stays so: two more sweeps change nothing
            sweeps = d.states.sweeps
            await wait_for(lambda: d.states.sweeps >= sweeps + 2, SETTLE)
            assert await d.agrees_with(want), f"after {steps}: {d.asterisk()} drifted from {want}"


@pytest.mark.timeout(180)
@settings(
    max_examples=4,
    deadline=None,
    database=None,
    # each example runs the whole service: no shrinking (the failure message names the
    # steps), so a failure is reported within the test's time
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(STEPS, min_size=3, max_size=6))
def test_no_sequence_strands_an_operator(steps: list[tuple[str, str]]) -> None:
    asyncio.run(run_steps(steps))


def test_the_reported_dead_end_now_recovers() -> None:
    """Issue 18: boris, after a wrap-up, then Offline, then Available/Offline again; a
    supervisor's force pause; everything after an Asterisk restart."""
    asyncio.run(
        run_steps(
            [
                ("available", ""),
                ("call", ""),
                ("offline", ""),
                ("available", ""),
                ("offline", ""),
                ("available", ""),
                ("force_pause", "meeting"),
                ("restart", ""),
                ("available", ""),
                ("autopause", ""),
                ("restart", ""),
                ("available", ""),
            ]
        )
    )
