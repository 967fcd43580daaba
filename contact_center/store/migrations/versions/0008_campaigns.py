"""outbound campaigns: campaigns, their contacts and attempts, the do-not-call list

Revision ID: 0008_campaigns
Revises: 0003
Create Date: 2026-12-07 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_campaigns"
down_revision: str | Sequence[str] | None = "0007_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("operators", sa.JSON(), nullable=False),
        sa.Column("window_start", sa.String(5), nullable=False),
        sa.Column("window_end", sa.String(5), nullable=False),
        sa.Column("window_days", sa.String(7), nullable=False),
        sa.Column("default_tz", sa.String(64), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_no_answer_minutes", sa.Integer(), nullable=False),
        sa.Column("retry_busy_minutes", sa.Integer(), nullable=False),
        sa.Column("retry_machine_minutes", sa.Integer(), nullable=False),
        sa.Column("abandon_cap", sa.Float(), nullable=False),
        sa.Column("dial_timeout", sa.Integer(), nullable=False),
        sa.Column("ends_at", When, nullable=True),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("finished_reason", sa.String(80), nullable=False),
        sa.Column("live", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_index(op.f("ix_campaigns_status"), "campaigns", ["status"], unique=False)
    op.create_table(
        "campaign_contacts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", When, nullable=True),
        sa.Column("last_outcome", sa.String(40), nullable=False),
        sa.Column("disposition", sa.String(60), nullable=False),
        sa.Column("operator_login", sa.String(80), nullable=False),
        sa.Column("attempt_linkedid", sa.String(64), nullable=False),
        sa.Column("last_attempt_at", When, nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_contacts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_campaign_contacts_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_contacts")),
        sa.UniqueConstraint("campaign_id", "number", name=op.f("uq_campaign_contacts_campaign_id")),
    )
    op.create_index(
        "ix_campaign_contacts_due",
        "campaign_contacts",
        ["campaign_id", "status", "next_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_campaign_contacts_attempt_linkedid"),
        "campaign_contacts",
        ["attempt_linkedid"],
        unique=False,
    )
    op.create_table(
        "campaign_attempts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("campaign_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("call_linkedid", sa.String(64), nullable=False),
        sa.Column("operator_login", sa.String(80), nullable=False),
        sa.Column("started_at", When, nullable=False),
        sa.Column("ended_at", When, nullable=True),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("talk_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_attempts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["campaign_contacts.id"],
            name=op.f("fk_campaign_attempts_contact_id_campaign_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_attempts")),
    )
    op.create_index(
        op.f("ix_campaign_attempts_campaign_id"), "campaign_attempts", ["campaign_id"], unique=False
    )
    op.create_index(
        op.f("ix_campaign_attempts_call_linkedid"),
        "campaign_attempts",
        ["call_linkedid"],
        unique=False,
    )
    op.create_table(
        "do_not_call",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("added_by", sa.String(80), nullable=False),
        sa.Column("added_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_call")),
        sa.UniqueConstraint("number", name=op.f("uq_do_not_call_number")),
    )


def downgrade() -> None:
    op.drop_table("do_not_call")
    op.drop_index(op.f("ix_campaign_attempts_call_linkedid"), table_name="campaign_attempts")
    op.drop_index(op.f("ix_campaign_attempts_campaign_id"), table_name="campaign_attempts")
    op.drop_table("campaign_attempts")
    op.drop_index(op.f("ix_campaign_contacts_attempt_linkedid"), table_name="campaign_contacts")
    op.drop_index("ix_campaign_contacts_due", table_name="campaign_contacts")
    op.drop_table("campaign_contacts")
    op.drop_index(op.f("ix_campaigns_status"), table_name="campaigns")
    op.drop_table("campaigns")
