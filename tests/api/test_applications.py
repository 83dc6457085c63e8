from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import Clock, application_body, pass_village

H = Callable[[str], dict[str, str]]


def _create(client: TestClient, token_for: H, user: str = "village1", **kw: object) -> dict:  # type: ignore[type-arg]
    r = client.post("/api/v1/applications", json=application_body(**kw), headers=token_for(user))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_an_officer_submits_on_a_households_behalf_and_gets_a_receipt(client: TestClient, token_for: H) -> None:
    body = _create(client, token_for)
    assert body["state"] == "village_review"
    assert body["version"] >= 1
    assert body["reference"]
    assert len(body["tracking_code"]) >= 16
    assert body["actions"], "the village officer can act on it"
    assert "village_pass" in body["actions"]
    assert [h["action"] for h in body["history"]][:2] == ["create", "submit"]


def test_identity_numbers_are_masked_for_a_village_officer_and_shown_to_the_township(
    client: TestClient, token_for: H
) -> None:
    case = _create(client, token_for)
    full = application_body()["applicant"]["id_number"]
    village_view = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("village1")).text
    township_view = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("township1")).text
    assert full not in village_view
    assert full[:6] in village_view
    assert full in township_view


def test_a_draft_is_not_submitted_until_asked(client: TestClient, token_for: H) -> None:
    case = _create(client, token_for, draft=True)
    assert case["state"] == "draft"
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/submit",
        headers=token_for("village1"),
        json={"version": case["version"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "village_review"


def test_village_pass_moves_the_case_to_the_first_notice_with_a_deadline(client: TestClient, token_for: H) -> None:
    case = pass_village(client, token_for, _create(client, token_for))
    assert case["state"] == "notice_village"
    assert case["version"] >= 3
    assert case["deadline"] is not None


def test_null_action_data_is_taken_as_none_given(client: TestClient, token_for: H) -> None:
    case = _create(client, token_for)
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_reject",
        json={"version": case["version"], "data": None},
        headers=token_for("township1"),
    )
    assert r.status_code == 422
    assert "reason" in r.json()["detail"], "refused by the guard for its missing reason, not for the null"


def test_a_stale_version_is_409_and_changes_nothing(client: TestClient, token_for: H) -> None:
    case = _create(client, token_for)
    pass_village(client, token_for, case)
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_reject",
        headers=token_for("township1"),
        json={"version": case["version"], "data": {"reason": "收入超标"}},
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    after = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("village1")).json()
    assert after["state"] == "notice_village"


def test_a_guard_refusal_is_422_with_a_reason_an_official_can_act_on(client: TestClient, token_for: H) -> None:
    case = _create(client, token_for)
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_pass",
        headers=token_for("village1"),
        json={"version": case["version"], "data": {"investigators": ["village1"]}},
    )
    assert r.status_code == 422
    problem = r.json()
    assert problem["error"] == "guard_rejected"
    assert "2" in problem["detail"] or "两" in problem["detail"]
    assert problem["reasons"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"version": "two"}, "version"),
        ({"version": 1, "surprise": True}, "surprise"),
        ({}, "version"),
    ],
)
def test_bad_action_bodies_are_422_with_a_clear_message(
    client: TestClient,
    token_for: H,
    payload: dict,
    fragment: str,  # type: ignore[type-arg]
) -> None:
    case = _create(client, token_for)
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_pass", headers=token_for("village1"), json=payload
    )
    assert r.status_code == 422
    assert fragment in r.json()["detail"]


def test_broken_json_is_422_and_unknown_actions_are_refused(client: TestClient, token_for: H) -> None:
    case = _create(client, token_for)
    h = {**token_for("village1"), "content-type": "application/json"}
    r = client.post(f"/api/v1/applications/{case['id']}/actions/village_pass", headers=h, content=b"{not json")
    assert r.status_code == 422
    r = client.post(f"/api/v1/applications/{case['id']}/actions/launch_rocket", headers=h, content=b'{"version": 1}')
    assert r.status_code == 422
    assert "launch_rocket" in r.json()["detail"]


def test_an_action_of_another_workflow_is_403_to_a_role_that_never_fires_it_and_409_to_one_that_does(
    client: TestClient, token_for: H
) -> None:
    emergency = _create(client, token_for, user="township1", aid_type="emergency")
    dibao = _create(client, token_for)

    def act(case: dict, user: str, action: str) -> httpx.Response:  # type: ignore[type-arg]
        body = {"version": case["version"], "data": {}}
        return client.post(f"/api/v1/applications/{case['id']}/actions/{action}", json=body, headers=token_for(user))

    assert act(emergency, "village1", "approve").status_code == 403, "a village officer never approves"
    r = act(emergency, "township1", "approve")
    assert r.status_code == 409, "the township approves standard cases, not emergency ones"
    assert "does not apply" in r.json()["detail"]
    assert act(dibao, "township1", "grant_emergency").status_code == 409
    assert act(dibao, "village1", "grant_emergency").status_code == 403
    # a role that fires the action at another stage is refused by the stage (409), naming who acts there
    r = act(emergency, "township1", "refer_to_county")
    assert r.status_code == 422  # a referral needs its reason
    body = {"version": emergency["version"], "data": {"reason": "超出乡镇限额 / over the limit"}}
    r = client.post(
        f"/api/v1/applications/{emergency['id']}/actions/refer_to_county", json=body, headers=token_for("township1")
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/applications/{emergency['id']}/actions/grant_emergency",
        json={"version": r.json()["version"], "data": {"amount_fen": 100_000}},
        headers=token_for("township1"),
    )
    assert r.status_code == 409
    assert "county_officer" in r.json()["detail"]


