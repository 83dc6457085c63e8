"""核对 over HTTP: township_pass is 422 naming the members without a report (P4), the county records one
member at a time, the village may not, and the case shows the report by member."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import run_timers
from tests.api.conftest import Clock, application_body, pass_village

H = Callable[[str], dict[str, str]]


def _post(client: TestClient, token_for: H, user: str, case_id: int, action: str, data: dict[str, Any]) -> Any:
    current = client.get(f"/api/v1/applications/{case_id}", headers=token_for(user)).json()
    return client.post(
        f"/api/v1/applications/{case_id}/actions/{action}",
        headers=token_for(user),
        json={"version": current["version"], "data": data},
    )


def test_P4_township_pass_is_422_naming_the_members_without_a_report_until_the_county_records_them(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    created = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1")).json()
    case_id = created["id"]
    pass_village(client, token_for, created)
    clock.moment += timedelta(days=8)
    state = app.state.aidflow
    run_timers(state.db, clock.moment, state.env)

    opinion = {"opinion": "核查属实 / verified"}
    refused = _post(client, token_for, "township1", case_id, "township_pass", opinion)
    assert refused.status_code == 422
    assert "以下家庭成员尚无核对报告：王小英、王家1" in refused.json()["detail"]

    report = {"member": 1, "monthly_income_fen": 20_000, "assets_fen": 500_000, "findings": "存款与申报一致"}
    assert _post(client, token_for, "village1", case_id, "record_verification", report).status_code == 403
    assert _post(client, token_for, "county", case_id, "record_verification", report).status_code == 200
    still = _post(client, token_for, "township1", case_id, "township_pass", opinion)
    assert still.status_code == 422
    assert "no 核对 (cross-check) report is recorded for: 王家1;" in still.json()["detail"]
    second = {"member": 2, "monthly_income_fen": 0, "assets_fen": 0, "findings": ""}
    assert _post(client, token_for, "county", case_id, "record_verification", second).status_code == 200

    case = client.get(f"/api/v1/applications/{case_id}", headers=token_for("township1")).json()
    shown = case["details"]["verification"]
    assert [(m["name"], m["checked"], m["source"]) for m in shown["members"]] == [
        ("王小英", True, "entered"),
        ("王家1", True, "entered"),
    ]
    assert _post(client, token_for, "township1", case_id, "township_pass", opinion).status_code == 200
    trail = client.get(f"/api/v1/applications/{case_id}/audit", headers=token_for("inspector")).json()
    recorded = [(e["actor"], e["from_state"], e["to_state"]) for e in trail if e["action"] == "record_verification"]
    assert recorded == [("county", "township_review", "township_review")] * 2, "audited, and the case stays put"
