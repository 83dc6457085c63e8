from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from engine.database import Database
from notifications.outbox import DEAD, PENDING, SENT, OutboxMessage, enqueue
from notifications.sender import RecordingSender, SmtpSender
from notifications.worker import MAX_ATTEMPTS, drain

FROM = "aidflow@county.invalid"


def _queue(db: Database, now: datetime, key: str = "t1:a@b.cn") -> None:
    with db.session() as s:
        assert enqueue(
            s,
            dedupe_key=key,
            kind="state_changed",
            recipient="a@b.cn",
            subject="案件 / case",
            body="您好 / hello",
            now=now,
        )


def _rows(db: Database) -> list[OutboxMessage]:
    with db.session(write=False) as s:
        rows = list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]
        s.expunge_all()  # keep the loaded values readable after the session ends
        return rows


def test_a_message_is_queued_once_per_key(db: Database, now: datetime) -> None:
    _queue(db, now)
    with db.session() as s:
        assert not enqueue(
            s, dedupe_key="t1:a@b.cn", kind="state_changed", recipient="a@b.cn", subject="x", body="y", now=now
        )
    assert len(_rows(db)) == 1


def test_a_rolled_back_change_leaves_no_message(db: Database, now: datetime) -> None:
    def failing_change() -> None:
        with db.session() as s:
            enqueue(s, dedupe_key="k", kind="x", recipient="a@b.cn", subject="x", body="y", now=now)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert _rows(db) == []


def test_drain_sends_each_due_message_once(db: Database, now: datetime) -> None:
    _queue(db, now, "t1:a@b.cn")
    _queue(db, now, "t2:a@b.cn")
    sender = RecordingSender()
    first = asyncio.run(drain(db, sender, now=now, sender_address=FROM))
    second = asyncio.run(drain(db, sender, now=now + timedelta(hours=1), sender_address=FROM))
    assert (first.sent, second.sent) == (2, 0)
    assert len(sender.sent) == 2
    assert {m["Message-ID"] for m in sender.sent} == {"<t1.a.b.cn@aidflow.invalid>", "<t2.a.b.cn@aidflow.invalid>"}
    assert all(r.status == SENT for r in _rows(db))


def test_a_failed_send_is_retried_after_back_off_then_parked_as_dead(db: Database, now: datetime) -> None:
    _queue(db, now)
    sender = RecordingSender(fail_first=10**6)
    moment = now
    asyncio.run(drain(db, sender, now=moment, sender_address=FROM))
    row = _rows(db)[0]
    assert row.status == PENDING
    assert row.attempts == 1
    assert row.next_attempt_at > moment
    assert "simulated" in (row.last_error or "")
    # not due again before its back-off
    assert asyncio.run(drain(db, sender, now=moment + timedelta(seconds=30), sender_address=FROM)).retried == 0
    for _ in range(MAX_ATTEMPTS * 2):
        moment += timedelta(days=1)
        asyncio.run(drain(db, sender, now=moment, sender_address=FROM))
    row = _rows(db)[0]
    assert row.status == DEAD
    assert row.attempts == MAX_ATTEMPTS
    assert sender.calls == MAX_ATTEMPTS


def test_a_message_claimed_by_a_worker_that_died_is_sent_after_its_lease(db: Database, now: datetime) -> None:
    from notifications.worker import _claim

    _queue(db, now)
    assert len(_claim(db, now, 10)) == 1  # a worker claims it, then dies before sending
    sender = RecordingSender()
    assert asyncio.run(drain(db, sender, now=now + timedelta(minutes=1), sender_address=FROM)).sent == 0
    assert asyncio.run(drain(db, sender, now=now + timedelta(minutes=6), sender_address=FROM)).sent == 1


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_a_real_smtp_round_trip_delivers_chinese_and_english(
    db: Database, now: datetime, smtp_server: tuple[int, _Inbox]
) -> None:
    port, inbox = smtp_server
    _queue(db, now)
    result = asyncio.run(drain(db, SmtpSender("127.0.0.1", port), now=now, sender_address=FROM))
    assert result.sent == 1
    assert len(inbox.messages) == 1
    received = inbox.messages[0]
    assert received["To"] == "a@b.cn"
    payload = received.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert "您好 / hello" in payload.decode(received.get_content_charset() or "utf-8")
