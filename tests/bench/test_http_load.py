"""The HTTP load client at a tiny size: the app served by `aidflow serve` on a seeded database, the bare
app beside it, every figure measured with no error and a rate above zero, and the table rows formed."""

from __future__ import annotations

from pathlib import Path

from bench import http_load
from tests.conftest import BACKEND, PG_BASE


def test_a_tiny_run_answers_every_request_and_gives_every_row(tmp_path: Path) -> None:
    result = http_load.measure(
        BACKEND, pg_url=PG_BASE, directory=tmp_path, seconds=0.1, rounds=1, clients=(1, 3), cases=20
    )
    assert http_load.errors(result) == 0, result.notes
    figures = {figure for figure, _clients in result.samples}
    assert figures == {"action", "bare POST", "queue", "queue page", "case page", "bare GET"}
    for (figure, _clients), samples in result.samples.items():
        assert len(samples) == (3 if figure == "bare GET" else 1)  # the bare GET is beside each of three reads
        assert all(s.rate > 0 and s.requests > 0 and 0 < s.p50 <= s.p99 and s.rss_mb > 0 for s in samples)
    lines = http_load.rows(result)
    assert len(lines) == 4 * 2 * 2  # four pairs, two client levels, a rate row and a latency row each
    assert all(line.startswith(("| SQLite | HTTP ", "| PostgreSQL | HTTP ")) for line in lines)
    assert all(line.count("|") == 8 for line in lines)
    assert "0 errors in" in lines[-1]
