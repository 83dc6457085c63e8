"""What every aid-domain module shares: table handles, reference numbers, encrypted persons, specs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from engine.access import Actor, Role
from engine.calendar import SHANGHAI, local_date
from engine.errors import InvalidInput
from engine.tables import AuditEntry, Case
from workflows import aidtypes, registry
from workflows.guards import age_on, birth_date, members
from workflows.models import (
    Fund,
    Objection,
    PaymentLine,
    ReferenceCounter,
)
from workflows.policy import NoticeStage
from workflows.spec import AnySpec, EmergencySpec, TemporarySpec

if TYPE_CHECKING:
    from workflows.env import Env


OFFICER_ROLES = (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER)
FLAG_ACTIONS = (
    "flag_overdue",
    "flag_paperwork_overdue",
    "flag_first_aid_overdue",
    "flag_suspension_long",
    "flag_total_overdue",
    "flag_undelivered",
    "flag_verification_overdue",
    "flag_temporary_overdue",
)
CASES = Case.__table__.c  # type: ignore[attr-defined]
FUNDS = Fund.__table__  # type: ignore[attr-defined]
LINES = PaymentLine.__table__  # type: ignore[attr-defined]
COUNTERS = ReferenceCounter.__table__  # type: ignore[attr-defined]
AUDIT = AuditEntry.__table__.c  # type: ignore[attr-defined]
OBJECTIONS = Objection.__table__  # type: ignore[attr-defined]


def insert_or_skip(conn: Connection, table: Any) -> Any:
    """An INSERT that can skip rows already present (ON CONFLICT DO NOTHING) on either database."""
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def role_of(actor: Actor) -> str:
    return actor.grants[0].role if actor.grants else Role.SYSTEM


def next_reference(session: Session, aid_type: str, now: datetime) -> str:
    key = f"{aidtypes.get(aid_type).prefix}-{local_date(now).year}"
    conn = session.connection()
    conn.execute(insert_or_skip(conn, COUNTERS).values(key=key, last=0).on_conflict_do_nothing(index_elements=["key"]))
    last = conn.execute(core_select(COUNTERS.c.last).where(COUNTERS.c.key == key).with_for_update()).scalar_one()
    conn.execute(update(COUNTERS).where(COUNTERS.c.key == key).values(last=last + 1))
    return f"{key}-{last + 1:06d}"


def encrypted_person(env: Env, name: str, id_number: str) -> dict[str, Any]:
    return {"name": name, "id_enc": env.cipher.encrypt(id_number), "id_hash": env.cipher.lookup_hash(id_number)}


def spec_of(case: Case) -> AnySpec:
    return registry.spec_from_json(case.workflow, case.data["spec"])


def notice_stages(case: Case) -> dict[str, NoticeStage]:
    spec = spec_of(case)
    if isinstance(spec, EmergencySpec):
        return {spec.post_notice.state: spec.post_notice}
    if isinstance(spec, TemporarySpec):
        return {spec.notice.state: spec.notice}
    found = {n.state: n for n in spec.notices}
    found[spec.termination_notice.state] = spec.termination_notice
    return found


def is_minor(env: Env, case: Case, on: date) -> bool:
    raw = (case.data.get("applicant") or {}).get("id_enc")
    born = birth_date(env.cipher.decrypt(raw)) if raw else None
    return born is not None and age_on(born, on) < env.policy.rules(case.region_code, on).minor_age


def household_hashes(case: Case) -> list[str]:
    return sorted({str(m["id_hash"]) for m in members(case.data) if m.get("id_hash")})


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI).astimezone(UTC)


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_start(month: str) -> datetime:
    """The first moment (Asia/Shanghai) of a month given as YYYY-MM."""
    found = _MONTH.match(month)
    if found is None:
        raise InvalidInput(f"月份格式应为 YYYY-MM / month must be YYYY-MM: {month!r}")
    return local_midnight(date(int(found[1]), int(found[2]), 1))


def end_of_day(day: date) -> datetime:
    """The last second of a Shanghai calendar day, as UTC."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=SHANGHAI).astimezone(UTC)


def aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
