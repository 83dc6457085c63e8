"""The one household builder of every suite: an application as JSON (for HTTP) or as the intake model."""

from __future__ import annotations

from typing import Any

from engine.secrets import id_check_char
from tests.factories import VILLAGE
from workflows.schemas import ApplicationIn


def id_number(born: str = "19700101", serial: int = 1, region: str = VILLAGE) -> str:
    """A valid identity number (GB 11643 check digit) of someone born in `region` on `born`."""
    first = f"{region[:6]}{born}{serial:03d}"
    return first + id_check_char(first)


def _person_id(born: str, n: int, region: str) -> str:
    """The n-th person's number: the serial's last three digits, the rest carried into the birth year."""
    return id_number(f"{int(born[:4]) + n // 1000:04d}{born[4:]}", n % 1000, region)


def household_body(
    *,
    aid_type: str = "dibao",
    village: str = VILLAGE,
    incomes: tuple[int, ...] = (20_000, 0),
    serial: int = 1,
    assets_fen: int = 500_000,
    relatives: list[dict[str, Any]] | None = None,
    draft: bool = False,
    born: str = "19700101",
    email: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A household of len(incomes) members, the first the applicant, as an application's JSON body.

    Households of different `serial`s share no identity number. A member's flags (severe_disability,
    serious_illness, can_work, disability) given here go to the last member; anything else to the body."""
    people: list[dict[str, Any]] = [
        {
            "name": "王小英" if i == 0 else f"王家{i}",
            "id_number": _person_id(born if i == 0 else "19950505", serial * 10 + i, village),
            "relation": "本人" if i == 0 else "子女",
            "monthly_income_fen": income,
        }
        for i, income in enumerate(incomes)
    ]
    for key in ("severe_disability", "serious_illness", "can_work", "disability"):
        if key in extra:
            people[-1][key] = extra.pop(key)
    body: dict[str, Any] = {
        "aid_type": aid_type,
        "village": village,
        "draft": draft,
        "applicant": {"name": "王小英", "id_number": people[0]["id_number"], "phone": "13800000000", "email": email},
        "members": people,
        "assets_fen": assets_fen,
        "reason": "家庭收入低，生活困难",
        "relatives_in_office": relatives or [],
    }
    if aid_type == "emergency":
        body.update(cause="fire", amount_requested_fen=200_000, reason="房屋失火")
    body.update(extra)
    return body


def household(**kwargs: Any) -> ApplicationIn:
    """The same household as the intake model the services take."""
    return ApplicationIn.model_validate(household_body(**kwargs))
