"""What the reliability suites achieved in this run (examples, calls, kills), printed at the run's end."""

from __future__ import annotations

from collections import Counter, defaultdict

COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)


def record(suite: str, **counts: int) -> None:
    COUNTS[suite].update(counts)


def lines() -> list[str]:
    return [
        f"{suite}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        for suite, counts in sorted(COUNTS.items())
    ]
