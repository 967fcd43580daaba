"""The dialplan's ``AGI()`` step behind a small interface.

The real FastAGI client (``contact_center/sim/agi.py``, by the IVR engineer) speaks the AGI
protocol to our FastAGI server. Until it is wired in, :class:`ScriptedAgi` stands in: it does
what the ``ivr-route`` script of capture 08 does (GET DATA, SET VARIABLE IVR_CHOICE, EXEC Set)
and produces the same AMI events (``AGIExecStart``/``AGIExecEnd``/``VarSet``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


class AgiChannel(Protocol):
    """What an AGI step may do to the channel it runs on."""

    name: str
    uniqueid: str

    def agi_environment(self, url: str, args: list[str]) -> dict[str, str]: ...

    async def agi_read_digit(self, timeout: float) -> str | None:
        """The next caller digit, ``None`` on timeout; raises ChannelHungUp."""
        ...

    def agi_set_variable(self, name: str, value: str) -> None: ...

    def agi_get_variable(self, name: str) -> str: ...

    def agi_exec_start(self, command: str) -> int: ...

    def agi_exec_end(self, command_id: int, command: str, code: int, result: str) -> None: ...


class AgiStep(Protocol):
    """Runs one ``AGI(url,args…)``; returns AGISTATUS (SUCCESS, FAILURE, NOTFOUND, HANGUP)."""

    async def __call__(self, channel: AgiChannel, url: str, args: list[str]) -> str: ...


@dataclass(frozen=True, slots=True)
class ScriptedAgi:
    """Built-in stand-in for a FastAGI IVR: one GET DATA, the digit becomes IVR_CHOICE."""

    prompt: str = "hello-world"
    timeout_ms: int = 5000

    async def __call__(self, channel: AgiChannel, url: str, args: list[str]) -> str:
        command = f"GET DATA {self.prompt} {self.timeout_ms} 1"
        cid = channel.agi_exec_start(command)
        digit = await channel.agi_read_digit(self.timeout_ms / 1000)
        channel.agi_exec_end(cid, command, 200, "Success")
        choice = digit or ""
        command = f"SET VARIABLE IVR_CHOICE {choice}"
        cid = channel.agi_exec_start(command)
        channel.agi_set_variable("IVR_CHOICE", choice)
        channel.agi_exec_end(cid, command, 200, "Success")
        command = f'EXEC Set "CDR(ivr_choice)={choice}"'
        cid = channel.agi_exec_start(command)
        channel.agi_set_variable("CDR(ivr_choice)", choice)
        channel.agi_exec_end(cid, command, 200, "Success")
        return "SUCCESS"


def new_command_id() -> int:
    """Asterisk's AGI CommandId is a random positive int."""
    return random.randint(1, 2**31 - 1)
