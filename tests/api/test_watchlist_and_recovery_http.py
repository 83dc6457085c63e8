"""The watch list page records a follow-up visit; a recovery (D4) is recorded over HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import select

from api.deps import AppState
from engine.tables import AuditEntry, Case
from tests.api.conftest import application_body
from tests.api.test_pages import _login

H = Callable[[str], dict[str, str]]


def _refused(client: TestClient, token_for: H) -> int:
    """A household refused at acceptance while still in hardship: on the watch list."""
    case = client.post("/api/v1/applications", json=application_body(serial=7), headers=token_for("village1")).json()
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_reject",
        json={"version": case["version"], "data": {"reason": "户籍不在本村 / not registered here"}},
        headers=token_for("township1"),
    )
    assert r.status_code == 200, r.text
    return int(case["id"])


def _follow_ups(client: TestClient, case_id: int) -> list[dict[str, object]]:
    state: AppState = client.app.state.aidflow  # type: ignore[attr-defined]
    with state.db.session(write=False) as s:
        rows = s.exec(
            select(AuditEntry).where(AuditEntry.case_id == case_id, AuditEntry.action == "watch_follow_up")
        ).all()
        return [{"actor": e.actor, **json.loads(e.data)} for e in rows]


def test_the_watch_list_page_records_a_follow_up_visit_and_refuses_an_empty_one(
    client: TestClient, token_for: H
) -> None:
    case_id = _refused(client, token_for)
    _login(client, "township1")
    page = client.get("/reports/watchlist")
    assert page.status_code == 200
    action = f"/reports/watchlist/{case_id}/follow-up"
    assert f'action="{action}"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    empty = client.post(action, data={"csrf_token": token.group(1), "note": " ", "still_in_need": "yes"})
    assert empty.status_code == 422
    assert "回访情况须填写" in empty.text
    assert _follow_ups(client, case_id) == []
    done = client.post(
        action, data={"csrf_token": token.group(1), "note": "入户回访，仍无稳定收入 / still no steady income"}
    )
    assert done.status_code == 200
    assert "回访已登记" in done.text
    assert _follow_ups(client, case_id) == [
        {"actor": "township1", "note": "入户回访，仍无稳定收入 / still no steady income", "still_in_need": False}
    ]
    forged = client.post(action, data={"note": "x"})
    assert forged.status_code == 403, "a form without the session's token is refused"


def test_an_inspector_sees_the_watch_list_without_the_follow_up_form(client: TestClient, token_for: H) -> None:
    case_id = _refused(client, token_for)
    _login(client, "inspector")
    page = client.get("/reports/watchlist")
    assert page.status_code == 200
    assert f"/applications/{case_id}" in page.text
    assert "/follow-up" not in page.text


def test_D4_a_township_officer_records_a_recovery_over_http(client: TestClient, token_for: H) -> None:
    case_id = _refused(client, token_for)
    state: AppState = client.app.state.aidflow  # type: ignore[attr-defined]
    with state.db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        case.state = "exited"  # as a case that was supported and has left
        s.add(case)
    url = f"/api/v1/applications/{case_id}/recoveries"
    body = {"amount_fen": 60_000, "fine_fen": 240_000, "reason": "隐瞒收入 / hid income"}
    r = client.post(url, json=body, headers=token_for("township1"))
    assert r.status_code == 422, "four times the sum is over the policy's three"
    assert "1 to 3 times" in r.json()["detail"]
    r = client.post(url, json={**body, "fine_fen": 120_000}, headers=token_for("township1"))
    assert r.status_code == 201, r.text
    assert (r.json()["amount_fen"], r.json()["fine_fen"]) == (60_000, 120_000)
    assert client.post(url, json=body, headers=token_for("village1")).status_code == 403
    assert client.post(url, json=body, headers=token_for("township2")).status_code == 404
    fund = client.get(f"/api/v1/funds/{r.json()['fund']}", headers=token_for("inspector")).json()
    assert [(e["kind"], e["amount_fen"], e["application_id"]) for e in fund["entries"]] == [
        ("recovery", 60_000, case_id)
    ]
