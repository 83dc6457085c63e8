"""The aid domain's tables: identifiers by keyed hash, notices and objections, the reserve fund,
emergency grants, payment lines, reference counters. Money is integer fen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.tables import UTCDateTime


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _fen(nullable: bool = False) -> Any:
    return Field(default=0, sa_column=Column(BigInteger, nullable=nullable))


class CaseIdentifier(SQLModel, table=True):
    """A keyed hash of an identity number or bank account on a case: matches are an index lookup."""

    __tablename__ = "case_identifiers"
    __table_args__ = (Index("ix_case_identifiers_hash", "lookup_hash", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    kind: str = Field(max_length=20)  # applicant | member | relative | supporter | bank_account
    lookup_hash: str = Field(max_length=64)
    county_code: str = Field(max_length=12)


class PersonLink(SQLModel, table=True):
    """A person an open case names, kept by workflows.links in the transaction of the act or opening that
    names them and dropped when the case can no longer reach anyone's queue: the only cases whose task
    for that person may differ from everyone else's. `person` is a username, an identity number's keyed
    hash, or `user:<id>` for the account that applied."""

    __tablename__ = "person_links"

    person: str = Field(primary_key=True, max_length=64)
    case_id: int = Field(primary_key=True, foreign_key="cases.id", index=True)


class Notice(SQLModel, table=True):
    """One posting of a case on the notice board; a fresh notice after a dismissed objection is a new row."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_running", "ends", "starts"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    stage: str = Field(max_length=20)
    state: str = Field(max_length=40)
    label: str = Field(max_length=100)
    entered_version: int
    starts: datetime = _ts()
    ends: datetime = _ts()
    region_code: str = Field(max_length=12)
    township_code: str = Field(max_length=12)
    reference: str = Field(max_length=40)
    aid_type: str = Field(max_length=20)
    masked_name: str = Field(max_length=100)
    household_size: int
    amount_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    posted: bool = True  # P17: 特困 minors are not posted on the public board


class Objection(SQLModel, table=True):
    """异议: anyone's, anonymous allowed; the contact is encrypted and shown to inspectors only."""

    __tablename__ = "objections"

    id: int | None = Field(default=None, primary_key=True)
    receipt_code: str = Field(max_length=40, unique=True)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    stage: str = Field(max_length=40)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    contact_enc: str | None = Field(default=None, sa_column=Column(String(600), nullable=True))
    received_at: datetime = _ts()
    outcome: str | None = Field(default=None, max_length=20)
    finding: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = _ts(nullable=True)


class Fund(SQLModel, table=True):
    """A reserve fund account (临时救助备用金): a township's, or the county's for the grants it decides."""

    __tablename__ = "funds"

    account_code: str = Field(primary_key=True, max_length=12)
    balance_fen: int = _fen()
    updated_at: datetime = _ts()


