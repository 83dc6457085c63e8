"""Payment lines that move pending → exported → paid | failed, bank files, and fund entry kinds.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.tables import UTCDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("sha256_csv", sa.String(length=64), nullable=True),
        sa.Column("sha256_xlsx", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("township_code", "month", "seq", name="uq_payment_batches_seq"),
    )
    with op.batch_alter_table("payment_lines") as batch:
        batch.add_column(sa.Column("reference", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("held_reason", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("exported_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paid_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failed_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failure_reason", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("paid_by_hand", sa.String(length=200), nullable=True))
        batch.create_unique_constraint("uq_payment_lines_reference", ["reference"])
        batch.create_foreign_key("fk_payment_lines_batch", "payment_batches", ["batch_id"], ["id"])
    # Lines made before references existed get the reference a new line would get.
    op.execute(
        "UPDATE payment_lines SET reference = 'PAY' || replace(month, '-', '') || '-' || "
        "substr('00000000' || CAST(case_id AS TEXT), -8, 8) WHERE reference IS NULL"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE payment_lines SET reference = 'PAY' || replace(month, '-', '') || '-' || "
        "lpad(case_id::text, 8, '0') WHERE reference IS NULL"
    )
    with op.batch_alter_table("fund_entries") as batch:
        batch.add_column(sa.Column("note", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("payee", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("method", sa.String(length=20), nullable=True))
    # A grant paid out was called a debit before refunds and recoveries were kinds of their own.
    op.execute("UPDATE fund_entries SET kind = 'grant' WHERE kind = 'debit'")


def downgrade() -> None:
    op.execute("UPDATE fund_entries SET kind = 'debit' WHERE kind = 'grant'")
    with op.batch_alter_table("fund_entries") as batch:
        batch.drop_column("method")
        batch.drop_column("payee")
        batch.drop_column("note")
    with op.batch_alter_table("payment_lines") as batch:
        batch.drop_constraint("fk_payment_lines_batch", type_="foreignkey")
        batch.drop_constraint("uq_payment_lines_reference", type_="unique")
        for name in (
            "paid_by_hand",
            "failure_reason",
            "failed_at",
            "paid_at",
            "exported_at",
            "batch_id",
            "attempt",
            "held_reason",
            "reference",
        ):
            batch.drop_column(name)
    op.drop_table("payment_batches")
