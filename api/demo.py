"""A demo county: regions, officials of every role, households and cases in every state."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from api.security import hash_password
from api.services import run_timers
from api.settings import Settings
from engine.access import SYSTEM, Actor
from engine.accounts import actor_for, add_region, add_user
from engine.calendar import SHANGHAI, add_months, local_date
from engine.database import Database
from engine.secrets import id_check_char
from engine.tables import Case, Region, User, utcnow
from workflows.acting import perform_action
from workflows.applications import submit_application
from workflows.env import Env
from workflows.fund import deposit_fund
from workflows.models import CountyFiling, CountyVisit, Notice
from workflows.objections import raise_objection
from workflows.oversight.relatives import declare_relative
from workflows.oversight.supervision import acknowledge_filing, draw_sample, file_with_county, record_visit
from workflows.payments import month_of, month_start, run_payments
from workflows.schemas import ApplicationIn

PASSWORD = "demo-2026"
COUNTY = ("341122000000", "来安县")
TOWNSHIPS = [("341122100000", "新安镇"), ("341122101000", "水口镇")]
VILLAGES = [
    ("341122100201", "大庄村"),
    ("341122100202", "龙山村"),
    ("341122101201", "青山村"),
    ("341122101202", "石桥村"),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["秀英", "桂兰", "建国", "志强", "玉梅", "海燕", "德福", "春生", "丽华", "国庆", "小红", "文军"]


@dataclass
class Logins:
    password: str
    accounts: list[tuple[str, str, str]] = field(default_factory=list)
    tracking_codes: list[tuple[str, str]] = field(default_factory=list)  # (the demo case's label, its code)


def _officials() -> list[tuple[str, str, str, str]]:
    people = [
        ("admin", "admin", COUNTY[0], "系统管理员"),
        ("county_officer", "county_officer", COUNTY[0], "县民政局 孙科长"),
        ("inspector", "inspector", COUNTY[0], "县纪委监委 周检查员"),
    ]
    for i, (code, name) in enumerate(TOWNSHIPS, start=1):
        people.append((f"township{i}_a", "township_officer", code, f"{name}民政办 张干事"))
        people.append((f"township{i}_b", "township_officer", code, f"{name}民政办 刘主任"))
    for i, (code, name) in enumerate(VILLAGES, start=1):
        people.append((f"village{i}_a", "village_officer", code, f"{name}村委会 赵委员"))
        people.append((f"village{i}_b", "village_officer", code, f"{name}村委会 钱委员"))
    # One person with two accounts: a village committee member who moved to the township office and kept
    # the old account (the demo's "one person at two stages" signal).
    people.append(("township1_c", "township_officer", TOWNSHIPS[0][0], "新安镇民政办 钱干事"))
    people.append(("applicant1", "applicant", VILLAGES[0][0], "王秀英"))
    return people


SAME_PERSON = ("village2_b", "township1_c")  # one identity number on two accounts
OFFICIAL_EMAILS = {"village3_a": "zhao.weiyuan@laian.example.cn"}  # a household gives it as its own (a signal)


def id_number(rng: random.Random, region: str, born: date) -> str:
    first = region[:6] + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return first + id_check_char(first)


def seed(db: Database, settings: Settings, *, now: datetime | None = None) -> Logins:
    """Seed once; a database that already has the demo county is left as it is."""
    now = now or utcnow()
    logins = Logins(PASSWORD)
    env = Env.load(settings.policy, settings.secret_key)
    people = _officials()
    logins.accounts = [(u, r, reg) for u, r, reg, _n in people]
    with db.session() as session:
        if session.get(Region, COUNTY[0]) is not None:
            return logins
        start = now - timedelta(days=60)
        for code, name in [COUNTY, *TOWNSHIPS, *VILLAGES]:
            add_region(session, code=code, name=name, actor=SYSTEM, now=start)
        hashed = hash_password(PASSWORD)
        twice = id_number(random.Random(7), VILLAGES[1][0], date(1985, 5, 5))
        for username, role, region, name in people:
            # The second account's identity number is registered only after its holder acted on both
            # stages (the engine refuses one person at two stages once it knows them for one person).
            same = username == SAME_PERSON[0]
            add_user(
                session,
                username=username,
                password_hash=hashed,
                role=role,
                region=region,
                actor=SYSTEM,
                now=start,
                display_name=name,
                email=OFFICIAL_EMAILS.get(username),
                id_number_enc=env.cipher.encrypt(twice) if same else None,
                id_number_hash=env.cipher.lookup_hash(twice) if same else None,
            )
        for code, _name in TOWNSHIPS:
            deposit_fund(session, env=env, township_code=code, amount_fen=2_000_000, actor=SYSTEM, now=start)
    Scenario(db, env, now, logins).run()
    with db.session() as session:
        later = session.exec(select(User).where(User.username == SAME_PERSON[1])).one()
        later.id_number_enc = env.cipher.encrypt(twice)
        later.id_number_hash = env.cipher.lookup_hash(twice)
        session.add(later)
    return logins


class Scenario:
    """Cases walked to every state by replaying their steps in time order, timers included."""

    def __init__(self, db: Database, env: Env, now: datetime, logins: Logins) -> None:
        self.db, self.env, self.now, self.logins = db, env, now, logins
        self.rng = random.Random(20261001)
        self.events: list[tuple[datetime, int, Callable[[Session, datetime], None]]] = []
        self.case_ids: dict[str, int] = {}
        self.counter = 0

    def actor(self, session: Session, username: str) -> Actor:
        user = session.exec(select(User).where(User.username == username)).one()
        return actor_for(session, user)

    def household(self, village: str, *, aid_type: str, size: int, income: int) -> ApplicationIn:
        rng = self.rng
        surname = rng.choice(SURNAMES)
        spouse_surname = rng.choice([s for s in SURNAMES if s != surname])
        givens = rng.sample(GIVEN, size)  # no two members of one household share a name
        members: list[dict[str, Any]] = []
        for i in range(size):
            born = date(1950 + rng.randrange(60), rng.randrange(1, 13), rng.randrange(1, 28))
            if aid_type == "tekun" and i == 0:  # T2: 60 or over, so without capacity to work
                born = date(1940 + rng.randrange(15), rng.randrange(1, 13), rng.randrange(1, 28))
            members.append(
                {
                    "name": (spouse_surname if i == 1 else surname) + givens[i],
                    "id_number": id_number(rng, village, born),
                    "relation": "本人" if i == 0 else "配偶" if i == 1 else rng.choice(["子女", "父母"]),
                    "monthly_income_fen": income if i == 0 else 0,
                }
            )
        head = members[0]
        payload: dict[str, Any] = {
            "aid_type": aid_type,
            "village": village,
            "applicant": {
                "name": head["name"],
                "id_number": head["id_number"],
                "phone": f"139{rng.randrange(10**8):08d}",
            },
            "members": members,
            "assets_fen": rng.randrange(0, 2_000_000),
            "reason": "家庭收入低于当地低保标准，生活困难",
            "relatives_in_office": [],
        }
        if aid_type == "emergency":
            payload.update(reason="房屋失火，急需救助", cause="fire", amount_requested_fen=200_000)
        if aid_type == "temporary":  # 支出型: medical costs beyond what the household can bear (K1)
            payload.update(reason="住院自付医疗费用超出家庭承受能力", cause="illness", amount_requested_fen=240_000)
        if aid_type == "tekun":  # T1: the one legal supporter is unable to support
            child = date(1970 + rng.randrange(15), rng.randrange(1, 13), rng.randrange(1, 28))
            payload.update(
                reason="年老无劳动能力，无生活来源，子女重病无力赡养",
                supporters=[
                    {
                        "name": surname + rng.choice([g for g in GIVEN if g not in givens]),
                        "id_number": id_number(rng, village, child),
                        "relation": "子女",
                        "able_to_support": False,
                    }
                ],
            )
        return ApplicationIn.model_validate(payload)

    def plan(
        self,
        label: str,
        village_index: int,
        steps: list[tuple[int, str, str, dict[str, Any]]],
        *,
        aid_type: str = "dibao",
        draft: bool = False,
        extra: dict[str, Any] | None = None,
        relative_of: str | None = None,
        clock: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        """Steps: (days before now, username, action, data); the first one submits. `extra` adds to the
        application (a phone or bank account shared with another household); `relative_of` names an official
        who has declared the household's second member a close relative (人情保 signals to find); `clock`
        sets the local time of day (hour, minute) of a step, by its index, on the day it falls."""
        village = VILLAGES[village_index][0]
        township = 1 if village_index < 2 else 2
        v_a, v_b = f"village{village_index + 1}_a", f"village{village_index + 1}_b"
        names = {
            "V": v_a,
            "V2": v_b,
            "T": f"township{township}_a",
            "T2": f"township{township}_b",
            "C": "county_officer",
            "A": "applicant1",
            "X": "township1_c",
        }
        self.counter += 1
        order = self.counter
        first_day = steps[0][0] if steps else 45
        payload = self.household(
            village, aid_type=aid_type, size=self.rng.randrange(1, 5), income=self.rng.randrange(0, 40_000)
        )
        if draft:
            payload = payload.model_copy(update={"draft": True})
        if extra:
            applicant = {**payload.model_dump()["applicant"], **extra.pop("applicant", {})}
            payload = ApplicationIn.model_validate({**payload.model_dump(), **extra, "applicant": applicant})

        def submit(session: Session, at: datetime) -> None:
            filer = names[steps[0][1]] if steps else v_a
            result = submit_application(
                session, env=self.env, actor=self.actor(session, filer), payload=payload, now=at
            )
            assert result.case.id is not None
            self.case_ids[label] = result.case.id
            self.logins.tracking_codes.append((label, result.tracking_code))
            if relative_of is not None and len(payload.members) > 1:
                member = payload.members[1]
                declare_relative(
                    session,
                    env=self.env,
                    actor=SYSTEM,
                    username=relative_of,
                    name=member.name,
                    id_number=member.id_number,
                    relation="兄弟姐妹",
                    now=at,
                )

        self.events.append((self.now - timedelta(days=first_day), order, submit))
        for offset, (days, who, action, data) in enumerate(steps[1:], start=1):
            filled = {k: (v_a if v == "$V" else v_b if v == "$V2" else v) for k, v in data.items()}
            if "investigators" in filled:
                filled["investigators"] = [v_a, v_b]

            def step(
                session: Session, at: datetime, who: str = who, action: str = action, data: dict[str, Any] = filled
            ) -> None:
                case = session.get(Case, self.case_ids[label])
                assert case is not None
                assert case.id is not None
                if action == "object":
                    notice = session.exec(
                        select(Notice).where(Notice.case_id == case.id).order_by(col(Notice.id).desc())
                    ).first()
                    assert notice is not None
                    assert notice.id is not None
                    raise_objection(
                        session, env=self.env, notice_id=notice.id, reason=data["reason"], contact=None, now=at
                    )
                    return
                if action == "verify":  # the county's checking body reports on every member (P4)
                    self.verify(session, case, self.actor(session, names[who]), at, data)
                    return
                if action == "village_pass":  # the house visit took place that day
                    data = {**data, "visit_date": local_date(at).isoformat()}
                perform_action(
                    session,
                    env=self.env,
                    actor=self.actor(session, names[who]),
                    case_id=case.id,
                    action=action,
                    version=case.version,
                    data=data,
                    comment=None,
                    now=at,
                )

            self.events.append((self._when(days, offset, (clock or {}).get(offset)), order, step))

    def _when(self, days: int, offset: int, clock: tuple[int, int] | None) -> datetime:
        at = self.now - timedelta(days=days, minutes=-offset)
        if clock is None:
            return at
        day = local_date(at)
        return datetime(day.year, day.month, day.day, *clock, tzinfo=SHANGHAI).astimezone(UTC)

    def verify(self, session: Session, case: Case, actor: Actor, at: datetime, found: dict[str, Any]) -> None:
        """核对: a report on each member as the household declared it, or with `found` for the first member."""
        assert case.id is not None
        for position, member in enumerate(case.data.get("members") or [], start=1):
            report = {
                "member": position,
                "monthly_income_fen": member["monthly_income_fen"],
                "assets_fen": case.data.get("assets_fen", 0) if position == 1 else 0,
                "findings": "存款、房产、车辆、工商登记、社保与申报一致 / deposits, property, vehicles, business "
                "and insurance as declared",
                **(found if position == 1 else {}),
            }
            perform_action(
                session,
                env=self.env,
                actor=actor,
                case_id=case.id,
                action="record_verification",
                version=case.version,
                data=report,
                comment=None,
                now=at,
            )

    def _plant_signals(
        self, vp: dict[str, Any], ap: dict[str, Any], paid: list[tuple[int, str, str, dict[str, Any]]]
    ) -> None:
        """One example of each 人情保 signal the flags report can find without breaking the trail."""
        shared_phone = {"applicant": {"phone": "13912345678"}}
        self.plan("signal_shared_phone_1", 0, [(7, "V", "submit", {})], extra=dict(shared_phone))
        self.plan("signal_shared_phone_2", 1, [(7, "V", "submit", {})], extra=dict(shared_phone))
        account = {"bank_account": "6222020200112233445"}
        self.plan("signal_shared_account_1", 2, [(8, "V", "submit", {})], extra=dict(account))
        self.plan("signal_shared_account_2", 3, [(8, "V", "submit", {})], extra=dict(account))
        self.plan("signal_declared_relative", 0, [(9, "V", "submit", {})], relative_of="village1_a")
        self.plan(
            "signal_changed_after_approval",
            2,
            [
                *paid,
                (3, "T", "start_review", {}),
                (3, "C", "verify", {}),  # D6: the review's fresh report
                (2, "T", "adjust", {"monthly_amount_fen": 45_000, "reason": "收入增加 / more income"}),
            ],
        )
        self.plan(
            "signal_empty_paperwork",
            2,
            [
                (6, "T", "submit", {}),
                (6, "T", "grant_emergency", {"amount_fen": 90_000}),
                (4, "T", "complete_paperwork", {"note": " "}),
            ],
            aid_type="emergency",
        )
        # a house visit signed off at 22:30
        self.plan("signal_after_hours", 1, [(6, "V", "submit", {}), (4, "V", "village_pass", vp)], clock={1: (22, 30)})
        # village2_b signs the village stage; the same person, as township1_c, the township's opinion
        tp = {"opinion": "经核查，家庭收入与财产符合条件 / verified: income and assets qualify"}
        self.plan(
            "signal_two_stages",
            1,
            [
                (14, "V", "submit", {}),
                (13, "C", "verify", {}),
                (12, "V2", "village_pass", vp),
                (2, "X", "township_pass", tp),
            ],
        )
        # next month's payroll is prepared at 09:00; at 10:00 the same day a supported household leaves
        self.events.append((self._when(6, 0, (9, 0)), 0, self._prepare_next_payroll))
        self.plan(
            "signal_paid_after_exit",
            0,
            [
                *paid,
                (
                    6,
                    "T",
                    "terminate",
                    {"reason": "收入超过标准 / income above the standard", "ground": "no_longer_qualifies"},
                ),
            ],
            clock={len(paid): (10, 0)},
        )
        # a household gives a village officer's own e-mail as its contact
        official_mail = {"applicant": {"email": OFFICIAL_EMAILS["village3_a"]}}
        self.plan("signal_shared_with_official", 2, [(5, "V", "submit", {})], extra=dict(official_mail))

    def _prepare_next_payroll(self, session: Session, at: datetime) -> None:
        """The run for the month after `at` (payroll is prepared before its month starts)."""
        day = local_date(at)
        month = f"{day.year + day.month // 12:04d}-{day.month % 12 + 1:02d}"
        run_payments(session, env=self.env, month=month, actor=SYSTEM, now=at)

    def _supervise(self) -> None:
        """备案 and the county's checks: the decisions of 25 days ago filed the next day and acknowledged,
        but one (active_1) still to acknowledge; the month's sample drawn with a fixed seed, one visit done."""
        townships = {TOWNSHIPS[0][0]: "township1_a", TOWNSHIPS[1][0]: "township2_a"}

        def file_all(session: Session, at: datetime) -> None:
            unfiled = select(CountyFiling).where(col(CountyFiling.filed_at).is_(None), CountyFiling.decided_at < at)
            for filing in session.exec(unfiled).all():
                officer = self.actor(session, townships[filing.township_code])
                file_with_county(session, env=self.env, actor=officer, filing_id=filing.id or 0, now=at)

        def acknowledge_all(session: Session, at: datetime) -> None:
            waiting = select(CountyFiling).where(
                col(CountyFiling.filed_at).is_not(None),
                col(CountyFiling.acknowledged_at).is_(None),
                CountyFiling.case_id != self.case_ids["active_1"],
            )
            county = self.actor(session, "county_officer")
            for filing in session.exec(waiting).all():
                acknowledge_filing(session, env=self.env, actor=county, filing_id=filing.id or 0, now=at)

        def sample(session: Session, at: datetime) -> None:
            decided = self.now - timedelta(days=25)
            month = month_of(decided)
            if add_months(month_start(month), 1) > at:  # that month is not over yet: the one before it
                month = month_of(month_start(month) - timedelta(days=1))
            county = self.actor(session, "county_officer")
            drawn = draw_sample(
                session, env=self.env, actor=county, county=COUNTY[0], month=month, seed=20261001, now=at
            )
            first = session.exec(select(CountyVisit).where(CountyVisit.sample_id == drawn.id)).first()
            if first is not None and first.id is not None:
                findings = "入户核查，家庭收入、财产与申报一致 / visited: income and assets as declared"
                record_visit(
                    session,
                    env=self.env,
                    actor=county,
                    visit_id=first.id,
                    visit_date=local_date(at).isoformat(),
                    findings=findings,
                    now=at,
                )

        self.events.append((self.now - timedelta(days=24), 10_000, file_all))
        self.events.append((self.now - timedelta(days=22), 10_000, acknowledge_all))
        self.events.append((self.now - timedelta(minutes=30), 10_000, sample))

    def run(self) -> None:
        vp = {
            "investigators": [],
            "proposed_monthly_fen": 60_000,
        }
        tp = {"opinion": "经核查，家庭收入与财产符合条件 / verified: income and assets qualify"}
        ap = {
            "monthly_amount_fen": 60_000,
            "mode": "household",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        }
        info = {
            "missing": ["户口簿复印件 / household register copy", "收入证明 / proof of income"],
            "due": local_date(self.now + timedelta(days=25)).isoformat(),
        }
        refused = {"reason": "家庭人均收入高于当地低保标准 / income above the local standard"}
        objection = {"reason": "该户家中有轿车一辆，未申报 / the household owns an undeclared car"}
        disputed = {"member": 1, "evidence": "该存款为村集体代管资金，附村委会证明 / village funds held in trust"}
        paid: list[tuple[int, str, str, dict[str, Any]]] = [
            (50, "V", "submit", {}),
            (48, "C", "verify", {}),
            (45, "V", "village_pass", vp),
            (35, "T", "township_pass", tp),
            (25, "T2", "approve", ap),
        ]
        # label, village index, steps (days ago, who, action, data); notices run 7 days by default policy
        plans: list[tuple[str, int, list[tuple[int, str, str, dict[str, Any]]]]] = [
            ("village_review", 0, [(2, "V", "submit", {})]),
            ("own_application", 0, [(4, "A", "submit", {})]),  # applicant1 filed it and can follow it
            ("village_review_2", 2, [(1, "V", "submit", {})]),
            ("awaiting_info", 1, [(6, "V", "submit", {}), (5, "V", "request_info", info)]),
            ("notice_village", 1, [(6, "V", "submit", {}), (3, "V", "village_pass", vp)]),
            (
                "objection_review",
                3,
                [(6, "V", "submit", {}), (4, "V", "village_pass", vp), (2, "-", "object", objection)],
            ),
            ("township_review", 2, [(20, "V", "submit", {}), (18, "C", "verify", {}), (15, "V", "village_pass", vp)]),
            (
                "verification_disputed",
                3,
                [
                    (21, "V", "submit", {}),
                    (19, "C", "verify", {"assets_fen": 2_600_000, "findings": "名下定期存款 26000 元 / deposits"}),
                    (16, "V", "village_pass", vp),
                    (2, "T", "dispute_verification", disputed),
                ],
            ),
            (
                "notice_township",
                3,
                [
                    (25, "V", "submit", {}),
                    (23, "C", "verify", {}),
                    (20, "V", "village_pass", vp),
                    (4, "T", "township_pass", tp),
                ],
            ),
            (
                "township_approval",
                0,
                [
                    (35, "V", "submit", {}),
                    (33, "C", "verify", {}),
                    (30, "V", "village_pass", vp),
                    (20, "T", "township_pass", tp),
                ],
            ),
            (
                "notice_final",
                1,
                [
                    (40, "V", "submit", {}),
                    (38, "C", "verify", {}),
                    (35, "V", "village_pass", vp),
                    (25, "T", "township_pass", tp),
                    (3, "T2", "approve", ap),
                ],
            ),
            ("active_0", 0, paid),
            ("active_1", 2, paid),
            ("active_2", 3, paid),
            ("under_review", 1, [*paid, (1, "T", "start_review", {})]),
            (
                "grace_period",
                0,
                [
                    *paid,
                    (3, "T", "start_review", {}),
                    (2, "T", "begin_exit", {"reason": "务工收入超过标准 / earnings"}),
                ],
            ),
            ("exited", 1, [*paid, (2, "T", "voluntary_exit", {"reason": "家庭情况好转，自愿退出 / voluntary"})]),
            (
                "suspended",
                2,
                [
                    *paid,
                    (3, "T", "start_review", {}),
                    (2, "T", "suspend", {"reason": "多次联系未配合核查 / would not take part"}),
                ],
            ),
            ("rejected", 2, [(12, "V", "submit", {}), (10, "T", "village_reject", refused)]),
            (
                "withdrawn",
                3,
                [(9, "V", "submit", {}), (8, "V", "withdraw", {"reason": "家庭情况好转 / circumstances improved"})],
            ),
        ]
        self.plan("draft", 0, [(3, "V", "submit", {})], draft=True)
        for label, village, steps in plans:
            self.plan(label, village, steps)
        self.plan("tekun", 3, [(5, "V", "submit", {})], aid_type="tekun")
        ending = {"reason": "已恢复劳动能力 / able to work again", "ground": "work_capacity"}
        # T5: the 特困 decision sets the care level and the support mode
        tekun_ap = {
            "monthly_amount_fen": 91_000,
            "care_level": "independent",
            "support_mode": "home",
            "basis": "无劳动能力、无生活来源、无法定赡养人 / no work capacity, income or supporter",
        }
        tekun_paid = [*paid[:-1], (25, "T2", "approve", tekun_ap)]
        self.plan(
            "termination_approval",
            2,
            [*tekun_paid, (2, "T", "start_review", {}), (1, "T", "terminate", ending)],
            aid_type="tekun",
        )
        self.plan(
            "notice_termination",
            3,
            [
                *tekun_paid,
                (4, "T", "start_review", {}),
                (3, "T", "terminate", ending),
                (2, "C", "approve_termination", {}),
            ],
            aid_type="tekun",
        )
        emergencies: list[tuple[str, int, list[tuple[int, str, str, dict[str, Any]]]]] = [
            ("emergency_reported", 2, [(1, "T", "submit", {})]),
            ("emergency_paid", 2, [(2, "T", "submit", {}), (2, "T", "grant_emergency", {"amount_fen": 200_000})]),
            (
                "county_emergency_approval",
                3,
                [
                    (1, "T", "submit", {}),
                    (1, "T", "refer_to_county", {"reason": "超出乡镇审批额度 / over the township's limit"}),
                ],
            ),
            (
                "notice_post",
                3,
                [
                    (4, "T", "submit", {}),
                    (4, "T", "grant_emergency", {"amount_fen": 150_000}),
                    (2, "T", "complete_paperwork", {"note": "补齐签字盖章 / signatures added"}),
                ],
            ),
        ]
        paperwork = {"note": "补齐签字盖章 / signatures added"}
        emergencies += [
            (
                "closed",
                3,
                [
                    (20, "T", "submit", {}),
                    (20, "T", "grant_emergency", {"amount_fen": 100_000}),
                    (18, "T", "complete_paperwork", paperwork),
                ],
            ),
            ("converted", 2, [(3, "T", "submit", {}), (3, "T", "convert_to_standard", {"aid_type": "dibao"})]),
            (
                "recovery",
                3,
                [
                    (6, "T", "submit", {}),
                    (6, "T", "grant_emergency", {"amount_fen": 80_000}),
                    (5, "T", "complete_paperwork", paperwork),
                    (4, "-", "object", {"reason": "该户未受灾 / the household suffered no loss"}),
                    (3, "T2", "uphold_objection", {"finding": "经核实未受灾，追回救助金 / verified: to be recovered"}),
                ],
            ),
        ]
        for label, village, steps in emergencies:
            self.plan(label, village, steps, aid_type="emergency")
        opinion = {"opinion": "入户调查属实，医疗支出超出家庭承受能力 / verified: medical costs beyond its means"}
        temporaries: list[tuple[str, int, list[tuple[int, str, str, dict[str, Any]]]]] = [
            ("temporary_review", 0, [(1, "T", "submit", {})]),
            ("notice_temporary", 1, [(3, "T", "submit", {}), (2, "T", "township_pass", opinion)]),
            (
                "county_approval",
                2,
                [
                    (20, "T", "submit", {}),
                    (19, "T", "township_pass", opinion),
                    (8, "T2", "refer_to_county", {"reason": "超出乡镇审批额度 / over the township's limit"}),
                ],
            ),
            (
                "granted",
                3,
                [
                    (40, "T", "submit", {}),
                    (39, "T", "township_pass", opinion),
                    (28, "T2", "grant_temporary", {"amount_fen": 240_000, "instalments": 3}),
                ],
            ),
        ]
        for label, village, steps in temporaries:
            self.plan(f"temporary_{label}", village, steps, aid_type="temporary")
        self._plant_signals(vp, ap, paid)
        self._supervise()
        self.events.sort(key=lambda e: (e[0], e[1]))
        # The history is replayed in time order; the sweep's entries are stamped with the replayed time.
        for at, _order, action in self.events:
            run_timers(self.db, at, self.env, clock=lambda at=at: at)  # type: ignore[misc]
            with self.db.session() as session:
                action(session, at)
        run_timers(self.db, self.now, self.env, clock=lambda: self.now)
