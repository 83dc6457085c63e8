from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import application_body

H = Callable[[str], dict[str, str]]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("post", "/api/v1/notices/1/objections", {"json": {"reason": "ab\u0000cd"}}),
        ("post", "/api/v1/auth/token", {"data": {"username": "a\u0000b", "password": "x"}}),
        ("get", "/api/v1/track/abc%00defghij", {}),
        ("get", "/api/v1/notices?x=%00", {}),
    ],
)
def test_a_nul_character_anywhere_is_422_not_a_server_error(
    client: TestClient,
    method: str,
    path: str,
    kwargs: dict,  # type: ignore[type-arg]
) -> None:
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "NUL" in r.json()["detail"]


def test_an_application_with_a_nul_in_a_name_is_refused_and_nothing_is_stored(client: TestClient, token_for: H) -> None:
    body = application_body()
    body["applicant"]["name"] = "王\u0000英"
    r = client.post("/api/v1/applications", json=body, headers=token_for("village1"))
    assert r.status_code == 422
    assert client.get("/api/v1/applications", headers=token_for("township1")).json()["items"] == []


def test_filing_checks_the_caller_before_the_body(client: TestClient, token_for: H) -> None:
    broken = {"content": b"{broken", "headers": {"content-type": "application/json"}}
    assert client.post("/api/v1/applications", **broken).status_code == 401  # type: ignore[arg-type]
    r = client.post(
        "/api/v1/applications",
        content=b"{broken",
        headers={**token_for("inspector"), "content-type": "application/json"},
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/applications",
        content=b"{broken",
        headers={**token_for("village1"), "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert "JSON" in r.json()["detail"]


def test_an_inspectors_reads_are_on_the_audit_trail_but_not_in_the_households_history(
    client: TestClient, token_for: H
) -> None:
    case = client.post("/api/v1/applications", json=application_body(), headers=token_for("applicant1")).json()
    client.get(f"/api/v1/applications/{case['id']}", headers=token_for("inspector"))
    seen_by_household = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("applicant1")).json()
    assert all(e["action"] != "view_case" for e in seen_by_household["history"])
    trail = client.get(f"/api/v1/applications/{case['id']}/audit", headers=token_for("inspector")).json()
    assert any(e["action"] == "view_case" and e["actor"] == "inspector" for e in trail)


def test_an_impossible_month_is_422(client: TestClient, token_for: H) -> None:
    for month in ("0000-01", "2026-00", "2026-13", "26-01"):
        assert client.get(f"/api/v1/payments?month={month}", headers=token_for("county")).status_code == 422


def test_unknown_paths_answer_in_both_languages(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["detail"] == "没有这个地址 / no such path"


@pytest.mark.parametrize("ident", ["0", "-1", str(2**63), str(10**30)])
def test_an_id_no_row_could_have_is_404_like_any_unknown_one(client: TestClient, token_for: H, ident: str) -> None:
    assert client.get(f"/api/v1/applications/{ident}").status_code == 401, "401 still comes first"
    assert client.get(f"/api/v1/applications/{ident}", headers=token_for("township1")).status_code == 404
    act = client.post(
        f"/api/v1/applications/{ident}/actions/approve", json={"version": 1}, headers=token_for("township1")
    )
    assert act.status_code == 404
    assert client.get(f"/api/v1/objections/{ident}/contact", headers=token_for("inspector")).status_code == 404
    assert client.post(f"/api/v1/notices/{ident}/objections", json={"reason": "不实"}).status_code == 404
    assert client.get("/api/v1/applications/abc", headers=token_for("township1")).status_code == 422


def test_a_list_cursor_beyond_64_bits_is_422_not_a_server_error(client: TestClient, token_for: H) -> None:
    r = client.get(f"/api/v1/applications?after={2**63}", headers=token_for("inspector"))
    assert r.status_code == 422


def test_identity_numbers_need_a_real_birth_date_and_the_applicant_among_the_members(
    client: TestClient, token_for: H
) -> None:
    from engine.secrets import id_check_char

    def with_born(born: str) -> str:
        first = f"341122{born}001"
        return first + id_check_char(first)

    for born in ("19801332", "20991231", "18800101"):  # no such day, not yet born, implausibly old
        body = application_body()
        body["members"][0]["id_number"] = body["applicant"]["id_number"] = with_born(born)
        r = client.post("/api/v1/applications", json=body, headers=token_for("village1"))
        assert r.status_code == 422, born
    body = application_body()
    body["members"] = body["members"][1:]
    r = client.post("/api/v1/applications", json=body, headers=token_for("village1"))
    assert r.status_code == 422
    assert "applicant must be listed among the members" in r.json()["detail"]
    assert "Value error" not in r.json()["detail"]


def test_an_acts_version_must_be_a_whole_number_not_a_string(client: TestClient, token_for: H) -> None:
    case = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1")).json()
    for version in (str(case["version"]), float(case["version"])):
        r = client.post(
            f"/api/v1/applications/{case['id']}/actions/village_reject",
            json={"version": version, "data": {"reason": "不符合条件"}},
            headers=token_for("township1"),
        )
        assert r.status_code == 422, version
    assert client.get(f"/api/v1/applications/{case['id']}", headers=token_for("village1")).json()["state"] == (
        "village_review"
    )


def test_an_applicant_applies_for_the_allowance_in_their_own_village_only(client: TestClient, token_for: H) -> None:
    from tests.api.conftest import OTHER_VILLAGE

    r = client.post(
        "/api/v1/applications", json=application_body(village=OTHER_VILLAGE), headers=token_for("applicant1")
    )
    assert r.status_code == 422
    assert "own village" in r.json()["detail"]
    r = client.post("/api/v1/applications", json=application_body(), headers=token_for("applicant1"))
    assert r.status_code == 201


@pytest.mark.parametrize("ident", [str(2**31), str(2**62)])
def test_ids_past_the_32_bit_columns_are_404_on_both_databases(client: TestClient, token_for: H, ident: str) -> None:
    assert client.get(f"/api/v1/applications/{ident}", headers=token_for("township1")).status_code == 404
    assert client.post(f"/api/v1/notices/{ident}/objections", json={"reason": "不实"}).status_code == 404
    assert client.get(f"/api/v1/objections/{ident}/contact", headers=token_for("inspector")).status_code == 404
    assert client.get(f"/api/v1/applications?after={ident}", headers=token_for("inspector")).status_code == 422


def test_a_queue_cursor_out_of_range_is_422(client: TestClient, token_for: H) -> None:
    import base64
    import json

    for raw in ([None, 2**63], ["2026-10-01T00:00:00+00:00", 2**40], ["2026-10-01T00:00:00", 5]):
        token = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()
        assert client.get(f"/api/v1/queue?cursor={token}", headers=token_for("township1")).status_code == 422, raw


def test_a_second_application_elsewhere_is_refused_without_naming_it(client: TestClient, token_for: H) -> None:
    from tests.api.conftest import OTHER_VILLAGE

    elsewhere = application_body(village=OTHER_VILLAGE)
    first = client.post("/api/v1/applications", json=elsewhere, headers=token_for("village2"))
    assert first.status_code == 201
    body = application_body()
    body["members"][1]["id_number"] = elsewhere["members"][1]["id_number"]
    r = client.post("/api/v1/applications", json=body, headers=token_for("village1"))
    assert r.status_code == 409
    assert first.json()["reference"] not in r.json()["detail"], "another region's case is not named"
    assert "contact the township office" in r.json()["detail"]
