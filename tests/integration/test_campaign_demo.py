"""The demo seeds one campaign (once): progressive, through sales, with twenty customers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from contact_center.config import load_settings
from contact_center.demo import seed
from contact_center.service import open_core
from contact_center.store.models import Campaign, CampaignContact
from tests.integration.web_support import SQLITE_ONLY


@SQLITE_ONLY
async def test_the_demo_seeds_a_campaign_once(db_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        environ={"CC_DATABASE_URL": db_url, "CC_GENERAL_DATA_DIR": str(tmp_path / "data")}
    )
    await seed(settings)
    await seed(settings)  # a second run adds nothing
    core = await open_core(settings, migrate=False)
    try:
        async with core.sessions() as db:
            campaigns = (await db.scalars(select(Campaign))).all()
            listed = await db.scalar(select(func.count(CampaignContact.id)))
    finally:
        await core.engine.dispose()
    assert [(c.name, c.mode, c.status, c.queues) for c in campaigns] == [
        ("Renewal reminders", "progressive", "paused", {"names": ["sales"]})
    ]
    assert listed == 20
