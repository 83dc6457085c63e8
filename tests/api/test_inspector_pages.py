"""The inspectors' pages: inspectors only, a bounded checkpoint upload, and every trail read audited."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD


def _log_in(client: TestClient, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/inspector").text)
    return found.group(1) if found else ""


def test_only_inspectors_open_the_inspectors_pages(client: TestClient) -> None:
    r = client.get("/inspector", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    _log_in(client, "township1")
    assert client.get("/inspector").status_code == 403
    assert client.get("/inspector/flags").status_code == 403


def test_a_checkpoint_upload_over_its_bound_is_refused_without_being_read_as_json(client: TestClient) -> None:
    token = _log_in(client, "inspector")
    big = b"{" + b" " * 20_000 + b"}"
    r = client.post(
        "/inspector/checkpoint",
        data={"csrf_token": token, "public_key": "AAAA"},
        files={"checkpoint": ("checkpoint.json", big, "application/json")},
    )
    assert r.status_code == 422
    assert "文件太大，不是检查点文件" in r.text


def test_a_checkpoint_that_is_not_json_is_refused_in_words(client: TestClient) -> None:
    token = _log_in(client, "inspector")
    r = client.post(
        "/inspector/checkpoint",
        data={"csrf_token": token, "public_key": "AAAA"},
        files={"checkpoint": ("<script>.json", b"not json", "application/json")},
    )
    assert r.status_code == 422
    assert "检查点文件无法读取" in r.text
    assert "<script>" not in r.text, "the file's name is never shown or used"
