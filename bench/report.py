"""The benchmark page: one Markdown table of every figure with its baseline, ratio and target (BENCHMARKS.md)."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.figures import DB_NAMES, SPLIT_PARTS, TARGETS, VERSION_NAMES, Run, Spread, Target


def machine() -> dict[str, str]:
    """What the figures were measured on: nproc, CPU model, kernel."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    return {"nproc": str(nproc), "cpu": model, "kernel": f"{platform.system()} {platform.release()}"}


def fmt(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "ms":
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:,.0f}"  # µs


def spread_text(s: Spread | None, unit: str) -> str:
    if s is None:
        return "—"
    return f"{fmt(s.median, unit)} ({fmt(s.low, unit)}–{fmt(s.high, unit)})"


def verdict(target: Target, s: Spread) -> str:
    """Judged on the median; says so when some rounds fall on the other side of the bound."""
    met = target.met(s.median)
    crossed = target.met(s.low) != target.met(s.high)
    word = "**met**" if met else "**missed**"
    if crossed:
        return f"{word} on the median; some rounds {'miss' if met else 'meet'} it"
    return f"{word} in every round"


FIGURE_NAMES = {
    "F": "F fdatasync, 4 KiB, in the DB directory",
    "L": "L raw INSERT + COMMIT, audit-sized row",
    "Lt": "Lt raw transition SQL + COMMIT",
    "S": "S engine fire(), 1 writer",
    "S8": "S8 engine fire(), {threads} writers{grouped}",
    "S8a": "S8a engine fire(), {threads} writers, every act committing alone (group commit off)",
    "S50": "S50 engine fire(), {many} writers{grouped}",
}


