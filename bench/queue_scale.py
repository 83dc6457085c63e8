"""One township's queue at scale: N cases bulk-loaded into a fresh migrated database (the policy's
workflows, every state, deadlines where the definition sets one, the kept counts filled as the engine
keeps them), then p50/p99 of what GET /queue runs for a township officer, beside one state read in
index order (the floor), and the query plans.

    python -m bench.queue_scale --db sqlite|postgres --n 1000000 [--samples 300] [--dir .] [--pg-url URL]

Measured, each `--samples` times at random points of the queue (the first page, and pages after a
random case's (deadline, id)):
- page query: `engine.queue.queue_page` without a per-person filter (both phases, the Case rows built);
- counts: `engine.queue.queue_counts` without a per-person filter (the kept rows);
- floor: one state's 51 cases read in index order after the same cursor (one index range, no merge);
- before: the IN-list query and the grouped count this replaced, a tenth as many times (they read
  the township's cases);
- GET /queue: `api.services.queue_cases` as the route runs it for the officer (each listed case
  judged for the person, the counts of the person's queue: `workflows.tasks.task_counts`), those
  counts alone, and `api.services.queue` (the API's response: the page's summaries and the
  supervision count too); before: the same page with the counts judged over every case of the queue
  (`queue_counts` with `has_task`), a few times, and its counts compared with the kept ones.
The officer (two accounts under one identity number) acted on `--acted` cases (an audit entry each;
all closed since but `--in-flight` of them, in a random state) and is a declared relative of the
household on `--relative` cases (a case_identifiers row). `person_links` is loaded as
`workflows.links` keeps it: for each case not closed, its applicant's identity hash, the officer
where they acted, the officer's identity hash where related; the officer's links in their queue's
ranges are the cases judged one by one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy import event, func, select, text

from bench.raw import fresh, settle
from engine.access import Actor, Grant, Role
from engine.database import Database
from engine.queue import (
    Cursor,
    _kept_rows,
    _ranges_by_grant,
    actionable_states,
    grants_apart,
    queue_counts,
    queue_page,
    queue_query,
)
from engine.tables import Case

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"
COUNTY, TOWNSHIP = "341122000000", "341122100000"
VILLAGES = [f"3411221002{k:02d}" for k in range(1, 21)]
START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
CHUNK = 20_000
OFFICER, OTHER_ACCOUNT, OFFICER_HASH = "bench-township", "bench-township-b", "f" * 64


@dataclass(frozen=True)
class Links:
    """How the officer is linked to the township's cases, whatever their number: the cases they acted
    on (an audit entry each), how many of those are still in flight (in a random state; the rest
    are closed), and the cases naming them as a household's relative."""

    acted: int = 5000
    in_flight: int = 50
    relative: int = 10

    def acted_on(self, i: int, n: int) -> bool:
        return self.acted > 0 and i % max(n // self.acted, 1) == 0

    def open_after(self, i: int, n: int) -> bool:
        return self.in_flight > 0 and i % max(n // self.in_flight, 1) == 0

    def related(self, i: int, n: int) -> bool:
        return self.relative > 0 and i % max(n // self.relative, 1) == 1


LINKS = Links()
_c = Case.__table__.c  # type: ignore[attr-defined]
COLUMNS = (
    "id, workflow, workflow_version, reference, region_code, township_code, county_code, state, version, "
    "entered_version, state_entered_at, deadline, data, created_at, updated_at"
)


SECRET = "bench-queue-scale-secret-0123456789"
API = "GET /api/v1/queue response (api.services.queue: the page's summaries, supervision count)"


def _definitions() -> list[Any]:
    from workflows.env import Env

    return Env.load(None, SECRET).definitions()


def cases(n: int, seed: int = 15, links: Links = LINKS) -> Iterator[list[tuple[Any, ...]]]:
    """The township's cases in chunks, as rows of COLUMNS (times as datetimes, data as JSON text)."""
    rng = random.Random(seed)
    definitions = _definitions()
    weights = [0.7 if d.key == "standard" else 0.2 if d.key == "temporary" else 0.1 for d in definitions]
    chunk: list[tuple[Any, ...]] = []
    for i in range(1, n + 1):
        d = rng.choices(definitions, weights)[0]
        state = rng.choice(d.states)
        created = START + timedelta(seconds=rng.randrange(300 * 86400))
        due = created + timedelta(days=rng.randrange(1, 60), seconds=rng.randrange(86400))
        facts: dict[str, Any] = {"aid_type": d.key, "household": i}
        if links.acted_on(i, n):  # the officer acted on it: closed since, or waiting on someone else
            facts.update(township_passers=[OFFICER], township_actors=[OFFICER])
            if not links.open_after(i, n):
                state = rng.choice(sorted(d.terminal))
        if links.related(i, n):
            facts["relatives_in_office"] = [{"id_hash": OFFICER_HASH}]
        deadline = due if d.deadline_for(state) is not None else None
        data = json.dumps(facts, separators=(",", ":"))
        village = rng.choice(VILLAGES)
        row = (i, d.key, d.version, f"B-{i}", village, TOWNSHIP, COUNTY, state, 3, 3)
        chunk.append((*row, created, deadline, data, created, created))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )


def _regions() -> list[tuple[str, str, str, str | None]]:
    return [(COUNTY, "县", "county", None), (TOWNSHIP, "镇", "township", COUNTY)] + [
        (v, f"村{k}", "village", TOWNSHIP) for k, v in enumerate(VILLAGES)
    ]


def _counted(counts: dict[tuple[str, str, str], int], chunk: list[tuple[Any, ...]]) -> None:
    for row in chunk:
        key = (row[4], row[1], row[7])
        counts[key] = counts.get(key, 0) + 1


def person_links(chunk: list[tuple[Any, ...]], n: int, links: Links = LINKS) -> list[tuple[str, int]]:
    """The person_links rows of a chunk's cases, as workflows.links keeps them: for each case not closed,
    its applicant's identity hash (as `load_links` indexes it), the officer where they acted on it, the
    officer's identity hash where they are a declared relative."""
    from workflows.links import closed

    definitions = {(d.key, d.version): d for d in _definitions()}
    rows: list[tuple[str, int]] = []
    for row in chunk:
        i, workflow, version, state = row[0], row[1], row[2], row[7]
        if closed(definitions[(workflow, version)], state):
            continue
        rows.append((f"{i:064x}", i))
        if links.acted_on(i, n):
            rows.append((OFFICER, i))
        if links.related(i, n):
            rows.append((OFFICER_HASH, i))
    return rows


def load_sqlite(path: str, n: int, tick: Callable[[int], None], links: Links = LINKS) -> None:
    import sqlite3

    def stamp(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # loading only
    conn.executemany("INSERT INTO regions (code, name, level, parent_code) VALUES (?,?,?,?)", _regions())
    counts: dict[tuple[str, str, str], int] = {}
    sql = f"INSERT INTO cases ({COLUMNS}) VALUES ({','.join('?' * 15)})"
    for chunk in cases(n, links=links):
        conn.executemany(sql, [(*r[:10], stamp(r[10]), stamp(r[11]), r[12], stamp(r[13]), stamp(r[14])) for r in chunk])
        conn.executemany("INSERT INTO person_links (person, case_id) VALUES (?,?)", person_links(chunk, n, links))
        _counted(counts, chunk)
        tick(len(chunk))
    conn.executemany(
        "INSERT INTO case_counts (region_code, workflow, state, township_code, county_code, n) VALUES (?,?,?,?,?,?)",
        [(r, w, s, TOWNSHIP, COUNTY, k) for (r, w, s), k in counts.items()],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: str, n: int, tick: Callable[[int], None], links: Links = LINKS) -> None:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO regions (code, name, level, parent_code) VALUES (%s,%s,%s,%s)", _regions())
        counts: dict[tuple[str, str, str], int] = {}
        for chunk in cases(n, links=links):
            with cur.copy(f"COPY cases ({COLUMNS}) FROM STDIN") as copy:
                for row in chunk:
                    copy.write_row(row)
            with cur.copy("COPY person_links (person, case_id) FROM STDIN") as copy:
                for link in person_links(chunk, n, links):
                    copy.write_row(link)
            _counted(counts, chunk)
            tick(len(chunk))
        cur.executemany(
            "INSERT INTO case_counts (region_code, workflow, state, township_code, county_code, n) "
            "VALUES (%s,%s,%s,%s,%s,%s)",
            [(r, w, s, TOWNSHIP, COUNTY, k) for (r, w, s), k in counts.items()],
        )
        cur.execute(f"SELECT setval(pg_get_serial_sequence('cases', 'id'), {n})")
        conn.commit()
        conn.execute("ANALYZE cases")
        conn.execute("ANALYZE person_links")
        conn.commit()


def load_links(url: str, n: int, links: Links = LINKS) -> None:
    """The officer's two accounts, an audit entry for each case they acted on, an identifier row per
    case (the applicant's) and one for each case naming them as a relative."""
    from engine.tables import AuditEntry, User
    from workflows.models import CaseIdentifier

    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                User.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {"username": u, "password_hash": "!", "id_number_hash": OFFICER_HASH, "created_at": START}
                    for u in (OFFICER, OTHER_ACCOUNT)
                ],
            )
            audit = [
                {
                    "seq": k,
                    "at": START,
                    "actor": OFFICER,
                    "role": Role.TOWNSHIP_OFFICER,
                    "region_code": VILLAGES[0],
                    "case_id": i,
                    "action": "township_pass",
                    "data": "{}",
                    "prev_hash": f"{k - 1:064x}",
                    "hash": f"{k:064x}",
                }
                for k, i in enumerate((i for i in range(1, n + 1) if links.acted_on(i, n)), start=1)
            ]
            for start in range(0, len(audit), CHUNK):
                conn.execute(AuditEntry.__table__.insert(), audit[start : start + CHUNK])  # type: ignore[attr-defined]
            ids = CaseIdentifier.__table__  # type: ignore[attr-defined]
            for start in range(1, n + 1, CHUNK):
                rows = [
                    {"case_id": i, "kind": "applicant", "lookup_hash": f"{i:064x}", "county_code": COUNTY}
                    for i in range(start, min(start + CHUNK, n + 1))
                ]
                rows += [
                    {"case_id": r["case_id"], "kind": "relative", "lookup_hash": OFFICER_HASH, "county_code": COUNTY}
                    for r in rows
                    if links.related(int(str(r["case_id"])), n)
                ]
                conn.execute(ids.insert(), rows)
            conn.execute(text("ANALYZE"))
    finally:
        db.dispose()


# Above this many cases the old way (every case of the queue judged for the person) is neither timed
# nor compared with the kept counts: at 1 M it takes about a minute and builds every case; `make bench`
# and the tests (tests/workflows/test_task_counts.py) compare the two at sizes that allow it.
JUDGE_ALL_UP_TO = 2_000_000


@dataclass
class QueueFigures:
    db: str
    n: int
    samples: int
    load_s: float = 0.0
    ms: dict[str, tuple[float, float]] = field(default_factory=dict)  # figure: (p50, p99)
    plans: dict[str, str] = field(default_factory=dict)
    linked: int = 0
    links: int = 0


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def _plan(db: Database, statement: Any) -> str:
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.engine.connect() as conn:
        if db.is_sqlite:
            return "\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all())
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}").all())


