"""The aid types: one declaration each (workflow, reference prefix, names, intake, eligibility, amount rule).

Everything that differs between 低保, 特困 and 临时救助 is read from here: the application schema's
`aid_type` values and extra fields, reference numbers, labels in mails and on the notice board, the
guards the standard workflow runs at village_pass and approve, and the cap on the amounts it sets.
Adding an aid type is one module with its `AidType` and one `register` call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.calendar import Delay
from engine.definition import Guard, GuardContext
from workflows.guards import rules_of
from workflows.policy import Rules
from workflows.spec import AnySpec, EmergencySpec, StandardSpec, TemporarySpec

WORKFLOWS = ("standard", "emergency", "temporary")

AmountRule = Callable[[Mapping[str, Any], Rules, Mapping[str, Any]], int]
"""The most a case may be paid a month: from its data, the rules in force and the act's terms
(approve's data; empty for the amount the village proposes)."""

PersonCipher = Callable[[str, str], dict[str, Any]]
"""A person as the case keeps them: the name, and the identity number encrypted and hashed."""


class NoIntake(BaseModel):
    """An aid type that takes nothing beyond the common fields of an application."""

    model_config = ConfigDict(extra="forbid")


def _no_case_data(_intake: BaseModel, _person: PersonCipher) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class AidType:
    """One kind of aid: what it is called, which workflow runs it, what it takes and what it checks."""

    key: str
    workflow: str  # "standard", "emergency" or "temporary": the workflow its cases run on
    prefix: str  # reference numbers: DB-2026-000001
    name_zh: str
    name_en: str
    intake: type[BaseModel] = NoIntake  # the fields an application takes beyond the common ones
    case_data: Callable[[BaseModel, PersonCipher], dict[str, Any]] = _no_case_data
    eligibility: tuple[Guard, ...] = ()  # run at village_pass and again at approve
    amount_cap: AmountRule | None = None  # None: no monthly amount (the emergency channel grants once)
    cap_basis: str = ""  # how the cap is reckoned, "中文 / English", told with a refusal
    decision: tuple[Guard, ...] = ()  # approve's own terms (beyond the amount)
    decision_terms: tuple[str, ...] = ()  # approve's data kept on the case beside the amount
    investigation: Callable[[Rules], Delay | None] | None = None  # a clock on the village review
    minors_posted: bool = True  # P17: 特困 minors are never listed on the public board
    file_model: type[BaseModel] = NoIntake  # what `case_data` and `decision_terms` add to the case file
    refusal: tuple[Guard, ...] = ()  # deny's own terms (E3: 低保 refused into the margin category)
    refusal_record: Callable[[GuardContext], Mapping[str, Any]] | None = None  # what deny adds to the case

    @property
    def label(self) -> str:
        return f"{self.name_zh} / {self.name_en}"


_registered: dict[str, AidType] = {}
_lock = threading.Lock()


def register(aid: AidType) -> AidType:
    """Make an aid type known; a key or a reference prefix may be registered once."""
    if aid.workflow not in WORKFLOWS:
        raise ValueError(f"aid type {aid.key!r}: workflow must be one of {WORKFLOWS}, not {aid.workflow!r}")
    if not aid.key.isidentifier() or len(aid.key) > 20:
        raise ValueError(f"aid type key {aid.key!r} must be a short identifier (at most 20 characters)")
    if aid.workflow == "standard" and aid.amount_cap is None:
        raise ValueError(f"aid type {aid.key!r}: a standard aid type needs an amount rule")
    with _lock:
        if aid.key in _registered:
            raise ValueError(f"aid type {aid.key!r} is already registered")
        if any(a.prefix == aid.prefix for a in _registered.values()):
            raise ValueError(f"reference prefix {aid.prefix!r} is already taken")
        _registered[aid.key] = aid
    return aid


def unregister(key: str) -> None:
    with _lock:
        _registered.pop(key, None)


@contextmanager
def registered(aid: AidType) -> Iterator[AidType]:
    """An aid type known only within the block (a test's own aid type)."""
    register(aid)
    try:
        yield aid
    finally:
        unregister(aid.key)


def get(key: str) -> AidType:
    """The aid type named `key`; KeyError when none is registered under it."""
    return _registered[key]


def find(key: Any) -> AidType | None:
    return _registered.get(key) if isinstance(key, str) else None


def all() -> tuple[AidType, ...]:
    return tuple(_registered.values())


def keys() -> tuple[str, ...]:
    return tuple(_registered)


def of_workflow(workflow: str) -> tuple[AidType, ...]:
    return tuple(a for a in _registered.values() if a.workflow == workflow)


def of_case(data: Mapping[str, Any]) -> AidType:
    """The aid type a case was filed as."""
    found = find(data.get("aid_type"))
    if found is None:
        raise LookupError(f"unknown aid type {data.get('aid_type')!r}")
    return found


def spec_for(aid: AidType, rules: Rules) -> AnySpec:
    """The spec a new case of this aid type starts with: its workflow's, with the aid type's own clock."""
    if aid.workflow == EmergencySpec.key:
        return EmergencySpec.from_rules(rules)
    if aid.workflow == TemporarySpec.key:
        return TemporarySpec.from_rules(rules)
    clock = aid.investigation(rules) if aid.investigation is not None else None
    return replace(StandardSpec.from_rules(rules), investigation=clock)


def label_of(key: Any) -> str:
    """The aid type's name, "中文 / English" (the key itself for a type no longer registered)."""
    found = find(key)
    return found.label if found is not None else str(key)


# --------------------------------------------------------------------------- the guards that dispatch
#
# The standard workflow runs one guard at each point; each asks the registry for the case's aid type.


def _positive_fen(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _over_cap(aid: AidType, amount: int, cap: int, what: str) -> str:
    basis_zh, _, basis_en = aid.cap_basis.partition(" / ")
    return (
        f"{what} {amount / 100:.2f} 元超过上限 {cap / 100:.2f} 元（{basis_zh}）/ "
        f"the amount exceeds the cap of {cap} fen ({basis_en or basis_zh})"
    )


def cap_of(data: Mapping[str, Any], rules: Rules, terms: Mapping[str, Any]) -> int:
    aid = of_case(data)
    assert aid.amount_cap is not None, "register() refuses a standard aid type without one"
    return aid.amount_cap(data, rules, terms)


def eligible(ctx: GuardContext) -> Iterable[str]:
    """The aid type's own conditions (E1 for 低保, T1/T2/T8 for 特困), each refused with its reason."""
    for guard in of_case(ctx.case.data).eligibility:
        yield from guard(ctx)


def proposed_amount(ctx: GuardContext) -> Iterable[str]:
    """The village's proposal: a positive amount within the aid type's cap."""
    amount = ctx.data.get("proposed_monthly_fen")
    if not _positive_fen(amount):
        yield "请填写拟保障月金额（分，正整数）/ give proposed_monthly_fen (a positive whole number of fen)"
        return
    assert isinstance(amount, int)
    cap = cap_of(ctx.case.data, rules_of(ctx), {})
    if amount > cap:
        yield _over_cap(of_case(ctx.case.data), amount, cap, "拟保障月金额")


def decision_terms(ctx: GuardContext) -> Iterable[str]:
    """The decision: the aid type's own terms first, then an amount within its cap under those terms."""
    aid = of_case(ctx.case.data)
    refused = [reason for guard in aid.decision for reason in guard(ctx)]
    yield from refused
    amount = ctx.data.get("monthly_amount_fen")
    if not _positive_fen(amount):
        yield "请填写月保障金额（分，正整数）/ give monthly_amount_fen (a positive whole number of fen)"
        return
    assert isinstance(amount, int)
    if refused:
        return  # the cap depends on terms that are not valid yet
    cap = cap_of(ctx.case.data, rules_of(ctx), ctx.data)
    if amount > cap:
        yield _over_cap(aid, amount, cap, "月保障金额")


def refusal_terms(ctx: GuardContext) -> Iterable[str]:
    """The aid type's own terms of a refusal (低保: into the margin category only where income fits, E3)."""
    aid = of_case(ctx.case.data)
    if ctx.data.get("margin") is True and aid.refusal_record is None:
        yield (
            f"{aid.name_zh}申请不能认定为低保边缘家庭，请去掉 margin / a {aid.name_en} application cannot be "
            "decided into the low-income margin category: leave out margin (E3)"
        )
        return
    for guard in aid.refusal:
        yield from guard(ctx)


def refused(ctx: GuardContext) -> Mapping[str, Any]:
    """A refusal's record: the written reason, and what the aid type adds (E3: the margin category)."""
    record = of_case(ctx.case.data).refusal_record
    reason = str(ctx.data.get("reason", "")).strip()
    extra = record(ctx) if record is not None else {}
    return {
        "refusal": {"by": ctx.actor.username, "role": ctx.role, "at": ctx.now.isoformat(), "reason": reason},
        **extra,
    }


def adjusted_amount(ctx: GuardContext) -> Iterable[str]:
    """调整: a new amount within the same cap as the decision (under the terms it was approved on)."""
    amount = ctx.data.get("monthly_amount_fen")
    if not _positive_fen(amount):
        yield "请填写调整后的月保障金额（分，正整数）/ give the new monthly_amount_fen (positive, in fen)"
    else:
        assert isinstance(amount, int)
        aid = of_case(ctx.case.data)
        terms = {k: ctx.case.data.get(k) for k in ("mode", *aid.decision_terms)}
        cap = cap_of(ctx.case.data, rules_of(ctx), terms)
        if amount > cap:
            yield _over_cap(aid, amount, cap, "调整后的月保障金额")
    reason = ctx.data.get("reason")
    if not (isinstance(reason, str) and reason.strip()):
        yield "请写明理由（将书面告知申请人）/ write the reason (the applicant is told it in writing)"


def _register_builtin() -> None:
    from workflows.aidtypes import dibao, emergency, tekun, temporary

    for module in (dibao, tekun, emergency, temporary):
        register(module.AID_TYPE)


_register_builtin()
