"""Failed logins lock out the address that made them, not the account's owner elsewhere."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.throttle import Throttle
from tests.api.conftest import PASSWORD


def _login(client: TestClient, username: str, password: str) -> int:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password}).status_code


def test_wrong_passwords_from_one_address_lock_that_address_but_the_owner_logs_in_from_another(app: FastAPI) -> None:
    with (
        TestClient(app, client=("203.0.113.7", 40000)) as attacker,
        TestClient(app, client=("198.51.100.20", 40001)) as owner,
    ):
        for _ in range(5):
            assert _login(attacker, "county", "guess") == 401
        refused = attacker.post("/api/v1/auth/token", data={"username": "county", "password": PASSWORD})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert _login(owner, "county", PASSWORD) == 200, "the owner, from another address, is not locked out"


def test_an_address_guessing_across_many_accounts_is_locked_for_every_account(app: FastAPI) -> None:
    app.state.aidflow.throttles.login_address = Throttle(limit=6, window=15 * 60)  # 20 by default: fewer slow hashes
    with (
        TestClient(app, client=("203.0.113.8", 40000)) as attacker,
        TestClient(app, client=("198.51.100.21", 40001)) as owner,
    ):
        for username in ["township1", "township1b", "village1"] * 2:
            assert _login(attacker, username, "guess") == 401
        assert _login(attacker, "inspector", PASSWORD) == 429, "the address is locked, whatever the account"
        assert _login(owner, "township1", PASSWORD) == 200


def test_failed_logins_for_one_account_from_many_addresses_meet_a_much_higher_ceiling(app: FastAPI) -> None:
    throttles = app.state.aidflow.throttles
    assert throttles.login_user.limit >= 10 * throttles.login_pair.limit, "the ceiling is far above the pair's limit"
    throttles.login_user = Throttle(limit=2 * throttles.login_pair.limit, window=15 * 60)  # fewer slow hashes
    for address in ("203.0.113.1", "203.0.113.2"):
        with TestClient(app, client=(address, 40000)) as attacker:
            for _ in range(throttles.login_pair.limit):
                assert _login(attacker, "county", "guess") == 401
    with TestClient(app, client=("198.51.100.22", 40001)) as owner:
        assert _login(owner, "county", PASSWORD) == 429
        assert _login(owner, "township1", PASSWORD) == 200
