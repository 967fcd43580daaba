"""administration: API tokens (hashed), editable pause reasons and dispositions (seeded with
the lists the code had), queues.skills (the skills a queue requires, set by an admin)

Revision ID: 0007_admin
Revises: 0003
Create Date: 2026-12-07 00:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_admin"
down_revision: str | Sequence[str] | None = "0006_user_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PAUSE_REASONS = ("break", "lunch", "training", "meeting", "after-call work", "technical")
DISPOSITIONS = ("resolved", "callback", "escalated", "sale", "complaint", "wrong number", "other")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, server_default=""),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    choices = op.create_table(
        "admin_choices",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_choices")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_admin_choices_kind")),
    )
    rows = [
        {"kind": kind, "name": name, "position": n, "active": True}
        for kind, names in (("pause_reason", PAUSE_REASONS), ("disposition", DISPOSITIONS))
        for n, name in enumerate(names)
    ]
    op.bulk_insert(choices, rows)
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skills", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("skills")
    op.drop_table("admin_choices")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
