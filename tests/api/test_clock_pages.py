"""The clocks as the JSON, the officials' pages and the household's tracking page show them (P9, and
deadlines in a year whose holiday notice is not out marked provisional)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import VILLAGE_PASS, Clock, application_body
from tests.api.test_pages import _login
from tests.workflows.support import local

H = Callable[[str], dict[str, str]]


@pytest.fixture
def now() -> datetime:
    """Late November 2026: the clocks run into 2027, a year whose holiday notice the calendar does not carry.
    (Tokens are stamped by the app's clock, which may not run ahead of the real one.)"""
    return local("2026-11-23")


@pytest.fixture(autouse=True)
def village_review_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A region whose village review is due within 40 working days: due in 2027."""
    policy = tmp_path / "policy.toml"
    policy.write_text('[standard]\nvillage_review = { length = 40, unit = "working_days" }\n', encoding="utf-8")
    monkeypatch.setenv("AIDFLOW_POLICY", str(policy))


def test_P9_the_whole_cases_deadline_is_shown_and_a_2027_deadline_is_provisional_everywhere(
    app: FastAPI, client: TestClient, token_for: H, clock: Clock
) -> None:
    r = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1"))
    assert r.status_code == 201, r.text
    created = r.json()
    case = client.get(f"/api/v1/applications/{created['id']}", headers=token_for("township1")).json()
    assert case["state"] == "village_review"
    assert case["deadline_provisional"] is True, "the village review's 40 working days end in 2027"
    total = [c for c in case["deadlines"] if c["clock"] == "total"]
    assert len(total) == 1
    assert total[0]["provisional"] is True
    assert total[0]["paused"] is False
    assert case["overall_deadline"] is not None
    assert case["overall_deadline"][:10] == total[0]["due"][:10]
    listed = client.get("/api/v1/queue", headers=token_for("village1")).json()["items"]
    assert [i["deadline_provisional"] for i in listed if i["id"] == case["id"]] == [True]

    tracked = client.get(f"/api/v1/track/{created['tracking_code']}").json()
    assert tracked["deadline_provisional"] is True
    assert tracked["overall_provisional"] is True
    assert tracked["overall_deadline"] is not None
    page = client.get(f"/track/{created['tracking_code']}").text
    assert "全部办结期限（不含公示期）" in page
    assert "（暂定）" in page

    assert _login(client, "village1").status_code == 303  # type: ignore[attr-defined]
    desk = client.get(f"/applications/{case['id']}").text
    assert 'id="clock-total"' in desk
    assert desk.count("暂定") >= 2, "the step's deadline and the whole case's"
    assert "暂定" in client.get("/queue").text

    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_pass",
        headers=token_for("village1"),
        json={"version": case["version"], "data": {**VILLAGE_PASS, "visit_date": "2026-11-23"}},
    )
    assert r.status_code == 200, r.text
    clock.moment += timedelta(days=1)
    case = client.get(f"/api/v1/applications/{created['id']}", headers=token_for("township1")).json()
    assert case["state"] == "notice_village"
    assert case["deadline_provisional"] is False, "a notice of 7 calendar days does not depend on the holidays"
    assert [c["paused"] for c in case["deadlines"] if c["clock"] == "total"] == [True]
