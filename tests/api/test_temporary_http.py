"""支出型临时救助 over HTTP (K1, K2, K5): filed, investigated, posted, referred above the township's
limit and granted by the county; the notice board, the queue, the tracking page and the 月通报 see it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import run_timers
from tests.api.conftest import COUNTY, PASSWORD, Clock, application_body

H = Callable[[str], dict[str, str]]
OPINION = {"opinion": "入户调查：住院自付医疗费用超出家庭承受能力 / hospital costs beyond the household's means"}


def _act(client: TestClient, token_for: H, user: str, case: dict[str, Any], action: str, data: dict[str, Any]) -> Any:
    return client.post(
        f"/api/v1/applications/{case['id']}/actions/{action}",
        headers=token_for(user),
        json={"version": case["version"], "data": data},
    )


def test_K2_temporary_aid_over_http_from_filing_to_a_county_grant(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    body = application_body(aid_type="temporary", cause="illness", amount_requested_fen=450_000)
    r = client.post("/api/v1/applications", json=body, headers=token_for("township1"))
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["state"], case["reference"][:3]) == ("temporary_review", "ZC-")
    assert case["deadline"] is not None, "accepted to decided within 15 working days"
    code = case["tracking_code"]
    assert "township_pass" in case["actions"]
    queued = client.get("/api/v1/queue", headers=token_for("township1b")).json()["items"]
    assert [i["id"] for i in queued] == [case["id"]]
    narrowed = client.get("/api/v1/queue?aid_type=temporary", headers=token_for("township1b")).json()["items"]
    assert [i["id"] for i in narrowed] == [case["id"]]
    assert client.get("/api/v1/queue?aid_type=dibao", headers=token_for("township1b")).json()["items"] == []

    r = _act(client, token_for, "township1", case, "township_pass", OPINION)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["state"] == "notice_temporary"
    board = client.get("/api/v1/notices").json()
    listed = board["items"] if isinstance(board, dict) else board
    assert [(n["aid_type"], n["amount_fen"]) for n in listed] == [("temporary", 450_000)]

    clock.moment += timedelta(days=14)  # a 5-working-day notice, whatever the holidays
    state = app.state.aidflow
    assert run_timers(state.db, clock.moment, state.env).fired >= 1
    case = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1b")).json()
    assert case["state"] == "township_approval"
    assert {"grant_temporary", "refer_to_county", "deny"} <= set(case["actions"])

    r = _act(client, token_for, "township1b", case, "grant_temporary", {"amount_fen": 450_000})
    assert r.status_code == 422
    assert "refer it to the county" in r.text
    r = _act(client, token_for, "township1b", case, "refer_to_county", {"reason": "超过乡镇限额 / over the limit"})
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["state"] == "county_approval"
    r = _act(client, token_for, "county", case, "grant_temporary", {"amount_fen": 450_000, "instalments": 3})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "granted"

    tracked = client.get(f"/api/v1/track/{code}").json()
    assert tracked["state"] == "granted"

    def report(month: str) -> dict[str, int]:
        r = client.get(f"/api/v1/reports/monthly?region={COUNTY}&month={month}", headers=token_for("inspector"))
        assert r.status_code == 200, r.text
        found: dict[str, int] = r.json()["by_aid_type"]["temporary"]
        return found

    filed, decided = report("2026-09"), report("2026-10")  # filed on 28 September, granted in October
    assert (filed["received"], filed["approved"], decided["received"], decided["approved"]) == (1, 0, 0, 1)


def test_K1_the_pages_show_a_temporary_case_its_notice_its_decision_form_and_its_tracking(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    body = application_body(aid_type="temporary", cause="education", amount_requested_fen=150_000)
    case = client.post("/api/v1/applications", json=body, headers=token_for("township1")).json()
    code = case["tracking_code"]
    case = _act(client, token_for, "township1", case, "township_pass", OPINION).json()
    assert client.get(f"/notices?village={body['village']}").text.count("支出型临时救助") >= 1
    clock.moment += timedelta(days=14)
    state = app.state.aidflow
    run_timers(state.db, clock.moment, state.env)
    _login(client, "township1b")
    assert "支出型临时救助" in client.get("/apply?aid_type=temporary").text
    assert client.get("/queue").status_code == 200
    page = client.get(f"/applications/{case['id']}")
    assert page.status_code == 200, page.text
    assert "分期发放月数" in page.text, "the decision's form asks over how many months to pay"
    case = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1b")).json()
    granted = _act(client, token_for, "township1b", case, "grant_temporary", {"amount_fen": 150_000, "instalments": 2})
    assert granted.status_code == 200, granted.text
    tracked = client.get(f"/track/{code}")
    assert tracked.status_code == 200
    assert "临时救助已批准" in tracked.text
    assert "按月分期发放" in tracked.text
    assert "2026-11" in tracked.text
    assert "2026-12" in tracked.text


def _login(client: TestClient, username: str) -> None:
    page = client.get("/login").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text
