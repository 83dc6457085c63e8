"""What a case shows an official or the household: its file, masked as the reader's role requires."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from engine.secrets import mask_account, mask_id_number
from engine.tables import Case
from workflows.guards import household_income, members
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


_COPIED = (
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
)


def case_details(session: Session, *, env: Env, case: Case, reveal: bool) -> dict[str, Any]:
    """The case's domain data for an official or the applicant; identifiers masked unless `reveal`."""
    d = case.data
    applicant = d.get("applicant") or {}
    people = members(d)
    size = max(1, len(people))
    income = household_income(d)
    notices = session.exec(select(Notice).where(Notice.case_id == case.id).order_by(col(Notice.id))).all()
    objections = session.exec(select(Objection).where(Objection.case_id == case.id).order_by(col(Objection.id))).all()
    details: dict[str, Any] = {key: d.get(key) for key in _COPIED if key in d}
    details.update(
        {
            "applicant": {
                "name": applicant.get("name"),
                "id_number": _shown_id(env, applicant.get("id_enc"), reveal),
                "phone": _phone(applicant.get("phone"), reveal),
                "email": applicant.get("email"),
            },
            "members": [
                {
                    "name": m.get("name"),
                    "id_number": _shown_id(env, m.get("id_enc"), reveal),
                    "relation": m.get("relation"),
                    "monthly_income_fen": m.get("monthly_income_fen"),
                    "severe_disability": m.get("severe_disability", False),
                    "serious_illness": m.get("serious_illness", False),
                    "can_work": m.get("can_work", False),
                }
                for m in people
            ],
            "relatives_in_office": [
                {
                    "name": r.get("name"),
                    "id_number": _shown_id(env, r.get("id_enc"), reveal),
                    "relation": r.get("relation"),
                }
                for r in d.get("relatives_in_office") or []
            ],
            "bank_account": (
                (lambda v: v if reveal else mask_account(v))(env.cipher.decrypt(d["bank_account_enc"]))
                if d.get("bank_account_enc")
                else None
            ),
            "household_size": len(people),
            "household_income_fen": income,
            "per_capita_income_fen": income // size,
            "paperwork_overdue": any(f.get("kind") == "paperwork_overdue" for f in d.get("flags") or []),
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
            "workflow_spec": d.get("spec"),
        }
    )
    return details
