"""`aidflow fund`: the reserve fund (备用金): paying in, the ledger, the monthly statement."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.base import _database, _fail, _settings
from engine.access import SYSTEM
from engine.tables import utcnow

fund_app = typer.Typer(help="临时救助备用金 / emergency reserve fund", no_args_is_help=True)


def _yuan(fen: int) -> str:
    from workflows.bankfile import yuan

    return yuan(fen)


def _pay_in(code: str, amount_fen: int, kind: str, note: str | None) -> None:
    from engine.errors import WorkflowError
    from workflows.env import Env
    from workflows.fund import deposit_fund

    settings = _settings()
    env = Env.load(settings.policy, settings.secret_key)
    db = _database(settings)
    try:
        with db.session() as session:
            balance = deposit_fund(
                session,
                env=env,
                township_code=code,
                amount_fen=amount_fen,
                actor=SYSTEM,
                now=utcnow(),
                kind=kind,
                note=note,
            )
    except WorkflowError as exc:
        _fail(exc.detail)
        raise
    typer.echo(f"备用金余额 / fund balance {code}: {balance} fen")


@fund_app.command("deposit")
def fund_deposit(
    township: str,
    amount_fen: Annotated[int, typer.Option("--amount-fen", min=1, max=10**12)],
    note: Annotated[str | None, typer.Option("--note", max=200)] = None,
) -> None:
    """向乡镇或县临时救助备用金存入 / pay into a township's (or the county's) emergency reserve fund."""
    _pay_in(township, amount_fen, "deposit", note)


@fund_app.command("refund")
def fund_refund(
    code: str,
    amount_fen: Annotated[int, typer.Option("--amount-fen", min=1, max=10**12)],
    note: Annotated[str, typer.Option("--note")],
) -> None:
    """记录退回备用金的款项 / record money handed back into the fund (a grant not spent)."""
    _pay_in(code, amount_fen, "refund", note[:200])


@fund_app.command("recovery")
def fund_recovery(
    code: str,
    amount_fen: Annotated[int, typer.Option("--amount-fen", min=1, max=10**12)],
    note: Annotated[str, typer.Option("--note")],
) -> None:
    """记录追回的款项 / record money recovered into the fund (a grant wrongly paid)."""
    _pay_in(code, amount_fen, "recovery", note[:200])


@fund_app.command("show")
def fund_show(code: str, limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50) -> None:
    """显示备用金余额和流水 / print a fund's balance and its latest entries."""
    from engine.errors import WorkflowError
    from workflows.fund import fund_ledger

    db = _database(_settings())
    try:
        with db.session(write=False) as session:
            ledger = fund_ledger(session, actor=SYSTEM, region=code, limit=limit)
    except WorkflowError as exc:
        _fail(exc.detail)
        raise
    typer.echo(
        f"{ledger.region} {ledger.name}  余额 / balance {_yuan(ledger.balance_fen)} 元 ({ledger.balance_fen} fen)"
    )
    for e in ledger.entries:
        case = f" #{e.application_id}" if e.application_id else ""
        typer.echo(
            f"  {e.at.isoformat()}  {e.kind:<8} {_yuan(e.amount_fen):>12}  → {_yuan(e.balance_after_fen):>12}"
            f"  {e.actor}{case}{'  ' + e.note if e.note else ''}"
        )


@fund_app.command("statement")
def fund_statement_cmd(code: str, month: Annotated[str, typer.Option("--month", help="YYYY-MM")]) -> None:
    """备用金月度对账单 / a fund's statement for a month."""
    from engine.errors import WorkflowError
    from workflows.fund import fund_statement

    db = _database(_settings())
    try:
        with db.session(write=False) as session:
            st = fund_statement(session, actor=SYSTEM, region=code, month=month)
    except WorkflowError as exc:
        _fail(exc.detail)
        raise
    typer.echo(f"{st.region} {st.month}")
    for label, fen in (
        ("期初 / opening", st.opening_fen),
        ("存入 / deposits", st.deposits_fen),
        ("救助支出 / grants", -st.grants_fen),
        ("退回 / refunds", st.refunds_fen),
        ("追回 / recoveries", st.recoveries_fen),
        ("期末 / closing", st.closing_fen),
    ):
        typer.echo(f"  {label:<20} {_yuan(fen):>14} 元")
