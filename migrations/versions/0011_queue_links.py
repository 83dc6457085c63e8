"""The cases a person is linked to, found by index: audit_entries by (actor, case_id), and a
case_identifiers row of kind `investigator` (keyed by the username) for each official a village review
named; filled here from the village reviews there are. Audit rows are only indexed, never changed.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def upgrade() -> None:
    op.create_index("ix_audit_actor_case", "audit_entries", ["actor", "case_id"])
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, county_code, data FROM cases WHERE CAST(data AS TEXT) LIKE '%village_actors%'")
    )
    found: list[dict[str, object]] = []
    for case_id, county, data in rows.all():
        loaded = json.loads(data) if isinstance(data, str) else data
        for name in dict.fromkeys(str(n) for n in loaded.get("village_actors") or []):
            found.append({"case_id": case_id, "kind": "investigator", "lookup_hash": name, "county_code": county})
    insert = sa.text(
        "INSERT INTO case_identifiers (case_id, kind, lookup_hash, county_code) "
        "VALUES (:case_id, :kind, :lookup_hash, :county_code)"
    )
    for start in range(0, len(found), _BATCH):
        bind.execute(insert, found[start : start + _BATCH])


def downgrade() -> None:
    op.execute("DELETE FROM case_identifiers WHERE kind = 'investigator'")
    op.drop_index("ix_audit_actor_case", table_name="audit_entries")
