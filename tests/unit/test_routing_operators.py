"""Operator states against a recording PBX port (the Asterisk edge); the simulator-backed
integration test checks the same flows over real AMI."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contact_center.calls.events import (
    AgentCompleted,
    DomainEvent,
    OperatorAction,
    OperatorCommand,
    OperatorState,
)
from contact_center.routing.control import (
    Actor,
    CallControl,
    ControlError,
    LiveCall,
)
from contact_center.routing.operators import (
    Intent,
    Operator,
    OperatorError,
    OperatorStates,
    Wanted,
    penalty_for,
    plan,
)
from contact_center.routing.ports import Member, MemberStateDiffers
from contact_center.routing.targets import InvalidTarget
from tests.conftest import wait_for


class RecordingPbx:
    """Records the actions and keeps queue members with Asterisk's refusals (capture 22)."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, tuple[object, ...]]] = []
        self.members: dict[tuple[str, str], Member] = {}

    async def queue_add(self, queue, interface, member_name, penalty, paused, reason="") -> None:
        self.actions.append(("QueueAdd", (queue, interface, member_name, penalty, paused)))
        if (queue, interface) in self.members:
            raise MemberStateDiffers("Unable to add interface: Already there")
        self.members[(queue, interface)] = Member(
            queue, interface, member_name, penalty, paused, reason if paused else ""
        )

    async def queue_remove(self, queue, interface) -> None:
        self.actions.append(("QueueRemove", (queue, interface)))
        if self.members.pop((queue, interface), None) is None:
            raise MemberStateDiffers("Unable to remove interface: Not there")

    async def queue_pause(self, interface, paused, reason="", queue="") -> None:
        self.actions.append(("QueuePause", (interface, paused, reason)))
        keys = [k for k in self.members if k[1] == interface and (not queue or k[0] == queue)]
        if not keys:
            raise MemberStateDiffers("Interface not found")
        for key in keys:
            self.members[key] = replace(
                self.members[key], paused=paused, reason=reason if paused else ""
            )

    async def queue_penalty(self, queue, interface, penalty) -> None:
        self.actions.append(("QueuePenalty", (queue, interface, penalty)))
        key = (queue, interface)
        self.members[key] = replace(self.members[key], penalty=penalty)

    async def queue_members(self, interface="") -> list[Member]:
        return [m for (q, i), m in self.members.items() if not interface or i == interface]

    async def originate(
        self,
        channel,
        context,
        exten,
        *,
        priority=1,
        caller_id="",
        variables: Mapping[str, str] | None = None,
        timeout_ms=30000,
    ) -> str:
        self.actions.append(("Originate", (channel, context, exten, dict(variables or {}))))
        return "a1"

    async def redirect(
        self,
        channel,
        context,
        exten,
        *,
        priority=1,
        extra_channel="",
        extra_context="",
        extra_exten="",
    ) -> None:
        self.actions.append(("Redirect", (channel, context, exten, extra_channel, extra_exten)))

    async def blind_transfer(self, channel, context, exten) -> None:
        self.actions.append(("BlindTransfer", (channel, context, exten)))

    async def attended_transfer(self, channel, context, exten) -> None:
        self.actions.append(("Atxfer", (channel, context, exten)))

    async def feature_code(self, channel, code) -> None:
        self.actions.append(("PlayDTMF", (channel, code)))

    async def hangup(self, channel) -> None:
        self.actions.append(("Hangup", (channel,)))


@pytest.fixture
def logged() -> list[DomainEvent]:
    return []


OP = Operator("anna", "PJSIP/101", "Anna", {"support": 0, "sales": 2}, wrapup_seconds=1)


async def test_sign_in_pause_resume_sign_out_send_the_queue_actions(logged) -> None:
    pbx = RecordingPbx()

    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    states = OperatorStates(pbx, sink)
    assert "available" == (await states.sign_in(OP)).state
    assert "paused" == (await states.pause("anna", "lunch")).state
    assert "lunch" == states.status("anna").reason
    await states.resume("anna")
    await states.sign_out("anna")
    assert [
        ("QueueAdd", ("sales", "PJSIP/101", "Anna", 2, False)),
        ("QueueAdd", ("support", "PJSIP/101", "Anna", 0, False)),
        ("QueuePause", ("PJSIP/101", True, "lunch")),
        ("QueuePause", ("PJSIP/101", True, "lunch")),
        ("QueuePause", ("PJSIP/101", False, "")),
        ("QueuePause", ("PJSIP/101", False, "")),
        ("QueueRemove", ("sales", "PJSIP/101")),
        ("QueueRemove", ("support", "PJSIP/101")),
    ] == pbx.actions
    assert {} == pbx.members
    assert ["sign_in", "pause", "resume", "sign_out"] == [
        e.action for e in logged if isinstance(e, OperatorAction)
    ]
    with pytest.raises(OperatorError):
        await states.pause("anna", "lunch")


