"""The figures of a benchmark run: rounds, their spread, the run of one database, the targets."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"
DB_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
SPLIT_PARTS = ("open_and_load", "fire", "commit")  # S: the unit of work's three parts, timed
VERSION_NAMES = {"python": "Python", "sqlite": "SQLite", "postgresql": "PostgreSQL"}


# --------------------------------------------------------------------------- figures


@dataclass
class Round:
    """One pass over every figure, in `order`; rates per second, latencies in ms, split in µs."""

    index: int
    order: list[str]
    rates: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    split_us: dict[str, float] = field(default_factory=dict)


@dataclass
class Spread:
    """A figure over the rounds: median, lowest and highest round, quartiles."""

    median: float
    low: float
    high: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        ordered = sorted(values)
        if len(ordered) == 1:
            q1 = q3 = ordered[0]
        else:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3)


@dataclass
class Run:
    """Every round of one database, and what was measured once around them."""

    db: str
    rounds_n: int
    n: int
    threads: int
    many: int
    group_commit: bool
    versions: dict[str, str]
    durability: dict[str, str] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)
    verify_rows_per_s: float = 0.0
    scale_rows: list[str] = field(default_factory=list)  # the scale figures' rows (bench.scale_rows)
    profile: str = ""
    notes: list[str] = field(default_factory=list)

    def rate(self, figure: str) -> Spread | None:
        values = [r.rates[figure] for r in self.rounds if figure in r.rates]
        return Spread.of(values) if values else None

    def latency(self, key: str) -> Spread:
        return Spread.of([r.latency_ms[key] for r in self.rounds])

    def split(self, part: str) -> Spread:
        return Spread.of([r.split_us[part] for r in self.rounds])

    def ratio(self, subject: str, baseline: str) -> Spread | None:
        values = [
            r.rates[subject] / r.rates[baseline] for r in self.rounds if subject in r.rates and r.rates.get(baseline)
        ]
        return Spread.of(values) if values else None


@dataclass(frozen=True)
class Target:
    """A goal from the performance issue: `figure` compared with `bound` (">=" or "<")."""

    figure: str
    op: str
    bound: float

    def met(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value < self.bound

    def text(self) -> str:
        return f"{'≥' if self.op == '>=' else '<'} {self.bound:g}" + (" ms" if self.figure.endswith("p99") else "")


TARGETS: dict[str, tuple[Target, ...]] = {
    "sqlite": (
        Target("S/L", ">=", 0.35),
        Target("S8/L", ">=", 0.6),
        Target("S50/L", ">=", 0.6),
        Target("S8 p99", "<", 20.0),
    ),
    "postgres": (
        Target("S/L", ">=", 0.35),
        Target("S8/L", ">=", 1.0),
        Target("S50/L", ">=", 1.0),
        Target("S8 p99", "<", 20.0),
    ),
}
