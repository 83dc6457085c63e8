"""Account hygiene: a password policy beyond length, a safe username alphabet, disabling an account, and a
token's subject checked for range."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api.auth import Tokens
from api.cli import app as cli
from api.security import password_problems
from engine.database import Database
from tests.api.conftest import PASSWORD, SECRET, Clock


@pytest.mark.parametrize(
    "password",
    [
        "1234567890",
        "qwertyuiop",
        "woaini1314",
        "Password123",
        "aaaaaaaaaaaa",
        "ababababab",
        "abcdefghijk",
        "9876543210",
    ],
)
def test_common_repeated_and_run_passwords_are_refused(password: str) -> None:
    assert password_problems(password), password


def test_a_password_may_not_be_short_or_hold_the_username() -> None:
    assert any("10" in p for p in password_problems("Tq7!x"))
    assert any("用户名" in p for p in password_problems("zhangwei-2026-spring", "zhangwei"))
    assert password_problems("Xin-an town 7", "li") == []
    assert password_problems("tea kettle on the hill", "wang") == []


def _cli(tmp_path: Path) -> tuple[CliRunner, dict[str, str], str]:
    url = f"sqlite:///{tmp_path / 'aidflow.db'}"
    env = {"AIDFLOW_DATABASE_URL": url, "AIDFLOW_SECRET_KEY": "account-hygiene-secret-0123456789"}
    run = CliRunner()
    for args in (
        ["regions", "add", "341122000000", "--name", "来安县"],
        ["regions", "add", "341122100000", "--name", "新安镇"],
    ):
        assert run.invoke(cli, args, env=env).exit_code == 0, args
    return run, env, url


def test_users_add_refuses_a_common_password_and_a_look_alike_username(tmp_path: Path) -> None:
    run, env, url = _cli(tmp_path)
    add = ["users", "add", "--role", "township_officer", "--region", "341122100000", "--password"]
    weak = run.invoke(cli, [*add, "woaini1314", "zhou"], env=env)
    assert weak.exit_code == 2
    assert "常见" in weak.output
    cyrillic = run.invoke(cli, [*add, "Xin-an town 7", "zhоu"], env=env)  # the o is Cyrillic
    assert cyrillic.exit_code != 0
    assert "用户名" in cyrillic.output
    assert run.invoke(cli, [*add, "Xin-an town 7", "Zhou"], env=env).exit_code != 0, "no capitals"
    made = run.invoke(cli, [*add, "Xin-an town 7", "zhou.min"], env=env)
    assert made.exit_code == 0, made.output
    db = Database(url)
    with db.session(write=False) as s:
        names = s.execute(text("SELECT username FROM users")).scalars().all()
    db.dispose()
    assert names == ["zhou.min"]


def test_users_disable_stops_logins_and_the_tokens_already_given_out(tmp_path: Path) -> None:
    run, env, url = _cli(tmp_path)
    add = ["users", "add", "zhou", "--role", "township_officer", "--region", "341122100000"]
    assert run.invoke(cli, [*add, "--password", "Xin-an town 7"], env=env).exit_code == 0
    assert run.invoke(cli, ["users", "disable", "zhou"], env=env).exit_code != 0, "a reason is required"
    done = run.invoke(cli, ["users", "disable", "zhou", "--reason", "调离 / transferred"], env=env)
    assert done.exit_code == 0, done.output
    again = run.invoke(cli, ["users", "disable", "zhou", "--reason", "again"], env=env)
    assert again.exit_code != 0
    assert "已停用" in again.output
    assert run.invoke(cli, ["users", "disable", "nobody", "--reason", "x"], env=env).exit_code != 0
    db = Database(url)
    with db.session(write=False) as s:
        active = s.execute(text("SELECT active FROM users WHERE username = 'zhou'")).scalar()
        data = s.execute(text("SELECT data FROM audit_entries WHERE action = 'user_disable'")).scalars().all()
    db.dispose()
    assert not active
    assert len(data) == 1
    assert "transferred" in str(data[0])


def test_a_disabled_account_cannot_log_in_and_its_token_stops_working(
    client: TestClient,
    app,
    token_for,
    clock: Clock,  # type: ignore[no-untyped-def]
) -> None:
    from engine.access import SYSTEM
    from engine.accounts import disable_user

    headers = token_for("township1b")
    assert client.get("/api/v1/queue", headers=headers).status_code == 200
    with app.state.aidflow.db.session() as s:
        disable_user(s, username="township1b", reason="调离 / transferred", actor=SYSTEM, now=clock.moment)
    assert client.get("/api/v1/queue", headers=headers).status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": "township1b", "password": PASSWORD})
    assert r.status_code == 401


@pytest.mark.parametrize("subject", ["0", "-1", str(2**31), str(10**30), "1e3", " 1", "１"])
def test_a_signed_token_whose_subject_is_out_of_range_is_401_not_an_error(
    client: TestClient, clock: Clock, subject: str
) -> None:
    tokens = Tokens.from_secret(SECRET, 30)
    claims = {"sub": subject, "exp": int((clock.moment + timedelta(minutes=5)).timestamp())}
    forged = jwt.encode(claims, tokens.secret, algorithm="HS256")
    r = client.get("/api/v1/queue", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


def test_users_revoke_ends_every_token_and_page_session_and_a_new_login_works(
    client: TestClient,
    app,
    clock: Clock,  # type: ignore[no-untyped-def]
) -> None:
    import re

    from engine.access import SYSTEM
    from engine.accounts import revoke_tokens

    r = client.post("/api/v1/auth/token", data={"username": "township1", "password": PASSWORD})
    old = {"Authorization": f"Bearer {r.json()['access_token']}"}
    page = TestClient(app)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/login").text)
    assert csrf is not None
    page.post("/login", data={"username": "township1", "password": PASSWORD, "csrf_token": csrf.group(1)})
    assert page.get("/queue", follow_redirects=False).status_code == 200
    assert client.get("/api/v1/queue", headers=old).status_code == 200
    clock.moment += timedelta(seconds=5)
    with app.state.aidflow.db.session() as s:
        revoke_tokens(s, username="township1", reason="手机遗失 / phone lost", actor=SYSTEM, now=clock.moment)
    refused = client.get("/api/v1/queue", headers=old)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert page.get("/queue", follow_redirects=False).status_code == 303, "the page session ended too"
    clock.moment += timedelta(seconds=1)
    again = client.post("/api/v1/auth/token", data={"username": "township1", "password": PASSWORD})
    fresh = {"Authorization": f"Bearer {again.json()['access_token']}"}
    assert client.get("/api/v1/queue", headers=fresh).status_code == 200, "a login after the revocation works"
    with app.state.aidflow.db.session(write=False) as s:
        actions = s.execute(text("SELECT action FROM audit_entries WHERE action = 'user_revoke'")).scalars().all()
    assert actions == ["user_revoke"]


def test_users_revoke_on_the_command_line_needs_a_reason_and_a_known_account(tmp_path: Path) -> None:
    run, env, _url = _cli(tmp_path)
    add = ["users", "add", "zhou", "--role", "township_officer", "--region", "341122100000"]
    assert run.invoke(cli, [*add, "--password", "Xin-an town 7"], env=env).exit_code == 0
    assert run.invoke(cli, ["users", "revoke", "zhou"], env=env).exit_code != 0
    assert run.invoke(cli, ["users", "revoke", "nobody", "--reason", "x"], env=env).exit_code != 0
    done = run.invoke(cli, ["users", "revoke", "zhou", "--reason", "密码泄露 / password seen"], env=env)
    assert done.exit_code == 0, done.output
