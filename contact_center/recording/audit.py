"""Audit entries for recordings: every listen, download, deletion and erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.store.db import utcnow
from contact_center.store.models import AuditLog


def audit(
    session: AsyncSession, user_login: str, action: str, target: str, **detail: Any
) -> AuditLog:
    """Add one audit row to the session (the caller commits with its own change)."""
    entry = AuditLog(
        at=utcnow(),
        user_login=user_login[:80],
        action=action[:60],
        target=target[:200],
        detail=detail,
    )
    session.add(entry)
    return entry
