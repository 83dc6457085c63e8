"""The `aidflow` command line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings
from engine.access import SYSTEM
from engine.store import Database, utcnow

app = typer.Typer(help="aidflow: 社会救助审核审批 / social-assistance approval engine", no_args_is_help=True)
db_app = typer.Typer(help="数据库 / database", no_args_is_help=True)
regions_app = typer.Typer(help="行政区划 / regions", no_args_is_help=True)
users_app = typer.Typer(help="工作人员账号 / officials' accounts", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志 / audit trail", no_args_is_help=True)
timers_app = typer.Typer(help="定时器 / timers", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(regions_app, name="regions")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(timers_app, name="timers")


def _settings() -> Settings:
    return Settings()


def _database(settings: Settings, *, migrate: bool = True) -> Database:
    if migrate:
        import migrations

        migrations.upgrade(settings.database_url)
    return Database(settings.database_url)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"时间格式无效 / not an ISO-8601 time: {text!r}", 2)
        raise
    if moment.tzinfo is None:
        from engine.calendar import SHANGHAI

        moment = moment.replace(tzinfo=SHANGHAI)  # a time typed without a zone is Shanghai time
    return moment.astimezone(UTC)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """建库或升级到最新结构 / create or migrate the database to the latest schema."""
    settings = _settings()
    import migrations

    migrations.upgrade(settings.database_url)
    typer.echo(f"数据库已是最新 / database is up to date: {settings.database_url}")


@regions_app.command("add")
def regions_add(code: str, name: Annotated[str, typer.Option("--name")]) -> None:
    """添加区县、乡镇或村 / add a county, township or village (12-digit code)."""
    from engine.accounts import add_region
    from engine.errors import WorkflowError

    db = _database(_settings())
    try:
        with db.session() as session:
            region = add_region(session, code=code, name=name, actor=SYSTEM, now=utcnow())
            typer.echo(f"已添加 / added {region.level} {region.code} {region.name}")
    except WorkflowError as exc:
        _fail(exc.detail)


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option("--role")],
    region: Annotated[str, typer.Option("--region")],
    password: Annotated[str | None, typer.Option("--password")] = None,
    name: Annotated[str, typer.Option("--name")] = "",
    id_number: Annotated[str | None, typer.Option("--id-number")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
) -> None:
    """添加工作人员并授予角色 / add an official and grant a role on a region."""
    import secrets

    from api.security import hash_password
    from engine.accounts import add_user
    from engine.errors import WorkflowError
    from engine.secrets import FieldCipher, valid_id_number

    settings = _settings()
    if id_number is not None and not valid_id_number(id_number):
        _fail(f"身份证号码无效（校验位不符）/ invalid identity number: {id_number}", 2)
    cipher = FieldCipher(settings.secret_key)
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    db = _database(settings)
    try:
        with db.session() as session:
            add_user(
                session, username=username, password_hash=hash_password(password), role=role,
                region=region, actor=SYSTEM, now=utcnow(), display_name=name, email=email,
                id_number_enc=cipher.encrypt(id_number) if id_number else None,
                id_number_hash=cipher.lookup_hash(id_number) if id_number else None,
            )
    except WorkflowError as exc:
        _fail(exc.detail)
    typer.echo(f"已添加 / added {username} ({role} @ {region})")
    if generated:
        typer.echo(f"初始密码 / initial password: {password}")


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="a signed checkpoint (JSON)")] = None,
) -> None:
    """重算哈希链 / recompute the hash chain; exits 1 naming the first bad entry."""
    from engine.auditlog import Checkpoint, verify_log

    db = _database(_settings(), migrate=False)
    kept = None
    if checkpoint is not None:
        kept = Checkpoint.from_json(checkpoint.read_text())
        if not kept.signature_valid():
            _fail("检查点签名无效 / the checkpoint's signature does not verify")
    with db.session(write=False) as session:
        verdict = verify_log(session, kept)
    if verdict.ok:
        extra = f", extends checkpoint at {kept.seq}" if kept else ""
        typer.echo(f"OK: {verdict.entries} entries, head {verdict.head}{extra}")
        return
    _fail(f"BROKEN: first bad entry {verdict.first_bad}: {verdict.why} "
          f"(审计链已被破坏，第一个不符的条目为 {verdict.first_bad})")


@audit_app.command("keygen")
def audit_keygen(path: Path) -> None:
    """生成检查点签名密钥 / create an Ed25519 key for signing checkpoints."""
    from engine.auditlog import generate_key

    if path.exists():
        _fail(f"{path} exists; refusing to overwrite a key")
    generate_key(path)
    typer.echo(f"key written to {path}")


@audit_app.command("checkpoint")
def audit_checkpoint(key: Annotated[Path, typer.Option("--key", help="Ed25519 private key (PEM)")]) -> None:
    """打印签名的链头检查点 / print a signed checkpoint of the chain head (JSON)."""
    from engine.auditlog import generate_key, load_key, make_checkpoint

    if not key.exists():
        generate_key(key)
        typer.echo(f"(new signing key written to {key})", err=True)
    db = _database(_settings(), migrate=False)
    with db.session(write=False) as session:
        typer.echo(make_checkpoint(session, load_key(key), utcnow()).to_json())


@timers_app.command("run")
def timers_run(now: Annotated[str | None, typer.Option("--now", help="ISO-8601; default: the present")] = None) -> None:
    """触发到期的定时器 / fire every timer due by then, in due order."""
    from workflows.registry import resolve

    moment = _parse_moment(now) if now else utcnow()
    db = _database(_settings())
    result = run_timers(db, moment, resolve)
    typer.echo(f"fired {result.fired}, void {result.void}, refused {result.refused} (due by {moment.isoformat()})")


def run_timers(db: Database, moment: datetime, resolve):  # type: ignore[no-untyped-def]
    """Sweep timers with the listener that the app uses (notifications, when installed)."""
    from engine.runtime import run_due

    listener = None
    try:
        from api.hooks import on_transition

        listener = on_transition
    except ModuleNotFoundError:
        listener = None
    return run_due(lambda: db.session(), now=moment, resolve=resolve, on_fired=listener)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
