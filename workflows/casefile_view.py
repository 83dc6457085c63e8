"""What a case shows an official or the household: its file, masked as the reader's role requires."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from engine.secrets import mask_account, mask_id_number
from engine.tables import Case
from workflows import verification
from workflows.casefile import CaseFile
from workflows.models import (
    Notice,
    Objection,
)

if TYPE_CHECKING:
    from workflows.env import Env


def _shown_id(env: Env, token: str | None, reveal: bool) -> str | None:
    if not token:
        return None
    value = env.cipher.decrypt(token)
    return value if reveal else mask_id_number(value)


def _phone(value: str | None, reveal: bool) -> str | None:
    if not value or reveal:
        return value
    return value[:3] + "*" * max(0, len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


_COPIED = {
    "aid_type",
    "assets_fen",
    "reason",
    "filed_relative",
    "amount_requested_fen",
    "cause",
    "proposed_monthly_fen",
    "monthly_amount_fen",
    "mode",
    "review_class",
    "village_pass",
    "township_pass",
    "approval",
    "county_visit",
    "info_request",
    "info_requests",
    "refusal",
    "withdrawal",
    "returned",
    "objection",
    "flags",
    "grant",
    "paperwork",
    "referral",
    "review",
    "reviews",
    "adjustments",
    "grace",
    "termination",
    "exited",
    "activated_at",
    "converted_to",
    "converted_from",
    "recused",
    "shared_bank_account_with",
    "submitted",
}


def case_details(session: Session, *, env: Env, case: Case, reveal: bool) -> dict[str, Any]:
    """The case's domain data for an official or the applicant; identifiers masked unless `reveal`."""
    f = CaseFile.read(case.data)
    income = f.household_income_fen
    notices = session.exec(select(Notice).where(Notice.case_id == case.id).order_by(col(Notice.id))).all()
    objections = session.exec(select(Objection).where(Objection.case_id == case.id).order_by(col(Objection.id))).all()
    details: dict[str, Any] = f.model_dump(include=_COPIED, by_alias=True, exclude_unset=True, mode="json")
    # the aid type's own part (特困's care level; 低保's rigid spending and margin category, E3, E4;
    # temporary aid's grant and instalments), none of it personal identifiers
    details.update(f.aid_part().model_dump(mode="json", exclude_none=True))
    account = env.cipher.decrypt(f.bank_account_enc) if f.bank_account_enc else None
    details.update(
        {
            "applicant": {
                "name": f.applicant.name,
                "id_number": _shown_id(env, f.applicant.id_enc, reveal),
                "phone": _phone(f.applicant.phone_in(env.cipher), reveal),
                "email": f.applicant.email_in(env.cipher),
            },
            "members": [
                {
                    "name": m.name,
                    "id_number": _shown_id(env, m.id_enc, reveal),
                    "relation": m.relation,
                    "monthly_income_fen": m.monthly_income_fen,
                    "severe_disability": m.severe_disability,
                    "serious_illness": m.serious_illness,
                    "can_work": m.can_work,
                    **({"disability": m.disability.model_dump()} if m.disability else {}),
                }
                for m in f.members
            ],
            "relatives_in_office": [
                {"name": r.name, "id_number": _shown_id(env, r.id_enc, reveal), "relation": r.relation}
                for r in f.relatives_in_office
            ],
            "bank_account": (account if reveal else mask_account(account)) if account else None,
            "household_size": f.household_size,
            "household_income_fen": income,
            "per_capita_income_fen": income // max(1, f.household_size),
            "paperwork_overdue": f.flagged("paperwork_overdue"),
            "notices": [
                {
                    "id": n.id,
                    "stage": n.stage,
                    "label": n.label,
                    "starts": n.starts,
                    "ends": n.ends,
                    "posted": n.posted,
                    "amount_fen": n.amount_fen,
                }
                for n in notices
            ],
            # The objector's contact is never shown here: inspectors read it through objection_contact.
            "objections": [
                {
                    "id": o.id,
                    "receipt_code": o.receipt_code,
                    "stage": o.stage,
                    "reason": o.reason,
                    "received_at": o.received_at,
                    "outcome": o.outcome,
                    "finding": o.finding,
                    "contact_given": o.contact_enc is not None,
                }
                for o in objections
            ],
            "workflow_spec": f.spec,
            "verification": verification.shown(case.data),
        }
    )
    return details
