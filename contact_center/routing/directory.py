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


SLICE = 200  # operators read in one query (one step of the loop)


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
        """Every active operator with a phone and queues, :data:`SLICE` at a time: the sweep
        asks every few seconds, and a thousand users read (their JSON columns decoded) in one
        step held the connector's loop, and the pops with it, for up to 100 ms."""
        operators: list[Operator] = []
        after = 0
        while True:
            page, after = await self._page(User.interface != "", SLICE, after)
            operators.extend(page)
            if not after:
                return operators

    async def _select(self, where: ColumnElement[bool]) -> list[Operator]:
        return (await self._page(where, 1, 0))[0]

    async def _page(
        self, where: ColumnElement[bool], limit: int, after: int
    ) -> tuple[list[Operator], int]:
        """Up to ``limit`` operators with a user id above ``after``, and the id to read on
        from (0 when there are no more). Columns, not ORM instances (cheaper to build)."""
        query = (
            select(User.id, User.login, User.interface, User.display_name, User.queues, User.skills)
            .where(where, User.active.is_(True), User.id > after)
            .order_by(User.id)
            .limit(limit)
        )
        if self._server:
            query = query.where(User.server_id.in_((self._server, "")))
        async with self._sessions() as db:
            rows = (await db.execute(query)).all()
            users = [u for u in rows if u.interface and u.queues]
            names = {str(q) for u in users for q in dict(u.queues)}
            found = (
                await db.execute(
                    select(Queue.name, Queue.wrapup_seconds, Queue.skills).where(
                        Queue.name.in_(names)
                    )
                )
            ).all()
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
        return operators, (rows[-1].id if len(rows) == limit else 0)

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
