"""Every role × a case in its scope or out of it × every endpoint: allowed, 403 or 404 as it should be."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import ACCOUNTS, application_body, pass_village
from tests.factories import COUNTY, TOWNSHIP

# Who reaches a case in VILLAGE (township TOWNSHIP, county COUNTY), submitted by applicant1.
IN_SCOPE = {"applicant1", "village1", "village1b", "township1", "township1b", "county", "inspector", "admin"}
APPLICANTS = {"applicant1", "applicant2"}
# Who may ever fire village_pass (the committee, and the township acting for it).
MAY_PASS = {"village1", "village1b", "township1", "township1b"}
# Who may submit on a household's behalf in VILLAGE.
MAY_SUBMIT = {"applicant1", "applicant2", "village1", "village1b", "township1", "township1b"}
FILING_ROLES = {"village_officer", "township_officer"}
INSPECTORS = {"inspector", "inspector2"}
# Whose region reaches the township TOWNSHIP (its reports).
REACH_TOWNSHIP = {"township1", "township1b", "county", "inspector", "admin"}
# Who reads TOWNSHIP's reserve fund, and who exports its bank file.
FUND_READERS = {"township1", "township1b", "county", "inspector", "admin"}
FINANCE = {"township1", "township1b", "county", "admin"}
FINANCE_ROLES = {"township_officer", "county_officer", "admin"}
# Who reads the county's supervision of TOWNSHIP (its filings, visits and samples).
SUPERVISION_READERS = {"township1", "township1b", "county", "inspector"}
# Who can act on a case in village_review (so finds it in their queue).
QUEUE_HAS_IT = {"village1", "village1b", "township1", "township1b"}


def expected(user: str, endpoint: str) -> int:
    in_scope = user in IN_SCOPE
    official = user not in APPLICANTS
    table: dict[str, Callable[[], int]] = {
        "GET /api/v1/applications/{case_id}": lambda: 200 if in_scope else 404,
        "GET /api/v1/applications/{case_id}/audit": lambda: 404 if not in_scope else 403 if not official else 200,
        "POST /api/v1/applications/{case_id}/actions/{action}": lambda: (
            404 if not in_scope else 422 if user in MAY_PASS else 403
        ),
        # An officer who files elsewhere is told the village is not found; a role that never files, 403.
        "POST /api/v1/applications": lambda: (
            201 if user in MAY_SUBMIT else 404 if ACCOUNTS[user][0] in FILING_ROLES else 403
        ),
        "GET /api/v1/applications": lambda: 200,
        "GET /api/v1/queue": lambda: 200 if official else 403,
        "GET /api/v1/audit/verify": lambda: 200 if official else 403,
        "GET /api/v1/payments": lambda: 200 if official else 403,
        # the township's fund: its officers, the county's officers, inspectors and administrators
        "GET /api/v1/funds/{region}": lambda: 403 if not official else 200 if user in FUND_READERS else 404,
        "GET /api/v1/funds/{region}/statement": lambda: 403 if not official else 200 if user in FUND_READERS else 404,
        "POST /api/v1/payments/export": lambda: 200 if user in FINANCE else 403,
        "POST /api/v1/payments/reconcile": lambda: 200 if ACCOUNTS[user][0] in FINANCE_ROLES else 403,
        # a reference no line has: not found, whoever asks
        "POST /api/v1/payments/{reference}/paid-by-hand": lambda: 404,
        "GET /api/v1/reports/flags": lambda: 200 if official else 403,
        # the township's 月通报: whoever's region reaches the township; other officials are told it is not found
        "GET /api/v1/reports/monthly": lambda: 403 if not official else 200 if user in REACH_TOWNSHIP else 404,
        "GET /api/v1/reports/watchlist": lambda: 200 if official else 403,
        # inspectors only; theirs is refused as unsigned
        "POST /api/v1/audit/checkpoints/verify": lambda: 422 if user in INSPECTORS else 403,
        # the case under review is on nobody's watch list
        "POST /api/v1/reports/watchlist/{case_id}/follow-ups": lambda: 404,
        "GET /api/v1/me": lambda: 200,
        # a recovery: the township's officers only, and not on a case never supported
        "POST /api/v1/applications/{case_id}/recoveries": lambda: (
            404 if not in_scope else 409 if user in {"township1", "township1b"} else 403
        ),
        # only an inspector whose region reaches the case; to anyone else the objection does not exist
        "GET /api/v1/objections/{objection_id}/contact": lambda: 200 if user == "inspector" else 404,
        "GET /api/v1/supervision": lambda: 403 if not official else 200 if user in SUPERVISION_READERS else 404,
        # no filing or visit exists: not found, whoever asks
        "POST /api/v1/supervision/filings/{filing_id}/file": lambda: 404,
        "POST /api/v1/supervision/filings/{filing_id}/acknowledge": lambda: 404,
        "POST /api/v1/supervision/visits/{visit_id}": lambda: 404,
        # the county's own officer draws its sample; to anyone else the county is not found
        "POST /api/v1/supervision/samples": lambda: 201 if user == "county" else 404,
        "GET /api/v1/supervision/samples/{sample_id}/verify": lambda: (
            403 if not official else 200 if user == "county" else 404
        ),
    }
    return table[endpoint]()


PUBLIC = {
    "POST /api/v1/auth/token",
    "GET /api/v1/track/{code}",
    "GET /api/v1/notices",
    "GET /api/v1/notices/standing",
    "POST /api/v1/notices/{notice_id}/objections",
    "GET /healthz",
}


def _routes(app: FastAPI) -> set[str]:
    """Every operation the app publishes (its OpenAPI document lists them all)."""
    return {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}


def test_every_route_has_a_policy_entry(app: FastAPI) -> None:
    policed = set(_ENDPOINTS) | PUBLIC
    assert _routes(app) == policed, "a new route needs an entry in the access matrix"


_ENDPOINTS = [
    "GET /api/v1/applications/{case_id}",
    "GET /api/v1/applications/{case_id}/audit",
    "POST /api/v1/applications/{case_id}/actions/{action}",
    "POST /api/v1/applications",
    "GET /api/v1/applications",
    "GET /api/v1/queue",
    "GET /api/v1/audit/verify",
    "GET /api/v1/payments",
    "GET /api/v1/funds/{region}",
    "GET /api/v1/funds/{region}/statement",
    "POST /api/v1/payments/export",
    "POST /api/v1/payments/reconcile",
    "POST /api/v1/payments/{reference}/paid-by-hand",
    "GET /api/v1/reports/flags",
    "GET /api/v1/reports/monthly",
    "GET /api/v1/reports/watchlist",
    "POST /api/v1/audit/checkpoints/verify",
    "POST /api/v1/reports/watchlist/{case_id}/follow-ups",
    "GET /api/v1/me",
    "GET /api/v1/objections/{objection_id}/contact",
    "GET /api/v1/supervision",
    "POST /api/v1/supervision/filings/{filing_id}/file",
    "POST /api/v1/supervision/filings/{filing_id}/acknowledge",
    "POST /api/v1/supervision/visits/{visit_id}",
    "POST /api/v1/supervision/samples",
    "GET /api/v1/supervision/samples/{sample_id}/verify",
    "POST /api/v1/applications/{case_id}/recoveries",
]


def _objection_on_another_case(client: TestClient, token_for: Callable[[str], dict[str, str]]) -> int:
    """A second case in VILLAGE, listed on the notice board, with an objection carrying a contact."""
    case = client.post("/api/v1/applications", json=application_body(serial=50), headers=token_for("village1")).json()
    listed = pass_village(client, token_for, case)
    notice = next(n for n in client.get("/api/v1/notices").json() if n["reference"] == listed["reference"])
    receipt = client.post(
        f"/api/v1/notices/{notice['id']}/objections", json={"reason": "不实 / untrue", "contact": "13900001111"}
    )
    assert receipt.status_code == 201
    details = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("inspector")).json()["details"]
    return int(details["objections"][0]["id"])


@pytest.mark.parametrize("user", sorted(ACCOUNTS))
def test_access_matrix(user: str, client: TestClient, token_for: Callable[[str], dict[str, str]]) -> None:
    created = client.post("/api/v1/applications", json=application_body(serial=1), headers=token_for("applicant1"))
    assert created.status_code == 201, created.text
    case_id, version = created.json()["id"], created.json()["version"]
    objection_id = _objection_on_another_case(client, token_for)
    headers = token_for(user)
    calls: dict[str, Callable[[], Any]] = {
        "GET /api/v1/applications/{case_id}": lambda: client.get(f"/api/v1/applications/{case_id}", headers=headers),
        "GET /api/v1/applications/{case_id}/audit": lambda: client.get(
            f"/api/v1/applications/{case_id}/audit", headers=headers
        ),
        "POST /api/v1/applications/{case_id}/actions/{action}": lambda: client.post(
            f"/api/v1/applications/{case_id}/actions/village_pass",
            json={"version": version, "data": {}},
            headers=headers,
        ),
        "POST /api/v1/applications": lambda: client.post(
            "/api/v1/applications", json=application_body(serial=100), headers=headers
        ),
        "GET /api/v1/applications": lambda: client.get("/api/v1/applications", headers=headers),
        "GET /api/v1/queue": lambda: client.get("/api/v1/queue", headers=headers),
        "GET /api/v1/audit/verify": lambda: client.get("/api/v1/audit/verify", headers=headers),
        "GET /api/v1/payments": lambda: client.get("/api/v1/payments?month=2026-10", headers=headers),
        "GET /api/v1/funds/{region}": lambda: client.get(f"/api/v1/funds/{TOWNSHIP}", headers=headers),
        "GET /api/v1/funds/{region}/statement": lambda: client.get(
            f"/api/v1/funds/{TOWNSHIP}/statement?month=2026-10", headers=headers
        ),
        "POST /api/v1/payments/export": lambda: client.post(
            "/api/v1/payments/export", json={"month": "2026-10", "township": TOWNSHIP, "format": "csv"}, headers=headers
        ),
        "POST /api/v1/payments/reconcile": lambda: client.post(
            "/api/v1/payments/reconcile",
            files={"file": ("r.csv", b"reference,status,reason\r\n", "text/csv")},
            headers=headers,
        ),
        "POST /api/v1/payments/{reference}/paid-by-hand": lambda: client.post(
            "/api/v1/payments/PAY202610-00000001/paid-by-hand", json={"reason": "现金"}, headers=headers
        ),
        "GET /api/v1/reports/flags": lambda: client.get("/api/v1/reports/flags", headers=headers),
        "GET /api/v1/reports/watchlist": lambda: client.get("/api/v1/reports/watchlist", headers=headers),
        "POST /api/v1/audit/checkpoints/verify": lambda: client.post(
            "/api/v1/audit/checkpoints/verify",
            json={"seq": 0, "head": "0" * 64, "at": "", "public_key": "A" * 43 + "=", "signature": "AAAA"},
            headers=headers,
        ),
        "POST /api/v1/reports/watchlist/{case_id}/follow-ups": lambda: client.post(
            f"/api/v1/reports/watchlist/{case_id}/follow-ups", json={"note": "回访 / visited"}, headers=headers
        ),
        "GET /api/v1/reports/monthly": lambda: client.get(
            f"/api/v1/reports/monthly?region={TOWNSHIP}&month=2026-10", headers=headers
        ),
        "GET /api/v1/me": lambda: client.get("/api/v1/me", headers=headers),
        "POST /api/v1/applications/{case_id}/recoveries": lambda: client.post(
            f"/api/v1/applications/{case_id}/recoveries",
            json={"amount_fen": 10_000, "reason": "多发 / overpaid"},
            headers=headers,
        ),
        "GET /api/v1/objections/{objection_id}/contact": lambda: client.get(
            f"/api/v1/objections/{objection_id}/contact", headers=headers
        ),
        "GET /api/v1/supervision": lambda: client.get(f"/api/v1/supervision?region={TOWNSHIP}", headers=headers),
        "POST /api/v1/supervision/filings/{filing_id}/file": lambda: client.post(
            "/api/v1/supervision/filings/1/file", headers=headers
        ),
        "POST /api/v1/supervision/filings/{filing_id}/acknowledge": lambda: client.post(
            "/api/v1/supervision/filings/1/acknowledge", headers=headers
        ),
        "POST /api/v1/supervision/visits/{visit_id}": lambda: client.post(
            "/api/v1/supervision/visits/1", json={"visit_date": "2026-09-28", "findings": "属实"}, headers=headers
        ),
        "POST /api/v1/supervision/samples": lambda: client.post(
            "/api/v1/supervision/samples", json={"county": COUNTY, "month": "2026-08", "seed": 1}, headers=headers
        ),
        "GET /api/v1/supervision/samples/{sample_id}/verify": lambda: client.get(
            "/api/v1/supervision/samples/1/verify", headers=headers
        ),
    }
    mismatches = []
    for endpoint in _ENDPOINTS:
        response = calls[endpoint]()
        want = expected(user, endpoint)
        if response.status_code != want:
            mismatches.append(f"{endpoint}: got {response.status_code}, want {want}: {response.text[:200]}")
            continue
        if endpoint == "GET /api/v1/applications":
            ids = {item["id"] for item in response.json()["items"]}
            assert (case_id in ids) == (user in IN_SCOPE), f"list leaks or hides the case for {user}"
        if endpoint == "GET /api/v1/queue" and want == 200:
            ids = {item["id"] for item in response.json()["items"]}
            assert (case_id in ids) == (user in QUEUE_HAS_IT), f"queue wrong for {user}: {ids}"
        if want == 404:
            assert "王小英" not in response.text, "a 404 must not show the household's data"
    assert not mismatches, "\n".join(mismatches)
    # nothing in the matrix changed the case
    owner = client.get(f"/api/v1/applications/{case_id}", headers=token_for("applicant1")).json()
    assert owner["version"] == version
    assert owner["state"] == "village_review"
