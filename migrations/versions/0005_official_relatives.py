"""近亲属备案: officials' own declarations of their close relatives.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.tables import UTCDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "official_relatives",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name_enc", sa.String(600), nullable=False),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("relation", sa.String(20), nullable=False),
        sa.Column("declared_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "id_hash", name="uq_official_relatives_user_person"),
    )
    op.create_index("ix_official_relatives_user_id", "official_relatives", ["user_id"])
    op.create_index("ix_official_relatives_id_hash", "official_relatives", ["id_hash"])


def downgrade() -> None:
    op.drop_table("official_relatives")
