"""What an application may carry in: strict whole fen, and emergency aid's requested amount."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.workflows.support import household
from workflows.schemas import ApplicationIn


def body(**changes: Any) -> dict[str, Any]:
    raw = household().model_dump()
    raw.update(changes)
    return raw


def emergency_body(**changes: Any) -> dict[str, Any]:
    raw = household(aid_type="emergency").model_dump()
    raw.update(changes)
    return raw


def test_the_examples_of_the_schema_are_valid_applications() -> None:
    examples = ApplicationIn.model_config.get("json_schema_extra", {})["examples"]  # type: ignore[index]
    parsed = [ApplicationIn.model_validate(e) for e in examples]
    assert [p.aid_type for p in parsed] == ["dibao", "emergency", "tekun", "temporary"]
    assert parsed[1].amount_requested_fen == 200_000


def test_an_emergency_application_without_a_requested_amount_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValidationError) as refused:
        ApplicationIn.model_validate(emergency_body(amount_requested_fen=None))
    assert "amount_requested_fen" in str(refused.value)
    assert "急难救助须填写申请金额" in str(refused.value)
    with pytest.raises(ValidationError, match="amount_requested_fen"):
        ApplicationIn.model_validate(emergency_body(amount_requested_fen=0))
    assert ApplicationIn.model_validate(emergency_body()).amount_requested_fen == 200_000


def test_a_dibao_application_needs_no_requested_amount() -> None:
    assert ApplicationIn.model_validate(body(amount_requested_fen=None)).amount_requested_fen is None


@pytest.mark.parametrize("value", ["100", True, 100.0, "1e3"])
def test_assets_in_fen_must_be_a_json_integer_not_a_string_a_boolean_or_a_float(value: object) -> None:
    with pytest.raises(ValidationError):
        ApplicationIn.model_validate(body(assets_fen=value))


@pytest.mark.parametrize("value", ["20000", True, False, 20000.0])
def test_a_members_income_must_be_a_json_integer(value: object) -> None:
    raw = body()
    raw["members"][0]["monthly_income_fen"] = value
    with pytest.raises(ValidationError):
        ApplicationIn.model_validate(raw)


def test_the_requested_amount_must_be_a_json_integer_too() -> None:
    for value in ("200000", True):
        with pytest.raises(ValidationError):
            ApplicationIn.model_validate(emergency_body(amount_requested_fen=value))


def test_the_same_rules_hold_for_an_application_parsed_from_json_text() -> None:
    import json

    raw = body()
    raw["members"][0]["monthly_income_fen"] = "20000"
    with pytest.raises(ValidationError):
        ApplicationIn.model_validate_json(json.dumps(raw))
    assert ApplicationIn.model_validate_json(json.dumps(body())).assets_fen == 500_000


def test_amounts_at_or_over_the_bound_are_refused() -> None:
    with pytest.raises(ValidationError):
        ApplicationIn.model_validate(body(assets_fen=10**12))
    with pytest.raises(ValidationError):
        ApplicationIn.model_validate(body(assets_fen=10**30))
    assert ApplicationIn.model_validate(body(assets_fen=10**12 - 1)).assets_fen == 10**12 - 1
