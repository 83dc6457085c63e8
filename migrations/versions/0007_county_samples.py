"""County supervision of delegated decisions: filings (备案), the monthly sample with its seed, county visits.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.tables import UTCDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "county_filings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("filed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("filed_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", name="uq_county_filings_case"),
    )
    op.create_index("ix_county_filings_county", "county_filings", ["county_code", "decided_at", "id"])
    op.create_table(
        "county_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("ratio", sa.String(length=10), nullable=False),
        sa.Column("population", sa.JSON(), nullable=False),
        sa.Column("drawn", sa.JSON(), nullable=False),
        sa.Column("drawn_by", sa.String(length=64), nullable=False),
        sa.Column("drawn_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("county_code", "month", name="uq_county_samples_month"),
    )
    op.create_table(
        "county_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("visit_date", sa.String(length=10), nullable=True),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("visited_by", sa.String(length=64), nullable=True),
        sa.Column("visited_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["sample_id"], ["county_samples.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "reason", name="uq_county_visits_case_reason"),
    )
    op.create_index("ix_county_visits_case_id", "county_visits", ["case_id"])
    op.create_index("ix_county_visits_county", "county_visits", ["county_code", "visited_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_county_visits_county", table_name="county_visits")
    op.drop_index("ix_county_visits_case_id", table_name="county_visits")
    op.drop_table("county_visits")
    op.drop_table("county_samples")
    op.drop_index("ix_county_filings_county", table_name="county_filings")
    op.drop_table("county_filings")
