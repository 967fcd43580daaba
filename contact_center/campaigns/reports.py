"""A campaign's figures (live on /campaigns) and its report: counted from the attempts and
the list, the occupancy from what the dialer last saw of the campaign's operators."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.campaigns.policy import DIALING, DISPOSITIONS, DNC, PENDING
from contact_center.store.models import Campaign, CampaignAttempt, CampaignContact


async def figures(db: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """Dialled, answered, machine, abandoned (rate against the cap), list penetration."""
    outcomes = dict(
        (
            await db.execute(
                select(CampaignAttempt.outcome, func.count())
                .where(CampaignAttempt.campaign_id == campaign.id)
                .group_by(CampaignAttempt.outcome)
            )
        ).all()
    )
    statuses = dict(
        (
            await db.execute(
                select(CampaignContact.status, func.count())
                .where(CampaignContact.campaign_id == campaign.id)
                .group_by(CampaignContact.status)
            )
        ).all()
    )
    touched = await db.scalar(
        select(func.count()).where(
            CampaignContact.campaign_id == campaign.id, CampaignContact.attempts > 0
        )
    )
    listed = sum(statuses.values())
    dialled = sum(n for o, n in outcomes.items() if o != "operator_no_answer")
    answered = int(outcomes.get("answered", 0))
    abandoned = int(outcomes.get("abandoned", 0))
    people = answered + abandoned
    live = campaign.live or {}
    return {
        "dialled": dialled,
        "under_way": int(outcomes.get("", 0)),
        "answered": answered,
        "machine": int(outcomes.get("machine", 0)),
        "busy": int(outcomes.get("busy", 0)),
        "no_answer": int(outcomes.get("no_answer", 0)),
        "abandoned": abandoned,
        "abandon_rate": round(abandoned / people, 4) if people else 0.0,
        "abandon_cap": campaign.abandon_cap,
        "listed": listed,
        "penetration": round((touched or 0) / listed, 4) if listed else 0.0,
        "left": int(statuses.get(PENDING, 0)) + int(statuses.get(DIALING, 0)),
        "dnc": int(statuses.get(DNC, 0)),
        "occupancy": live.get("occupancy"),
        "operators": live.get("operators", 0),
    }


async def report(db: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """Per campaign: the figures, outcomes per operator, dispositions."""
    per_operator = [
        {"login": login or "(dialler)", "outcome": outcome, "calls": n, "talk": round(t or 0.0)}
        for login, outcome, n, t in (
            await db.execute(
                select(
                    CampaignAttempt.operator_login,
                    CampaignAttempt.outcome,
                    func.count(),
                    func.sum(CampaignAttempt.talk_seconds),
                )
                .where(CampaignAttempt.campaign_id == campaign.id)
                .group_by(CampaignAttempt.operator_login, CampaignAttempt.outcome)
                .order_by(CampaignAttempt.operator_login, CampaignAttempt.outcome)
            )
        ).all()
    ]
    dispositions = dict(
        (
            await db.execute(
                select(CampaignContact.disposition, func.count())
                .where(
                    CampaignContact.campaign_id == campaign.id, CampaignContact.disposition != ""
                )
                .group_by(CampaignContact.disposition)
            )
        ).all()
    )
    return {
        "figures": await figures(db, campaign),
        "per_operator": per_operator,
        "dispositions": {DISPOSITIONS.get(k, k): v for k, v in dispositions.items()},
    }