def measure(
    db_kind: str,
    n: int,
    *,
    samples: int = 300,
    directory: Path = Path("."),
    pg_url: str = PG_DEFAULT,
    links: Links = LINKS,
    settle_below: float | None = None,
) -> QueueFigures:
    figures = QueueFigures(db_kind, n, samples)
    with fresh(db_kind, directory, pg_url, "queue") as (url, target):
        with progress() as bar:
            task = bar.add_task(f"{db_kind}: loading {n:,} cases of one township", total=n, rate="")
            started = time.perf_counter()

            def tick(k: int) -> None:
                done = bar.tasks[0].completed + k
                bar.update(task, advance=k, rate=f"{done / (time.perf_counter() - started):,.0f}/s")

            (load_sqlite if db_kind == "sqlite" else load_postgres)(target, n, tick, links)
            load_links(url, n, links)
            figures.load_s = time.perf_counter() - started
            bar.update(task, visible=False)
            settle(settle_below, say=bar.console.print)
        _measure(Database(url), figures)
    return figures


def _measure(db: Database, figures: QueueFigures) -> None:
    rng = random.Random(1)
    officer = Actor(username="bench-township", grants=(Grant(Role.TOWNSHIP_OFFICER, TOWNSHIP),))
    states = actionable_states(_definitions())
    mine = sorted(states[Role.TOWNSHIP_OFFICER])
    try:
        with db.session(write=False) as s:
            dated = s.execute(
                select(_c.deadline, _c.id).where(_c.deadline.is_not(None)).order_by(_c.id).limit(5000)
            ).all()
            cursors: list[Cursor | None] = [None] + [Cursor(d, i) for d, i in dated]
            timings: dict[str, list[float]] = {"page query": [], "counts": [], "floor": []}
            for k in range(figures.samples):
                after = cursors[0] if k % 5 == 0 else rng.choice(cursors[1:])
                start = time.perf_counter()
                queue_page(s, officer, states, limit=50, after=after)
                timings["page query"].append(time.perf_counter() - start)
                start = time.perf_counter()
                queue_counts(s, officer, states)
                timings["counts"].append(time.perf_counter() - start)
                one = select(Case).where(
                    _c.township_code == TOWNSHIP, _c.state == rng.choice(mine), _c.deadline.is_not(None)
                )
                if after is not None:
                    one = one.where(_c.deadline > after.deadline)
                start = time.perf_counter()
                list(s.scalars(one.order_by(_c.deadline, _c.id).limit(51)))
                timings["floor"].append(time.perf_counter() - start)
                s.expunge_all()
            before: dict[str, list[float]] = {"before: IN-list page query": [], "before: grouped count": []}
            where = _c.township_code == TOWNSHIP
            for _ in range(max(figures.samples // 10, 3)):
                start = time.perf_counter()
                list(
                    s.scalars(
                        select(Case)
                        .where(where, _c.state.in_(mine), _c.deadline.is_not(None))
                        .order_by(_c.deadline, _c.id)
                        .limit(51)
                    )
                )
                before["before: IN-list page query"].append(time.perf_counter() - start)
                start = time.perf_counter()
                s.execute(select(_c.state, func.count()).where(where, _c.state.in_(mine)).group_by(_c.state)).all()
                before["before: grouped count"].append(time.perf_counter() - start)
                s.expunge_all()
            for name, values in {**timings, **before}.items():
                figures.ms[name] = (_pct(values, 50), _pct(values, 99))
            if not db.is_sqlite:
                s.execute(text("SELECT 1"))
        _measure_person(db, figures, cursors, rng)
        middle = cursors[len(cursors) // 2]
        figures.plans["page query, dated phase after a cursor"] = _plan(
            db, queue_query(officer, states, limit=51, after=middle, postgres=not db.is_sqlite)
        )
        figures.plans["page query, undated phase"] = _plan(
            db, queue_query(officer, states, limit=51, undated=True, postgres=not db.is_sqlite)
        )
    finally:
        db.dispose()


def _measure_person(db: Database, figures: QueueFigures, cursors: list[Cursor | None], rng: random.Random) -> None:
    """What GET /queue runs for the officer, now and before; EXPLAIN of every statement the counts run."""
    from api.services import queue, queue_cases
    from engine.tables import User
    from workflows.env import Env
    from workflows.facts import same_person
    from workflows.links import linked_ids, person_keys
    from workflows.tasks import has_task, linked_cases, task_counts

    env = Env.load(None, SECRET)
    states = actionable_states(env.definitions())
    now = START + timedelta(days=400)
    with db.session(write=False) as s:
        user_id = s.execute(select(User.__table__.c.id).where(User.__table__.c.username == OFFICER)).scalar_one()  # type: ignore[attr-defined]
        officer = Actor(
            OFFICER, (Grant(Role.TOWNSHIP_OFFICER, TOWNSHIP),), user_id=user_id, id_number_hash=OFFICER_HASH
        )
        timings: dict[str, list[float]] = {
            "GET /queue now (queue_cases)": [],
            "person's counts now (task_counts)": [],
            API: [],
        }
        for k in range(figures.samples):
            after = cursors[0] if k % 5 == 0 else rng.choice(cursors[1:])
            token = after.encode() if after is not None else None
            start = time.perf_counter()
            queue_cases(s, env, officer, limit=50, cursor=token, now=now)
            timings["GET /queue now (queue_cases)"].append(time.perf_counter() - start)
            start = time.perf_counter()
            queue(s, env, officer, limit=50, cursor=token, now=now)
            timings[API].append(time.perf_counter() - start)
            start = time.perf_counter()
            counts = task_counts(s, env, officer, states, now)
            timings["person's counts now (task_counts)"].append(time.perf_counter() - start)
            s.expunge_all()
        same = same_person(s, officer)
        figures.links = len(s.scalars(linked_ids(person_keys(officer, same))).all())
        figures.linked = len(linked_cases(s, officer, same, states))

        def keep(case: Case) -> bool:
            return has_task(s, env, case, officer, now, same=same)

        if figures.n <= JUDGE_ALL_UP_TO:  # else judging every case once takes minutes and all of it in memory
            before: list[float] = []
            for _ in range(3 if figures.n < 200_000 else 1):  # each reads and judges the whole queue
                start = time.perf_counter()
                queue_page(s, officer, states, limit=50, keep=keep)
                judged = queue_counts(s, officer, states, keep=keep)
                before.append(time.perf_counter() - start)
                s.expunge_all()
            if judged != counts:
                raise AssertionError(f"the kept person counts {counts} differ from judging every case: {judged}")
            timings["before: GET /queue (counts judged case by case)"] = before
        for name, values in timings.items():
            figures.ms[name] = (_pct(values, 50), _pct(values, 99))
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    with db.session(write=False) as s:
        task_counts(s, env, officer, states, now)
    event.remove(db.engine, "before_cursor_execute", capture)
    explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    with db.engine.connect() as conn:
        for k, (statement, parameters) in enumerate(seen, start=1):
            rows = conn.exec_driver_sql(explain + statement, parameters).all()
            plan = "\n".join(str(r[-1]) if db.is_sqlite else str(r[0]) for r in rows)
            figures.plans[f"person's counts, statement {k}: {statement[:90]}..."] = plan
        # The kept counts run on the driver's cursor, which the listener above does not see.
        kept = _kept_rows(_ranges_by_grant(officer, states), grants_apart(officer), conn.dialect.name)
        if kept is not None:
            rows = conn.exec_driver_sql(explain + str(kept.statement)).all()
            plan = "\n".join(str(r[-1]) if db.is_sqlite else str(r[0]) for r in rows)
            figures.plans["person's counts, the kept counts (driver's cursor)"] = plan


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=Path("."))
    parser.add_argument("--pg-url", default=os.environ.get("AIDFLOW_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--acted", type=int, default=LINKS.acted)
    parser.add_argument("--in-flight", type=int, default=LINKS.in_flight)
    parser.add_argument("--relative", type=int, default=LINKS.relative)
    parser.add_argument("--settle", type=float, default=None, help="wait for the 1-min load average to fall below this")
    args = parser.parse_args()
    links = Links(args.acted, args.in_flight, args.relative)
    f = measure(
        args.db,
        args.n,
        samples=args.samples,
        directory=args.dir,
        pg_url=args.pg_url.rstrip("/"),
        links=links,
        settle_below=args.settle,
    )
    out = sys.stdout.write
    out(f"{f.db}: {f.n:,} cases loaded in {f.load_s:.0f} s; {f.samples} samples; {links}\n")
    out(f"  the officer's links to open cases: {f.links}; in their queue's ranges (judged one by one): {f.linked}\n")
    for name, (p50, p99) in f.ms.items():
        out(f"  {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms\n")
    for name, plan in f.plans.items():
        out(f"\n{name}:\n{plan}\n")


if __name__ == "__main__":
    main()
