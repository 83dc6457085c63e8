"""The pages without a browser: sessions, CSRF, security headers, languages, error pages."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from api.deps import AppState
from engine.tables import AuditEntry
from tests.api.conftest import PASSWORD, Clock

SESSION = "aidflow_session"


def _csrf(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def _login(client: TestClient, username: str, password: str = PASSWORD, **extra: str) -> object:
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": _csrf(client), **extra},
        follow_redirects=False,
    )


def _audit_actions(client: TestClient) -> list[tuple[str, str]]:
    state: AppState = client.app.state.aidflow  # type: ignore[attr-defined]
    with state.db.session(write=False) as s:
        return [(e.actor, e.action) for e in s.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()]  # type: ignore[arg-type]


def test_every_page_and_api_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/login", "/queue", "/no-such-page", "/static/app.css", "/api/v1/notices", "/healthz"):
        r = client.get(path, follow_redirects=False)
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "same-origin", path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp, path
        assert "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp, path


def test_pages_hold_no_inline_script_or_style(client: TestClient) -> None:
    _login(client, "township1")
    for path in ("/", "/login", "/queue", "/logout"):
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html, path
        assert " onclick=" not in html, path


def test_the_session_cookie_is_signed_httponly_samesite_and_expires(client: TestClient, clock: Clock) -> None:
    r = _login(client, "township1")
    assert r.status_code == 303  # type: ignore[attr-defined]
    cookie = r.headers["set-cookie"]  # type: ignore[attr-defined]
    assert cookie.startswith(f"{SESSION}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age=1800" in cookie
    assert client.get("/queue", follow_redirects=False).status_code == 200
    clock.moment += timedelta(minutes=31)
    r = client.get("/queue", follow_redirects=False)
    assert r.status_code == 303, "half an hour without a page ends the session"
    assert r.headers["location"] == "/login?next=%2Fqueue"


def test_a_tampered_session_cookie_is_no_session(client: TestClient) -> None:
    _login(client, "township1")
    value = client.cookies[SESSION]
    client.cookies.set(SESSION, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_a_form_posted_without_its_csrf_token_is_refused_with_a_page(client: TestClient) -> None:
    client.get("/login")
    for data in (
        {"username": "township1", "password": PASSWORD},
        {"username": "township1", "password": PASSWORD, "csrf_token": "forged"},
    ):
        r = client.post("/login", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
        assert "表单已失效" in r.text
    assert client.get("/queue", follow_redirects=False).status_code == 303, "the refused login logged no one in"
    _login(client, "township1")
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 200, "still logged in"


def test_a_token_from_before_login_is_worthless_after_it(client: TestClient) -> None:
    before = _csrf(client)
    _login(client, "township1")
    r = client.post("/logout", data={"csrf_token": before}, follow_redirects=False)
    assert r.status_code == 403


def test_login_and_logout_are_audited_as_the_apis_login_is(client: TestClient) -> None:
    r = _login(client, "township1", password="wrong")
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert "用户名或密码错误" in r.text  # type: ignore[attr-defined]
    _login(client, "township1")
    client.post("/logout", data={"csrf_token": _csrf(client, "/logout")})
    actions = _audit_actions(client)
    assert ("township1", "login_failed") in actions
    assert ("township1", "login") in actions
    assert ("township1", "logout") in actions


def test_wrong_passwords_are_throttled_by_the_apis_throttle(client: TestClient) -> None:
    for _ in range(5):
        _login(client, "village1", password="wrong")
    r = _login(client, "village1")
    assert r.status_code == 429  # type: ignore[attr-defined]
    assert "登录失败次数过多" in r.text  # type: ignore[attr-defined]
    assert r.headers["retry-after"]  # type: ignore[attr-defined]


def test_empty_fields_are_summarised_and_linked_to_their_fields(client: TestClient) -> None:
    r = client.post("/login", data={"csrf_token": _csrf(client), "username": "", "password": ""})
    assert 'class="error-summary"' in r.text
    assert '<a href="#username">请输入用户名</a>' in r.text
    assert '<a href="#password">请输入密码</a>' in r.text
    assert 'aria-describedby="username-error"' in r.text
    assert r.text.count("<title>错误：") == 1


def test_login_goes_back_to_the_page_asked_for_but_never_to_another_site(client: TestClient) -> None:
    r = _login(client, "township1", next="/queue?stage=township_review")
    assert r.headers["location"] == "/queue?stage=township_review"  # type: ignore[attr-defined]
    client.post("/logout", data={"csrf_token": _csrf(client, "/logout")})
    r = _login(client, "township1", next="//evil.example/")
    assert r.headers["location"] == "/queue"  # type: ignore[attr-defined]


def test_an_applicant_has_no_queue(client: TestClient) -> None:
    r = _login(client, "applicant1")
    assert r.headers["location"] == "/"  # type: ignore[attr-defined]
    r = client.get("/queue")
    assert r.status_code == 403
    assert "仅限工作人员" in r.text


def test_english_is_asked_for_once_and_remembered(client: TestClient) -> None:
    r = client.get("/?lang=en")
    assert '<html lang="en">' in r.text
    assert "Notice board" in r.text
    assert 'href="/?lang=zh"' in r.text, "the switch back is on the page"
    r = client.get("/login")
    assert '<html lang="en">' in r.text, "remembered in a cookie"
    r = client.get("/login?lang=zh")
    assert '<html lang="zh-CN">' in r.text
    assert "公示栏" in r.text


def test_a_domain_error_on_a_page_is_a_page_in_the_readers_language(client: TestClient) -> None:
    _login(client, "township1")
    r = client.get("/queue?village=12345&lang=en")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert "Invalid village code" in r.text
    assert "村代码无效" not in r.text
    r = client.get("/no-such-page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    api = client.get("/api/v1/no-such-thing")
    assert api.headers["content-type"].startswith("application/problem+json"), "the API keeps its errors"
