"""The people each open case names, kept as rows (person_links) so that a person's queue reads their
links to open cases instead of every case they ever acted on: filled here, for the cases not yet closed,
from what the queue's counts found them by until now (the audit trail by actor, the identifier rows by
hash or investigator's name, the applicant's account).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The states from which no queue state can be reached, per workflow, as the definitions are at this
# revision (workflows.links.closed): their cases get no rows. Leaving a case out is only ever an
# economy; tests/test_migration_links.py checks that each of these is closed.
CLOSED: dict[str, tuple[str, ...]] = {
    "standard": ("exited", "rejected", "withdrawn"),
    "temporary": ("granted", "rejected", "withdrawn"),
    "emergency": ("closed", "converted", "recovery", "rejected", "withdrawn"),
}
PEOPLE_KINDS = ("investigator", "applicant", "member", "relative", "supporter")


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.create_table(
        "person_links",
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("person", "case_id"),
    )
    op.create_index("ix_person_links_case_id", "person_links", ["case_id"])
    closed = " OR ".join(f"(c.workflow = '{w}' AND c.state IN ({_quoted(s)}))" for w, s in CLOSED.items())
    op.execute(
        "INSERT INTO person_links (person, case_id) "
        "SELECT l.person, l.case_id FROM ("
        "SELECT actor AS person, case_id FROM audit_entries WHERE case_id IS NOT NULL AND role NOT IN ('system', 'public') "
        f"UNION SELECT lookup_hash, case_id FROM case_identifiers WHERE kind IN ({_quoted(PEOPLE_KINDS)}) "
        "UNION SELECT 'user:' || CAST(applicant_user_id AS VARCHAR), id FROM cases WHERE applicant_user_id IS NOT NULL"
        f") l JOIN cases c ON c.id = l.case_id WHERE NOT ({closed})"
    )


def downgrade() -> None:
    op.drop_index("ix_person_links_case_id", table_name="person_links")
    op.drop_table("person_links")
