"""Operators as the users table describes them (interface, queues with penalties, skills),
and their intended states as ``operator_sessions`` keeps them across restarts."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.routing.operators import Intent, Operator
from contact_center.store.db import from_epoch
from contact_center.store.models import OperatorSession, Queue, User


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

    async def load_intents(self) -> dict[str, Intent]:
        """Every stored intent by login (``operator_sessions``)."""
        async with self._sessions() as db:
            rows = (
                await db.execute(
                    select(User.login, OperatorSession.state, OperatorSession.reason).join(
                        OperatorSession, OperatorSession.user_id == User.id
                    )
                )
            ).all()
        return {login: Intent(state, reason or "") for login, state, reason in rows}

    async def save_intent(self, login: str, intent: Intent) -> None:
        async with self._sessions.begin() as db:
            user_id = (
                await db.execute(select(User.id).where(User.login == login))
            ).scalar_one_or_none()
            if user_id is None:
                return
            row = (
                await db.execute(select(OperatorSession).where(OperatorSession.user_id == user_id))
            ).scalar_one_or_none()
            since = from_epoch(intent.since)
            if row is None:
                db.add(
                    OperatorSession(
                        user_id=user_id, state=intent.presence, reason=intent.reason, since=since
                    )
                )
            else:
                row.state, row.reason, row.since = intent.presence, intent.reason, since
