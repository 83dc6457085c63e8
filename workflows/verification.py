"""家庭经济状况核对 (P4, P5, D6): the county's checking body reports what it found of each member's income
and assets; the township's opinion waits for a report on every member; the household may dispute a report
with evidence, which sends it back for a re-check; each periodic review asks for a fresh one.

The report lives on the case file (`verification`), asked for when the application is accepted (its
submission) and again when a review starts; each member's report is recorded by its own act, so every
report, typed in or imported from the platform's file, is on the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.access import Role
from engine.calendar import Delay
from engine.definition import GuardContext, Timer, Transition, actor_guard, transition
from workflows import guards as g
from workflows.common import appended, flag, official

RECORD = "record_verification"
DISPUTE = "dispute_verification"
FLAG = "flag_verification_overdue"
OVERDUE = "verification_overdue"


# --------------------------------------------------------------------------- the report on the file


def requested(ctx: GuardContext) -> dict[str, Any]:
    """A fresh request: no report yet."""
    return {"requested_at": ctx.now.isoformat(), "members": {}, "disputes": []}


def renewed(ctx: GuardContext) -> dict[str, Any]:
    """D6: a review asks for a fresh report; the one before is kept beside it."""
    earlier = ctx.case.data.get("verification")
    patch: dict[str, Any] = {"verification": requested(ctx)}
    if earlier:
        patch["verifications"] = appended(ctx, "verifications", earlier)
    return patch


def _record(data: Mapping[str, Any]) -> Mapping[str, Any]:
    found = data.get("verification")
    return found if isinstance(found, Mapping) else {}


def _at(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def requested_at(data: Mapping[str, Any]) -> datetime | None:
    """When the report was asked for (the submission, for a case filed before requests were kept)."""
    return _at(_record(data).get("requested_at") or (data.get("submitted") or {}).get("at"))


def member_at(data: Mapping[str, Any], position: Any) -> Mapping[str, Any] | None:
    """The member at a 1-based position in the file's list, as the case page numbers them."""
    people = g.members(data)
    if isinstance(position, int) and not isinstance(position, bool) and 1 <= position <= len(people):
        return people[position - 1]
    return None


def position_of(data: Mapping[str, Any], id_hash: str) -> int | None:
    """The 1-based position of the member with this identity hash."""
    for index, m in enumerate(g.members(data), start=1):
        if m.get("id_hash") == id_hash:
            return index
    return None


def open_disputes(data: Mapping[str, Any]) -> set[str]:
    """P5: the members (identity hashes) whose report is disputed and not re-checked since."""
    checks = g.member_checks(data)
    everyone = [str(m.get("id_hash")) for m in g.members(data)]
    found: set[str] = set()
    for dispute in _record(data).get("disputes") or []:
        raised = _at(dispute.get("at"))
        for hashed in [str(dispute["member"])] if dispute.get("member") else everyone:
            check = checks.get(hashed)
            checked = _at(check.get("at")) if check else None
            if checked is None or raised is None or checked <= raised:
                found.add(hashed)
    return found


def _names(data: Mapping[str, Any], hashes: Iterable[str]) -> tuple[str, str]:
    wanted = set(hashes)
    names = [str(m.get("name", "")) for m in g.members(data) if str(m.get("id_hash")) in wanted]
    return "、".join(names), ", ".join(names)


# --------------------------------------------------------------------------- guards


def _disputed_reasons(data: Mapping[str, Any], before_zh: str, before_en: str) -> Iterable[str]:
    disputed = open_disputes(data)
    if disputed:
        zh, en = _names(data, disputed)
        yield (
            f"申请人对 {zh} 的核对结果提出异议，须复查并重新记录核对报告（record_verification）后方可{before_zh} / "
            f"the household disputes the report on {en}: re-check it and record it again (record_verification) "
            f"before {before_en}"
        )


def _ready(ctx: GuardContext, required: bool, before_zh: str, before_en: str) -> Iterable[str]:
    """A report on every member, made since it was asked for and not older than the policy allows, and
    none disputed without a re-check since."""
    data = ctx.case.data
    yield from _disputed_reasons(data, before_zh, before_en)
    if not required:
        return
    policy = g.rules_of(ctx).verification
    checks = g.member_checks(data)
    asked = requested_at(data)
    oldest = ctx.now - timedelta(days=policy.max_age_days)
    missing: list[str] = []
    old: list[str] = []
    for m in g.members(data):
        check = checks.get(str(m.get("id_hash")))
        at = _at(check.get("at")) if check else None
        if at is None or (asked is not None and at < asked):
            missing.append(str(m.get("id_hash")))
        elif at < oldest:
            old.append(str(m.get("id_hash")))
    if missing:
        zh, en = _names(data, missing)
        yield (
            f"以下家庭成员尚无核对报告：{zh}，须由县级核对机构记录（record_verification）后方可{before_zh} / "
            f"no 核对 (cross-check) report is recorded for: {en}; the county's checking body records one "
            f"(record_verification) before {before_en}"
        )
    if old:
        zh, en = _names(data, old)
        yield (
            f"{zh} 的核对报告已超过 {policy.max_age_days} 天，须重新核对 / the report on {en} is more than "
            f"{policy.max_age_days} days old: it must be checked again"
        )


