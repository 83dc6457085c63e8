"""The runtime's tables: regions, users, grants, cases, the audit chain and its head, timers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Region(SQLModel, table=True):
    __tablename__ = "regions"

    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=100)
    level: str = Field(max_length=10)
    parent_code: str | None = Field(default=None, foreign_key="regions.code", index=True, max_length=12)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    display_name: str = Field(default="", max_length=100)
    id_number_enc: str | None = Field(default=None, max_length=255)
    id_number_hash: str | None = Field(default=None, max_length=64, index=True)
    email: str | None = Field(default=None, max_length=255)
    active: bool = True
    created_at: datetime = _ts()
    # `aidflow users revoke`: tokens and page sessions issued before this moment no longer count
    tokens_valid_after: datetime | None = _ts(nullable=True)


class RoleGrant(SQLModel, table=True):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "region_code"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    role: str = Field(max_length=32)
    region_code: str = Field(foreign_key="regions.code", max_length=12)
    granted_at: datetime = _ts()


class Case(SQLModel, table=True):
    """One application (案件) moving through a workflow; the audit log is its history."""

    __tablename__ = "cases"
    __table_args__ = (
        # Queue shapes: scope-equality column, then state, then the sort key, then id.
        Index("ix_cases_village_queue", "region_code", "state", "deadline", "id"),
        Index("ix_cases_township_queue", "township_code", "state", "deadline", "id"),
        Index("ix_cases_county_queue", "county_code", "state", "deadline", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(max_length=40)
    workflow_version: int
    reference: str = Field(max_length=40, unique=True)
    tracking_hash: str | None = Field(default=None, max_length=64, unique=True)
    region_code: str = Field(foreign_key="regions.code", max_length=12)
    township_code: str = Field(max_length=12)
    county_code: str = Field(max_length=12)
    state: str = Field(max_length=40)
    version: int = 1
    entered_version: int = 1
    state_entered_at: datetime = _ts()
    deadline: datetime | None = _ts(nullable=True)
    applicant_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    created_by_user_id: int | None = Field(default=None, foreign_key="users.id")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CaseCount(SQLModel, table=True):
    """How many cases of a workflow are in a state in a village, kept by engine.runtime in the
    transaction that opens a case or moves it: a queue's counts add up these rows, never count cases."""

    __tablename__ = "case_counts"
    __table_args__ = (
        Index("ix_case_counts_township", "township_code", "state"),
        Index("ix_case_counts_county", "county_code", "state"),
    )

    region_code: str = Field(primary_key=True, max_length=12)
    workflow: str = Field(primary_key=True, max_length=40)
    state: str = Field(primary_key=True, max_length=40)
    township_code: str = Field(max_length=12)
    county_code: str = Field(max_length=12)
    n: int = Field(sa_column=Column(BigInteger, nullable=False))


class AuditEntry(SQLModel, table=True):
    """One link of the hash chain. Never updated, never deleted."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_case_seq", "case_id", "seq"),
        # the cases a person acted on (their queue's counts judge only those)
        Index("ix_audit_actor_case", "actor", "case_id"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = _ts()
    actor: str = Field(max_length=64)
    role: str = Field(max_length=32)
    region_code: str = Field(default="", max_length=12)
    case_id: int | None = Field(default=None)
    action: str = Field(max_length=64)
    from_state: str | None = Field(default=None, max_length=40)
    to_state: str | None = Field(default=None, max_length=40)
    data: str = Field(sa_column=Column(Text, nullable=False))
    due_at: datetime | None = _ts(nullable=True)
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64, unique=True)
    # The bytes `hash` seals (engine.audit.encode, as UTF-8 text); NULL on entries written before
    # migration 0010, which verify encodes again from their fields.
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AuditHead(SQLModel, table=True):
    """The chain's head: the single row every append locks, and a witness against truncation."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)


class TimerRow(SQLModel, table=True):
    __tablename__ = "timers"
    __table_args__ = (
        Index(
            "ix_timers_pending",
            "due_at",
            "id",
            sqlite_where=Column("fired_at").is_(None),
            postgresql_where=Column("fired_at").is_(None),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    action: str = Field(max_length=64)
    state: str = Field(max_length=40)
    entered_version: int
    due_at: datetime = _ts()
    fired_at: datetime | None = _ts(nullable=True)
    outcome: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
