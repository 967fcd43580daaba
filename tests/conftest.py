"""Shared fixtures: real PostgreSQL and Redis, isolated per test.

PostgreSQL tests get a fresh schema each; Redis tests a unique key prefix, and under
pytest-xdist each worker its own Redis database too (``gw0`` → db 1, ``gw1`` → db 2, …), so
parallel workers never share a key. When the services are unreachable the tests are skipped
locally, and fail when ``CC_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
POSTGRES_URL = os.environ.get(
    "CC_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", … under -n


def _worker_redis_url(url: str, worker: str) -> str:
    """``url`` with its database moved by the xdist worker's number (Redis has 16)."""
    if not worker.startswith("gw"):
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    db = (base + 1 + int(worker[2:])) % 16
    return urlunsplit(parts._replace(path=f"/{db}"))


REDIS_URL = _worker_redis_url(
    os.environ.get("CC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), XDIST_WORKER
)
REQUIRE_SERVICES = os.environ.get("CC_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _need(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{service} not reachable at {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (CC_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@contextlib.asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    _need("PostgreSQL", url.host or "127.0.0.1", url.port or 5432)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    try:
        yield url.update_query_dict({"search_path": schema}).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with pg_schema() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Both databases: every storage test runs on SQLite and on real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}"
        return
    async with pg_schema() as url:
        yield url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    from urllib.parse import urlparse

    u = urlparse(REDIS_URL)
    _need("Redis", u.hostname or "127.0.0.1", u.port or 6379)
    yield REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A unique key prefix so parallel or repeated tests never see each other's keys."""
    return f"cctest:{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coro`` as a task for the ``async with`` block; cancelled and awaited after it."""
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, interval: float = 0.01
) -> None:
    """Poll until predicate() is true; fail with a clear message on timeout (no bare sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate!r}")
        await asyncio.sleep(interval)


@pytest.fixture(scope="session", autouse=True)
def shipped_prompts() -> None:
    """The shipped IVR menus need their prompts (generated, not committed): make them once,
    so tests that serve ``ivr_menus/`` do not depend on another test having run first."""
    import fcntl
    import tempfile

    from contact_center.demo import ensure_prompts

    menus = Path(__file__).resolve().parents[1] / "ivr_menus"
    # xdist workers start together: one generates, the others wait and find them made.
    lock = Path(tempfile.gettempdir()) / f"cc-prompts-{uuid.uuid5(uuid.NAMESPACE_URL, str(menus))}"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            ensure_prompts(menus)
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every async test gets ``_tasks_end`` as its first fixture (so it is torn down last)."""
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and inspect.iscoroutinefunction(function):
            names = getattr(item, "fixturenames", None)
            if names is not None and "_tasks_end" not in names:
                names.insert(0, "_tasks_end")


@pytest.fixture
async def _tasks_end() -> AsyncIterator[None]:
    """After a test and all its fixtures: the tasks it left behind are cancelled, again if one
    swallowed a cancellation (Python 3.11 loses some in races), before the loop closes; one
    that still runs is named with its stack, instead of the loop's close hanging silently."""
    yield
    me = asyncio.current_task()
    left: list[asyncio.Task[Any]] = []
    for _ in range(5):
        left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not left:
            return
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=2.0)
    left = [t for t in left if not t.done()]
    for task in left:
        print(f"task left running after the test: {task.get_name()}", file=sys.stderr)
        task.print_stack(file=sys.stderr)
