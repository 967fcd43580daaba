"""customers.external_id (identity by the company's own id, never by phone) and
payments.external_id (a payment imported twice is one payment)

Revision ID: 0002_customer_external_id
Revises: 0001
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_customer_external_id"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a UNIQUE constraint to an existing table in place.
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=80), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_customers_external_id"), ["external_id"]
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=80), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_payments_external_id"), ["external_id"])


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_payments_external_id"), type_="unique")
        batch_op.drop_column("external_id")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_customers_external_id"), type_="unique")
        batch_op.drop_column("external_id")
