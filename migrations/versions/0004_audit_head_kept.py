"""The audit head row cannot be deleted (it may only move forward with each append).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
            "BEGIN SELECT RAISE(ABORT, 'audit_head is kept: it moves forward, never away'); END"
        )
    else:
        op.execute(
            "CREATE FUNCTION aidflow_audit_head_kept() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_head is kept: it moves forward, never away'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_head_kept BEFORE DELETE OR TRUNCATE ON audit_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION aidflow_audit_head_kept()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_head_kept ON audit_head")
        op.execute("DROP FUNCTION IF EXISTS aidflow_audit_head_kept()")
