"""A start that fails half-way stops what had started, in reverse, and says which part
failed: nothing is left running (no task, no listening socket, no open database pool)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from contact_center.config import Settings
from contact_center.service import Service, StartError
from tests.e2e.service_support import rig_settings


def own_ports(settings: Settings) -> Settings:
    """The IVR on a port the OS picks (parallel tests must not share 4573)."""
    return replace(settings, agi=replace(settings.agi, port=0))


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


async def test_redis_down_after_the_database_started_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    settings = own_ports(
        rig_settings(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}",
            bus="redis",
            redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        )
    )
    service = Service(settings, "all", stop_step=2.0)
    before = asyncio.all_tasks()
    stopped: list[str] = []
    original_stop = service.stop

    async def stop() -> None:
        stopped.append("stop")
        await original_stop()

    service.stop = stop  # type: ignore[method-assign]
    with pytest.raises(StartError) as failed:
        await service.start()
    message = str(failed.value)
    # one clear error: the role, the part that failed and why (Redis and its address)
    assert message.startswith("all: ")
    assert "failed to start" in message and "Redis" in message
    assert f"{settings.bus.redis_url.rsplit(':', 1)[1].split('/')[0]}" in message
    assert "\n" not in message
    assert stopped == ["stop"]
    # the database had started (migrated on start) before Redis was needed
    assert (tmp_path / "cc.sqlite3").exists()
    # nothing left running: no task of the service, the pool disposed
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert left == []
    assert service._tasks == []
    assert service.core is not None
    assert service.core.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def broken_plugin(svc: Service) -> None:
    """A part that cannot start (its port is taken)."""
    raise OSError("port 4573 already in use")


async def test_a_plugin_that_fails_stops_the_parts_started_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AMI connector, IVR server and worker consumers started before a failing part are
    stopped again: every task has ended, the IVR port is closed, history was flushed."""
    import contact_center.service as service_module

    here = "tests.integration.test_service_start_rollback:broken_plugin"
    monkeypatch.setitem(
        service_module.PLUGINS, "connector", (*service_module.PLUGINS["connector"], here)
    )
    settings = own_ports(rig_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}"))
    service = Service(settings, "all", stop_step=2.0)
    before = asyncio.all_tasks()
    with pytest.raises(StartError) as failed:
        await service.start()
    assert str(failed.value) == (
        "all: tests.integration.test_service_start_rollback (broken_plugin) failed to start:"
        " port 4573 already in use"
    )
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert left == []
    # the parts that had started were built, then stopped
    parts = service.components
    assert parts.connector is not None
    assert parts.history is not None and parts.history._task is None
    assert parts.ivr is not None and not listening(parts.ivr.port)


def test_serve_says_which_part_failed_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")} | {
        "CC_GENERAL_DATA_DIR": str(tmp_path / "data"),
        "CC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}",
        "CC_WEB_PORT": "0",
        "CC_AGI_PORT": "0",
        "CC_BUS_BACKEND": "redis",
        "CC_BUS_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "CC_RECORDING_SPOOL_DIR": str(tmp_path / "spool"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "contact_center.cli", "serve", "--development"],
        env=env, cwd=root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert 1 == done.returncode
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("serve: all: storage and bus failed to start: Redis at "), done.stderr
    assert "Redis" in last
    assert "Traceback" not in done.stderr
