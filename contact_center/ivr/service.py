"""The IVR as one long-lived part: FastAGI server, menus (reloaded on change) and runner.

For the composition root::

    ivr = IvrService(settings.agi, sink=bus_sink, sessions=sessions,
                     server_id=settings.general.server_id, estimate=stats.estimate)
    await ivr.start()   # binds [agi] host:port — keep it on the PBX network (no auth in AGI)
    ...
    await ivr.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.config import AgiSettings
from contact_center.crm.service import CrmLookup
from contact_center.ivr.agi import FastAgiServer
from contact_center.ivr.data import CrmIvrData, IvrData, SqlIvrData
from contact_center.ivr.menus import MenuError, MenuLibrary
from contact_center.ivr.runner import Estimate, IvrRunner, Router, Sink

log = logging.getLogger(__name__)


def parse_did_menus(raw: str) -> dict[str, str]:
    """``"4951110006=bank,4951110007=shop"`` → ``{"4951110006": "bank", ...}``."""
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {did.strip(): menu.strip() for did, menu in pairs if did.strip() and menu.strip()}


class IvrService:
    """Owns the FastAGI server and the menu watcher task; both stop on :meth:`close`."""

    def __init__(
        self,
        settings: AgiSettings,
        *,
        sink: Sink,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        server_id: str = "pbx1",
        estimate: Estimate | None = None,
        reload_interval: float = 5.0,
        now: Callable[[], datetime] | None = None,
        default_menu: str = "",
        router: Router | None = None,
        crm: CrmLookup | None = None,
        crm_wait: float = 2.0,
    ) -> None:
        self.library = MenuLibrary(Path(settings.menus_dir))
        data: IvrData | None = None
        if sessions is not None:
            # With a CRM, an account only the CRM knows still identifies the caller.
            data = CrmIvrData(sessions, crm, wait=crm_wait) if crm else SqlIvrData(sessions)
        self.runner = IvrRunner(
            self.library,
            sink,
            data=data,
            server_id=server_id,
            estimate=estimate,
            now=now,
            default_menu=default_menu or settings.default_menu,
            did_menus=parse_did_menus(settings.did_menus),
            router=router,
        )
        self.server = FastAgiServer(
            self.runner.handle,
            host=settings.host,
            port=settings.port,
            session_timeout=settings.session_timeout,
            command_timeout=settings.command_timeout,
        )
        self.reload_interval = reload_interval
        self._watcher: asyncio.Task[None] | None = None
        self._stamp: tuple[tuple[str, float], ...] = ()

    @property
    def port(self) -> int:
        return self.server.port

    def reload(self) -> list[MenuError]:
        """Re-read the menus now; files that fail keep their previous version."""
        self._stamp = self._snapshot()
        return self.library.reload()

    async def start(self) -> None:
        self.reload()
        await self.server.start()
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self.server.close()

    async def __aenter__(self) -> IvrService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _snapshot(self) -> tuple[tuple[str, float], ...]:
        directory = self.library.directory
        files = [*directory.glob("*.yaml"), *directory.glob("prompts/**/*.wav")]
        out = []
        for path in sorted(files):
            with contextlib.suppress(OSError):
                out.append((str(path), path.stat().st_mtime))
        return tuple(out)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.reload_interval)
            try:
                if self._snapshot() != self._stamp:
                    errors = self.reload()
                    log.info(
                        "IVR menus reloaded: %s usable, %s problem(s)",
                        len(self.library.current.menus),
                        len(errors),
                    )
            except Exception:  # a watcher that dies would silently freeze the menus
                log.exception("IVR menu reload failed; keeping the menus in use")
