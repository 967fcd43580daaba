"""Operators as the users table describes them (interface, queues with penalties, skills),
and their intended states as ``operator_sessions`` keeps them across restarts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.routing.members import penalty_for
from contact_center.routing.operators import Intent, Operator
from contact_center.store.db import from_epoch
from contact_center.store.models import OperatorSession, Queue, User

QueueSkills = Callable[[], Mapping[str, Sequence[str]]]


class StoreOperators:
    """``queue_skills``: the skills each queue requires (``routing.yaml``), read at every
    look-up; an operator's penalty in a queue is then their configured penalty plus the gap
    between their weakest required skill and expert (:func:`penalty_for`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue_skills: QueueSkills | None = None,
        *,
        server: str = "",
    ) -> None:
        self._sessions = sessions
        self._queue_skills = queue_skills
        # With several Asterisk servers each connector manages the users bound to its own
        # (``users.server_id``; empty: the deployment's only server).
        self._server = server

    async def operator(self, login: str) -> Operator | None:
        found = await self._select(User.login == login)
        return found[0] if found else None

    async def by_interface(self, interface: str) -> Operator | None:
        """The active operator whose phone is ``interface`` (a queue member after a restart)."""
        if not interface:
            return None
        found = await self._select(User.interface == interface)
        return found[0] if found else None

    async def all(self) -> list[Operator]:
        """Every active operator with a phone and queues (two queries, whatever their number)."""
        return await self._select(User.interface != "", limit=None)

    async def _select(self, where: ColumnElement[bool], *, limit: int | None = 1) -> list[Operator]:
        query = select(User).where(where, User.active.is_(True)).order_by(User.id)
        if self._server:
            query = query.where(User.server_id.in_((self._server, "")))
        if limit is not None:
            query = query.limit(limit)
        async with self._sessions() as db:
            users = [u for u in (await db.execute(query)).scalars() if u.interface and u.queues]
            names = {str(q) for u in users for q in dict(u.queues)}
            rows = await db.execute(
                select(Queue.name, Queue.wrapup_seconds, Queue.skills).where(Queue.name.in_(names))
            )
            found = rows.all()
            wrapups = {str(name): seconds for name, seconds, _ in found}
        required = dict(self._queue_skills() if self._queue_skills is not None else {})
        # skills an admin set on the queue (admin/) replace routing.yaml's for that queue
        required.update(
            {str(n): tuple(sk["required"]) for n, _, sk in found if (sk or {}).get("required")}
        )
        operators = []
        for user in users:
            skills = {str(k): int(v or 0) for k, v in dict(user.skills or {}).items()}
            queues = {
                str(q): penalty_for(skills, required.get(str(q), ()), base=int(p or 0))
                for q, p in dict(user.queues).items()
            }
            operators.append(
                Operator(
                    login=user.login,
                    interface=user.interface,
                    name=user.display_name or user.login,
                    queues=queues,
                    wrapup_seconds=max([int(wrapups.get(q) or 0) for q in queues], default=0),
                )
            )
        return operators

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
        # rows written before intents were kept here may say "wrapup" or "busy": signed in
        return {
            login: Intent(state, reason or "")
            if state in ("offline", "available", "paused")
            else Intent("available")
            for login, state, reason in rows
        }

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
