"""Delivering the outbox: claim due rows, send, settle; retry with back-off, park the hopeless."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import and_, or_, select
from sqlmodel import col

from engine.database import Database
from notifications.outbox import DEAD, PENDING, SENDING, SENT, OutboxMessage
from notifications.sender import Sender

BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Claimed:
    id: int
    dedupe_key: str
    recipient: str
    subject: str
    body: str
    created_at: datetime


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0


def _claim(db: Database, now: datetime, limit: int) -> list[Claimed]:
    """Take up to `limit` due rows (and rows whose worker's lease ran out), each by one worker only."""
    with db.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(
                or_(
                    and_(col(OutboxMessage.status) == PENDING, col(OutboxMessage.next_attempt_at) <= now),
                    and_(col(OutboxMessage.status) == SENDING, col(OutboxMessage.claimed_until) < now),
                )
            )
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row in rows:
            row.status, row.claimed_until, row.attempts = SENDING, now + LEASE, row.attempts + 1
            assert row.id is not None
            claimed.append(Claimed(row.id, row.dedupe_key, row.recipient, row.subject, row.body, row.created_at))
        return claimed


def _settle(db: Database, message_id: int, now: datetime, error: str | None) -> str:
    with db.session() as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        row.claimed_until = None
        if error is None:
            row.status, row.sent_at, row.last_error = SENT, now, None
        elif row.attempts >= MAX_ATTEMPTS:
            row.status, row.last_error = DEAD, error[:500]
        else:
            row.status, row.last_error = PENDING, error[:500]
            row.next_attempt_at = now + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
        return row.status


def render(message: Claimed, sender_address: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender_address
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    # The same id on every attempt: a receiver can drop a duplicate if a send is ever repeated.
    email["Message-ID"] = f"<{message.dedupe_key.replace(':', '.').replace('@', '.')}@aidflow.invalid>"
    email.set_content(message.body)
    return email


async def drain(db: Database, sender: Sender, *, now: datetime, sender_address: str, limit: int = 50) -> DrainResult:
    """One pass over the due messages. Delivery is at least once; a row is marked sent only after
    the server accepted it, so a worker killed in between leaves it to be sent again after its lease."""
    result = DrainResult()
    for message in await asyncio.to_thread(_claim, db, now, limit):
        try:
            await sender.send(render(message, sender_address))
            error = None
        except Exception as exc:  # any delivery failure is recorded and retried
            error = f"{type(exc).__name__}: {exc}"
        status = await asyncio.to_thread(_settle, db, message.id, now, error)
        if status == SENT:
            result.sent += 1
        elif status == DEAD:
            result.dead += 1
        else:
            result.retried += 1
    return result
