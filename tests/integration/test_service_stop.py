"""A stop never hangs: a task that ignores its cancellation or a closer that never returns
is named in the log and left behind, and the rest of the stop still runs."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from contact_center.service import Service
from tests.e2e.service_support import rig_settings


async def test_a_stuck_task_and_a_stuck_closer_do_not_hold_the_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = rig_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}")
    service = Service(settings, "web", stop_step=0.3)
    await service.start()
    closed_after: list[str] = []

    healed = asyncio.Event()

    async def deaf() -> None:  # swallows its cancellation (a library bug, a blackholed link)
        while not healed.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    async def never_returns() -> None:
        await asyncio.Event().wait()

    async def closes_fine() -> None:
        closed_after.append("fine")

    # the stop runs in reverse: the stuck closer, the deaf task, then the fine closer
    service.on_stop(closes_fine)
    service.spawn("deaf-task", deaf)
    [deaf_task] = [t for t in service._tasks if t.get_name() == "deaf-task"]
    service.on_stop(never_returns)
    await asyncio.sleep(0)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="contact_center.service"):
        await service.stop()
    assert time.monotonic() - started < 5
    assert ["fine"] == closed_after
    assert "stopping: task deaf-task did not end within 0 s" in caplog.text
    assert "never_returns did not finish within 0 s" in caplog.text
    healed.set()  # the test's own loop must be able to end it
    deaf_task.cancel()
    await asyncio.gather(deaf_task, return_exceptions=True)
