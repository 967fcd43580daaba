"""What routing needs from the PBX, as a small protocol; ami/ provides the implementation.

Keeping this port here lets routing depend on calls/ only, never on the AMI adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Member:
    """One queue membership of a phone as Asterisk reports it (``QueueStatus``)."""

    queue: str
    interface: str
    name: str = ""
    penalty: int = 0
    paused: bool = False
    reason: str = ""  # PausedReason ("" when not paused)
    in_call: bool = False


class MemberStateDiffers(Exception):
    """Asterisk refused a member action because its members are not what the action assumed
    (``Already there``, ``Not there``, ``Interface not found``): read them again and repair."""


class PbxControl(Protocol):
    async def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str,
        penalty: int,
        paused: bool,
        reason: str = "",
    ) -> None: ...

    async def queue_remove(self, queue: str, interface: str) -> None: ...

    async def queue_pause(
        self, interface: str, paused: bool, reason: str = "", queue: str = ""
    ) -> None: ...

    async def queue_penalty(self, queue: str, interface: str, penalty: int) -> None: ...

    async def queue_members(self, interface: str = "") -> list[Member]:
        """Asterisk's memberships of ``interface`` in every queue (of everyone with "")."""
        ...

    async def originate(
        self,
        channel: str,
        context: str,
        exten: str,
        *,
        priority: int = 1,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        timeout_ms: int = 30000,
    ) -> str: ...

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        *,
        priority: int = 1,
        extra_channel: str = "",
        extra_context: str = "",
        extra_exten: str = "",
    ) -> None: ...

    async def blind_transfer(self, channel: str, context: str, exten: str) -> None: ...

    async def attended_transfer(self, channel: str, context: str, exten: str) -> None: ...

    async def feature_code(self, channel: str, code: str) -> None:
        """Press ``code`` (DTMF) as if ``channel``'s own phone did: the bridge's feature
        codes (an attended transfer's abort / swap / complete) act on it."""
        ...

    async def hangup(self, channel: str) -> None: ...
