"""users bound to an Asterisk server (several servers, one connector each)

Revision ID: 0005_servers
Revises: 0003
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_servers"
down_revision: str | Sequence[str] | None = "0004_leg_talk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # empty: the deployment's only server (general.server_id), as before
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("server_id", sa.String(40), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("server_id")