def table(runs: Sequence[Run]) -> str:
    """One Markdown table: every figure, its baseline, the ratio to it, and the target if any."""
    head = [
        "| database | figure | median (lowest–highest round) | baseline | ratio, median of rounds (lowest–highest) "
        "| target | against the target |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + [line for run in runs for line in table_rows(run)])


def table_rows(run: Run) -> list[str]:
    name = DB_NAMES[run.db]
    targets = {t.figure: t for t in TARGETS[run.db]}
    rows: list[str] = []

    def row(figure: str, value: str, baseline: str = "—", ratio: Spread | None = None, key: str = "") -> None:
        target = targets.get(key)
        judged = ratio if ratio is not None else (run.latency(key) if key.endswith("p99") else None)
        tt = target.text() if target else "—"
        vv = verdict(target, judged) if target and judged else ""
        rr = spread_text(ratio, "ratio") if ratio is not None else "—"
        rows.append(f"| {name} | {figure} | {value} | {baseline} | {rr} | {tt} | {vv} |")

    for figure in ("F", "L", "Lt", "S", "S8", "S50", "S8a"):
        rate = run.rate(figure)
        if rate is None:
            continue
        grouped = ", group commit" if run.group_commit else ", group commit off"
        label = FIGURE_NAMES[figure].format(threads=run.threads, many=run.many, grouped=grouped) + ", per s"
        value = spread_text(rate, "/s")
        if figure in ("F", "L"):
            row(label, value)
        elif figure == "Lt":
            row(label, value, "L", run.ratio("Lt", "L"))
        else:
            row(label, value, "L", run.ratio(figure, "L"), f"{figure}/L")
            row(label, value, "Lt", run.ratio(figure, "Lt"))
    for key in ("S p50", "S p99", "S8 p50", "S8 p99", "S50 p50", "S50 p99", "S8a p50", "S8a p99"):
        figure = key.split()[0]
        if run.rate(figure) is None:
            continue
        writers = {"S": "1 writer", "S50": f"{run.many} writers"}.get(figure, f"{run.threads} writers")
        if figure == "S8a":
            writers += " committing alone"
        row(f"{key.split()[1]} latency per transition, {writers}, ms", spread_text(run.latency(key), "ms"), key=key)
    labels = ("open db.session() + load the case", "fire() up to the commit", "commit + close")
    for part, label in zip(SPLIT_PARTS, labels, strict=True):
        row(f"S, mean time in: {label}, µs", spread_text(run.split(part), "µs"))
    row("verify_log, entries per s (once, after the rounds)", f"{run.verify_rows_per_s:,.0f}")
    return rows + run.scale_rows


def setting_lines(runs: Sequence[Run], when: str, load: tuple[float, float]) -> list[str]:
    m = machine()
    versions: dict[str, str] = {}
    for run in runs:
        versions.update(run.versions)
    run0 = runs[0]
    lines = [
        f"- date: {when}",
        f"- machine: nproc {m['nproc']}, {m['cpu']}, {m['kernel']}",
        "- versions: " + ", ".join(f"{VERSION_NAMES.get(k, k)} {v}" for k, v in versions.items()),
        "- durability: "
        + "; ".join(f"{DB_NAMES[r.db]} " + ", ".join(f"{k}={v}" for k, v in r.durability.items()) for r in runs),
        f"- sizes: {run0.rounds_n} rounds of {run0.n} operations per figure, {run0.threads} writers for S8",
        f"- host load average (1 min) at the start and at the end: {load[0]:.1f}, {load[1]:.1f} (other work on the"
        " host shows here; above nproc, read the ratios with care)",
    ]
    return lines


# Why each missed target is missed and what would reach it: analysis, kept beside the code and added
# to the page by every full run (edit it when a change moves a cost).
MISSED = Path(__file__).with_name("missed.md")


def markdown(runs: Sequence[Run], when: str, load: tuple[float, float], *, small: bool) -> str:
    """The BENCHMARKS.md page."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.ratio`); what each figure runs and how to read it:",
        "[bench/README.md](bench/README.md). Each database gets fresh migrated databases; every round runs",
        "each figure once, forwards (F L Lt S S8) in odd rounds and backwards in even ones, after one",
        "discarded warm-up round. A figure is the median of its rounds with the lowest and highest round in",
        "brackets; a ratio is taken within each round (S of round k over L of round k) and then its median.",
        "Targets are judged on the median. Ratios are what compares across runs and machines: absolute",
        "rates follow the disk and whatever else the host is running.",
        "",
    ]
    if small:
        lines += ["**Small sizes (`make bench-quick`): the spread is wide and p99 rests on a few samples.**", ""]
    lines += [*setting_lines(runs, when, load), "", table(runs), ""]
    if not small and MISSED.is_file():
        lines += [MISSED.read_text().rstrip(), ""]
    return "\n".join(lines)


def text_report(run: Run) -> str:
    """What one database's run prints besides the table: the profile and notes."""
    lines = [f"{DB_NAMES[run.db]}:"]
    lines.extend(f"note: {n}" for n in run.notes)
    if run.profile:
        lines.extend(["", "cProfile of fire_one (top 25 by own time):", run.profile])
    return "\n".join(lines)


def scale_rows(db_kind: str, args: argparse.Namespace, log: Callable[[str], None]) -> list[str]:
    """The figures at scale (bench.verify_scale, bench.queue_scale) as rows of the table; measured once
    each (a load of N rows per figure is too long to repeat in rounds), so no spread."""
    from bench import queue_scale, verify_scale

    name = DB_NAMES[db_kind]
    rows: list[str] = []
    base = args.pg_url.rstrip("/")
    if args.verify_n:
        log(f"{name}: audit verify over {args.verify_n:,} entries")
        workers = os.cpu_count() or 2
        v = verify_scale.measure(db_kind, args.verify_n, workers=workers, directory=Path(args.dir), pg_url=base)
        hashlib_rate = v.n / v.hashlib_s
        target = 10_000_000 / 30  # the issue: 10M entries in under 30 s
        for label, seconds in (("1 process", v.one_s), (f"{workers} processes", v.split_s)):
            rate = v.n / seconds
            met = "**met**" if rate >= target else "**missed**"
            rows.append(
                f"| {name} | audit verify, {label}, {v.n:,} entries, per s | {rate:,.0f} | hashlib "
                f"| {rate / hashlib_rate:.2f} | ≥ {target:,.0f} (10 M in < 30 s) | {met} (one run) |"
            )
        rows.append(
            f"| {name} | hashlib SHA-256 chained over the same bytes, per s | {hashlib_rate:,.0f} | — | — | — |  |"
        )
        rows.append(
            f"| {name} | audit verify from a checkpoint {v.since_entries:,} entries back, ms | "
            f"{v.since_s * 1000:,.0f} | — | — | O(entries after it) |  |"
        )
    if args.queue_n:
        log(f"{name}: one township's queue at {args.queue_n:,} cases")
        q = queue_scale.measure(
            db_kind, args.queue_n, samples=args.queue_samples, directory=Path(args.dir), pg_url=base
        )
        floor = q.ms["floor"]
        for figure, label in (
            ("GET /queue now (queue_cases)", f"GET /queue as served, one official ({q.linked:,} cases linked to them)"),
            ("person's counts now (task_counts)", "its counts: kept rows less the person's linked cases"),
            (queue_scale.API, "GET /api/v1/queue response (the page's summaries too)"),
            ("page query", "queue page query (both phases, Case rows built)"),
            ("counts", "queue counts of the scope (kept rows)"),
            ("before: GET /queue (counts judged case by case)", "before: GET /queue, counts judged case by case"),
            ("before: IN-list page query", "before: IN-list page query"),
            ("before: grouped count", "before: grouped count of the township"),
        ):
            if figure not in q.ms:
                continue
            p50, p99 = q.ms[figure]
            judged = figure in ("GET /queue now (queue_cases)", queue_scale.API, "page query")
            verdict_text = ("**met**" if p99 < 5 else "**missed**") + " (one run)" if judged else ""
            rows.append(
                f"| {name} | {label}, {q.n:,} cases, p50 / p99 ms | {p50:.2f} / {p99:.2f} | floor p99 {floor[1]:.2f} "
                f"| {p99 / floor[1]:.2f} | {'p99 < 5 ms' if judged else '—'} | {verdict_text} |"
            )
        rows.append(
            f"| {name} | floor: one state's 51 cases in index order, {q.n:,} cases, p50 / p99 ms "
            f"| {floor[0]:.2f} / {floor[1]:.2f} | — | — | — |  |"
        )
    if args.payment_n:
        from bench import payment_run

        log(f"{name}: the monthly payment run at {args.payment_n:,} households")
        rows.extend(
            payment_run.rows(payment_run.measure(db_kind, args.payment_n, pg_url=base, directory=Path(args.dir)))
        )
    if args.http_seconds:
        from bench import http_load

        log(f"{name}: HTTP load at {', '.join(str(c) for c in http_load.CLIENTS)} clients")
        result = http_load.measure(
            db_kind,
            pg_url=base,
            directory=Path(args.dir),
            seconds=args.http_seconds,
            rounds=args.http_rounds,
            cases=args.http_cases,
            log=log,
        )
        rows.extend(http_load.rows(result))
    return rows
