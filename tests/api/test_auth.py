from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD, Clock


def test_a_good_login_returns_a_bearer_token_and_is_audited(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/auth/token", data={"username": "township1", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["grants"] == [{"role": "township_officer", "region": "341122100000"}]
    from sqlalchemy import text

    with app.state.aidflow.db.session(write=False) as s:
        actions = [row[0] for row in s.execute(text("SELECT action FROM audit_entries WHERE actor='township1'"))]
    assert "login" in actions


def test_a_wrong_password_is_401_and_the_failure_is_in_the_audit_trail(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/auth/token", data={"username": "township1", "password": "nope"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "密码" in r.json()["detail"]
    from sqlalchemy import text

    with app.state.aidflow.db.session(write=False) as s:
        rows = s.execute(text("SELECT action FROM audit_entries WHERE actor='township1'")).all()
    assert [r[0] for r in rows] == ["login_failed"]


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(client: TestClient) -> None:
    a = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    b = client.post("/api/v1/auth/token", data={"username": "township1", "password": "x"})
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"]


def test_repeated_failed_logins_for_one_account_are_throttled(client: TestClient) -> None:
    for _ in range(5):
        assert client.post("/api/v1/auth/token", data={"username": "county", "password": "bad"}).status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": "county", "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    # another account from the same address is not yet blocked
    ok = client.post("/api/v1/auth/token", data={"username": "inspector", "password": PASSWORD})
    assert ok.status_code == 200


def test_requests_without_or_with_a_bad_token_are_401(client: TestClient) -> None:
    assert client.get("/api/v1/queue").status_code == 401
    r = client.get("/api/v1/queue", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_tokens_expire_after_their_lifetime(client: TestClient, clock: Clock, token_for) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("township1")
    clock.moment = clock.moment + timedelta(minutes=29)
    assert client.get("/api/v1/queue", headers=headers).status_code == 200
    clock.moment = clock.moment + timedelta(minutes=2)
    r = client.get("/api/v1/queue", headers=headers)
    assert r.status_code == 401
    assert "过期" in r.json()["detail"]