async def test_unknown_pause_reason_is_refused(logged) -> None:
    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    states = OperatorStates(RecordingPbx(), sink)
    await states.sign_in(OP)
    with pytest.raises(OperatorError, match="unknown pause reason"):
        await states.pause("anna", "nap\r\nAction: Originate")


async def test_wrapup_pauses_after_a_call_then_resumes_by_itself(logged) -> None:
    pbx = RecordingPbx()

    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    states = OperatorStates(pbx, sink)
    await states.sign_in(OP)
    done = AgentCompleted(
        server="pbx1",
        call_id="1.0",
        at=1.0,
        queue="support",
        interface="PJSIP/101",
        member_name="Anna",
        hold_seconds=3,
        talk_seconds=40,
        reason="caller",
    )
    await states.handle(done)
    assert "wrapup" == states.status("anna").state
    assert ("QueuePause", ("PJSIP/101", True, "wrapup")) == pbx.actions[-1]
    await wait_for(lambda: states.status("anna").state == "available", timeout=3)
    assert ("QueuePause", ("PJSIP/101", False, "")) == pbx.actions[-1]
    await states.close()


async def test_asterisk_already_having_the_member_is_no_failure(logged) -> None:
    """persistentmembers, a crash between two actions, a hand-made QueueRemove: whatever
    Asterisk has, the transition ends with Asterisk as intended, and the log says so."""

    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    pbx.members[("support", "PJSIP/101")] = Member("support", "PJSIP/101", "Anna", 5, True, "x")
    states = OperatorStates(pbx, sink)
    assert "available" == (await states.sign_in(OP)).state
    assert {
        ("support", "PJSIP/101"): Member("support", "PJSIP/101", "Anna", 0, False, ""),
        ("sales", "PJSIP/101"): Member("sales", "PJSIP/101", "Anna", 2, False, ""),
    } == pbx.members
    del pbx.members[("sales", "PJSIP/101")]  # lost behind our back
    assert "paused" == (await states.pause("anna", "lunch")).state
    assert {(True, "lunch")} == {(m.paused, m.reason) for m in pbx.members.values()}
    assert 2 == len(pbx.members)
    repairs = [e for e in logged if isinstance(e, OperatorAction) and e.action == "member_repair"]
    assert [["add sales (2)"]] == [e.detail["undone"] for e in repairs]
    pbx.members.clear()
    assert "offline" == (await states.sign_out("anna")).state
    assert "available" == (await states.sign_in(OP)).state


def test_penalty_from_skill_levels() -> None:
    assert 0 == penalty_for({"billing": 5}, ["billing"])
    assert 4 == penalty_for({"billing": 1}, ["billing"])
    assert 5 == penalty_for({}, ["billing"])
    assert 2 == penalty_for({}, [], base=2)


class Calls:
    def __init__(self, call: LiveCall) -> None:
        self.call = call

    def live_call(self, call_id: str) -> LiveCall | None:
        return self.call if call_id == self.call.call_id else None


CALL = LiveCall(
    "1.0", "Local/4951110001@inbound-0001;2", "Local/101@agents-0002;1", "PJSIP/101", "support"
)


async def test_transfers_and_conference_act_on_the_right_channels(logged) -> None:
    pbx = RecordingPbx()

    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    control = CallControl(pbx, Calls(CALL), sink)
    anna = Actor("anna", "operator", "PJSIP/101")
    await control.blind_transfer(anna, "1.0", "sales")
    await control.attended_transfer(anna, "1.0", "102")
    room = await control.conference(anna, "1.0")
    assert [
        ("BlindTransfer", (CALL.operator_channel, "transfer-targets", "sales")),
        ("Atxfer", (CALL.operator_channel, "transfer-targets", "102")),
        ("Redirect", (CALL.caller_channel, "conference", room, CALL.operator_channel, room)),
    ] == pbx.actions
    assert room == await CallControl(pbx, Calls(CALL), sink).conference(anna, "1.0")
    assert ["blind_transfer", "attended_transfer", "conference", "conference"] == [
        e.action for e in logged if isinstance(e, OperatorAction)
    ]


