"""D4: money paid wrongly, recovered from the household, with the fine for fraud (1-3x, policy)."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlmodel import Session

from engine import auditlog
from engine.access import Actor, Role
from engine.authorize import load_case
from engine.errors import Conflict, InvalidInput, RoleNotPermitted
from workflows import review
from workflows.bankfile import yuan
from workflows.base import role_of
from workflows.fields import FEN_LIMIT
from workflows.fund import move_fund
from workflows.spec import StandardSpec

if TYPE_CHECKING:
    from workflows.env import Env

# A beneficiary's case from the day support starts, after it ends too (money is recovered after exit).
RECOVERABLE_STATES = frozenset({*review.PAID_STATES, review.SUSPENDED, review.EXITED})


class RecoveryOut(BaseModel):
    application_id: int
    amount_fen: int
    fine_fen: int
    fund: str
    fund_balance_fen: int
    reason: str


def _whole_fen(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < FEN_LIMIT:
        raise InvalidInput(
            f"{name} 须为小于 {FEN_LIMIT} 的非负整数（分）/ "
            f"{name} must be a whole number of fen from 0 below {FEN_LIMIT}"
        )
    return value


def record_recovery(
    session: Session,
    *,
    env: Env,
    actor: Actor,
    case_id: int,
    amount_fen: int,
    reason: str,
    now: datetime,
    fine_fen: int = 0,
) -> RecoveryOut:
    """The township records money recovered from a household paid wrongly: the sum goes back into the
    township's fund (a recovery entry), and a fine for fraud, when one is imposed, is kept on the trail
    within the policy's multiple of the sum (D4; the fine itself goes to the treasury, not the fund)."""
    case = load_case(session, case_id, actor)
    if Role.TOWNSHIP_OFFICER not in actor.roles_on(case.region_code):
        raise RoleNotPermitted("追回款项由乡镇民政干部登记 / recoveries are recorded by a township officer")
    if actor.username in (case.data.get("recused") or []):
        raise RoleNotPermitted("您与该户有亲属关系，须回避 / you are related to this household and must recuse")
    if case.workflow != StandardSpec.key or case.state not in RECOVERABLE_STATES:
        raise Conflict(
            f"案件状态为 {case.state}，只有保障中或已退出的案件可登记追回 / the case is {case.state}: "
            "recoveries are recorded on cases receiving support or that have left it"
        )
    amount = _whole_fen(amount_fen, "amount_fen")
    fine = _whole_fen(fine_fen, "fine_fen")
    reason = reason.strip()
    if amount == 0 or not reason or len(reason) > 200:
        raise InvalidInput(
            "须写明追回金额（分，大于零）和原因（200 字以内）/ give the sum recovered (fen, above zero) and the "
            "reason (200 characters at most)"
        )
    low, high = env.rules(case.region_code, now).fraud_fine_multiple
    if fine and not low * amount <= fine <= high * amount:
        raise InvalidInput(
            f"罚款须为追回金额的 {_times(low)} 至 {_times(high)} 倍（{yuan(int(low * amount))} 至 "
            f"{yuan(int(high * amount))} 元），或不处罚款 / the fine must be {_times(low)} to {_times(high)} "
            f"times the sum recovered ({int(low * amount)} to {int(high * amount)} fen), or none (D4)"
        )
    balance = move_fund(
        session,
        account=case.township_code,
        kind="recovery",
        amount_fen=amount,
        actor=actor,
        now=now,
        case_id=case_id,
        note=reason[:200],
    )
    auditlog.record(
        session,
        case=case,
        actor_name=actor.username,
        role=role_of(actor),
        action="record_recovery",
        at=now,
        data={
            "amount_fen": amount,
            "fine_fen": fine,
            "fine_multiple": str(Fraction(fine, amount)) if fine else None,
            "reason": reason,
            "fund": case.township_code,
        },
    )
    session.flush()
    return RecoveryOut(
        application_id=case_id,
        amount_fen=amount,
        fine_fen=fine,
        fund=case.township_code,
        fund_balance_fen=balance,
        reason=reason,
    )


def _times(multiple: Fraction) -> str:
    return str(multiple.numerator) if multiple.denominator == 1 else f"{float(multiple):g}"