class FundEntry(SQLModel, table=True):
    """One movement of a fund: a deposit, a grant paid out, a refund or a recovery. Never updated."""

    __tablename__ = "fund_entries"
    __table_args__ = (Index("ix_fund_entries_account", "account_code", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_code: str = Field(max_length=12)
    kind: str = Field(max_length=10)  # deposit | grant | refund | recovery
    amount_fen: int = _fen()
    balance_after_fen: int = _fen()
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    actor: str = Field(max_length=64)
    at: datetime = _ts()
    note: str | None = Field(default=None, max_length=200)
    payee: str | None = Field(default=None, max_length=100)
    method: str | None = Field(default=None, max_length=20)  # cash | card | bank_transfer (grants)


class EmergencyGrant(SQLModel, table=True):
    """A fast-channel grant, one row per household member: the once-per-cause-per-year rule (K7) is per person."""

    __tablename__ = "emergency_grants"
    __table_args__ = (Index("ix_emergency_grants_person", "person_hash", "cause", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    person_hash: str = Field(max_length=64)
    cause: str = Field(max_length=40)
    year: int
    amount_fen: int = _fen()
    account_code: str = Field(max_length=12)
    county_override: bool = False
    granted_by: str = Field(max_length=64)
    granted_at: datetime = _ts()


class PaymentLine(SQLModel, table=True):
    """One month's payment to one case; a month is paid once (UNIQUE(case_id, month))."""

    __tablename__ = "payment_lines"
    __table_args__ = (
        UniqueConstraint("case_id", "month", name="uq_payment_lines_case_month"),
        UniqueConstraint("reference", name="uq_payment_lines_reference"),
        Index("ix_payment_lines_county_month", "county_code", "month", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    month: str = Field(max_length=7)
    amount_fen: int = _fen()
    status: str = Field(default="pending", max_length=10)  # pending | exported | paid | failed
    region_code: str = Field(max_length=12)
    township_code: str = Field(max_length=12)
    county_code: str = Field(max_length=12)
    created_at: datetime = _ts()
    reference: str | None = Field(default=None, max_length=40)
    held_reason: str | None = Field(default=None, max_length=200)  # pending but never exported while set
    attempt: int = 1
    batch_id: int | None = Field(default=None, foreign_key="payment_batches.id")
    exported_at: datetime | None = _ts(nullable=True)
    paid_at: datetime | None = _ts(nullable=True)
    failed_at: datetime | None = _ts(nullable=True)
    failure_reason: str | None = Field(default=None, max_length=200)
    paid_by_hand: str | None = Field(default=None, max_length=200)  # the recorded reason of a payment by hand


class PaymentBatch(SQLModel, table=True):
    """One bank file of a township and month: its lines, count and total; a repeated export reuses it."""

    __tablename__ = "payment_batches"
    __table_args__ = (UniqueConstraint("township_code", "month", "seq", name="uq_payment_batches_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    township_code: str = Field(max_length=12)
    month: str = Field(max_length=7)
    seq: int
    line_count: int
    total_fen: int = _fen()
    sha256_csv: str | None = Field(default=None, max_length=64)
    sha256_xlsx: str | None = Field(default=None, max_length=64)
    actor: str = Field(max_length=64)
    created_at: datetime = _ts()


class ReferenceCounter(SQLModel, table=True):
    """The last number given out per reference prefix and year (DB-2026 → 123)."""

    __tablename__ = "reference_counters"

    key: str = Field(primary_key=True, max_length=20)
    last: int = 0


class OfficialRelative(SQLModel, table=True):
    """近亲属备案: an official's own declaration of a close relative, matched against every application."""

    __tablename__ = "official_relatives"
    __table_args__ = (UniqueConstraint("user_id", "id_hash", name="uq_official_relatives_user_person"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name_enc: str = Field(sa_column=Column(String(600), nullable=False))
    id_hash: str = Field(max_length=64, index=True)
    relation: str = Field(max_length=20)
    declared_at: datetime = _ts()


class CountyFiling(SQLModel, table=True):
    """备案: a decision made under delegation, filed by the township with the county and acknowledged there."""

    __tablename__ = "county_filings"
    __table_args__ = (
        UniqueConstraint("case_id", name="uq_county_filings_case"),
        Index("ix_county_filings_county", "county_code", "decided_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    decision: str = Field(max_length=10)  # approve | deny
    decided_by: str = Field(max_length=64)
    decided_at: datetime = _ts()
    due_at: datetime = _ts()
    region_code: str = Field(max_length=12)
    township_code: str = Field(max_length=12)
    county_code: str = Field(max_length=12)
    filed_at: datetime | None = _ts(nullable=True)
    filed_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = _ts(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)


class CountySample(SQLModel, table=True):
    """P14: one month's draw of delegated decisions for the county's visits, with the seed that repeats it."""

    __tablename__ = "county_samples"
    __table_args__ = (UniqueConstraint("county_code", "month", name="uq_county_samples_month"),)

    id: int | None = Field(default=None, primary_key=True)
    county_code: str = Field(max_length=12)
    month: str = Field(max_length=7)
    seed: int = Field(sa_column=Column(BigInteger, nullable=False))
    ratio: str = Field(max_length=10)  # as the policy gave it, e.g. "0.30"
    population: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    drawn: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    drawn_by: str = Field(max_length=64)
    drawn_at: datetime = _ts()


class CountyVisit(SQLModel, table=True):
    """A county house visit due after a decision (P13 by rule, P14 by sample), and what it found."""

    __tablename__ = "county_visits"
    __table_args__ = (
        UniqueConstraint("case_id", "reason", name="uq_county_visits_case_reason"),
        Index("ix_county_visits_county", "county_code", "visited_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    county_code: str = Field(max_length=12)
    reason: str = Field(max_length=20)  # filed_relative | objection_upheld | sample
    sample_id: int | None = Field(default=None, foreign_key="county_samples.id")
    created_at: datetime = _ts()
    visit_date: str | None = Field(default=None, max_length=10)
    findings: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    visited_by: str | None = Field(default=None, max_length=64)
    visited_at: datetime | None = _ts(nullable=True)
