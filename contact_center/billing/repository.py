"""Tariff plans in the database: save (replace) on import, load for rating, a small cache."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.billing.errors import UnknownPlanError
from contact_center.billing.tariffs import Rate, TariffPlan, plan_from_definition, tidy_money
from contact_center.store import models
from contact_center.store.db import utcnow

Sessions = async_sessionmaker[AsyncSession]


async def save_plans(sessions: Sessions, plans: Iterable[TariffPlan]) -> list[tuple[str, int]]:
    """Store plans, replacing any of the same name, in one transaction. Returns (name, rates)."""
    saved: list[tuple[str, int]] = []
    async with sessions() as session, session.begin():
        for plan in plans:
            await session.execute(
                delete(models.TariffPlan).where(models.TariffPlan.name == plan.name)
            )
            row = models.TariffPlan(
                name=plan.name,
                direction=plan.direction,
                currency=plan.currency,
                definition=plan.definition(),
                imported_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            # Rates are deleted with the plan row (ON DELETE CASCADE), but SQLite only
            # cascades with foreign keys on; delete explicitly to be safe on both.
            await session.execute(
                delete(models.TariffRate).where(models.TariffRate.plan_id == row.id)
            )
            if plan.rates:
                await session.execute(
                    insert(models.TariffRate), [_rate_row(row.id, r) for r in plan.rates]
                )
            saved.append((plan.name, len(plan.rates)))
    return saved


def _rate_row(plan_id: int, rate: Rate) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "prefix": rate.prefix,
        "band": rate.band,
        "description": rate.description,
        "connection_fee": rate.connection_fee,
        "per_minute": rate.per_minute,
        "first_increment": rate.first_increment,
        "next_increment": rate.next_increment,
        "grace_seconds": rate.grace_seconds,
        "free_seconds": rate.free_seconds,
        "minimum_charge": rate.minimum_charge,
    }


async def load_plan(sessions: Sessions, name: str) -> TariffPlan:
    async with sessions() as session:
        row = (
            await session.execute(select(models.TariffPlan).where(models.TariffPlan.name == name))
        ).scalar_one_or_none()
        if row is None:
            raise UnknownPlanError(name)
        rates = (
            await session.execute(
                select(models.TariffRate).where(models.TariffRate.plan_id == row.id)
            )
        ).scalars()
        return plan_from_definition(
            name=row.name,
            direction=row.direction,
            currency=row.currency,
            definition=row.definition,
            rates=[
                Rate(
                    prefix=r.prefix,
                    band=r.band,
                    description=r.description,
                    per_minute=tidy_money(r.per_minute),
                    connection_fee=tidy_money(r.connection_fee),
                    first_increment=r.first_increment,
                    next_increment=r.next_increment,
                    grace_seconds=r.grace_seconds,
                    free_seconds=r.free_seconds,
                    minimum_charge=tidy_money(r.minimum_charge),
                )
                for r in rates
            ],
        )


class PlanCache:
    """Plans by name, loaded once; ``invalidate()`` after an import."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions
        self._plans: dict[str, TariffPlan | None] = {}

    async def get(self, name: str) -> TariffPlan | None:
        """The plan, or None when no plan of that name is imported."""
        if name not in self._plans:
            try:
                self._plans[name] = await load_plan(self._sessions, name)
            except UnknownPlanError:
                return None  # not cached: it may be imported later
        return self._plans[name]

    def invalidate(self) -> None:
        self._plans.clear()