async def test_operators_control_only_their_own_calls(logged) -> None:
    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    control = CallControl(pbx, Calls(CALL), sink)
    with pytest.raises(ControlError):
        await control.hangup(Actor("boris", "operator", "PJSIP/102"), "1.0")
    with pytest.raises(ControlError):
        await control.hangup(Actor("quinn", "qa", ""), "1.0")
    with pytest.raises(InvalidTarget):
        await control.blind_transfer(Actor("anna", "operator", "PJSIP/101"), "1.0", "1\r\n2")
    await control.hangup(Actor("sue", "supervisor", "PJSIP/900"), "1.0")
    assert [("Hangup", (CALL.caller_channel,))] == pbx.actions


async def test_supervisor_spy_originates_into_the_supervisor_context(logged) -> None:
    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    control = CallControl(pbx, Calls(CALL), sink)
    sue = Actor("sue", "supervisor", "PJSIP/900")
    for mode in ("listen", "whisper", "barge"):
        await control.spy(sue, "PJSIP/101", mode)
    assert [
        ("Originate", ("PJSIP/900", "supervisor", m, {"CHANSPY_TARGET": "PJSIP/101"}))
        for m in ("listen", "whisper", "barge")
    ] == pbx.actions
    with pytest.raises(ControlError):
        await control.spy(Actor("anna", "operator", "PJSIP/101"), "PJSIP/102", "listen")
    with pytest.raises(InvalidTarget):
        await control.spy(sue, "PJSIP/101", "record")


async def test_click_to_call_rings_the_operator_then_the_customer(logged) -> None:
    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    control = CallControl(pbx, Calls(CALL), sink, caller_id="Support <+74950000000>")
    await control.click_to_call(Actor("anna", "operator", "PJSIP/101"), "+74951234567", 7)
    assert (
        "Originate",
        (
            "PJSIP/101",
            "cc-originate",
            "+74951234567",
            {"CC_CUSTOMER_ID": "7", "CC_OPERATOR": "anna", "CC_NUMBER": "+74951234567"},
        ),
    ) == pbx.actions[0]


async def test_the_executor_carries_out_only_its_own_servers_commands(logged) -> None:
    from contact_center.calls.events import OperatorCommand
    from contact_center.routing.executor import CommandExecutor

    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    states = OperatorStates(pbx, sink)
    executor = CommandExecutor(
        states, CallControl(pbx, Calls(CALL), sink), Directory(), sink, server="pbx1"
    )
    for server in ("pbx2", "pbx1"):
        await executor.handle(
            OperatorCommand(
                server=server,
                call_id="",
                at=1.0,
                key=server,
                user="anna",
                role="operator",
                interface="PJSIP/101",
                command="available",
            )
        )
    assert 2 == len([a for a in pbx.actions if a[0] == "QueueAdd"])  # once, for two queues
    await executor.handle(
        OperatorCommand(
            server="pbx1",
            call_id="",
            at=2.0,
            key="k3",
            user="nobody",
            role="operator",
            interface="",
            command="available",
        )
    )
    failed = [e for e in logged if isinstance(e, OperatorAction) and e.action.endswith("failed")]
    assert ["available.failed"] == [e.action for e in failed]
    assert "no phone interface" in str(failed[0].detail["reason"])


class Directory:
    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def operator(self, login: str) -> Operator | None:
        return OP if login == "anna" else None

    async def by_interface(self, interface: str) -> Operator | None:
        self.lookups.append(interface)
        return OP if interface == OP.interface else None


def member(interface: str, queue: str, *, paused: bool, reason: str = "") -> OperatorState:
    return OperatorState(
        server="pbx1",
        call_id="",
        at=5.0,
        key=f"{queue}{interface}{paused}",
        queue=queue,
        interface=interface,
        member_name="Anna",
        logged_in=True,
        paused=paused,
        pause_reason=reason,
    )


