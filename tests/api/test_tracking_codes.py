"""Tracking codes a person can read aloud: no look-alikes, any case, typed with spaces or dashes;
older codes keep working; an objection's receipt is followed at the same address."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import select

from engine.tables import Case
from tests.api.conftest import application_body, pass_village
from workflows import codes

H = Callable[[str], dict[str, str]]


def _file(client: TestClient, token_for: H) -> dict:  # type: ignore[type-arg]
    r = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1"))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_tracking_code_has_no_look_alikes_comes_in_groups_and_carries_at_least_80_bits() -> None:
    code = codes.new_code()
    assert re.fullmatch(r"[2-9A-Z]{4}(-[2-9A-Z]{4}){4}", code), code
    assert not set(code) & set("01OIL")
    assert not set(codes.ALPHABET) & set("01OIL")
    symbols = len(codes.normalise(code))
    assert symbols * math.log2(len(codes.ALPHABET)) >= 80
    assert len({codes.new_code() for _ in range(200)}) == 200


def test_the_code_on_a_receipt_is_found_typed_in_lower_case_with_spaces_or_without_dashes(
    client: TestClient, token_for: H
) -> None:
    case = _file(client, token_for)
    code = case["tracking_code"]
    assert re.fullmatch(r"[2-9A-Z]{4}(-[2-9A-Z]{4}){4}", code), code
    for typed in (code, code.lower(), code.replace("-", " "), code.replace("-", ""), f" {code.lower()} "):
        r = client.get(f"/api/v1/track/{typed}")
        assert r.status_code == 200, (typed, r.text)
        assert r.json()["reference"] == case["reference"]
    wrong = code[:-1] + ("2" if code[-1] != "2" else "3")
    assert client.get(f"/api/v1/track/{wrong}").status_code == 404


def test_a_code_issued_before_the_readable_codes_still_finds_its_case(
    app: object, client: TestClient, token_for: H
) -> None:
    case = _file(client, token_for)
    old = "Ab3_dEf-9xYzQwErTyUiOp"  # as secrets.token_urlsafe(16) issued them: its dash and underscore are part of it
    state = client.app.state.aidflow  # type: ignore[attr-defined]
    with state.db.session() as session:
        row = session.exec(select(Case).where(Case.id == case["id"])).one()
        row.tracking_hash = state.env.cipher.lookup_hash(old)
        session.add(row)
    assert client.get(f"/api/v1/track/{old}").json()["reference"] == case["reference"]


def test_an_objection_receipt_is_followed_at_the_tracking_address_without_the_objector(
    client: TestClient, token_for: H
) -> None:
    case = _file(client, token_for)
    listed = pass_village(client, token_for, case)
    notice = next(n for n in client.get("/api/v1/notices").json() if n["reference"] == listed["reference"])
    receipt = client.post(
        f"/api/v1/notices/{notice['id']}/objections",
        json={"reason": "该户有车辆 / owns a car", "contact": "13912345678"},
    ).json()
    code = receipt["receipt_code"]
    assert re.fullmatch(r"YY(-[2-9A-Z]{4}){5}", code), code
    r = client.get(f"/api/v1/track/{code.lower().replace('-', ' ')}")
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["kind"] == "objection"
    assert shown["state"] == "under_review"
    assert [s["key"] for s in shown["steps"] if s["current"]] == ["review"]
    assert "13912345678" not in r.text
