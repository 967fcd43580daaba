"""The sensitive-data pause policy mutes and unmutes the recording channel."""

from __future__ import annotations

import pytest

from contact_center.calls.events import CallEnded, OperatorAction, RecordingStarted
from contact_center.recording.policy import SensitivePausePolicy

CHANNEL = "Local/4951110004@inbound-00000014;2"


class FakeActions:
    def __init__(self, fail_on: bool | None = None) -> None:
        self.calls: list[tuple[str, bool | str]] = []
        self.fail_on = fail_on

    async def mixmonitor_mute(self, channel: str, muted: bool) -> None:
        if muted == self.fail_on:
            raise ConnectionError("AMI is down")
        self.calls.append((channel, muted))

    async def stop_mixmonitor(self, channel: str) -> None:
        self.calls.append((channel, "stop"))


async def recorded_policy(actions: FakeActions) -> SensitivePausePolicy:
    policy = SensitivePausePolicy(actions)
    await policy.handle(
        RecordingStarted(server="pbx1", call_id="c1", at=1.0, file="a.wav", channel=CHANNEL)
    )
    return policy


async def test_sensitive_step_mutes_then_unmutes() -> None:
    actions = FakeActions()
    policy = await recorded_policy(actions)

    async with policy.sensitive("pbx1", "c1") as paused:
        assert paused
        assert policy.is_paused("pbx1", "c1")
        assert [(CHANNEL, True)] == actions.calls

    assert [(CHANNEL, True), (CHANNEL, False)] == actions.calls
    assert not policy.is_paused("pbx1", "c1")


async def test_nested_steps_resume_only_after_the_last() -> None:
    actions = FakeActions()
    policy = await recorded_policy(actions)

    async with policy.sensitive("pbx1", "c1"):
        async with policy.sensitive("pbx1", "c1"):
            pass
        assert [(CHANNEL, True)] == actions.calls

    assert [(CHANNEL, True), (CHANNEL, False)] == actions.calls


async def test_an_error_inside_the_step_still_resumes() -> None:
    actions = FakeActions()
    policy = await recorded_policy(actions)

    with pytest.raises(ValueError):
        async with policy.sensitive("pbx1", "c1"):
            raise ValueError("caller hung up")

    assert [(CHANNEL, True), (CHANNEL, False)] == actions.calls


async def test_unrecorded_call_is_not_paused() -> None:
    actions = FakeActions()
    policy = SensitivePausePolicy(actions)

    async with policy.sensitive("pbx1", "other") as paused:
        assert not paused

    assert [] == actions.calls


async def test_failed_mute_is_raised_and_leaves_no_open_step() -> None:
    actions = FakeActions(fail_on=True)
    policy = await recorded_policy(actions)

    with pytest.raises(ConnectionError):
        async with policy.sensitive("pbx1", "c1"):
            pass

    assert not policy.is_paused("pbx1", "c1")


async def test_call_end_forgets_the_channel() -> None:
    actions = FakeActions()
    policy = await recorded_policy(actions)
    await policy.handle(CallEnded(server="pbx1", call_id="c1", at=9.0, cause=16))

    assert not await policy.pause("pbx1", "c1")


async def test_console_pause_and_resume_arrive_as_operator_actions() -> None:
    actions = FakeActions()
    policy = await recorded_policy(actions)

    for action in ("recording.pause", "recording.resume", "recording.stop"):
        await policy.handle(
            OperatorAction(server="pbx1", call_id="c1", at=2.0, user="op101", action=action)
        )

    assert [(CHANNEL, True), (CHANNEL, False), (CHANNEL, "stop")] == actions.calls
