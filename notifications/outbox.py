"""The outbox: a message is a row written in the same transaction as the change it reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String, Text, select
from sqlmodel import Field, Session, SQLModel

from engine.tables import UTCDateTime

PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"


def _ts(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=120, unique=True)
    kind: str = Field(max_length=40)
    case_id: int | None = Field(default=None, index=True)
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=PENDING, max_length=10)
    attempts: int = 0
    created_at: datetime = _ts()
    next_attempt_at: datetime = _ts()
    claimed_until: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    now: datetime,
    case_id: int | None = None,
) -> bool:
    """Add a message in the caller's transaction; False when one with this key already exists."""
    exists = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))  # type: ignore[call-overload]
    if exists is not None:
        return False
    session.add(
        OutboxMessage(
            dedupe_key=dedupe_key,
            kind=kind,
            case_id=case_id,
            recipient=recipient,
            subject=subject[:300],
            body=body,
            status=PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )
    session.flush()
    return True
