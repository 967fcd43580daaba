"""callbacks dialled back: who asked, who calls back, attempts and outcomes

Revision ID: 0003
Revises: 0002_customer_external_id
Create Date: 2026-12-06 22:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002_customer_external_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_by", sa.String(80), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("assigned_login", sa.String(80), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("operator_login", sa.String(80), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("attempt_linkedid", sa.String(64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_outcome", sa.String(40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("log", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_index(batch_op.f("ix_callbacks_assigned_login"), ["assigned_login"], unique=False)
        batch_op.create_index(batch_op.f("ix_callbacks_attempt_linkedid"), ["attempt_linkedid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_attempt_linkedid"))
        batch_op.drop_index(batch_op.f("ix_callbacks_assigned_login"))
        for name in ("log", "last_outcome", "last_attempt_at", "attempt_linkedid", "operator_login", "assigned_login", "requested_by"):
            batch_op.drop_column(name)
