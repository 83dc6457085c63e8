"""Cases per (village, workflow, state), kept in the transaction of each change: queue counts read
these rows instead of counting the cases of a scope. Filled once here from the cases there are.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_counts",
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("workflow", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("township_code", sa.String(length=12), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("region_code", "workflow", "state"),
    )
    op.create_index("ix_case_counts_township", "case_counts", ["township_code", "state"])
    op.create_index("ix_case_counts_county", "case_counts", ["county_code", "state"])
    op.execute(
        "INSERT INTO case_counts (region_code, workflow, state, township_code, county_code, n) "
        "SELECT region_code, workflow, state, MIN(township_code), MIN(county_code), COUNT(*) FROM cases "
        "GROUP BY region_code, workflow, state"
    )


def downgrade() -> None:
    op.drop_index("ix_case_counts_county", table_name="case_counts")
    op.drop_index("ix_case_counts_township", table_name="case_counts")
    op.drop_table("case_counts")
