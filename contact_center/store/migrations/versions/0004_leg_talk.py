"""call legs carry their operator's own talk: a transferred call credits every operator

Revision ID: 0004_leg_talk
Revises: 0003
Create Date: 2026-12-07 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_leg_talk"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_legs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("talk_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("via", sa.String(20), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("queue", sa.String(80), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("call_legs", schema=None) as batch_op:
        for name in ("queue", "via", "talk_seconds", "answered_at"):
            batch_op.drop_column(name)
