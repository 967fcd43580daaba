"""The PBX core as its parts see it: protocols, so no part imports ``SimPbx``.

``SimPbx`` (``pbx.py``) is the composition root: it builds the dial plan, the queues, the
phones and the AMI server and hands each of them itself. The parts talk to it — and to each
other through it — only by the members named here, so the simulator's modules form no import
cycle (``tests/unit/test_sim_imports.py``) and a part can be read knowing only this file.
mypy checks that ``SimPbx`` and the parts it builds satisfy these protocols.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contact_center.sim.agistep import AgiStep
    from contact_center.sim.config import Operator, QueueConfig, SimConfig
    from contact_center.sim.errors import ChannelHungUp
    from contact_center.sim.features import FeatureCodes
    from contact_center.sim.model import Bridge, Channel, Member, QueueState
    from contact_center.sim.records import QueueLog
    from contact_center.sim.transcript import TranscriptWriter


@dataclass(frozen=True, slots=True)
class Event:
    """One emitted AMI event: name, permission class and the exact bytes on the wire."""

    name: str
    privilege: str
    headers: tuple[tuple[str, str], ...]
    raw: bytes

    def get(self, key: str, default: str = "") -> str:
        for k, v in self.headers:
            if k == key:
                return v
        return default


Listener = Callable[[Event], None]
Hook = Callable[[], Awaitable[None]]
Target = tuple[str, str, str]  # (context, exten, "") or ("", application, data)


class Dialplan(Protocol):
    """The extensions.conf interpreter (``dialplan/engine.py``) as the other parts use it."""

    @property
    def conferences(self) -> dict[str, Bridge]: ...

    def exists(self, context: str, exten: str) -> bool: ...

    def kick(self, room: str, channel: str) -> bool: ...

    def jump(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None: ...

    async def run(self, ch: Channel) -> None: ...

    def resume_elsewhere(self, ch: Channel) -> asyncio.Task[None]: ...

    def prepare_phone(self, two: Channel) -> None: ...

    def originate(
        self,
        exten: str,
        context: str,
        *,
        caller: tuple[str, str] | None,
        then: Target,
        variables: dict[str, str] | None = None,
        action_id: str | None = None,
        timeout: float = 30.0,
        report: bool = True,
        ids: tuple[str, str] = ("", ""),
    ) -> tuple[Channel, Channel]: ...

    def originate_response(
        self, one: Channel, then: Target, action_id: str | None, *, ok: bool
    ) -> None: ...


class Queues(Protocol):
    """app_queue (``queues.py``) as the other parts use it."""

    @property
    def queues(self) -> dict[str, QueueState]: ...

    @property
    def device_states(self) -> dict[str, str]: ...

    @property
    def busy(self) -> set[str]: ...

    def notify(self, q: QueueState) -> None: ...

    async def run(self, ch: Channel, queue: str, timeout: float | None = None) -> str: ...

    def add_member(
        self,
        queue: str,
        interface: str,
        name: str = "",
        state_interface: str = "",
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
    ) -> Member: ...

    def remove_member(self, queue: str, interface: str) -> None: ...

    def pause_member(self, queue: str, interface: str, paused: bool, reason: str = "") -> None: ...

    def set_penalty(self, queue: str, interface: str, penalty: int) -> None: ...

    def show(self, name: str) -> list[str]: ...


class Phones(Protocol):
    """The PJSIP phones and the provider (``phones.py``) as the other parts use them."""

    def outgoing(self, endpoint: str, caller: Channel, uniqueid: str = "") -> Channel: ...

    async def ring(self, phone: Channel, op: Operator, ringing: Hook, answered: Hook) -> None: ...

    async def drop(self, phone: Channel, task: asyncio.Task[None], cause: int = 16) -> None: ...

    async def dial(self, ch: Channel, resource: str, timeout: float) -> str: ...

    async def dial_provider(self, ch: Channel, number: str, timeout: float) -> str: ...

    def originate(
        self,
        endpoint: str,
        then: Target,
        *,
        caller: tuple[str, str] | None,
        variables: dict[str, str],
        report: Callable[[Channel, bool], None],
        timeout: float,
        uniqueid: str = "",
    ) -> Channel: ...


class PbxCore(Protocol):
    """What the dial plan, the queues, the phones and the AMI server use of the PBX."""

    processed_calls: int

    # -- what it is made of
    @property
    def config(self) -> SimConfig: ...

    @property
    def agi(self) -> AgiStep: ...

    @property
    def started(self) -> float: ...

    @property
    def recorder(self) -> TranscriptWriter | None: ...

    @property
    def channels(self) -> dict[str, Channel]: ...

    @property
    def bridges(self) -> dict[str, Bridge]: ...

    @property
    def queue_log(self) -> QueueLog: ...

    @property
    def queue_configs(self) -> tuple[QueueConfig, ...]: ...

    @property
    def dialplan(self) -> Dialplan: ...

    @property
    def queues(self) -> Queues: ...

    @property
    def phones(self) -> Phones: ...

    @property
    def features(self) -> FeatureCodes: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]: ...

    def operator(self, interface: str) -> Operator: ...

    # -- events
    def subscribe(self, listener: Listener) -> Callable[[], None]: ...

    def emit(self, name: str, privilege: str, fields: Iterable[tuple[str, str]]) -> Event: ...

    def emit_channel(
        self, name: str, privilege: str, ch: Channel, extra: Iterable[tuple[str, str]] = ()
    ) -> Event: ...

    def device_state(self, device: str, state: str) -> None: ...

    # -- channels
    def new_uniqueid(self) -> str: ...

    def new_local_suffix(self) -> str: ...

    def find(self, name: str) -> Channel: ...

    def channels_matching(self, pattern: str) -> list[Channel]: ...

    def local_pair(
        self,
        exten: str,
        context: str,
        linkedid: str | None = None,
        ids: tuple[str, str] = ("", ""),
    ) -> tuple[Channel, Channel]: ...

    def local_bridge_event(self, one: Channel, two: Channel) -> None: ...

    def set_callerid(self, ch: Channel, num: str, name: str) -> None: ...

    def set_connected(self, ch: Channel, num: str, name: str) -> None: ...

    def set_state(self, ch: Channel, state: int) -> None: ...

    def set_var(self, ch: Channel, name: str, value: str, *, event: bool = True) -> None: ...

    def newexten(self, ch: Channel, app: str, data: str) -> None: ...

    def play_dtmf(
        self, ch: Channel, digit: str, duration_ms: int, *, receive: bool = False
    ) -> None: ...

    def dtmf_received(self, ch: Channel, digit: str, duration_ms: int) -> None: ...

    def answer_dialer(self, ch: Channel) -> None: ...

    # -- waiting
    def scaled(self, seconds: float | None) -> float | None: ...

    def interrupt(self, ch: Channel) -> ChannelHungUp: ...

    async def wait(self, ch: Channel, seconds: float | None) -> None: ...

    async def wait_for_event(
        self, ch: Channel, event: asyncio.Event, seconds: float | None
    ) -> bool: ...

    async def read_digit(self, ch: Channel, seconds: float | None) -> str | None: ...

    # -- moving and ending channels
    def redirect(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None: ...

    def transfer_blind(self, ch: Channel, context: str, exten: str) -> None: ...

    def transfer_attended(self, ch: Channel, context: str, exten: str) -> None: ...

    def request_hangup(self, ch: Channel, cause: int = 16, *, soft: bool = True) -> None: ...

    def peer_hangup(self, ch: Channel, cause: int = 16) -> None: ...

    def remote_hangup(self, ch: Channel, cause: int = 16) -> None: ...

    def finish(
        self, ch: Channel, *, soft: bool = True, cdr: bool = True, device: bool = True
    ) -> None: ...

    # -- bridges and recording
    def bridge_create(
        self,
        bridge_type: str = "basic",
        technology: str = "simple_bridge",
        creator: str = ...,
        name: str = ...,
    ) -> Bridge: ...

    def bridge_enter(self, bridge: Bridge, ch: Channel) -> None: ...

    def bridge_leave(self, bridge: Bridge, ch: Channel) -> None: ...

    def bridge_destroy(self, bridge: Bridge) -> None: ...

    def start_mixmonitor(self, ch: Channel, filename: str) -> str: ...

    def stop_mixmonitor(self, ch: Channel) -> None: ...
