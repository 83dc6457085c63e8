"""`aidflow audit verify` and GET /api/v1/audit/verify prove the live state, not only the audit table:
a refused case set to active in the database by hand is named by both."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.demo import PASSWORD, seed
from api.settings import Settings
from engine.database import Database

SECRET = "live-verify-secret-0123456789"


@pytest.fixture
def demo(db_url: str) -> tuple[Settings, int]:
    """The demo county, and the id of one of its refused cases."""
    settings = Settings(database_url=db_url, secret_key=SECRET, run_workers=False)
    db = Database(db_url)
    seed(db, settings, now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    with db.session(write=False) as s:
        refused = s.execute(text("SELECT MIN(id) FROM cases WHERE state LIKE '%reject%'")).scalar_one()
    db.dispose()
    assert refused is not None
    return settings, int(refused)


def _verify(settings: Settings) -> dict[str, object]:
    with TestClient(create_app(settings, migrate=False)) as client:
        r = client.post("/api/v1/auth/token", data={"username": "inspector", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        body: dict[str, object] = client.get("/api/v1/audit/verify", headers=headers).json()
        return body


def _cli(settings: Settings) -> tuple[int, str]:
    env = {"AIDFLOW_DATABASE_URL": settings.database_url, "AIDFLOW_SECRET_KEY": SECRET}
    result = CliRunner().invoke(app, ["audit", "verify"], env=env)
    return result.exit_code, result.output


def test_a_refused_case_set_to_active_by_hand_fails_verify_over_http_and_on_the_command_line(
    demo: tuple[Settings, int],
) -> None:
    settings, refused = demo
    clean = _verify(settings)
    assert clean["ok"] is True
    assert clean["cases_bad"] == []
    assert _cli(settings)[0] == 0
    db = Database(settings.database_url)
    with db.session() as s:
        s.execute(text("UPDATE cases SET state = 'active' WHERE id = :id"), {"id": refused})
    db.dispose()
    broken = _verify(settings)
    assert broken["ok"] is False
    assert broken["cases_bad"] == [refused]
    assert broken["first_bad"] is None, "the audit chain itself is intact"
    code, output = _cli(settings)
    assert code == 1
    assert f"case {refused}" in output
    assert "active" in output


def test_inspectors_verify_a_kept_checkpoint_over_http(demo: tuple[Settings, int]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engine.auditlog import make_checkpoint, public_key_b64

    settings, refused = demo
    key = Ed25519PrivateKey.generate()
    db = Database(settings.database_url)
    with db.session(write=False) as s:
        kept = make_checkpoint(s, key, datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    db.dispose()
    body = {
        "seq": kept.seq,
        "head": kept.head,
        "at": kept.at,
        "public_key": kept.public_key,
        "signature": kept.signature,
    }
    with TestClient(create_app(settings, migrate=False)) as client:

        def headers(user: str) -> dict[str, str]:
            r = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        inspector = headers("inspector")
        url, pinned = "/api/v1/audit/checkpoints/verify", {"public_key": public_key_b64(key)}
        good = client.post(url, params=pinned, json=body, headers=inspector)
        assert good.status_code == 200, good.text
        assert good.json()["ok"] is True
        assert client.post(url, params=pinned, json=body, headers=headers("township1_a")).status_code == 403
        forged = client.post(url, params=pinned, json={**body, "seq": kept.seq - 1}, headers=inspector)
        assert forged.status_code == 422, "a checkpoint whose signature does not verify is refused"
        db = Database(settings.database_url)
        with db.session() as s:
            s.execute(text("UPDATE cases SET state = 'active' WHERE id = :id"), {"id": refused})
        db.dispose()
        broken = client.post(url, params=pinned, json=body, headers=inspector).json()
        assert broken["ok"] is False
        assert broken["cases_bad"] == [refused]
