"""The desk's apply form for 支出型临时救助 (K1: amount and a capped cause) and the dibao form's rigid
spending (E4), read back as the application the API takes."""

from __future__ import annotations

from api.web.apply import Draft, check
from tests.factories import VILLAGE
from tests.households import id_number


def _draft(aid_type: str, **single: str) -> Draft:
    return Draft(
        single={"aid_type": aid_type, "village": VILLAGE, "phone": "13800002222", "reason": "看病花费大", **single},
        members=[
            {"name": "王小英", "id_number": id_number("19700101", 91, VILLAGE), "relation": "本人", "income": "900"}
        ],
    )


def test_K1_a_temporary_filing_carries_its_amount_in_fen_and_its_cause() -> None:
    checked, errors = check(_draft("temporary", amount_requested="3000", cause="illness"), "zh")
    assert errors == []
    assert checked is not None
    assert (checked.aid_type, checked.amount_requested_fen, checked.cause) == ("temporary", 300_000, "illness")


def test_K1_a_temporary_filing_without_an_amount_is_told_beside_the_field() -> None:
    checked, errors = check(_draft("temporary", cause="education"), "en")
    assert checked is None
    assert "amount_requested" in dict(errors)


def test_E4_a_dibao_filing_carries_the_years_rigid_spending_in_fen() -> None:
    checked, errors = check(_draft("dibao", rigid_medical="2400", rigid_education="600.50"), "zh")
    assert errors == []
    assert checked is not None
    assert checked.intake.model_dump()["rigid_spending"] == {
        "medical_fen": 240_000,
        "disability_care_fen": 0,
        "education_fen": 60_050,
    }
    plain, _ = check(_draft("dibao"), "zh")
    assert plain is not None
    assert plain.intake.model_dump()["rigid_spending"] is None
