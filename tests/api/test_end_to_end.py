"""One application over HTTP from submission to its first payment, timers included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import run_timers
from engine.access import SYSTEM
from tests.api.conftest import Clock, application_body, pass_village, record_verification
from workflows.payments import run_payments

H = Callable[[str], dict[str, str]]


def _act(client: TestClient, token_for: H, user: str, case: dict, action: str, data: dict) -> dict:  # type: ignore[type-arg]
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/{action}",
        headers=token_for(user),
        json={"version": case["version"], "data": data},
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _sweep(app: FastAPI, clock: Clock, days: int) -> None:
    clock.moment += timedelta(days=days)
    state = app.state.aidflow
    assert run_timers(state.db, clock.moment, state.env).fired >= 1


def test_from_submission_through_three_notices_to_a_payment_line(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    created = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1")).json()
    checked = record_verification(client, token_for, created)  # P4: the county's 核对 report
    case = pass_village(client, token_for, checked)
    assert case["state"] == "notice_village"

    _sweep(app, clock, 8)
    case = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1")).json()
    assert case["state"] == "township_review"
    assert case["deadline"] is not None, "the township's opinion is due within 10 working days"
    assert "township_pass" in case["actions"]
    case = _act(client, token_for, "township1", case, "township_pass", {"opinion": "核查属实 / verified"})
    assert case["state"] == "notice_township"

    _sweep(app, clock, 8)
    case = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1b")).json()
    assert case["state"] == "township_approval"
    assert {"approve", "deny"} <= set(case["actions"])
    assert "withdraw" not in case["actions"], "only the filer (village1) or the household may withdraw"
    passer_view = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1")).json()
    assert "approve" not in passer_view["actions"], "whoever gave the opinion is not offered the decision"
    assert "deny" not in passer_view["actions"]

    def queued(user: str) -> list[int]:
        return [i["id"] for i in client.get("/api/v1/queue", headers=token_for(user)).json()["items"]]

    assert case["id"] in queued("township1b")
    assert case["id"] not in queued("township1"), "a case the caller may not act on is not in their queue"
    # the official who gave the opinion may not decide
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/approve",
        headers=token_for("township1"),
        json={
            "version": case["version"],
            "data": {
                "monthly_amount_fen": 50_000,
                "mode": "household",
                "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
            },
        },
    )
    assert r.status_code == 422
    refusals = [
        e
        for e in client.get(f"/api/v1/applications/{case['id']}/audit", headers=token_for("inspector")).json()
        if e["action"] == "refused"
    ]
    assert [(e["actor"], e["data"]["attempted"], e["from_state"]) for e in refusals] == [
        ("township1", "approve", "township_approval")
    ], "the refused attempt is on the trail, though the act itself was rolled back"
    assert "another official must decide it" in refusals[0]["data"]["reasons"][0]
    # The test clock stands outside working hours, so the decisions are flagged for that too: only the refusals here.
    flags = client.get("/api/v1/reports/flags?kind=refused_attempt", headers=token_for("inspector")).json()
    assert [(f["kind"], f["official"], f["application_id"]) for f in flags] == [
        ("refused_attempt", "township1", case["id"])
    ], "the inspector's report shows who tried to decide a case they had reviewed"
    assert "approve" in flags[0]["detail"]
    assert client.get("/api/v1/reports/flags", headers=token_for("inspector2")).json() == [], "another county's"
    case = _act(
        client,
        token_for,
        "township1b",
        case,
        "approve",
        {
            "monthly_amount_fen": 50_000,
            "mode": "household",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        },
    )
    assert case["state"] == "notice_final"

    _sweep(app, clock, 8)
    tracked = client.get(f"/api/v1/track/{created['tracking_code']}").json()
    assert tracked["state"] == "active"

    state = app.state.aidflow
    with state.db.session() as s:
        result = run_payments(s, env=state.env, month="2026-11", actor=SYSTEM, now=clock.moment)
    assert result.created == 1
    with state.db.session() as s:
        again = run_payments(s, env=state.env, month="2026-11", actor=SYSTEM, now=clock.moment)
    assert again.created == 0
    lines = client.get("/api/v1/payments?month=2026-11", headers=token_for("township1")).json()
    contract = ("application_id", "month", "amount_fen", "status")
    assert [{k: line[k] for k in contract} for line in lines] == [
        {"application_id": case["id"], "month": "2026-11", "amount_fen": 50_000, "status": "pending"}
    ]
    assert lines[0]["reference"] == f"PAY202611-{case['id']:08d}"
    assert client.get("/api/v1/payments?month=2026-11", headers=token_for("township2")).json() == []
    assert client.get("/api/v1/payments?month=2026-13", headers=token_for("township1")).status_code == 422

    trail = client.get(f"/api/v1/applications/{case['id']}/audit", headers=token_for("inspector")).json()
    moves = [(e["action"], e["actor"]) for e in trail if e["from_state"] != e["to_state"]]
    assert moves == [
        ("create", "village1"),
        ("submit", "village1"),
        ("village_pass", "village1"),
        ("close_notice", "system"),
        ("township_pass", "township1"),
        ("close_notice", "system"),
        ("approve", "township1b"),
        ("close_notice", "system"),
    ]
    # The payment run's record of the line is the system's too, but no timer's.
    timer_entries = [e for e in trail if e["actor"] == "system" and not e["action"].startswith("payment_")]
    assert [e["action"] for e in trail if e["action"].startswith("payment_")] == ["payment_line"]
    assert all(e["due_at"] is not None for e in timer_entries)
    assert client.get("/api/v1/audit/verify", headers=token_for("inspector")).json()["ok"] is True
