"""Migration 0011 finds the officials earlier village reviews named, so their queues' counts see them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text

import migrations


def test_the_investigators_of_earlier_village_reviews_are_indexed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, "0009")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO regions (code, name, level, parent_code) VALUES ('341122100201', 'v', 'village', NULL)")
        )
        for case_id, data in ((1, {"village_actors": ["clerk", "boss"]}), (2, {"aid_type": "dibao"})):
            conn.execute(
                text(
                    "INSERT INTO cases (id, workflow, workflow_version, reference, region_code, township_code, "
                    "county_code, state, version, entered_version, state_entered_at, data, created_at, updated_at) "
                    "VALUES (:id, 'standard', 1, :ref, '341122100201', '341122100000', '341122000000', "
                    "'township_review', 1, 1, '2026-01-01 00:00:00', :data, '2026-01-01 00:00:00', "
                    "'2026-01-01 00:00:00')"
                ),
                {"id": case_id, "ref": f"R-{case_id}", "data": json.dumps(data)},
            )
    migrations.upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT case_id, kind, lookup_hash FROM case_identifiers ORDER BY lookup_hash")).all()
        indexes = {r[1] for r in conn.execute(text("PRAGMA index_list('audit_entries')")).all()}
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "investigator", "boss"), (1, "investigator", "clerk")]
    assert "ix_audit_actor_case" in indexes
