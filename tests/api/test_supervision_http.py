"""GET /api/v1/supervision and its acts over HTTP; GET /api/v1/notices/standing without a login."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.services import run_timers
from tests.api.conftest import Clock, application_body, pass_village, record_verification
from tests.api.test_pages import _csrf, _login
from tests.factories import COUNTY, OTHER_VILLAGE, TOWNSHIP, VILLAGE

H = Callable[[str], dict[str, str]]


def _act(client: TestClient, token_for: H, user: str, case: dict[str, Any], action: str, data: dict[str, Any]) -> Any:
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/{action}",
        headers=token_for(user),
        json={"version": case["version"], "data": data},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _sweep(app: FastAPI, clock: Clock, days: int) -> None:
    clock.moment += timedelta(days=days)
    state = app.state.aidflow
    run_timers(state.db, clock.moment, state.env)


def _decided(app: FastAPI, client: TestClient, token_for: H, clock: Clock) -> dict[str, Any]:
    created = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1")).json()
    record_verification(client, token_for, created)
    case = pass_village(
        client, token_for, client.get(f"/api/v1/applications/{created['id']}", headers=token_for("village1")).json()
    )
    _sweep(app, clock, 8)
    case = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1")).json()
    case = _act(client, token_for, "township1", case, "township_pass", {"opinion": "核查属实 / verified"})
    _sweep(app, clock, 8)
    case = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1b")).json()
    approve = {
        "monthly_amount_fen": 50_000,
        "mode": "household",
        "basis": "《最低生活保障审核确认办法》第十九条 / Art. 19",
    }
    return _act(client, token_for, "township1b", case, "approve", approve)  # type: ignore[no-any-return]


def test_delegated_filing_is_filed_and_acknowledged_over_http(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    case = _decided(app, client, token_for, clock)
    assert client.get("/api/v1/queue", headers=token_for("township1")).json()["supervision_tasks"] == 1
    r = client.get(f"/api/v1/supervision?region={COUNTY}", headers=token_for("county"))
    assert r.status_code == 200, r.text
    [filing] = r.json()["filings_to_file"]
    assert filing["application_id"] == case["id"]
    assert client.get(f"/api/v1/supervision?region={COUNTY}", headers=token_for("county2")).status_code == 404
    assert client.get(f"/api/v1/supervision?region={COUNTY}", headers=token_for("township1")).status_code == 404
    assert client.get(f"/api/v1/supervision?region={TOWNSHIP}", headers=token_for("township1")).status_code == 200
    assert client.get(f"/api/v1/supervision?region={COUNTY}").status_code == 401
    ack = f"/api/v1/supervision/filings/{filing['id']}/acknowledge"
    assert client.post(ack, headers=token_for("county")).status_code == 409, "not filed yet"
    filed = client.post(f"/api/v1/supervision/filings/{filing['id']}/file", headers=token_for("township1"))
    assert filed.status_code == 200, filed.text
    assert filed.json()["late"] is False
    assert client.post(ack, headers=token_for("township2")).status_code == 404
    assert client.get("/api/v1/queue", headers=token_for("county")).json()["supervision_tasks"] == 1, "to acknowledge"
    done = client.post(ack, headers=token_for("county"))
    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_by"] == "county"
    trail = client.get(f"/api/v1/applications/{case['id']}/audit", headers=token_for("inspector")).json()
    assert [e["action"] for e in trail][-2:] == ["file_with_county", "acknowledge_filing"]
    assert client.get("/api/v1/audit/verify", headers=token_for("inspector")).json()["ok"] is True


def test_P14_a_sample_drawn_over_http_is_stored_and_verifies(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    case = _decided(app, client, token_for, clock)
    month = clock.moment.strftime("%Y-%m")
    clock.moment += timedelta(days=40)
    body = {"county": COUNTY, "month": month, "seed": 77}
    assert client.post("/api/v1/supervision/samples", json=body, headers=token_for("township1")).status_code == 404
    r = client.post("/api/v1/supervision/samples", json=body, headers=token_for("county"))
    assert r.status_code == 201, r.text
    sample = r.json()
    assert (sample["seed"], sample["population"], sample["drawn"]) == (77, [case["id"]], [case["id"]])
    check = client.get(f"/api/v1/supervision/samples/{sample['id']}/verify", headers=token_for("inspector")).json()
    assert check["same_draw"] is True
    assert check["redrawn"] == sample["drawn"]
    [visit] = client.get(f"/api/v1/supervision?region={COUNTY}", headers=token_for("county")).json()["visits_due"]
    assert visit["reason"] == "sample"
    bad = client.post(
        f"/api/v1/supervision/visits/{visit['id']}",
        json={"visit_date": "2026-11-30", "findings": ""},
        headers=token_for("county"),
    )
    assert bad.status_code == 422
    r = client.post(
        f"/api/v1/supervision/visits/{visit['id']}",
        json={"visit_date": "2026-11-30", "findings": "家庭情况属实 / as declared"},
        headers=token_for("county"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["done"] is True


def test_P17_the_standing_list_needs_no_login_and_masks_names(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    case = _decided(app, client, token_for, clock)
    _sweep(app, clock, 8)
    r = client.get(f"/api/v1/notices/standing?village={VILLAGE}")
    assert r.status_code == 200, r.text
    [row] = r.json()["households"]
    assert row["reference"] == case["reference"]
    assert row["name"] == "王*英"
    assert "id_number" not in str(r.json())
    assert client.get(f"/api/v1/notices/standing?village={OTHER_VILLAGE}").json()["households"] == []
    assert client.get("/api/v1/notices/standing?village=12").status_code == 422


def test_the_supervision_page_files_and_acknowledges_with_forms_in_both_languages(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    case = _decided(app, client, token_for, clock)
    page = TestClient(app)
    _login(page, "township1")
    assert 'href="/supervision"' in page.get("/queue").text, "the queue points to the decision to file"
    shown = page.get("/supervision")
    assert shown.status_code == 200, shown.text
    assert "待报县备案" in shown.text
    assert case["reference"] in shown.text
    form = re.search(r'action="/supervision/filings/(\d+)/file"', shown.text)
    assert form is not None
    token = _csrf(page, "/supervision")
    r = page.post(
        f"/supervision/filings/{form.group(1)}/file",
        data={"csrf_token": token, "region": TOWNSHIP},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    county = TestClient(app)
    _login(county, "county")
    english = county.get("/supervision?lang=en")
    assert "Filings to acknowledge" in english.text
    assert f'action="/supervision/filings/{form.group(1)}/acknowledge"' in english.text
    token = _csrf(county, "/supervision")
    done = county.post(
        f"/supervision/filings/{form.group(1)}/acknowledge",
        data={"csrf_token": token, "region": COUNTY},
        follow_redirects=False,
    )
    assert done.status_code == 303
    again = county.post(
        f"/supervision/filings/{form.group(1)}/acknowledge", data={"csrf_token": token, "region": COUNTY}
    )
    assert again.status_code == 409
    history = county.get(f"/applications/{case['id']}?lang=zh")
    assert history.status_code == 200
    assert "报县备案" in history.text, "the case's history names the filing"
    assert "县级确认备案" in history.text
    assert "already acknowledged" in again.text, "the refusal in the reader's language (English, chosen above)"


def test_P17_the_standing_list_page_shows_the_village_s_households_masked(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    case = _decided(app, client, token_for, clock)
    _sweep(app, clock, 8)
    r = client.get(f"/notices/standing?village={VILLAGE}")
    assert r.status_code == 200, r.text
    assert "长期公示" in r.text
    assert "王*英" in r.text
    assert "王小英" not in r.text
    assert case["reference"] in r.text
    english = client.get(f"/notices/standing?village={VILLAGE}&lang=en").text
    assert "Monthly amount" in english
    assert case["reference"] not in client.get(f"/notices/standing?village={OTHER_VILLAGE}").text
