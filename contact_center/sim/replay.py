"""Drive a PBX with the client side of a capture and collect what it answers.

Before each captured write the driver waits until the PBX has sent as many (comparable)
messages on that connection as Asterisk had at that point, so the simulator's compressed
time still sees every step in the same situation as the real run. Channel names in the
written actions are rewritten from the capture's ``-XXXXXXXX`` suffixes to the simulator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from contact_center import aio
from contact_center.sim.transcript import (
    Message,
    Record,
    comparable,
    read_records,
    split_messages,
)

log = logging.getLogger(__name__)

SUFFIX = re.compile(r"-([0-9a-f]{8});")


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    text: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def pump(self) -> None:
        while True:
            chunk = await self.reader.read(65536)
            if not chunk:
                return
            self.text += chunk.decode()
            self.arrived.set()

    def comparable_count(self) -> int:
        return _count(self.text)


def _count(text: str) -> int:
    complete = text[: text.rfind("\r\n\r\n") + 4] if "\r\n\r\n" in text else ""
    # list items are left out: how many a list holds depends on the PBX's history
    return sum(1 for m in split_messages(complete) if comparable(m) and not _list_item(m))


def _list_item(msg: Message) -> bool:
    return msg[0][0] == "Event" and (len(msg) < 2 or msg[1][0] != "Privilege")


def _rename_channels(data: str, mapping: dict[str, str]) -> str:
    return SUFFIX.sub(lambda m: f"-{mapping.get(m.group(1), m.group(1))};", data)


def _suffixes(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for m in SUFFIX.finditer(text):
        seen.setdefault(m.group(1), None)
    return list(seen)


async def _catch_up(conn: _Conn, wanted: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while conn.comparable_count() < wanted:
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("replay: %d of %d messages arrived", conn.comparable_count(), wanted)
            return
        conn.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await aio.wait_for(conn.arrived.wait(), remaining)


async def replay_capture(
    path: str | Path,
    host: str,
    port: int,
    *,
    catch_up_timeout: float = 3.0,
    secrets: dict[str, str] | None = None,
) -> dict[str, list[Message]]:
    """Replay a capture's client side against ``host:port``; return each connection's
    messages as received (parsed)."""
    records = read_records(path)
    return await replay_records(
        records, host, port, catch_up_timeout=catch_up_timeout, secrets=secrets
    )


def _md5_key(data: str, captured: str, received: str, secrets: dict[str, str]) -> str:
    """Re-answer an MD5 challenge: the simulator's challenge differs from the capture's.
    A key that was wrong in the capture stays wrong."""
    key = re.search(r"^Key: (\S+)", data, re.M)
    user = re.search(r"^Username: (\S+)", data, re.M)
    old = re.findall(r"^Challenge: (\S+)", captured, re.M)
    new = re.findall(r"^Challenge: (\S+)", received, re.M)
    if not (key and user and old and new) or user.group(1) not in secrets:
        return data
    secret = secrets[user.group(1)]
    if hashlib.md5((old[-1] + secret).encode()).hexdigest() != key.group(1):
        return data
    fresh = hashlib.md5((new[-1] + secret).encode()).hexdigest()
    return data.replace(key.group(1), fresh)


async def replay_records(
    records: list[Record],
    host: str,
    port: int,
    *,
    catch_up_timeout: float = 3.0,
    secrets: dict[str, str] | None = None,
) -> dict[str, list[Message]]:
    conns: dict[str, _Conn] = {}
    captured: dict[str, str] = {}
    all_captured = ""
    all_received = ""
    try:
        for rec in records:
            d = rec.data
            if d.get("proto") == "agi":
                continue
            conn_name = d.get("conn", "")
            if d.get("kind") == "conn" and d.get("event") == "open":
                reader, writer = await asyncio.open_connection(host, port)
                conn = _Conn(reader, writer)
                conn.task = asyncio.create_task(conn.pump())
                conns[conn_name] = conn
            elif d.get("kind") == "conn" and d.get("event") in {"close", "close-by-us"}:
                conn = conns[conn_name]
                await _catch_up(conn, _count(captured.get(conn_name, "")), catch_up_timeout)
                if d["event"] == "close-by-us":
                    conn.writer.close()
            elif d.get("dir") == "in":
                captured[conn_name] = captured.get(conn_name, "") + d["data"]
                all_captured += d["data"]
            elif d.get("dir") == "out":
                conn = conns[conn_name]
                await _catch_up(conn, _count(captured.get(conn_name, "")), catch_up_timeout)
                all_received = "".join(c.text for c in conns.values())
                mapping = dict(zip(_suffixes(all_captured), _suffixes(all_received), strict=False))
                data = _rename_channels(d["data"], mapping)
                if "AuthType: MD5" in data:
                    data = _md5_key(data, captured.get(conn_name, ""), conn.text, secrets or {})
                conn.writer.write(data.encode())
                await conn.writer.drain()
        for name, conn in conns.items():
            await _catch_up(conn, _count(captured.get(name, "")), catch_up_timeout)
    finally:
        for conn in conns.values():
            conn.writer.close()
            if conn.task is not None:
                conn.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await conn.task
    return {name: split_messages(conn.text) for name, conn in conns.items()}
