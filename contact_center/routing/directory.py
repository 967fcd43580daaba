"""Operators as the users table describes them (interface, queues with penalties, skills)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.routing.operators import Operator
from contact_center.store.models import Queue, User


class StoreOperators:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def operator(self, login: str) -> Operator | None:
        return await self._one(User.login == login)

    async def by_interface(self, interface: str) -> Operator | None:
        """The active operator whose phone is ``interface`` (a queue member after a restart)."""
        if not interface:
            return None
        return await self._one(User.interface == interface)

    async def _one(self, where: ColumnElement[bool]) -> Operator | None:
        async with self._sessions() as db:
            user = (
                (await db.execute(select(User).where(where, User.active.is_(True)).limit(1)))
                .scalars()
                .first()
            )
            if user is None or not user.interface or not user.queues:
                return None
            queues = {str(q): int(p or 0) for q, p in dict(user.queues).items()}
            wrapups = (
                await db.execute(select(Queue.wrapup_seconds).where(Queue.name.in_(queues)))
            ).scalars()
            return Operator(
                login=user.login,
                interface=user.interface,
                name=user.display_name or user.login,
                queues=queues,
                wrapup_seconds=max([int(w or 0) for w in wrapups], default=0),
            )

    async def all(self) -> list[Operator]:
        async with self._sessions() as db:
            logins = (
                (
                    await db.execute(
                        select(User.login).where(User.interface != "", User.active.is_(True))
                    )
                )
                .scalars()
                .all()
            )
        found = [await self.operator(login) for login in logins]
        return [op for op in found if op is not None]
