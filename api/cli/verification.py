"""`aidflow verification`: the checking platform's reports (核对), imported from its file."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.base import _database, _fail, _settings
from engine.access import SYSTEM
from engine.tables import utcnow

verification_app = typer.Typer(help="家庭经济状况核对 / economic cross-check", no_args_is_help=True)
MAX_FILE_BYTES = 20 * 1024 * 1024


@verification_app.command("import")
def verification_import(file: Path) -> None:
    """导入核对平台文件 / record the platform's reports (id_number, monthly_income_fen, assets_fen, findings) on
    the open cases of those people; a repeated import changes nothing."""
    from engine.errors import WorkflowError
    from workflows.env import Env
    from workflows.platform_import import import_platform_file

    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            _fail(f"文件过大 / the file is over {MAX_FILE_BYTES // 1024 // 1024} MB", 2)
        content = file.read_bytes()
    except OSError as exc:
        _fail(f"无法读取 / cannot read {file}: {exc.strerror}", 2)
        raise
    settings = _settings()
    env = Env.load(settings.policy, settings.secret_key)
    db = _database(settings)
    try:
        with db.session() as session:
            done = import_platform_file(session, env=env, actor=SYSTEM, content=content, now=utcnow())
    except WorkflowError as exc:
        _fail(exc.detail)
        raise
    typer.echo(
        f"recorded {len(done.recorded)}, unchanged {len(done.unchanged)}, unmatched {len(done.unmatched)}, "
        f"invalid {len(done.invalid)} (sha256 {done.sha256})"
    )
    for line, reference in done.recorded:
        typer.echo(f"  已记录 / recorded: line {line} → {reference}")
    for line, masked in done.unmatched:
        typer.echo(f"  无在办案件 / no open case: line {line} ({masked})")
    for line, why in done.invalid:
        typer.echo(f"  无效行 / invalid row: line {line}: {why}")
