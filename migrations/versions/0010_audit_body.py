"""Each audit entry keeps the bytes its hash seals (`body`, the canonical encoding as UTF-8 text), so
verify streams them instead of encoding every entry again; the database checks that the fields
still say what the body says. Entries written before this keep body NULL and are verified, as
before, by encoding their fields. A column added, no row rewritten: the append-only triggers stay.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ALTER TABLE … ADD COLUMN on both databases (no batch copy on SQLite, which would drop the
    # triggers); nullable without a default, so PostgreSQL writes no row.
    op.add_column("audit_entries", sa.Column("body", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_entries", "body")
