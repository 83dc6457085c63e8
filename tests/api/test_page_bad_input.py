"""Bad input through the pages: every form posted without its CSRF token, oversized or malformed, an upload
named to climb out of its folder, and scripts typed into every text field, shown escaped on every page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.middleware import MAX_BODY, UPLOADS
from tests.api.conftest import PASSWORD, VILLAGE, application_body, pass_village

H = Callable[[str], dict[str, str]]
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'


def _form_posts(client: TestClient) -> list[str]:
    """Every path a page's form posts to, with its path parameters filled with a case id of 1."""
    paths = []

    def walk(routes: list[Any], prefix: str = "") -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # an included router
            if inner is not None:
                walk(list(inner.routes), prefix + getattr(inner, "prefix", ""))
            elif isinstance(route, APIRoute) and "POST" in route.methods:
                path = prefix + route.path
                if not path.startswith("/api/"):
                    paths.append(re.sub(r"\{[^}]+\}", "1", path))

    walk(list(client.app.routes))  # type: ignore[attr-defined]
    return sorted(set(paths))


def _login(client: TestClient, username: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_the_forms_are_all_found(client: TestClient) -> None:
    found = _form_posts(client)
    for path in ("/login", "/logout", "/apply", "/payments/reconcile", "/notices/object"):
        assert path in found


@pytest.mark.parametrize("who", [None, "township1"])
def test_every_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, who: str | None
) -> None:
    if who:
        _login(client, who)
    for path in _form_posts(client):
        r = client.post(path, data={"reason": "x", "amount": "1"}, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html"), path


def test_oversized_garbled_and_mistyped_bodies_never_break_a_page(client: TestClient) -> None:
    _login(client, "township1")
    bodies: list[tuple[dict[str, Any], int | None]] = [
        (
            {
                "content": b"reason=" + b"x" * (max([MAX_BODY, *UPLOADS.values()]) + 1),
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            413,
        ),
        (
            {
                "content": b"\xff\xfe\x00garbage=%%%&&==",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            None,
        ),
        ({"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}}, None),
        ({"content": b'{"json": "where a form belongs"}', "headers": {"content-type": "application/json"}}, None),
        ({"content": b"a=" + b"%C0%AF" * 50, "headers": {"content-type": "application/x-www-form-urlencoded"}}, None),
    ]
    for path in _form_posts(client):
        for kwargs, expected in bodies:
            r = client.post(path, follow_redirects=False, **kwargs)
            assert r.status_code < 500, (path, r.status_code, kwargs["content"][:30])
            if expected is not None:
                assert r.status_code == expected, path


def test_an_upload_named_to_climb_out_of_its_folder_is_read_as_content_only(client: TestClient, tmp_path: Any) -> None:
    _login(client, "township1")
    page = client.get("/payments?month=2026-10")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/payments/reconcile",
        data={"csrf_token": token.group(1)},
        files={"file": ("../../../../etc/passwd", b"reference,status,reason\nPAY000,paid,\n", "text/csv")},
    )
    assert r.status_code < 500
    assert "root:" not in r.text
    assert "/etc/passwd" not in r.text, "the name a browser sends is never echoed or used"


def test_scripts_typed_into_every_text_field_are_shown_escaped_on_every_page(client: TestClient, token_for: H) -> None:
    body = application_body(serial=5, reason=SCRIPT + ATTRIBUTE)
    body["applicant"]["name"] = "王" + SCRIPT
    body["members"][0]["name"] = "王" + SCRIPT
    body["members"][1]["name"] = "李" + ATTRIBUTE
    body["members"][1]["relation"] = "<b>子女</b>"
    r = client.post("/api/v1/applications", headers=token_for("village1"), json=body)
    assert r.status_code == 201, r.text
    case = r.json()
    listed = pass_village(client, token_for, case)
    pages = [
        f"/applications/{case['id']}",
        f"/applications/{case['id']}?lang=en",
        "/applications",
        f"/applications?q={SCRIPT}",
        "/queue",
        f"/track/{case['tracking_code']}",
        f"/notices?village={VILLAGE}",
        f"/notices/print?village={VILLAGE}",
    ]
    _login(client, "township1")
    for path in pages:
        html = client.get(path).text
        assert SCRIPT not in html, path
        assert "<img src=x" not in html, path
        assert "<b>子女" not in html, path
    shown = client.get(f"/applications/{case['id']}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown, "the text is kept and shown, escaped"
    assert listed["state"] == "notice_village"
    _login(client, "inspector")
    for path in ("/inspector", f"/inspector?case={case['id']}", f"/applications/{case['id']}"):
        html = client.get(path).text
        assert SCRIPT not in html, path
        assert "<img src=x" not in html, path
