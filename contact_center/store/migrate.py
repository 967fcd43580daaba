"""Run Alembic from code: ``upgrade(url)`` to head, ``current(url)``, and autogenerate.

The Alembic configuration is built here rather than read from an ``alembic.ini`` in the
working directory, so ``contact-center db upgrade`` works wherever it is started.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from contact_center.store.db import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class MigrationError(RuntimeError):
    """A migration could not run; the message names the database (password hidden)."""


def alembic_config(url: str = "") -> Config:
    """An Alembic Config pointing at the packaged migrations (URL passed as an attribute
    because ``set_main_option`` would mangle ``%`` in passwords)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (default: the latest)."""
    await _with_connection(url, lambda conn, cfg: command.upgrade(cfg, revision))


async def downgrade(url: str, revision: str) -> None:
    await _with_connection(url, lambda conn, cfg: command.downgrade(cfg, revision))


async def current(url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    result: list[str | None] = []

    def read(conn: Connection, _cfg: Config) -> None:
        result.append(MigrationContext.configure(conn).get_current_revision())

    await _with_connection(url, read)
    return result[0]


async def autogenerate(url: str, message: str, rev_id: str | None = None) -> None:
    """Write a new revision from the difference between ``url`` and the models (a
    developer tool: review the file it writes)."""
    await _with_connection(
        url,
        lambda conn, cfg: command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id),
    )


async def _with_connection(url: str, action: Any) -> None:
    engine = create_engine(url)
    cfg = alembic_config(url)
    try:
        async with engine.begin() as conn:

            def run(sync_conn: Connection) -> None:
                cfg.attributes["connection"] = sync_conn
                action(sync_conn, cfg)

            await conn.run_sync(run)
    except OSError as exc:
        raise MigrationError(f"{_safe(url)}: cannot connect: {exc}") from exc
    finally:
        await engine.dispose()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def regenerate_initial() -> Path:
    """(Before the first release only.) Rewrite revision 0001 from the current models."""
    import tempfile

    versions = MIGRATIONS_DIR / "versions"
    for old in versions.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        await autogenerate(f"sqlite+aiosqlite:///{tmp}/empty.sqlite3", "initial schema", "0001")
    return next(versions.glob("0001_*.py"))


if __name__ == "__main__":
    import asyncio
    import sys

    if sys.argv[1:] != ["--regenerate-initial"]:
        sys.exit("usage: python -m contact_center.store.migrate --regenerate-initial")
    print(asyncio.run(regenerate_initial()))