def ready_for_opinion(ctx: GuardContext) -> Iterable[str]:
    """P4, P5: the township's opinion rests on the report (where policy requires one), never on a disputed one."""
    required = g.rules_of(ctx).verification.required_before_opinion
    yield from _ready(ctx, required, "出具乡镇审核意见", "the township's opinion")


def ready_for_review(ctx: GuardContext) -> Iterable[str]:
    """D6: a periodic review ends on a report made for it (where policy requires one)."""
    required = g.rules_of(ctx).verification.required_for_review
    yield from _ready(ctx, required, "结束定期核查", "the review ends")


def not_disputed(ctx: GuardContext) -> Iterable[str]:
    """P5: no decision while a report is disputed and not re-checked."""
    yield from _disputed_reasons(ctx.case.data, "作出审批决定", "the decision")


def _fen(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def report(ctx: GuardContext) -> Iterable[str]:
    """A report names the member and gives the income and assets found."""
    data = ctx.data
    person = member_at(ctx.case.data, data.get("member"))
    if person is None:
        count = len(g.members(ctx.case.data))
        yield (
            f"请指明核对的家庭成员（member，按案卷中的顺序 1–{count}）/ "
            f"name the member checked (member: their position on the file, 1 to {count})"
        )
    if not _fen(data.get("monthly_income_fen")):
        yield "请填写核对的月收入（分，非负整数）/ give the monthly income found (monthly_income_fen, in fen)"
    if not _fen(data.get("assets_fen")):
        yield "请填写核对的财产（分，非负整数）/ give the assets found (assets_fen, in fen)"
    disputed = open_disputes(ctx.case.data)
    township = ctx.role == Role.TOWNSHIP_OFFICER
    if person is not None and township and disputed and str(person.get("id_hash")) not in disputed:
        name = str(person.get("name", ""))
        yield (
            f"{name} 的核对结果没有异议，乡镇只复查有异议的成员 / the report on {name} is not disputed: the "
            "township re-checks only the disputed members"
        )


@actor_guard
def recheck_by_township(ctx: GuardContext) -> Iterable[str]:
    """P5: the township records a report only as the re-check (复查) of a disputed one."""
    if ctx.role == Role.TOWNSHIP_OFFICER and not open_disputes(ctx.case.data):
        yield (
            "乡镇仅在申请人提出异议后复查核对结果，核对报告由县级核对机构记录 / the township records a report "
            "only as the re-check of a disputed one; the county's checking body records the others"
        )


def dispute(ctx: GuardContext) -> Iterable[str]:
    """P5: a dispute gives its evidence, and there is a report to dispute."""
    evidence = ctx.data.get("evidence")
    if not (isinstance(evidence, str) and evidence.strip()):
        yield "请写明异议的理由和证据 / give the grounds and evidence of the dispute (evidence)"
    checks = g.member_checks(ctx.case.data)
    named = ctx.data.get("member")
    if named is None:
        if not checks:
            yield "尚无核对报告，无可异议 / no report is recorded yet: there is nothing to dispute"
        return
    person = member_at(ctx.case.data, named)
    if person is None:
        count = len(g.members(ctx.case.data))
        yield (
            f"请指明有异议的家庭成员（member，1–{count}），或不填表示对整份报告有异议 / name the member whose report "
            f"is disputed (member, 1 to {count}), or leave it out to dispute the whole report"
        )
    elif str(person.get("id_hash")) not in checks:
        yield (
            f"{person.get('name', '')} 尚无核对报告，无可异议 / there is no report on {person.get('name', '')} "
            "to dispute yet"
        )


def not_started(ctx: GuardContext) -> Iterable[str]:
    """The P4 flag: only while nothing is reported, and once."""
    if g.member_checks(ctx.case.data):
        yield "核对已开始 / the cross-check has started"
    if any(f.get("kind") == OVERDUE for f in ctx.case.data.get("flags") or []):
        yield "已标记核对超期 / already flagged"


# --------------------------------------------------------------------------- effects


def _recorded(ctx: GuardContext) -> Mapping[str, Any]:
    data = ctx.data
    person = member_at(ctx.case.data, data.get("member")) or {}
    earlier = dict(_record(ctx.case.data)) or {"requested_at": requested_at(ctx.case.data) or ctx.now}
    if isinstance(earlier["requested_at"], datetime):
        earlier["requested_at"] = earlier["requested_at"].isoformat()
    check = {
        "name": str(person.get("name", "")),
        "monthly_income_fen": data.get("monthly_income_fen"),
        "assets_fen": data.get("assets_fen"),
        "findings": str(data.get("findings") or "").strip(),
        "by": ctx.actor.username,
        "role": ctx.role,
        "at": ctx.now.isoformat(),
        "source": "platform" if ctx.actor.is_system else "entered",
        # the platform file's sha256, handed by the import (never typed in)
        **({"batch": str(ctx.facts["verification_batch"])} if ctx.facts.get("verification_batch") else {}),
    }
    members = {**dict(earlier.get("members") or {}), str(person.get("id_hash")): check}
    return {"verification": {**earlier, "members": members}}


def _disputed(ctx: GuardContext) -> Mapping[str, Any]:
    earlier = dict(_record(ctx.case.data))
    person = member_at(ctx.case.data, ctx.data.get("member"))
    raised = {
        "by": ctx.actor.username,
        "role": ctx.role,
        "at": ctx.now.isoformat(),
        "evidence": str(ctx.data.get("evidence") or "").strip(),
        "member": str(person.get("id_hash")) if person is not None else None,
    }
    return {"verification": {**earlier, "disputes": [*(earlier.get("disputes") or []), raised]}}


# --------------------------------------------------------------------------- declarations


def transitions(open_states: tuple[str, ...], clock_states: tuple[str, ...]) -> tuple[Transition, ...]:
    """Recording and disputing a report while the case is open; the P4 flag in the states whose entry
    asks for a report (`clock_states`)."""
    return (
        official(
            RECORD,
            open_states,
            None,
            by=(Role.COUNTY_OFFICER, Role.TOWNSHIP_OFFICER, Role.SYSTEM),
            guards=(recheck_by_township, report),
            effect=_recorded,
            label="记录核对报告 / cross-check report recorded",
            queued=False,  # the county's checking body works from the platform, not from this queue
        ),
        official(
            DISPUTE,
            open_states,
            None,
            by=(Role.APPLICANT, Role.TOWNSHIP_OFFICER),
            guards=(dispute,),
            effect=_disputed,
            label="对核对结果提出异议 / cross-check report disputed",
            queued=False,
        ),
        transition(
            FLAG,
            clock_states,
            None,
            by=[Role.SYSTEM],
            guards=[not_started],
            effect=flag(OVERDUE),
            label="核对未按时启动 / cross-check not started in time",
        ),
    )


def timers(start: Delay | None, clock_states: tuple[str, ...]) -> tuple[Timer, ...]:
    """P4: on entering a state that asks for a report, the flag once its working days have run."""
    if start is None:
        return ()
    clock = start
    return tuple(Timer(state, FLAG, lambda _c: clock) for state in clock_states)


# --------------------------------------------------------------------------- what the case shows


def shown(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report as the case shows it: by member (name and position, never the identity hash), the
    declared income beside the checked, and each dispute with whether it still waits for a re-check."""
    record = _record(data)
    if not record:
        return None
    checks = g.member_checks(data)
    disputed = open_disputes(data)
    people = g.members(data)
    names = {str(m.get("id_hash")): str(m.get("name", "")) for m in people}
    rows = []
    for position, m in enumerate(people, start=1):
        hashed = str(m.get("id_hash"))
        check = checks.get(hashed) or {}
        rows.append(
            {
                "member": position,
                "name": str(m.get("name", "")),
                "declared_income_fen": int(m.get("monthly_income_fen", 0)),
                "checked": bool(check),
                **{k: check.get(k) for k in ("monthly_income_fen", "assets_fen", "findings", "at", "by", "source")},
                "disputed": hashed in disputed,
            }
        )
    found = g.figures(data)
    return {
        "requested_at": record.get("requested_at"),
        "members": rows,
        "checked_income_fen": found.income_fen,
        "checked_assets_fen": found.assets_fen,
        "disputes": [
            {
                "at": d.get("at"),
                "by": d.get("by"),
                "role": d.get("role"),
                "evidence": d.get("evidence"),
                "member": names.get(str(d.get("member"))) if d.get("member") else None,
            }
            for d in record.get("disputes") or []
        ],
    }
