from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.api.conftest import application_body, pass_village

H = Callable[[str], dict[str, str]]


def _listed_case(client: TestClient, token_for: H) -> dict:  # type: ignore[type-arg]
    r = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1"))
    case = r.json()
    listed = pass_village(client, token_for, case)
    return {**listed, "tracking_code": case["tracking_code"]}


def test_the_notice_board_shows_a_masked_name_and_never_an_identity_number(client: TestClient, token_for: H) -> None:
    case = _listed_case(client, token_for)
    r = client.get("/api/v1/notices")
    assert r.status_code == 200
    notices = r.json()
    mine = [n for n in notices if n["reference"] == case["reference"]]
    assert len(mine) == 1
    notice = mine[0]
    assert set(notice) >= {
        "id",
        "reference",
        "name",
        "village",
        "household_size",
        "aid_type",
        "amount_fen",
        "stage",
        "starts",
        "ends",
    }
    assert notice["name"] == "王*英"
    assert notice["village_code"] == application_body()["village"]
    assert notice["household_size"] == 2
    shown = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("village1")).json()
    assert shown["deadline"] == notice["ends"], "on notice, the case is due when its notice ends"
    listed = client.get("/api/v1/applications?state=notice_village", headers=token_for("village1")).json()["items"]
    assert [i["deadline"] for i in listed if i["id"] == case["id"]] == [notice["ends"]], "the list agrees"
    body = r.text
    for secret in (application_body()["applicant"]["id_number"], "13800000000", "王小英", "王家1"):
        assert secret not in body


def test_anyone_may_object_during_a_notice_and_the_case_goes_to_objection_review(
    client: TestClient, token_for: H
) -> None:
    case = _listed_case(client, token_for)
    notice = next(n for n in client.get("/api/v1/notices").json() if n["reference"] == case["reference"])
    r = client.post(
        f"/api/v1/notices/{notice['id']}/objections",
        json={"reason": "该户有车辆，未申报 / the household owns an undeclared car", "contact": "13912345678"},
    )
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["reference"] == case["reference"]
    assert receipt["stage"] == notice["stage"] == "village"
    assert receipt["receipt_code"]
    after = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1")).json()
    assert after["state"] == "objection_review"
    assert "13912345678" not in client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1")).text
    inspector_view = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("inspector")).json()
    objection = inspector_view["details"]["objections"][0]
    assert objection["contact_given"] is True
    assert "13912345678" not in str(inspector_view)
    contact = client.get(f"/api/v1/objections/{objection['id']}/contact", headers=token_for("inspector"))
    assert contact.status_code == 200
    assert contact.json()["contact"] == "13912345678"
    hidden = client.get(f"/api/v1/objections/{objection['id']}/contact", headers=token_for("township1"))
    assert hidden.status_code == 404
    trail = client.get(f"/api/v1/applications/{case['id']}/audit", headers=token_for("inspector")).json()
    assert any(e["action"] == "view_objection_contact" and e["actor"] == "inspector" for e in trail)
    assert all(n["reference"] != case["reference"] for n in client.get("/api/v1/notices").json())


def test_an_anonymous_objection_needs_no_contact_and_bad_ones_are_refused(client: TestClient, token_for: H) -> None:
    case = _listed_case(client, token_for)
    notice = next(n for n in client.get("/api/v1/notices").json() if n["reference"] == case["reference"])
    assert client.post(f"/api/v1/notices/{notice['id']}/objections", json={"reason": ""}).status_code == 422
    assert client.post(f"/api/v1/notices/{notice['id']}/objections", json={"why": "x"}).status_code == 422
    assert client.post("/api/v1/notices/999999/objections", json={"reason": "不实 / untrue"}).status_code == 404
    r = client.post(f"/api/v1/notices/{notice['id']}/objections", json={"reason": "收入不实 / income untrue"})
    assert r.status_code == 201


def test_objections_are_throttled_per_address(client: TestClient, token_for: H) -> None:
    _listed_case(client, token_for)
    codes = [
        client.post("/api/v1/notices/999999/objections", json={"reason": "不实 / untrue"}).status_code for _ in range(6)
    ]
    assert codes[:5] == [404] * 5
    assert codes[5] == 429


def test_the_tracking_code_shows_progress_in_plain_chinese_and_english(client: TestClient, token_for: H) -> None:
    case = _listed_case(client, token_for)
    zh = client.get(f"/api/v1/track/{case['tracking_code']}")
    assert zh.status_code == 200
    body = zh.json()
    assert body["state"] == "notice_village"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["status_text"])
    assert body["next_step"]
    en = client.get(f"/api/v1/track/{case['tracking_code']}?lang=en").json()
    assert en["status_text"] != body["status_text"]
    assert en["status_text"].isascii()
    for secret in ("王小英", application_body()["applicant"]["id_number"]):
        assert secret not in zh.text


def test_unknown_tracking_codes_are_404_and_guessing_is_throttled(client: TestClient) -> None:
    codes = [client.get(f"/api/v1/track/guess-{i:08d}").status_code for i in range(11)]
    assert codes[:10] == [404] * 10
    assert codes[10] == 429


def test_health_answers_when_the_database_does(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_openapi_documents_every_contract_path(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/auth/token",
        "/api/v1/applications",
        "/api/v1/applications/{case_id}",
        "/api/v1/applications/{case_id}/actions/{action}",
        "/api/v1/queue",
        "/api/v1/applications/{case_id}/audit",
        "/api/v1/audit/verify",
        "/api/v1/track/{code}",
        "/api/v1/payments",
        "/api/v1/notices",
        "/api/v1/notices/{notice_id}/objections",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
