"""What an API token costs per request against a signed-in browser session.

The same API call (``GET /api/lists/pause_reason``: one authentication read, one list read)
over real HTTP on a local server, ``--requests`` times each way, several rounds interleaved;
same-run baseline: the session cookie. The token is looked up by its SHA-256 (one indexed
read, like the session), and its last use is written at most once a minute.

    .venv/bin/python -m bench.bench_tokens [--requests 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from contact_center.bus import MemoryBus
from contact_center.config import load_settings
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import Base, User
from contact_center.web.app import Deps, create_app
from contact_center.web.tokens import SCOPES, create_token

PASSWORD = "bench-password"
PATH = "/api/lists/pause_reason"


async def _timed(http: aiohttp.ClientSession, url: str, headers: dict[str, str], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()
    return time.perf_counter() - started


async def run(requests: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = session_factory(engine)
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        async with sessions.begin() as db:
            user = User(login="root", display_name="Root", password_hash=cheap.hash(PASSWORD),
                        role="admin", interface="", queues={}, skills={}, active=True,
                        created_at=utcnow())  # fmt: skip
            db.add(user)
            await db.flush()
            made = await create_token(
                db, user_id=user.id, name="bench", scopes=list(SCOPES), days=1, created_by="bench"
            )
        app = create_app(Deps(load_settings(environ={}), sessions, MemoryBus()))
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        try:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as browser:
                async with browser.get(base + "/login") as resp:
                    form_token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
                assert form_token is not None
                async with browser.post(
                    base + "/login",
                    data={"login": "root", "password": PASSWORD, "csrf_token": form_token[1]},
                    allow_redirects=False,
                ) as resp:
                    assert resp.status == 303
                async with aiohttp.ClientSession() as machine:
                    bearer = {"Authorization": f"Bearer {made.token}"}
                    await _timed(browser, base + PATH, {}, 20)  # warm both paths
                    await _timed(machine, base + PATH, bearer, 20)
                    cookie_s = token_s = 0.0
                    for _ in range(rounds):
                        cookie_s += await _timed(browser, base + PATH, {}, requests)
                        token_s += await _timed(machine, base + PATH, bearer, requests)
        finally:
            await server.close()
            await engine.dispose()
    total = requests * rounds
    return {
        "requests_each": total,
        "cookie_per_s": round(total / cookie_s),
        "token_per_s": round(total / token_s),
        "token_vs_cookie_time_ratio": round(token_s / cookie_s, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.requests, args.rounds))


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
