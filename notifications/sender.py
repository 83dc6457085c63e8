"""Where messages go: SMTP in production, a list in tests."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

import aiosmtplib


class Sender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpSender:
    """Delivers through an SMTP server (aiosmtplib)."""

    def __init__(self, host: str, port: int, *, timeout: float = 20.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(message, hostname=self.host, port=self.port, timeout=self.timeout, start_tls=False)


class RecordingSender:
    """Keeps what it is given (tests), optionally failing the first `fail_first` attempts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[EmailMessage] = []
        self.fail_first = fail_first
        self.calls = 0

    async def send(self, message: EmailMessage) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise ConnectionError("simulated SMTP failure")
        self.sent.append(message)