async def test_the_executor_takes_members_asterisk_reports_after_a_restart(logged) -> None:
    from contact_center.routing.executor import CommandExecutor

    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    for queue, penalty in OP.queues.items():
        pbx.members[(queue, OP.interface)] = Member(
            queue, OP.interface, "Anna", penalty, True, "lunch"
        )
    states = OperatorStates(pbx, sink)
    directory = Directory()
    executor = CommandExecutor(states, CallControl(pbx, Calls(CALL), sink), directory, sink)
    for queue in ("support", "sales"):
        await executor.handle(member(OP.interface, queue, paused=True, reason="lunch"))
        await executor.handle(member("PJSIP/999", queue, paused=False))  # not one of ours
    assert ("paused", "lunch") == (states.status("anna").state, states.status("anna").reason)
    assert [OP.interface, "PJSIP/999"] == directory.lookups  # each looked up once
    await executor.execute(
        OperatorCommand(
            server="pbx1",
            call_id="",
            at=6.0,
            key="resume",
            user="anna",
            role="operator",
            interface=OP.interface,
            command="available",
        )
    )
    assert [("QueuePause", (OP.interface, False, ""))] * 2 == [
        (name, args[:3]) for name, args in pbx.actions
    ]


async def test_a_wrapup_found_after_a_restart_still_ends(logged) -> None:
    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    states = OperatorStates(pbx, sink)
    op = Operator("anna", "PJSIP/101", "Anna", {"support": 0}, wrapup_seconds=0)
    status = await states.adopt(member(op.interface, "support", paused=True, reason="wrapup"), op)
    assert "wrapup" == status.state
    await wait_for(lambda: "available" == states.status("anna").state)
    await states.close()


async def test_leaving_a_conference_hangs_up_only_the_operators_leg(logged) -> None:
    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    control = CallControl(pbx, Calls(CALL), sink)
    await control.leave_conference(Actor("anna", "operator", "PJSIP/101"), "1.0")
    assert [("Hangup", (CALL.operator_channel,))] == pbx.actions
    with pytest.raises(ControlError):
        await control.leave_conference(Actor("boris", "operator", "PJSIP/102"), "1.0")


async def test_an_invitation_joins_the_room_the_operator_is_in(logged) -> None:
    """Issue 19: someone more into the room — one Originate of a Local channel to the target
    into ``[conference] <room>``; caller and operator are not moved again (no Redirect)."""

    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = RecordingPbx()
    anna = Actor("anna", "operator", "PJSIP/101")
    # not in a room yet: refused, nothing sent to the PBX
    with pytest.raises(ControlError, match="not in a conference room"):
        await CallControl(pbx, Calls(CALL), sink).invite_to_conference(anna, "1.0", "102")
    assert [] == pbx.actions
    in_room = replace(CALL, room="8123")
    control = CallControl(pbx, Calls(in_room), sink)
    with pytest.raises(ControlError):  # another operator's call
        await control.invite_to_conference(Actor("boris", "operator", "PJSIP/102"), "1.0", "103")
    with pytest.raises(InvalidTarget):
        await control.invite_to_conference(anna, "1.0", "System(echo)")
    assert [] == pbx.actions
    await control.invite_to_conference(anna, "1.0", "102")
    await control.invite_to_conference(anna, "1.0", "+74951234567")
    assert [
        ("Originate", ("Local/102@transfer-targets", "conference", "8123", {})),
        ("Originate", ("Local/+74951234567@cc-originate", "conference", "8123", {})),
    ] == pbx.actions
    invited = [e for e in logged if isinstance(e, OperatorAction)]
    assert [("conference_invite", "102"), ("conference_invite", "+74951234567")] == [
        (e.action, e.detail["target"]) for e in invited
    ]


class Intents:
    def __init__(self, stored: dict[str, Intent]) -> None:
        self.stored = dict(stored)

    async def load_intents(self) -> dict[str, Intent]:
        return dict(self.stored)

    async def save_intent(self, login: str, intent: Intent) -> None:
        self.stored[login] = intent


