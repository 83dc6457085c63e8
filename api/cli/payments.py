"""`aidflow payments`: the month's run, the bank file, the bank's results, a payment by hand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from api.cli.base import _database, _fail, _settings
from engine.access import SYSTEM
from engine.tables import utcnow

payments_app = typer.Typer(help="发放 / payments", no_args_is_help=True)
MONTH = re.compile(r"[1-9]\d{3}-(0[1-9]|1[0-2])")
RUN_PART = 2000  # each part also sums the month so far and records itself: fewer, larger parts
MAX_RESULT_BYTES = 20 * 1024 * 1024


def _month(month: str) -> str:
    if not MONTH.fullmatch(month):
        _fail(f"月份格式应为 YYYY-MM / month must be YYYY-MM: {month!r}", 2)
    return month


@payments_app.command("run")
def payments_run(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    part_size: Annotated[int, typer.Option("--part-size", min=1, max=10_000, help="cases per unit of work")] = RUN_PART,
) -> None:
    """生成当月发放明细 / create the month's payment lines (a repeated run adds none; failed lines are retried)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from engine.errors import WorkflowError
    from workflows.env import Env
    from workflows.payments import count_payable, run_payments

    _month(month)
    settings = _settings()
    env = Env.load(settings.policy, settings.secret_key)
    db = _database(settings)
    created = already = retried = held = ended = total = 0
    after = 0
    now = utcnow()
    with db.session(write=False) as session:
        planned = count_payable(session, month=month, actor=SYSTEM)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=quiet,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task(f"发放 / payments {month}", total=planned)
            while True:
                # Each part is its own unit of work: a run stopped half-way keeps its parts, and
                # the next run makes only the lines still missing.
                with db.session() as session:
                    part = run_payments(
                        session,
                        env=env,
                        month=month,
                        actor=SYSTEM,
                        now=now,
                        after_case_id=after,
                        limit=part_size,
                        progress=lambda n: progress.advance(task, n),
                    )
                created += part.created
                already += part.already
                retried += part.retried
                held += part.held
                ended += part.ended_unclaimed
                total = part.total_fen
                after = part.last_case_id
                if part.done:
                    break
    except WorkflowError as exc:
        _fail(exc.detail)
    typer.echo(
        f"{month}: created {created}, already present {already}, retried {retried}, held {held}, total {total} fen"
        + (f"; support ended for unclaimed payments (D3): {ended}" if ended else "")
    )


@payments_app.command("export")
def payments_export(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    township: Annotated[str, typer.Option("--township", help="12-digit township code")],
    fmt: Annotated[str, typer.Option("--format", help="csv | xlsx")],
    out: Annotated[Path, typer.Option("--out", help="the file to write")],
) -> None:
    """导出银行代发文件 / write the township's bank file for the month (exporting again gives the same file)."""
    from engine.errors import WorkflowError
    from workflows.env import Env
    from workflows.settlement import export_bank_file

    _month(month)
    if fmt not in ("csv", "xlsx"):
        _fail(f"格式须为 csv 或 xlsx / the format must be csv or xlsx: {fmt!r}", 2)
    settings = _settings()
    env = Env.load(settings.policy, settings.secret_key)
    db = _database(settings)
    try:
        with db.session() as session:
            made = export_bank_file(
                session, env=env, actor=SYSTEM, month=month, township=township, fmt=fmt, now=utcnow()
            )
            out.write_bytes(made.content)
    except WorkflowError as exc:
        _fail(exc.detail)
    except OSError as exc:
        _fail(f"无法写入 / cannot write {out}: {exc.strerror}")
    typer.echo(
        f"{out}: {made.count} 笔 / lines, 合计 / total {made.total_fen // 100}.{made.total_fen % 100:02d} 元, "
        f"batch {made.batch}, sha256 {made.sha256}"
    )


@payments_app.command("reconcile")
def payments_reconcile(file: Path) -> None:
    """导入银行回盘文件 / read the bank's result file (reference, status, reason); a repeated import changes nothing."""
    from engine.errors import WorkflowError
    from workflows.settlement import reconcile

    try:
        if file.stat().st_size > MAX_RESULT_BYTES:
            _fail(f"文件过大 / the file is over {MAX_RESULT_BYTES // 1024 // 1024} MB", 2)
        content = file.read_bytes()
    except OSError as exc:
        _fail(f"无法读取 / cannot read {file}: {exc.strerror}", 2)
        raise
    db = _database(_settings())
    try:
        with db.session() as session:
            result = reconcile(session, actor=SYSTEM, content=content, now=utcnow())
    except WorkflowError as exc:
        _fail(exc.detail)
        raise
    typer.echo(
        f"paid {result.paid}, failed {result.failed}, unchanged {result.unchanged}, unknown {len(result.unknown)}, "
        f"not exported {len(result.not_exported)}, conflicting {len(result.conflicting)}, "
        f"invalid {len(result.invalid)}, stale {len(result.stale)} (sha256 {result.sha256})"
    )
    for label, refs in (
        ("无法匹配 / unknown", result.unknown),
        ("尚未导出 / not exported", result.not_exported),
        ("状态冲突 / conflicting", result.conflicting),
        ("无效行 / invalid rows", result.invalid),
        ("已处理过的旧结果 / stale (this file was already applied; the line has moved on)", result.stale),
    ):
        for ref in refs:
            typer.echo(f"  {label}: {ref}")


@payments_app.command("pay-by-hand")
def payments_pay_by_hand(reference: str, reason: Annotated[str, typer.Option("--reason")]) -> None:
    """记录手工发放 / record a failed or held line as paid by hand, with the reason."""
    from engine.errors import WorkflowError
    from workflows.settlement import pay_by_hand

    db = _database(_settings())
    try:
        with db.session() as session:
            line = pay_by_hand(session, actor=SYSTEM, reference=reference, reason=reason, now=utcnow())
    except WorkflowError as exc:
        _fail(exc.detail)
        raise
    typer.echo(f"{line.reference}: {line.status} ({line.paid_by_hand})")
