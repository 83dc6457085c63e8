"""`aidflow backup FILE`: a consistent copy of the database, taken while it serves, then proven.

SQLite: the online backup API copies the live file page by page (writers may go on meanwhile; the copy is
one consistent moment). PostgreSQL: pg_dump in its custom format (restore with pg_restore). Either way the
copy is then opened and its hash chain and live state verified, so a backup that would not restore clean
is known at once, not on the day it is needed."""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from api.cli.base import _fail, _safe_url, _settings

PAGES_PER_STEP = 256


def backup(
    file: Annotated[Path, typer.Argument(help="where to write the copy (must not exist)")],
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """备份数据库并验证副本 / back the database up and verify the copy (chain and live state)."""
    settings = _settings()
    url = make_url(settings.database_url)
    if file.exists():
        _fail(f"文件已存在，不会覆盖 / {file} exists; it is not overwritten", 2)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or not Path(url.database).exists():
            _fail(f"没有可备份的数据库文件 / no database file to back up at {_safe_url(settings.database_url)}", 2)
        partial = _sqlite_backup(Path(str(url.database)), file, quiet=quiet)
        _verify_copy(f"sqlite:///{partial}", partial)
        partial.rename(file)  # only a whole copy that verifies takes the name asked for
    elif url.get_backend_name() == "postgresql":
        _pg_backup(settings.database_url, file)
    else:
        _fail(f"不支持的数据库 / unsupported database {url.get_backend_name()}", 2)
    typer.echo(
        f"已备份 / backed up to {file}. 加密字段需要同一密钥才能读取：请另行妥善保管 AIDFLOW_SECRET_KEY / "
        "encrypted fields need the same AIDFLOW_SECRET_KEY to be read: keep it safe, apart from the copy"
    )


def _sqlite_backup(source: Path, target: Path, *, quiet: bool) -> Path:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), disable=quiet, transient=True
    )
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        with progress:
            task = progress.add_task("备份 / backup (pages)", total=None)

            def step(_status: int, remaining: int, total: int) -> None:
                progress.update(task, total=total, completed=total - remaining)

            src.backup(dst, pages=PAGES_PER_STEP, progress=step)
        check = dst.execute("PRAGMA integrity_check").fetchone()
    finally:
        dst.close()
        src.close()
    if not check or check[0] != "ok":
        partial.unlink(missing_ok=True)
        _fail(f"副本完整性检查失败 / the copy failed its integrity check: {check}")
    return partial


def _pg_backup(database_url: str, target: Path) -> None:
    """pg_dump (custom format) of the database, restored into a scratch database and verified there."""
    url = make_url(database_url)
    dump = shutil.which("pg_dump")
    restore = shutil.which("pg_restore")
    if dump is None or restore is None:
        _fail("找不到 pg_dump / pg_restore: install the PostgreSQL client tools (apt-get install postgresql-client)", 2)
        return
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    partial = target.with_name(target.name + ".partial")
    done = subprocess.run(
        [dump, "--format=custom", "--no-owner", f"--file={partial}", libpq], capture_output=True, text=True
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        _fail(f"pg_dump 失败 / pg_dump failed: {done.stderr.strip()}")
    scratch = f"aidflow_backup_check_{secrets.token_hex(6)}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    _psql_admin(admin, f'CREATE DATABASE "{scratch}"')
    try:
        scratch_url = url.set(drivername="postgresql", database=scratch).render_as_string(hide_password=False)
        loaded = subprocess.run(
            [restore, "--no-owner", "--exit-on-error", f"--dbname={scratch_url}", str(partial)],
            capture_output=True,
            text=True,
        )
        if loaded.returncode != 0:
            partial.unlink(missing_ok=True)
            _fail(f"pg_restore 失败，副本无效 / the copy does not restore: {loaded.stderr.strip()}")
        _verify_copy(url.set(database=scratch).render_as_string(hide_password=False), partial)
    finally:
        _psql_admin(admin, f'DROP DATABASE IF EXISTS "{scratch}"')
    partial.rename(target)


def _psql_admin(admin_url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _verify_copy(copy_url: str, partial: Path) -> None:
    """Fail, keeping the copy aside as FILE.unverified (evidence of what the database held), unless it
    verifies."""
    from engine.auditlog import verify_log
    from engine.database import Database
    from workflows.oversight.live import verify_live

    db = Database(copy_url)
    try:
        with db.session(write=False) as session:
            chain = verify_log(session, None)
            live = verify_live(session)
    finally:
        db.dispose()
    if not chain.ok or not live.ok:
        partial.rename(partial.with_name(partial.name.removesuffix(".partial") + ".unverified"))
        _fail(f"副本验证失败 / the copy does not verify: chain first bad {chain.first_bad}, live {live.why[:3]}")
    typer.echo(f"副本已验证 / copy verified: {chain.entries} entries, head {chain.head}; live state matches")
