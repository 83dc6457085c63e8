"""Many writers at once over real HTTP: each is answered, none waits on a lock another request holds."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.api.conftest import application_body

H = Callable[[str], dict[str, str]]

CASES = 10
RACERS = 10  # per case, all on the same version: one wins, the rest find it stale (409)


def _fire_all(base_url: str, shots: list[tuple[int, int, dict[str, str]]]) -> list[int | str]:
    async def one(http: httpx.AsyncClient, case_id: int, version: int, headers: dict[str, str]) -> int | str:
        try:
            r = await http.post(
                f"/api/v1/applications/{case_id}/actions/village_reject",
                headers=headers,
                json={"version": version, "data": {"reason": "家庭收入高于标准 / income too high"}},
            )
        except httpx.TimeoutException:
            return "timeout"
        return r.status_code

    async def everyone() -> list[int | str]:
        limits = httpx.Limits(max_connections=len(shots), max_keepalive_connections=len(shots))
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
            return await asyncio.wait_for(asyncio.gather(*(one(http, *shot) for shot in shots)), timeout=60)

    return asyncio.run(everyone())


def test_a_hundred_concurrent_acts_over_http_are_each_answered_200_or_409_without_a_server_error(
    live_server: str, client: TestClient, token_for: H
) -> None:
    cases: list[dict[str, Any]] = []
    for i in range(CASES):
        r = client.post("/api/v1/applications", json=application_body(serial=10 * i + 1), headers=token_for("village1"))
        assert r.status_code == 201, r.text
        cases.append(r.json())
    officers = [token_for("township1"), token_for("township1b")]
    shots = [(c["id"], c["version"], officers[n % 2]) for n in range(RACERS) for c in cases]

    started = time.monotonic()
    answers = _fire_all(live_server, shots)
    took = time.monotonic() - started

    assert len(answers) == CASES * RACERS
    assert set(answers) <= {200, 409}, f"answers: {Counter(answers)} after {took:.1f} s"
    assert answers.count(200) == CASES, "exactly one act per case wins"
    for c in cases:
        trail = client.get(f"/api/v1/applications/{c['id']}/audit", headers=token_for("inspector")).json()
        assert [e["action"] for e in trail].count("village_reject") == 1
