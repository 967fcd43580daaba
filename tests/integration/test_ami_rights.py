"""Startup tells the truth: the connector checks its AMI rights at login and ``/readyz`` says
which are missing — over real TCP, a real connector process role, the simulator's AMI server
enforcing manager.conf rights the way Asterisk does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contact_center.service import Service
from contact_center.sim.config import SimConfig, User, parse_classes
from contact_center.sim.pbx import SimPbx
from tests.conftest import wait_for
from tests.e2e.service_support import free_port, rig_settings
from tests.unit import asterisk_conf

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = asterisk_conf.parse(ROOT / "deploy" / "asterisk" / "manager.conf").one("contact_center")
SECRET = "rights-test-secret"


async def readyz(service: Service) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{service.web_port}/readyz"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def connector_readiness(tmp_path: Path, write: str) -> tuple[int, dict[str, Any]]:
    user = User(
        "contact_center",
        SECRET,
        read=parse_classes(SHIPPED.get("read") or ""),
        write=parse_classes(write),
    )
    sim = SimConfig(port=0, users=(user,), agi_port=free_port(), time_scale=0.05)
    async with SimPbx(sim) as pbx:
        base = rig_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}")
        settings = replace(
            base,
            ami=replace(base.ami, port=pbx.port, username="contact_center", secret=SECRET),
            agi=replace(base.agi, port=sim.agi_port),
        )
        async with Service(settings, "connector") as service:
            connector = service.components["connector"]
            await wait_for(lambda: connector.connected and connector.rights is not None, 5)
            return await readyz(service)


async def test_readyz_names_the_rights_a_restricted_ami_user_lacks(tmp_path: Path) -> None:
    # The rights shipped before issue 17: resync's list actions answered "Permission denied".
    status, body = await connector_readiness(tmp_path, "call,originate,agent")

    assert 503 == status
    assert "fail" == body["status"]
    assert (
        "fail: AMI rights missing: reporting (ConfbridgeList, CoreShowChannels)"
        == body["checks"]["ami"]
    )


async def test_readyz_is_ok_with_the_shipped_manager_conf_rights(tmp_path: Path) -> None:
    status, body = await connector_readiness(tmp_path, SHIPPED.get("write") or "")

    assert (200, "ok") == (status, body["checks"]["ami"])


@pytest.mark.parametrize("write", ["originate,agent,reporting", "call,originate,reporting"])
async def test_each_missing_class_is_named_once(tmp_path: Path, write: str) -> None:
    _status, body = await connector_readiness(tmp_path, write)

    missing = {"originate,agent,reporting": "call", "call,originate,reporting": "agent"}[write]
    assert body["checks"]["ami"].startswith(f"fail: AMI rights missing: {missing} (")


@pytest.mark.parametrize(
    ("read", "waits"),
    [
        (SHIPPED.get("read") or "", False),
        # read before issue 17: no system class, so FullyBooted never came
        ("call,agent,cdr,user,dtmf,reporting,dialplan", True),
    ],
)
async def test_fully_booted_arrives_with_the_shipped_read_rights(
    tmp_path: Path, read: str, waits: bool
) -> None:
    import asyncio
    import time

    from contact_center.ami.connector import FULLY_BOOTED_WAIT, AmiConnector
    from contact_center.config import AmiSettings

    user = User("contact_center", SECRET, read=parse_classes(read), write=parse_classes("all"))
    async with SimPbx(SimConfig(port=0, users=(user,), time_scale=0.05)) as pbx:

        async def sink(_event: Any) -> None:
            return None

        settings = AmiSettings(
            host="127.0.0.1", port=pbx.port, username="contact_center", secret=SECRET
        )
        connector = AmiConnector(settings, "pbx1", sink, state_dir=tmp_path)
        started = time.monotonic()
        task = asyncio.create_task(connector.run())
        try:
            await asyncio.wait_for(connector.wait_connected(), 10)
            took = time.monotonic() - started
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    assert waits == (took >= FULLY_BOOTED_WAIT), took
