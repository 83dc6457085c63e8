"""The Alembic history builds exactly the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import engine.tables  # noqa: F401  (registers the runtime's tables)
import notifications.outbox  # noqa: F401  (registers the outbox)
import workflows.models  # noqa: F401  (registers the aid domain's tables)
from engine.database import Database


def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []
