"""County supervision of delegated decisions (57号 Art 2): the township's 备案 within its working days, the
county's acknowledgement, its house visits to filed relatives' and upheld objections' cases (P13), and a
monthly sample of delegated decisions drawn with a stored seed (P14)."""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import date, datetime
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlmodel import Session, col

from engine import auditlog
from engine.access import Actor, Grant, Role, covers, region_level
from engine.calendar import Delay, Unit, add_months
from engine.errors import Conflict, GuardRejected, InvalidInput, NotFound
from engine.queue import visible_clause
from engine.runtime import TransitionRecord
from engine.tables import Case, Region
from workflows.base import OBJECTIONS
from workflows.guards import relative_hashes
from workflows.models import CountyFiling, CountySample, CountyVisit
from workflows.payments import month_start
from workflows.spec import StandardSpec

if TYPE_CHECKING:
    from workflows.env import Env

DECISIONS = ("approve", "deny")
FILE = "file_with_county"
ACKNOWLEDGE = "acknowledge_filing"
VISIT = "record_county_visit"
SAMPLE = "county_sample_drawn"
FILED_RELATIVE, OBJECTION_UPHELD, SAMPLED = "filed_relative", "objection_upheld", "sample"
REASONS = {
    FILED_RELATIVE: "近亲属备案 / a filed relative's case",
    OBJECTION_UPHELD: "异议成立 / an objection was upheld",
    SAMPLED: "抽查 / drawn in the monthly sample",
}
_FILINGS = CountyFiling.__table__  # type: ignore[attr-defined]
_VISITS = CountyVisit.__table__  # type: ignore[attr-defined]
_SAMPLES = CountySample.__table__  # type: ignore[attr-defined]
_READERS = (Role.COUNTY_OFFICER, Role.INSPECTOR, Role.TOWNSHIP_OFFICER)
RECENT = 100  # acknowledged filings and visits made: the page lists the latest, the trail keeps them all


class FilingOut(BaseModel):
    id: int
    application_id: int
    reference: str
    region_code: str
    township_code: str
    decision: str
    decided_by: str
    decided_at: datetime
    due_at: datetime
    filed_at: datetime | None
    filed_by: str | None
    late: bool  # filed after its due time, or not filed and past it
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class VisitOut(BaseModel):
    id: int
    application_id: int
    reference: str
    reason: str
    reason_label: str
    sample_id: int | None
    created_at: datetime
    done: bool
    visit_date: str | None
    findings: str | None
    visited_by: str | None
    visited_at: datetime | None


class SampleOut(BaseModel):
    id: int
    county: str
    month: str
    seed: int
    ratio: str
    population: list[int]
    drawn: list[int]
    drawn_by: str
    drawn_at: datetime


class SampleCheck(BaseModel):
    """A stored draw run again: the same seed over the same decisions must give the same cases."""

    sample: SampleOut
    redrawn: list[int]
    same_draw: bool
    current_population: list[int]
    same_population: bool


class SupervisionOut(BaseModel):
    region: str
    filings_to_file: list[FilingOut]
    filings_to_acknowledge: list[FilingOut]
    filings_acknowledged: list[FilingOut]
    visits_due: list[VisitOut]
    visits_done: list[VisitOut]
    samples: list[SampleOut]


# --------------------------------------------------------------------------- the decision's records


def on_decision(session: Session, env: Env, case: Case, record: TransitionRecord, now: datetime) -> None:
    """A standard case decided: under delegation, a filing due within the policy's working days; and the
    county's visits P13 requires (a filed relative's case, a case whose objection was upheld)."""
    if record.action not in DECISIONS or not record.moved or case.workflow != StandardSpec.key:
        return
    assert case.id is not None
    rules = env.rules(case.region_code, now)
    if rules.approval_delegated and record.role == Role.TOWNSHIP_OFFICER:
        session.add(
            CountyFiling(
                case_id=case.id,
                decision=record.action,
                decided_by=record.actor,
                decided_at=now,
                due_at=env.calendar.due(now, Delay(rules.delegated_filing_wd, Unit.WORKING_DAYS)),
                region_code=case.region_code,
                township_code=case.township_code,
                county_code=case.county_code,
            )
        )
    if case.data.get("filed_relative"):
        session.add(_visit_of(case, FILED_RELATIVE, now, before=case.data.get("county_visit")))
    upheld = select(OBJECTIONS.c.id).where(OBJECTIONS.c.case_id == case.id, OBJECTIONS.c.outcome == "upheld")
    if session.execute(upheld.limit(1)).first() is not None:
        session.add(_visit_of(case, OBJECTION_UPHELD, now))
    session.flush()


def _visit_of(
    case: Case, reason: str, now: datetime, *, before: Any = None, sample_id: int | None = None
) -> CountyVisit:
    """A visit due; one the county made before the decision counts as done."""
    assert case.id is not None
    visit = CountyVisit(
        case_id=case.id, county_code=case.county_code, reason=reason, sample_id=sample_id, created_at=now
    )
    if isinstance(before, dict) and before.get("findings"):
        visit.visit_date = str(before.get("visit_date") or "")[:10] or None
        visit.findings = str(before["findings"])
        visit.visited_by = str(before.get("by") or "")
        visit.visited_at = datetime.fromisoformat(str(before["at"])) if before.get("at") else now
    return visit


# --------------------------------------------------------------------------- the acts


def _case_in_reach(session: Session, actor: Actor, case_id: int, role: str, what: str, action: str) -> Case:
    """The case of a supervision act, if the actor's role reaches it and they are not related to it (回避)."""
    case = session.get(Case, case_id)
    if case is None or not (actor.is_system or role in actor.roles_on(case.region_code)):
        raise NotFound(f"{what}不存在或不在您的管辖范围内 / {what} not found in your scope")
    hashed = actor.id_number_hash
    if actor.username in (case.data.get("recused") or []) or (hashed and hashed in relative_hashes(case.data)):
        raise GuardRejected(
            action,
            case.state,
            [
                "您与该户存在近亲属关系（已备案），须回避，请由其他工作人员办理 / "
                "you are a declared relative of this household and must recuse; another official must act"
            ],
        )
    return case


def _filing(session: Session, filing_id: int) -> CountyFiling:
    filing = session.get(CountyFiling, filing_id) if 0 < filing_id < 2**31 else None
    if filing is None:
        raise NotFound(f"备案 {filing_id} 不存在 / filing {filing_id} not found")
    return filing


def file_with_county(session: Session, *, env: Env, actor: Actor, filing_id: int, now: datetime) -> FilingOut:
    """报县备案: the township files its delegated decision with the county; filed after the due time is marked late."""
    filing = _filing(session, filing_id)
    case = _case_in_reach(session, actor, filing.case_id, Role.TOWNSHIP_OFFICER, f"备案 {filing_id} ", FILE)
    if not _claim(session, _FILINGS, filing.id, "filed_at", filed_at=now, filed_by=actor.username):
        raise Conflict("该决定已报县备案 / this decision is already filed")
    session.refresh(filing)
    late = now > filing.due_at
    _record(session, case, actor, Role.TOWNSHIP_OFFICER, FILE, {"filing_id": filing.id, "late": late}, now)
    return _filing_out(filing, case, now)


def acknowledge_filing(session: Session, *, env: Env, actor: Actor, filing_id: int, now: datetime) -> FilingOut:
    """县级确认备案: the county acknowledges a filed decision."""
    filing = _filing(session, filing_id)
    case = _case_in_reach(session, actor, filing.case_id, Role.COUNTY_OFFICER, f"备案 {filing_id} ", ACKNOWLEDGE)
    if filing.filed_at is None:
        raise Conflict("乡镇尚未报县备案，无法确认 / the township has not filed this decision yet")
    if not _claim(session, _FILINGS, filing.id, "acknowledged_at", acknowledged_at=now, acknowledged_by=actor.username):
        raise Conflict("该备案已确认 / this filing is already acknowledged")
    session.refresh(filing)
    _record(session, case, actor, Role.COUNTY_OFFICER, ACKNOWLEDGE, {"filing_id": filing.id}, now)
    return _filing_out(filing, case, now)


def record_visit(
    session: Session, *, env: Env, actor: Actor, visit_id: int, visit_date: str, findings: str, now: datetime
) -> VisitOut:
    """县级入户核查: the county's house visit after the decision, with what it found."""
    visit = session.get(CountyVisit, visit_id) if 0 < visit_id < 2**31 else None
    if visit is None:
        raise NotFound(f"核查任务 {visit_id} 不存在 / visit {visit_id} not found")
    case = _case_in_reach(session, actor, visit.case_id, Role.COUNTY_OFFICER, f"核查任务 {visit_id} ", VISIT)
    try:
        day = date.fromisoformat(visit_date)
    except ValueError:
        raise InvalidInput("请填写县级入户核查日期（YYYY-MM-DD）/ give the date of the visit (YYYY-MM-DD)") from None
    findings = findings.strip()
    if not findings or len(findings) > 2000:
        raise InvalidInput("请填写核查情况（2000 字以内）/ write what the visit found (at most 2000 characters)")
    done = {"visit_date": day.isoformat(), "findings": findings, "visited_by": actor.username, "visited_at": now}
    if not _claim(session, _VISITS, visit.id, "visited_at", **done):
        raise Conflict("该核查已登记 / this visit is already recorded")
    session.refresh(visit)
    act = {"visit_id": visit.id, "reason": visit.reason, "visit_date": visit.visit_date, "findings": findings}
    _record(session, case, actor, Role.COUNTY_OFFICER, VISIT, act, now)
    return _visit_out(visit, case)


def _claim(session: Session, table: Any, row_id: int | None, unset: str, **values: Any) -> bool:
    """Set `values` on the row if `unset` is still empty: of two officials acting at once, one wins and
    the other is told it is done (the row's lock makes the second wait, then find it set)."""
    done = session.execute(update(table).where(table.c.id == row_id, table.c[unset].is_(None)).values(**values))
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _record(
    session: Session, case: Case, actor: Actor, role: str, action: str, act: dict[str, Any], now: datetime
) -> None:
    session.flush()
    auditlog.record(
        session,
        case=case,
        actor_name=actor.username,
        role=role if not actor.is_system else Role.SYSTEM,
        action=action,
        data=act,
        at=now,
    )


# --------------------------------------------------------------------------- the sample (P14)


def draw(population: list[int], seed: int, ratio: Fraction) -> list[int]:
    """At least `ratio` of `population`, chosen by seed alone: each case ranked by sha256("seed:id"), the
    lowest taken. Anyone with the seed and the list can redo it by hand."""
    count = math.ceil(ratio * len(population))
    ranked = sorted(set(population), key=lambda i: (hashlib.sha256(f"{seed}:{i}".encode()).hexdigest(), i))
    return sorted(ranked[:count])


def _population(session: Session, county: str, month: str) -> list[int]:
    start = month_start(month)
    q = select(_FILINGS.c.case_id).where(
        _FILINGS.c.county_code == county, _FILINGS.c.decided_at >= start, _FILINGS.c.decided_at < add_months(start, 1)
    )
    return sorted(int(i) for (i,) in session.execute(q))


def draw_sample(
    session: Session, *, env: Env, actor: Actor, county: str, month: str, seed: int | None, now: datetime
) -> SampleOut:
    """抽查: draw the policy's share of the county's delegated decisions of `month`; the seed is stored and
    on the trail, and every drawn case gets a county visit to make."""
    if region_level(county) != "county" or session.get(Region, county) is None:
        raise NotFound(f"县 {county} 不存在 / county {county} not found")
    if not (actor.is_system or Role.COUNTY_OFFICER in actor.roles_on(county)):
        raise NotFound(f"县 {county} 不在您的管辖范围内 / county {county} not found in your scope")
    if seed is not None and not 0 <= seed < 2**63:
        raise InvalidInput("种子须为 0 到 2^63-1 的整数 / the seed must be a whole number from 0 to 2^63-1")
    start = month_start(month)
    if add_months(start, 1) > now:
        raise InvalidInput(f"{month} 尚未结束，不能抽查 / {month} has not ended yet")
    if session.execute(
        select(_SAMPLES.c.id).where(_SAMPLES.c.county_code == county, _SAMPLES.c.month == month)
    ).first():
        raise Conflict(
            f"{county} 的 {month} 已抽查；用 --verify 重新核验 / {month} is already drawn; verify it instead"
        )
    ratio = env.rules(county, start).county_sample_ratio
    population = _population(session, county, month)
    chosen_seed = secrets.randbelow(2**32) if seed is None else seed
    drawn = draw(population, chosen_seed, ratio)
    sample = CountySample(
        county_code=county,
        month=month,
        seed=chosen_seed,
        ratio=str(ratio),
        population=population,
        drawn=drawn,
        drawn_by=actor.username,
        drawn_at=now,
    )
    session.add(sample)
    session.flush()
    assert sample.id is not None
    for case_id in drawn:
        case = session.get(Case, case_id)
        assert case is not None
        session.add(_visit_of(case, SAMPLED, now, sample_id=sample.id))
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=Role.SYSTEM if actor.is_system else Role.COUNTY_OFFICER,
        action=SAMPLE,
        region_code=county,
        data={
            "sample_id": sample.id,
            "month": month,
            "seed": chosen_seed,
            "ratio": str(ratio),
            "population": population,
            "drawn": drawn,
        },
    )
    session.flush()
    return _sample_out(sample)


def verify_sample(session: Session, *, actor: Actor, sample_id: int) -> SampleCheck:
    """The stored draw redone from its seed: the same cases? and is the month's list of decisions unchanged?"""
    sample = session.get(CountySample, sample_id) if 0 < sample_id < 2**31 else None
    if sample is None or not (actor.is_system or _reads(actor, sample.county_code)):
        raise NotFound(f"抽查 {sample_id} 不存在 / sample {sample_id} not found")
    redrawn = draw(list(sample.population), sample.seed, Fraction(sample.ratio))
    current = _population(session, sample.county_code, sample.month)
    return SampleCheck(
        sample=_sample_out(sample),
        redrawn=redrawn,
        same_draw=redrawn == list(sample.drawn),
        current_population=current,
        same_population=current == list(sample.population),
    )


# --------------------------------------------------------------------------- what the county sees


def _reads(actor: Actor, region: str) -> bool:
    return any(g.role in _READERS and covers(g.region_code, region) for g in actor.grants)


def _in_region(table: Any, region: str) -> ColumnElement[bool]:
    level = region_level(region)
    column = {"village": "region_code", "township": "township_code"}.get(level, "county_code")
    if column == "county_code" or table is _FILINGS:
        return table.c[column] == region  # type: ignore[no-any-return]
    cases = Case.__table__.c  # type: ignore[attr-defined]
    return table.c.case_id.in_(select(cases.id).where(cases[column] == region))  # type: ignore[no-any-return]


def overview(session: Session, *, actor: Actor, region: str, now: datetime) -> SupervisionOut:
    """The filings, visits and samples of `region` (a county, township or village in the caller's scope)."""
    if (
        session.get(Region, region) is None
        or region_level(region) not in ("county", "township", "village")
        or not (actor.is_system or _reads(actor, region))
    ):
        raise NotFound(f"地区 {region} 不存在或不在您的管辖范围内 / region {region} not found in your scope")
    c, v = _FILINGS.c, _VISITS.c
    open_filings = _filings(session, _in_region(_FILINGS, region) & c.acknowledged_at.is_(None), now)
    done_filings = _filings(session, _in_region(_FILINGS, region) & c.acknowledged_at.is_not(None), now, RECENT)
    county = region[:6] + "000000"
    samples = session.execute(
        select(CountySample).where(col(CountySample.county_code) == county).order_by(col(CountySample.month).desc())
    ).scalars()
    return SupervisionOut(
        region=region,
        filings_to_file=[f for f in open_filings if f.filed_at is None],
        filings_to_acknowledge=[f for f in open_filings if f.filed_at is not None],
        filings_acknowledged=done_filings,
        visits_due=_visits(session, _in_region(_VISITS, region) & v.visited_at.is_(None)),
        visits_done=_visits(session, _in_region(_VISITS, region) & v.visited_at.is_not(None), RECENT),
        samples=[_sample_out(s) for s in samples],
    )


def _filings(session: Session, where: Any, now: datetime, latest: int | None = None) -> list[FilingOut]:
    """Open ones all, soonest due first; done ones the latest `latest`, newest first."""
    q = select(CountyFiling, Case).join(Case, col(Case.id) == col(CountyFiling.case_id)).where(where)
    if latest is None:
        q = q.order_by(col(CountyFiling.due_at), col(CountyFiling.id))
    else:
        q = q.order_by(col(CountyFiling.id).desc()).limit(latest)
    return [_filing_out(f, case, now) for f, case in session.execute(q).all()]


def _visits(session: Session, where: Any, latest: int | None = None) -> list[VisitOut]:
    q = select(CountyVisit, Case).join(Case, col(Case.id) == col(CountyVisit.case_id)).where(where)
    q = q.order_by(col(CountyVisit.id)) if latest is None else q.order_by(col(CountyVisit.id).desc()).limit(latest)
    return [_visit_out(visit, case) for visit, case in session.execute(q).all()]


def tasks_waiting(session: Session, *, actor: Actor) -> int:
    """How many supervision acts wait on the actor: filings to acknowledge and visits to make (county
    officers), decisions to file (township officers). The queue page shows the count."""
    return sum(int(session.execute(q).scalar_one()) for q in _waiting_counts(actor.grants))


@lru_cache(maxsize=1024)
def _waiting_counts(grants: tuple[Grant, ...]) -> tuple[Select[Any], ...]:
    """The counts `tasks_waiting` runs for these grants, built once per set of grants (every queue page asks)."""
    parts = []
    for grant in grants:
        if grant.role == Role.COUNTY_OFFICER:
            parts.append(("ack", _in_region(_FILINGS, grant.region_code)))
            parts.append(("visit", _in_region(_VISITS, grant.region_code)))
        elif grant.role == Role.TOWNSHIP_OFFICER:
            parts.append(("file", _in_region(_FILINGS, grant.region_code)))
    ack = [w for k, w in parts if k == "ack"]
    visit = [w for k, w in parts if k == "visit"]
    file = [w for k, w in parts if k == "file"]
    c, v = _FILINGS.c, _VISITS.c
    counts = []
    if ack:
        counts.append(select(func.count()).where(or_(*ack), c.filed_at.is_not(None), c.acknowledged_at.is_(None)))
    if file:
        counts.append(select(func.count()).where(or_(*file), c.filed_at.is_(None)))
    if visit:
        counts.append(select(func.count()).where(or_(*visit), v.visited_at.is_(None)))
    return tuple(counts)


def late_filings(session: Session, *, actor: Actor, now: datetime | None) -> list[tuple[FilingOut, datetime]]:
    """Filings in the actor's scope filed after their due time, and (given `now`) those still unfiled past
    it, each with the moment it became late: for the inspectors' flags."""
    c = _FILINGS.c
    late = c.filed_at > c.due_at
    if now is not None:
        late = or_(late, (c.filed_at.is_(None)) & (c.due_at < now))
    rows = session.execute(
        select(CountyFiling, Case)
        .join(Case, col(Case.id) == col(CountyFiling.case_id))
        .where(late, visible_clause(actor))
        .order_by(col(CountyFiling.id))
    ).all()
    return [(_filing_out(f, case, now or f.due_at), f.due_at) for f, case in rows]


def _filing_out(f: CountyFiling, case: Case, now: datetime) -> FilingOut:
    assert f.id is not None
    late = (f.filed_at or now) > f.due_at
    return FilingOut(
        id=f.id,
        application_id=f.case_id,
        reference=case.reference,
        region_code=f.region_code,
        township_code=f.township_code,
        decision=f.decision,
        decided_by=f.decided_by,
        decided_at=f.decided_at,
        due_at=f.due_at,
        filed_at=f.filed_at,
        filed_by=f.filed_by,
        late=late,
        acknowledged_at=f.acknowledged_at,
        acknowledged_by=f.acknowledged_by,
    )


def _visit_out(v: CountyVisit, case: Case) -> VisitOut:
    assert v.id is not None
    return VisitOut(
        id=v.id,
        application_id=v.case_id,
        reference=case.reference,
        reason=v.reason,
        reason_label=REASONS.get(v.reason, v.reason),
        sample_id=v.sample_id,
        created_at=v.created_at,
        done=v.visited_at is not None,
        visit_date=v.visit_date,
        findings=v.findings,
        visited_by=v.visited_by,
        visited_at=v.visited_at,
    )


def _sample_out(s: CountySample) -> SampleOut:
    assert s.id is not None
    return SampleOut(
        id=s.id,
        county=s.county_code,
        month=s.month,
        seed=s.seed,
        ratio=s.ratio,
        population=list(s.population),
        drawn=list(s.drawn),
        drawn_by=s.drawn_by,
        drawn_at=s.drawn_at,
    )
