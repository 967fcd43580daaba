"""The simulator's AMI TCP server: accepts clients and runs an :class:`AmiSession` for each.

Importing this module fills the handler table: each ``actions_*`` module registers its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import TYPE_CHECKING

from contact_center import aio
from contact_center.sim.ami import (  # noqa: F401 - each module registers its actions
    actions_calls,
    actions_conference,
    actions_lists,
    actions_queues,
    actions_recording,
    actions_system,
)
from contact_center.sim.ami.session import AmiSession

if TYPE_CHECKING:
    from contact_center.sim.core import PbxCore


class AmiServer:
    """Listens for AMI clients and runs a :class:`AmiSession` for each."""

    def __init__(self, pbx: PbxCore) -> None:
        self.pbx = pbx
        self.users = {u.username: u for u in pbx.config.users}
        self.sessions: set[AmiSession] = set()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.connection_ids = itertools.count(1)
        self.port = 0
        self.local_port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await aio.wait_for(self._server.wait_closed(), 1.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = f"ami-{next(self.connection_ids)}"
        session = AmiSession(self.pbx, self.users, name, reader, writer)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await session.run()
        except asyncio.CancelledError:
            pass  # the server is stopping; this is the top of the connection's task
        finally:
            self.sessions.discard(session)
            self._handlers.discard(task)  # type: ignore[arg-type]
            session.close()