@pytest.mark.parametrize(
    "change",
    [
        {"aid_type": "lottery"},
        {"village": "12345"},
        {"assets_fen": -1},
        {"assets_fen": 1.5},
        {"unexpected": 1},
        {"applicant": {"name": "王小英", "id_number": "110105194912310021", "phone": "1"}},
    ],
)
def test_invalid_applications_are_422_and_create_nothing(
    client: TestClient,
    token_for: H,
    change: dict,  # type: ignore[type-arg]
) -> None:
    before = client.get("/api/v1/applications", headers=token_for("township1")).json()["items"]
    body = {**application_body(), **change}
    r = client.post("/api/v1/applications", json=body, headers=token_for("village1"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    after = client.get("/api/v1/applications", headers=token_for("township1")).json()["items"]
    assert after == before


def test_a_huge_body_is_413(client: TestClient, token_for: H) -> None:
    body = application_body(reason="困" * 300_000)
    r = client.post("/api/v1/applications", json=body, headers=token_for("village1"))
    assert r.status_code == 413
    r = client.post("/api/v1/applications", json=body)
    assert r.status_code == 401, "without a token, 401 comes first"
    r = client.post("/api/v1/applications", json=body, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401, "nor with an invalid one"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/api/v1/notices/1/objections", json={"reason": "困" * 300_000}).status_code == 413


def test_the_queue_lists_actionable_cases_soonest_deadline_first_with_counts(
    client: TestClient, token_for: H, clock: Clock
) -> None:
    first = _create(client, token_for, serial=1)
    clock.moment += timedelta(minutes=5)
    second = _create(client, token_for, serial=10)
    r = client.get("/api/v1/queue?limit=1", headers=token_for("village1"))
    assert r.status_code == 200
    page = r.json()
    assert page["counts"].get("village_review") == 2
    assert [i["id"] for i in page["items"]] == [first["id"]]
    assert page["next_cursor"]
    r2 = client.get(f"/api/v1/queue?limit=1&cursor={page['next_cursor']}", headers=token_for("village1"))
    assert [i["id"] for i in r2.json()["items"]] == [second["id"]]
    assert client.get("/api/v1/queue?cursor=garbage", headers=token_for("village1")).status_code == 422


def test_an_inspectors_read_of_a_case_is_itself_an_audit_entry(client: TestClient, token_for: H) -> None:
    case = _create(client, token_for)
    client.get(f"/api/v1/applications/{case['id']}", headers=token_for("inspector"))
    trail = client.get(f"/api/v1/applications/{case['id']}/audit", headers=token_for("inspector")).json()
    views = [e for e in trail if e["action"] == "view_case" and e["actor"] == "inspector"]
    assert views
    assert views[0]["data"]["personal_data"] == "unmasked"
    assert [e["seq"] for e in trail] == sorted(e["seq"] for e in trail)
    assert set(trail[0]) >= {"seq", "at", "actor", "role", "action", "from_state", "to_state", "data", "hash"}


def test_audit_verify_reports_an_intact_chain(client: TestClient, token_for: H) -> None:
    _create(client, token_for)
    r = client.get("/api/v1/audit/verify", headers=token_for("inspector"))
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True
    assert body["first_bad"] is None
    assert body["entries"] > 3
    assert len(body["head"]) == 64


def test_two_officers_acting_at_once_over_http_one_wins_the_other_gets_409(
    live_server: str, client: TestClient, token_for: H
) -> None:
    case = _create(client, token_for)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def act(user: str) -> None:
        with httpx.Client(base_url=live_server, timeout=30) as http:
            barrier.wait()
            r = http.post(
                f"/api/v1/applications/{case['id']}/actions/village_reject",
                headers=token_for(user),
                json={"version": case["version"], "data": {"reason": "家庭收入高于标准 / income too high"}},
            )
            results.append(r.status_code)

    threads = [threading.Thread(target=act, args=(u,)) for u in ("township1", "township1b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    trail = client.get(f"/api/v1/applications/{case['id']}/audit", headers=token_for("inspector")).json()
    assert [e["action"] for e in trail].count("village_reject") == 1


def test_audit_verify_over_http_names_a_tampered_entry_and_counts_the_whole_log(
    app: FastAPI, client: TestClient, token_for: H
) -> None:
    from tests.engine.support import attacker

    _create(client, token_for)
    intact = client.get("/api/v1/audit/verify", headers=token_for("inspector")).json()
    with attacker(app.state.aidflow.db) as conn:
        conn.exec_driver_sql("UPDATE audit_entries SET actor = 'someone_else' WHERE seq = 2")
    broken = client.get("/api/v1/audit/verify", headers=token_for("inspector")).json()
    assert (broken["ok"], broken["first_bad"]) == (False, 2)
    assert broken["entries"] == intact["entries"], "the whole log, not the prefix that still verifies"


def test_the_openapi_document_states_each_actions_data_and_the_tracking_answer(app: FastAPI) -> None:
    from workflows.schemas import ACTION_DATA

    doc = app.openapi()
    act = doc["paths"]["/api/v1/applications/{case_id}/actions/{action}"]["post"]
    for action in ACTION_DATA:
        assert f"| `{action}` |" in act["description"], action
    assert "`investigators`" in act["description"]
    examples = act["requestBody"]["content"]["application/json"]["examples"]
    assert {"village_pass", "township_pass", "approve", "request_info"} <= set(examples)
    track = doc["paths"]["/api/v1/track/{code}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    answers = sorted(option["$ref"].rsplit("/", 1)[-1] for option in track["anyOf"])
    assert answers == ["ObjectionTrackOut", "TrackOut"], "a case's code, or an objection's receipt"