async def test_after_a_restart_the_stored_intent_wins_over_what_asterisk_kept(logged) -> None:
    """Signed out here, then Asterisk re-added the member by itself (persistentmembers); and
    paused here while Asterisk lost the member: both put right by the first sweep."""

    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    boris = Operator("boris", "PJSIP/102", "Boris", {"support": 0})
    pbx = RecordingPbx()
    pbx.members[("support", "PJSIP/101")] = Member("support", "PJSIP/101", "Anna", 0)
    intents = Intents({"anna": Intent("offline"), "boris": Intent("paused", "lunch")})
    states = OperatorStates(pbx, sink, intents=intents)
    await states.restore([OP, boris])
    assert ("offline", "paused") == (states.status("anna").state, states.status("boris").state)
    await states.sweep()
    assert {
        ("support", "PJSIP/102"): Member("support", "PJSIP/102", "Boris", 0, True, "lunch")
    } == pbx.members


QUEUE_NAMES = st.sampled_from(["support", "sales", "billing"])
MEMBERS = st.dictionaries(
    QUEUE_NAMES,
    st.builds(
        lambda penalty, paused, reason: (penalty, paused, reason if paused else ""),
        st.integers(0, 5),
        st.booleans(),
        st.sampled_from(["", "lunch", "Auto-Pause", "wrapup"]),
    ),
)


@given(have=MEMBERS, want=MEMBERS)
@settings(max_examples=200)
def test_the_plan_turns_any_members_into_the_wanted_ones(have, want) -> None:
    """Whatever Asterisk has, carrying out plan(have, want) with Asterisk's own rules (the
    recording PBX refuses what Asterisk refuses) gives exactly ``want``, and planning again
    finds nothing to do."""
    pbx = RecordingPbx()
    iface = "PJSIP/101"
    for q, (penalty, paused, reason) in have.items():
        pbx.members[(q, iface)] = Member(q, iface, "Anna", penalty, paused, reason)
    wanted = {q: Wanted(p, paused, reason) for q, (p, paused, reason) in want.items()}
    states = OperatorStates(pbx, _ignore)
    op = Operator("anna", iface, "Anna", {})
    asyncio.run(_carry_out(states, op, plan(_have(pbx, iface), wanted)))
    assert want == {q: (m.penalty, m.paused, m.reason) for (q, _), m in pbx.members.items()}
    assert [] == plan(_have(pbx, iface), wanted)


async def _ignore(_e: DomainEvent) -> None:
    return None


async def _carry_out(states: OperatorStates, op: Operator, steps: list) -> None:
    for step in steps:
        await states._apply(op, step)


def _have(pbx: RecordingPbx, iface: str) -> dict[str, Member]:
    return {q: m for (q, i), m in pbx.members.items() if i == iface}


class UnreachablePbx(RecordingPbx):
    """Asterisk while it restarts: every action fails before it is sent."""

    down = False

    async def queue_members(self, interface=""):
        if self.down:
            raise ConnectionError("AMI not connected")
        return await super().queue_members(interface)


async def test_a_transition_asterisk_never_heard_of_changes_nothing(logged) -> None:
    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    pbx = UnreachablePbx()
    intents = Intents({})
    states = OperatorStates(pbx, sink, intents=intents)
    await states.sign_in(OP)
    pbx.down = True
    with pytest.raises(ConnectionError):
        await states.pause("anna", "lunch")
    assert ("available", "available") == (
        states.status("anna").state,
        intents.stored["anna"].presence,
    )
    with pytest.raises(ConnectionError):
        await states.sign_out("anna")
    pbx.down = False
    assert "available" == states.status("anna").state
    assert {False} == {m.paused for m in pbx.members.values()}
    assert "offline" == (await states.sign_out("anna")).state
    assert {} == pbx.members


async def test_a_wrapup_running_at_a_restart_gets_a_fresh_timer(logged) -> None:
    async def sink(e: DomainEvent) -> None:
        logged.append(e)

    op = Operator("anna", "PJSIP/101", "Anna", {"support": 0}, wrapup_seconds=1)
    pbx = RecordingPbx()
    pbx.members[("support", "PJSIP/101")] = Member(
        "support", "PJSIP/101", "Anna", 0, True, "wrapup"
    )
    states = OperatorStates(pbx, sink, intents=Intents({"anna": Intent("available")}))
    await states.restore([op])
    await states.sweep()
    assert "wrapup" == states.status("anna").state
    assert [] == [a for a in pbx.actions if a[0] == "QueuePause"]  # not cut short
    await wait_for(lambda: "available" == states.status("anna").state, timeout=3)
    await wait_for(lambda: {False} == {m.paused for m in pbx.members.values()}, timeout=3)
    await states.close()
