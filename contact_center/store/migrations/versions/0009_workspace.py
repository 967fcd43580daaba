"""wrap-ups kept on the server until saved (drafts survive a reload and a restart)

Revision ID: 0009_workspace
Revises: 0003
Create Date: 2026-12-07 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_workspace"
down_revision: str | Sequence[str] | None = "0008_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wrapups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("server", sa.String(length=40), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("login", sa.String(length=80), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("disposition", sa.String(length=80), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_wrapups_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wrapups")),
        sa.UniqueConstraint("server", "linkedid", "login", name=op.f("uq_wrapups_server")),
    )
    op.create_index(op.f("ix_wrapups_login"), "wrapups", ["login"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_wrapups_login"), table_name="wrapups")
    op.drop_table("wrapups")
