"""What the statistics pages read from the database besides the reports
(:mod:`contact_center.stats.reports`): which queues a supervisor watches, who owns which
phone, the queues to choose from. The handlers (:mod:`contact_center.stats.http`) ask these
and keep no SQL of their own."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.store.models import Queue, User
from contact_center.web.auth import Role


async def supervised_queues(session: AsyncSession, *, role: str, login: str) -> set[str] | None:
    """Queues this user may watch; None = all (admins, or no supervisor assignment at all).

    A supervisor sees the queues whose ``queues.supervisors`` lists their login. While no
    queue names any supervisor (a fresh install), supervisors see every queue.
    """
    if role == Role.ADMIN:
        return None
    rows = (await session.execute(select(Queue.name, Queue.supervisors))).all()
    assigned = {name for name, sup in rows if login in (sup or {}).get("logins", [])}
    anyone_assigned = any((sup or {}).get("logins") for _name, sup in rows)
    return assigned if anyone_assigned else None


@dataclass(frozen=True, slots=True)
class PhoneOwner:
    interface: str
    login: str
    name: str  # the display name, else the login


async def phone_owners(session: AsyncSession) -> list[PhoneOwner]:
    """The users with a phone: whom a wallboard's or a report's interface stands for."""
    rows = (
        await session.execute(
            select(User.interface, User.login, User.display_name).where(User.interface != "")
        )
    ).all()
    return [PhoneOwner(iface, login, name or login) for iface, login, name in rows]


async def phone_user(session: AsyncSession, interface: str) -> tuple[str, str] | None:
    """(login, Asterisk server id or "") of the user with this phone, or None."""
    row = (
        await session.execute(
            select(User.login, User.server_id).where(User.interface == interface).limit(1)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1] or "")


async def queue_names(session: AsyncSession, allowed: set[str] | None) -> list[str]:
    """The queues to choose from, sorted (``allowed``: only these; None: all)."""
    names = (await session.scalars(select(Queue.name))).all()
    return sorted(q for q in names if allowed is None or q in allowed)
