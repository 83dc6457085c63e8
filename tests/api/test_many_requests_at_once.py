"""Many requests at once over real HTTP: each is answered; none holds a lock or a connection while
it waits for a worker thread."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.api.conftest import application_body

H = Callable[[str], dict[str, str]]

CASES = 10
RACERS = 10  # per case, all on the same version: one wins, the rest find it stale (409)


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def _all_at_once(base_url: str, requests: list[Request]) -> list[int | str]:
    """Each request's status, or "timeout"; all sent at once, each given 30 s and all of them 60 s."""

    async def one(http: httpx.AsyncClient, request: Request) -> int | str:
        try:
            return (await request(http)).status_code
        except httpx.TimeoutException:
            return "timeout"

    async def everyone() -> list[int | str]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=len(requests))
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
            return await asyncio.wait_for(asyncio.gather(*(one(http, r) for r in requests)), timeout=60)

    return asyncio.run(everyone())


def _reject(case_id: int, version: int, headers: dict[str, str]) -> Request:
    return lambda http: http.post(
        f"/api/v1/applications/{case_id}/actions/village_reject",
        headers=headers,
        json={"version": version, "data": {"reason": "家庭收入高于标准 / income too high"}},
    )


def _get(path: str, headers: dict[str, str]) -> Request:
    return lambda http: http.get(path, headers=headers)


def test_a_hundred_concurrent_acts_over_http_are_each_answered_200_or_409_without_a_server_error(
    live_server: str, client: TestClient, token_for: H
) -> None:
    cases: list[dict[str, Any]] = []
    for i in range(CASES):
        r = client.post("/api/v1/applications", json=application_body(serial=10 * i + 1), headers=token_for("village1"))
        assert r.status_code == 201, r.text
        cases.append(r.json())
    officers = [token_for("township1"), token_for("township1b")]
    shots = [_reject(c["id"], c["version"], officers[n % 2]) for n in range(RACERS) for c in cases]

    started = time.monotonic()
    answers = _all_at_once(live_server, shots)
    took = time.monotonic() - started

    assert len(answers) == CASES * RACERS
    assert set(answers) <= {200, 409}, f"answers: {Counter(answers)} after {took:.1f} s"
    assert answers.count(200) == CASES, "exactly one act per case wins"
    for c in cases:
        trail = client.get(f"/api/v1/applications/{c['id']}/audit", headers=token_for("inspector")).json()
        assert [e["action"] for e in trail].count("village_reject") == 1


def test_a_hundred_and_fifty_concurrent_reads_over_http_are_each_answered_200(
    live_server: str, client: TestClient, token_for: H
) -> None:
    r = client.post("/api/v1/applications", json=application_body(), headers=token_for("village1"))
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    headers = token_for("township1")
    paths = ["/api/v1/applications", "/api/v1/queue", f"/api/v1/applications/{case_id}/audit", "/api/v1/me"]
    reads = [_get(paths[n % len(paths)], headers) for n in range(150)]

    started = time.monotonic()
    answers = _all_at_once(live_server, reads)
    took = time.monotonic() - started

    assert answers == [200] * len(reads), f"answers: {Counter(answers)} after {took:.1f} s"
