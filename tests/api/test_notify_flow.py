from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from api.services import run_timers
from engine.tables import User
from notifications.outbox import OutboxMessage
from tests.api.conftest import Clock, application_body, pass_village, record_verification

H = Callable[[str], dict[str, str]]


def _outbox(app: FastAPI) -> list[OutboxMessage]:
    with app.state.aidflow.db.session(write=False) as s:
        rows = list(s.exec(select(OutboxMessage)))
        s.expunge_all()
        return rows


def test_a_transition_queues_mail_for_the_household_and_the_officials_who_act_next(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    with app.state.aidflow.db.session() as s:
        officer = s.exec(select(User).where(User.username == "township1")).one()
        officer.email = "township1@xinan.invalid"
    body = application_body()
    body["applicant"]["email"] = "wang@family.invalid"
    case = client.post("/api/v1/applications", json=body, headers=token_for("village1")).json()
    pass_village(client, token_for, case)
    to_household = [m for m in _outbox(app) if m.recipient == "wang@family.invalid"]
    assert sorted(m.subject.rsplit(" ", 1)[-1] for m in to_household) == ["notice_village", "village_review"]
    assert all(case["reference"] in m.body and "English" in m.body for m in to_household)
    # the notice runs out; the township now has the case and hears of it
    state = app.state.aidflow
    result = run_timers(state.db, clock.moment + timedelta(days=8), state.env)
    assert result.fired >= 1
    to_township = [
        m for m in _outbox(app) if m.recipient == "township1@xinan.invalid" and "township_review" in m.subject
    ]
    assert len(to_township) == 1
    assert "待您办理" in to_township[0].body
    # a second sweep fires nothing and queues nothing more
    before = len(_outbox(app))
    run_timers(state.db, clock.moment + timedelta(days=8), state.env)
    assert len(_outbox(app)) == before


def test_a_refused_act_queues_nothing(app: FastAPI, client: TestClient, token_for: H) -> None:
    body = application_body()
    body["applicant"]["email"] = "wang@family.invalid"
    case = client.post("/api/v1/applications", json=body, headers=token_for("village1")).json()
    before = len(_outbox(app))
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_pass",
        headers=token_for("village1"),
        json={"version": case["version"], "data": {}},
    )
    assert r.status_code == 422
    assert len(_outbox(app)) == before


def test_officials_hear_only_of_what_they_may_act_on_and_an_objection_reaches_its_reviewers(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    with app.state.aidflow.db.session() as s:
        for name in ("township1", "township1b", "village1"):
            s.exec(select(User).where(User.username == name)).one().email = f"{name}@xinan.invalid"
    case = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1")).json()
    case = pass_village(client, token_for, record_verification(client, token_for, case))

    def mails_to(name: str, state: str) -> int:
        return sum(1 for m in _outbox(app) if m.recipient == f"{name}@xinan.invalid" and m.subject.endswith(state))

    assert mails_to("township1", "notice_village") == 0, "a running notice is nobody's task"
    assert mails_to("village1", "notice_village") == 0
    # the public objects: the township officers who review objections hear of it
    notice = next(n for n in client.get("/api/v1/notices").json() if n["reference"] == case["reference"])
    r = client.post(f"/api/v1/notices/{notice['id']}/objections", json={"reason": "家有轿车未申报 / an undeclared car"})
    assert r.status_code == 201
    assert mails_to("township1", "objection_review") == 1
    assert mails_to("township1b", "objection_review") == 1
    current = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1")).json()
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/dismiss_objection",
        json={"version": current["version"], "data": {"finding": "已申报 / declared"}},
        headers=token_for("township1b"),
    )
    assert r.status_code == 200, r.text
    state = app.state.aidflow
    run_timers(state.db, clock.moment + timedelta(days=8), state.env)
    current = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1")).json()
    assert current["state"] == "township_review"
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/township_pass",
        json={"version": current["version"], "data": {"opinion": "核查属实 / verified"}},
        headers=token_for("township1"),
    )
    assert r.status_code == 200, r.text
    run_timers(state.db, clock.moment + timedelta(days=16), state.env)
    # the decision is not offered to whoever gave the opinion, and neither is the mail
    assert mails_to("township1", "township_approval") == 0
    assert mails_to("township1b", "township_approval") == 1


def test_the_household_reads_where_its_case_is_what_is_missing_and_why_it_was_refused(
    app: FastAPI, client: TestClient, token_for: H
) -> None:
    body = application_body()
    body["applicant"]["email"] = "wang@family.invalid"
    case = client.post("/api/v1/applications", json=body, headers=token_for("village1")).json()
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/request_info",
        json={"version": case["version"], "data": {"missing": ["户口簿 / household register"], "due": "2026-10-20"}},
        headers=token_for("village1"),
    )
    assert r.status_code == 200, r.text
    asked = next(m for m in _outbox(app) if m.recipient == "wang@family.invalid" and "awaiting_info" in m.subject)
    assert "户口簿 / household register" in asked.body
    assert "2026-10-20" in asked.body
    assert 'from "village review" to "awaiting information"' in asked.body
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/provide_info",
        json={"version": r.json()["version"], "data": {"note": "已补齐"}},
        headers=token_for("village1"),
    )
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_reject",
        json={"version": r.json()["version"], "data": {"reason": "人均收入高于标准 / income above the standard"}},
        headers=token_for("township1"),
    )
    assert r.status_code == 200, r.text
    refused = next(m for m in _outbox(app) if m.recipient == "wang@family.invalid" and "rejected" in m.subject)
    assert "人均收入高于标准 / income above the standard" in refused.body
    assert "行政复议" in refused.body
    assert "60 日内" in refused.body, "P12: the refusal states its appeal window"
    assert "administrative review" in refused.body
