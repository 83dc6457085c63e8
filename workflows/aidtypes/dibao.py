"""低保 最低生活保障: per household, below the local standard (E1), or one member alone (E2 单人户)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflows import guards as g
from workflows.aidtypes import AidType
from workflows.policy import Rules


def _cap(data: Mapping[str, Any], rules: Rules, terms: Mapping[str, Any]) -> int:
    return g.monthly_cap_fen(data, rules, str(terms.get("mode") or "household"))


AID_TYPE = AidType(
    key="dibao",
    workflow="standard",
    prefix="DB",
    name_zh="最低生活保障",
    name_en="minimum living allowance",
    eligibility=(g.income_eligible, g.assets_within_rule),
    amount_cap=_cap,
    cap_basis=(
        "低保标准×家庭人数，单人户为一人标准 / the standard times the household size; one person's standard "
        "for single-person cover"
    ),
    decision=(g.dibao_mode,),
)
