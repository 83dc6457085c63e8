"""A body nested deeper than any parser goes is bad input like any other: 422, never a server error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.middleware import body_has_nul

H = Callable[[str], dict[str, str]]


def _nested(depth: int, inner: bytes = b'"\\u0000"') -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("depth", [900, 5_000, 100_000])
@pytest.mark.parametrize("path", ["/api/v1/applications", "/api/v1/notices/1/objections"])
def test_a_nul_escape_inside_a_deeply_nested_body_is_422_with_or_without_a_token(
    client: TestClient, token_for: H, depth: int, path: str
) -> None:
    body = _nested(depth)
    for headers in ({}, token_for("village1")):
        r = client.post(path, content=body, headers={**headers, "content-type": "application/json"})
        assert r.status_code == 422, r.text[:200]
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "NUL" in r.json()["detail"]


def test_the_nul_check_tells_an_escaped_nul_from_an_escaped_backslash_at_any_depth() -> None:
    for depth in (1, 900, 100_000):
        assert body_has_nul(_nested(depth))
        assert not body_has_nul(_nested(depth, b'"\\\\u0000"')), "a backslash, then the text u0000"
        assert body_has_nul(_nested(depth, b'"\\\\\\u0000"')), "a backslash, then a NUL"
        assert not body_has_nul(_nested(depth, b'"plain"'))
