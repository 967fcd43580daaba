"""Sensitive-data pause policy: card numbers and CVVs never reach a recording.

When an IVR node or a console form marked sensitive starts, the call's recording is muted
through AMI ``MixMonitorMute`` (our AMI user has ``call`` rights, enough for it) and unmuted
when it ends, even if it ends with an error. Asterisk then emits ``MixMonitorMute`` events,
which reach the index as ``RecordingMuted`` and mark the gap on the recording: the gap shown
to QA is what Asterisk did, not what we asked for.

The policy is also a consumer (``async handle(event)``): it learns which channel runs
MixMonitor for a call from ``RecordingStarted`` and forgets it at ``CallEnded``. Overlapping
sensitive steps of one call nest: the recording resumes when the last of them ends.

Where the AMI actions live (the connector process) the IVR calls :meth:`sensitive` directly;
from elsewhere (the operator console in a web process) publish an ``OperatorAction`` with
``action`` ``"recording.pause"`` / ``"recording.resume"`` / ``"recording.stop"`` for the
call on the bus, and this consumer applies it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from contact_center.calls.events import (
    CallEnded,
    DomainEvent,
    OperatorAction,
    RecordingStarted,
    RecordingStopped,
)

log = logging.getLogger(__name__)

PAUSE_ACTION = "recording.pause"  # OperatorAction.action values (console → bus → policy)
RESUME_ACTION = "recording.resume"
STOP_ACTION = "recording.stop"


class RecordingActions(Protocol):
    """The AMI actions the policy needs (``AmiConnector.actions`` provides them; both need
    only the ``call`` class, unlike the AMI ``MixMonitor`` action)."""

    async def mixmonitor_mute(self, channel: str, muted: bool) -> Any: ...

    async def stop_mixmonitor(self, channel: str) -> Any: ...


MuteActions = RecordingActions  # the name used before stop was added


@dataclass(slots=True)
class _CallRecording:
    channel: str
    depth: int = 0  # sensitive steps open right now


class SensitivePausePolicy:
    """Mutes a call's recording for the span of a sensitive step."""

    def __init__(self, actions: RecordingActions) -> None:
        self._actions = actions
        self._calls: dict[tuple[str, str], _CallRecording] = {}

    async def handle(self, event: DomainEvent) -> None:
        key = (event.server, event.call_id)
        if isinstance(event, RecordingStarted) and event.channel:
            self._calls[key] = _CallRecording(channel=event.channel)
        elif isinstance(event, RecordingStopped | CallEnded):
            self._calls.pop(key, None)
        elif isinstance(event, OperatorAction) and event.action == PAUSE_ACTION:
            await self.pause(event.server, event.call_id)
        elif isinstance(event, OperatorAction) and event.action == RESUME_ACTION:
            await self.resume(event.server, event.call_id)
        elif isinstance(event, OperatorAction) and event.action == STOP_ACTION:
            await self.stop(event.server, event.call_id)

    def is_paused(self, server: str, call_id: str) -> bool:
        state = self._calls.get((server, call_id))
        return state is not None and state.depth > 0

    async def pause(self, server: str, call_id: str) -> bool:
        """Mute the call's recording; False when the call is not being recorded."""
        state = self._calls.get((server, call_id))
        if state is None:
            return False
        state.depth += 1
        if state.depth == 1:
            try:
                await self._actions.mixmonitor_mute(state.channel, True)
            except Exception:
                state.depth -= 1
                raise
        return True

    async def resume(self, server: str, call_id: str) -> None:
        """End one sensitive step; the recording resumes when none is left open."""
        state = self._calls.get((server, call_id))
        if state is None or state.depth == 0:
            return
        state.depth -= 1
        if state.depth == 0:
            await self._actions.mixmonitor_mute(state.channel, False)

    async def stop(self, server: str, call_id: str) -> bool:
        """Stop the call's recording on demand (StopMixMonitor); False when not recorded.

        Starting one again goes through the dialplan (a feature code running MixMonitor):
        the AMI ``MixMonitor`` action needs the ``system`` class our AMI user must not hold.
        """
        state = self._calls.get((server, call_id))
        if state is None:
            return False
        await self._actions.stop_mixmonitor(state.channel)
        return True

    @contextlib.asynccontextmanager
    async def sensitive(self, server: str, call_id: str) -> AsyncIterator[bool]:
        """``async with policy.sensitive(server, call_id):`` around card-data collection.

        Yields whether the recording was paused (False: the call is not recorded).
        """
        paused = await self.pause(server, call_id)
        try:
            yield paused
        finally:
            if paused:
                try:
                    await self.resume(server, call_id)
                except Exception:
                    # The call may have hung up meanwhile; nothing left to unmute then.
                    log.warning("could not resume the recording of call %s", call_id)
