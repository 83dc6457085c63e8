"""The `aidflow` command line: the app, and the command groups that fit on a page; money in its own modules."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.backup import backup
from api.cli.base import _database, _fail, _has_own_secret, _parse_moment, _safe_url, _settings, demo_key_file
from api.cli.fund import fund_app
from api.cli.payments import payments_app
from api.cli.supervision import supervision_app
from api.cli.verification import verification_app
from api.settings import Settings
from engine.access import SYSTEM
from engine.tables import utcnow

app = typer.Typer(help="aidflow: 社会救助审核审批 / social-assistance approval engine", no_args_is_help=True)
db_app = typer.Typer(help="数据库 / database", no_args_is_help=True)
regions_app = typer.Typer(help="行政区划 / regions", no_args_is_help=True)
users_app = typer.Typer(help="工作人员账号 / officials' accounts", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志 / audit trail", no_args_is_help=True)
timers_app = typer.Typer(help="定时器 / timers", no_args_is_help=True)
reports_app = typer.Typer(help="报表 / reports", no_args_is_help=True)
relatives_app = typer.Typer(help="近亲属备案 / officials' declared close relatives", no_args_is_help=True)
users_app.add_typer(relatives_app, name="relatives")
app.add_typer(db_app, name="db")
app.add_typer(reports_app, name="reports")
app.add_typer(regions_app, name="regions")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(timers_app, name="timers")
app.add_typer(payments_app, name="payments")
app.add_typer(fund_app, name="fund")
app.command("backup")(backup)
app.add_typer(verification_app, name="verification")
app.add_typer(supervision_app, name="supervision")


EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """建库或升级到最新结构 / create or migrate the database to the latest schema."""
    settings = _settings()
    import migrations

    migrations.upgrade(settings.database_url)
    typer.echo(f"数据库已是最新 / database is up to date: {_safe_url(settings.database_url)}")


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
    from api.security import hash_password, password_problems
    from engine.accounts import add_user
    from engine.errors import WorkflowError
    from engine.secrets import FieldCipher, valid_id_number

    settings = _settings()
    if id_number is not None and not valid_id_number(id_number):
        _fail(f"身份证号码无效（校验位不符）/ invalid identity number: {id_number}", 2)
    if email is not None and not EMAIL.fullmatch(email):
        _fail(f"电子邮箱格式无效 / not an e-mail address: {email}", 2)
    cipher = FieldCipher(settings.secret_key)
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    problems = password_problems(password, username)
    if problems:
        _fail("；".join(problems), 2)
    db = _database(settings)
    try:
        with db.session() as session:
            add_user(
                session,
                username=username,
                password_hash=hash_password(password),
                role=role,
                region=region,
                actor=SYSTEM,
                now=utcnow(),
                display_name=name,
                email=email,
                id_number_enc=cipher.encrypt(id_number) if id_number else None,
                id_number_hash=cipher.lookup_hash(id_number) if id_number else None,
            )
    except WorkflowError as exc:
        _fail(exc.detail)
    typer.echo(f"已添加 / added {username} ({role} @ {region})")
    if generated:
        typer.echo(f"初始密码 / initial password: {password}")


@users_app.command("grant")
def users_grant(
    username: str,
    role: Annotated[str, typer.Option("--role")],
    region: Annotated[str, typer.Option("--region")],
) -> None:
    """给已有账号再授一个角色 / grant an existing account another role on a region."""
    from sqlmodel import select

    from engine.accounts import grant_role
    from engine.errors import WorkflowError
    from engine.tables import User

    db = _database(_settings())
    try:
        with db.session() as session:
            user = session.exec(select(User).where(User.username == username)).first()
            if user is None:
                _fail(f"用户 {username} 不存在 / no user {username}")
                return
            grant_role(session, user=user, role=role, region=region, actor=SYSTEM, now=utcnow())
    except WorkflowError as exc:
        _fail(exc.detail)
    typer.echo(f"已授权 / granted {role} @ {region} to {username}")


@users_app.command("disable")
def users_disable(
    username: str,
    reason: Annotated[str, typer.Option("--reason", help="why, for the audit trail")],
) -> None:
    """停用账号：不能再登录，已发出的凭据下次使用时即失效 / disable an account: no more logins, and its
    tokens stop working at their next use."""
    from engine.accounts import disable_user
    from engine.errors import WorkflowError

    db = _database(_settings())
    try:
        with db.session() as session:
            disable_user(session, username=username, reason=reason, actor=SYSTEM, now=utcnow())
    except WorkflowError as exc:
        _fail(exc.detail)
    typer.echo(f"已停用 / disabled {username}")


@users_app.command("revoke")
def users_revoke(
    username: str,
    reason: Annotated[str, typer.Option("--reason", help="why, for the audit trail")],
) -> None:
    """撤销账号现有的全部登录凭据和网页会话（可重新登录）/ revoke every token and page session the account holds
    now (it may log in again: change the password too if it was seen)."""
    from engine.accounts import revoke_tokens
    from engine.errors import WorkflowError

    db = _database(_settings())
    try:
        with db.session() as session:
            revoke_tokens(session, username=username, reason=reason, actor=SYSTEM, now=utcnow())
    except WorkflowError as exc:
        _fail(exc.detail)
    typer.echo(f"已撤销 / revoked the tokens and sessions of {username}")


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="a signed checkpoint (JSON)")] = None,
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="the signer's public key (base64, as keygen printed it)")
    ] = None,
    since_checkpoint: Annotated[
        bool,
        typer.Option(
            "--since-checkpoint",
            help="只重算检查点之后的条目 / recompute only the entries after the checkpoint",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="进程数 / processes over ranges of the chain (default: the CPU count)"),
    ] = None,
) -> None:
    """重算哈希链 / recompute the hash chain; exits 1 naming the first bad entry."""
    from engine.auditlog import Checkpoint, verify_log

    db = _database(_settings(), migrate=False)
    kept = None
    if checkpoint is not None:
        try:
            kept = Checkpoint.from_json(checkpoint.read_text())
        except (OSError, ValueError, KeyError) as exc:
            _fail(f"检查点文件无法读取 / cannot read the checkpoint {checkpoint}: {exc}", 2)
            raise
        if public_key is not None and kept.public_key != public_key.strip():
            _fail("检查点不是由指定密钥签名的 / the checkpoint was not signed by the given public key")
        if not kept.signature_valid():
            _fail("检查点签名无效 / the checkpoint's signature does not verify")
        if public_key is None:
            typer.echo(
                f"note: signature checked against the key inside the checkpoint ({kept.public_key}); "
                "pass --public-key to pin the inspectors' key",
                err=True,
            )
    from workflows.oversight.live import verify_live

    if since_checkpoint and kept is None:
        _fail("--since-checkpoint 需要 --checkpoint / --since-checkpoint needs --checkpoint", 2)
    with db.session(write=False) as session:
        verdict = verify_log(session, kept, since_checkpoint=since_checkpoint, workers=workers or os.cpu_count() or 1)
        live = verify_live(session)
    if not verdict.ok:
        _fail(
            f"BROKEN: first bad entry {verdict.first_bad}: {verdict.why} "
            f"(审计链已被破坏，第一个不符的条目为 {verdict.first_bad})"
        )
    if not live.ok:
        for line in live.why:
            typer.echo(line, err=True)
        _fail(
            f"BROKEN: 业务数据与审计记录不符 / the live tables differ from the trail: cases {live.cases_bad}, "
            f"payment lines {live.payment_lines_bad}, fund entries {live.fund_entries_bad}, funds {live.funds_bad}"
        )
    extra = f", extends checkpoint at {kept.seq}" if kept else ""
    typer.echo(f"OK: {verdict.entries} entries, head {verdict.head}{extra}; cases, payment lines and fund match it")


@audit_app.command("keygen")
def audit_keygen(path: Path) -> None:
    """生成检查点签名密钥 / create an Ed25519 key for signing checkpoints."""
    from engine.auditlog import generate_key, load_key, public_key_b64

    if path.exists():
        _fail(f"{path} 已存在，不覆盖 / {path} exists; refusing to overwrite a key")
    generate_key(path)
    typer.echo(f"私钥已写入 / private key written to {path} (keep it off the database server)")
    typer.echo(f"公钥（交纪检监察保存）/ public key for the inspectors: {public_key_b64(load_key(path))}")


@audit_app.command("checkpoint")
def audit_checkpoint(key: Annotated[Path, typer.Option("--key", help="Ed25519 private key (PEM)")]) -> None:
    """打印签名的链头检查点 / print a signed checkpoint of the chain head (JSON)."""
    from cryptography.exceptions import UnsupportedAlgorithm

    from engine.auditlog import load_key, make_checkpoint

    if not key.exists():
        _fail(f"密钥文件不存在 / no key file {key}; create one with `aidflow audit keygen {key}`", 2)
    try:
        signer = load_key(key)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        _fail(f"密钥文件不是 Ed25519 私钥（PEM）/ {key} is not an Ed25519 private key in PEM: {exc}", 2)
        raise
    db = _database(_settings(), migrate=False)
    with db.session(write=False) as session:
        typer.echo(make_checkpoint(session, signer, utcnow()).to_json())


@timers_app.command("run")
def timers_run(now: Annotated[str | None, typer.Option("--now", help="ISO-8601; default: the present")] = None) -> None:
    """触发到期的定时器 / fire every timer due by then, in due order."""
    from api.services import run_timers
    from workflows.env import Env

    settings = _settings()
    moment = _parse_moment(now) if now else utcnow()
    db = _database(settings)
    result = run_timers(db, moment, Env.load(settings.policy, settings.secret_key))
    typer.echo(f"fired {result.fired}, void {result.void}, refused {result.refused} (due by {moment.isoformat()})")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to anything


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from engine.calendar import local_date
    from engine.tables import utcnow
    from workflows.env import Env

    # Deadlines count working days up to a year ahead: say which of those years lack their notice.
    env = Env.load(settings.policy, settings.secret_key)
    today = local_date(utcnow())
    warning = env.calendar.unpublished_warning(today.year + 1)
    if warning:
        typer.echo(f"注意 / warning: {warning}", err=True)
    # A number the rules do not give (an example default) must be set for the region before it is relied on.
    examples = env.policy.example_warning(today)
    if examples:
        typer.echo(f"注意 / warning: {examples}", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """启动服务（含定时任务）/ serve the app with its timer worker in-process."""
    settings = _settings()
    if not _has_own_secret(settings):
        if not _is_loopback(host):
            # The development key is in the source: with it anyone can forge any user's token and
            # decrypt the identity numbers.
            _fail(
                f"未设置 AIDFLOW_SECRET_KEY，拒绝在非本机地址 {host} 上提供服务：开发密钥是公开的，"
                "任何人都能伪造登录凭据、解密身份证号码。请设置一个长的随机密钥。"
                f" / AIDFLOW_SECRET_KEY is unset: refusing to serve on {host}, which is not loopback, with the "
                "public development key (anyone could forge tokens and decrypt identity numbers); set it to "
                "a long random value",
                2,
            )
        typer.echo(
            "注意：未设置 AIDFLOW_SECRET_KEY，使用公开的开发密钥，仅限本机 / note: AIDFLOW_SECRET_KEY is unset; "
            "the public development key is used, on this machine only",
            err=True,
        )
    _serve(settings, host, port)


@app.command("worker")
def worker(
    interval: Annotated[float, typer.Option("--interval", help="seconds between sweeps")] = 30.0,
    once: Annotated[bool, typer.Option("--once")] = False,
) -> None:
    """只运行定时任务和邮件发送 / run the timer sweep and mail delivery alone (separate worker processes)."""
    import asyncio
    import time

    from api.services import run_timers
    from notifications.sender import SmtpSender
    from notifications.worker import drain
    from workflows.env import Env

    settings = _settings()
    env = Env.load(settings.policy, settings.secret_key)
    db = _database(settings)
    while True:
        result = run_timers(db, utcnow(), env)
        sent = asyncio.run(
            drain(
                db,
                SmtpSender(settings.smtp_host, settings.smtp_port),
                now=utcnow(),
                sender_address=settings.smtp_sender,
            )
        )
        typer.echo(
            f"{utcnow().isoformat()} timers: fired {result.fired}, void {result.void}, refused "
            f"{result.refused}; mail: sent {sent.sent}, retrying {sent.retried}, dead {sent.dead}"
        )
        if once:
            return
        time.sleep(interval)


@app.command("demo")
def demo(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="seed and print the logins only")] = False,
) -> None:
    """建立演示县并启动服务 / seed a demo county on the embedded database, print logins, serve."""
    from api.demo import seed

    settings = _demo_settings(_settings())
    db = _database(settings)
    logins = seed(db, settings)
    typer.echo("演示账号 / demo logins (password for all: " + logins.password + ")")
    for username, role, region in logins.accounts:
        typer.echo(f"  {username:<22} {role:<18} {region}")
    if logins.tracking_codes:
        shown = ("own_application", "notice_village", "awaiting_info", "rejected", "active_0", "emergency_paid")
        typer.echo("查询码（GET /api/v1/track/{code}）/ tracking codes:")
        for label, code in logins.tracking_codes:
            if label in shown:
                note = "  (applicant1's own case)" if label == "own_application" else ""
                typer.echo(f"  {label:<18} {code}{note}")
    if no_serve:
        return
    typer.echo(f"工作台 / the desk: http://{host}:{port}/login  (公示栏 / notices: /notices, 查询 / tracking: /track)")
    typer.echo(f"serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    _serve(settings, host, port)


def _demo_settings(settings: Settings) -> Settings:
    """The demo's settings with a key of its own, unless AIDFLOW_SECRET_KEY gives one.

    The key is made at random on the first run and kept beside the database, so that the data seeded
    under it stays readable on later runs.
    """
    if _has_own_secret(settings):
        return settings
    path = demo_key_file(settings.database_url)
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if not key:
            _fail(f"演示密钥文件为空 / the demo key file {path} is empty; delete it and the demo database", 2)
        return settings.model_copy(update={"secret_key": key})
    if _demo_seeded(settings):
        _fail(
            f"演示数据库是用公开的开发密钥建立的，请删除后重新运行 / the demo database was seeded under the public "
            f"development key: delete it ({_safe_url(settings.database_url)}) and run `aidflow demo` again, "
            "or set AIDFLOW_SECRET_KEY to the key it was made with",
            2,
        )
    key = secrets.token_urlsafe(32)
    # Created with owner-only permissions from the start, never widened and narrowed afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    typer.echo(f"演示密钥已生成 / demo key written to {path} (kept for later runs)")
    return settings.model_copy(update={"secret_key": key})


def _demo_seeded(settings: Settings) -> bool:
    from api.demo import COUNTY
    from engine.tables import Region

    db = _database(settings)
    try:
        with db.session(write=False) as session:
            return session.get(Region, COUNTY[0]) is not None
    finally:
        db.dispose()


def main() -> None:
    from sqlalchemy.exc import OperationalError

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except OperationalError as exc:
        url = _safe_url(os.environ.get("AIDFLOW_DATABASE_URL", "sqlite:///./aidflow.db"))
        typer.echo(f"数据库无法连接或打开 / cannot reach or open the database {url}: {exc.orig}", err=True)
        sys.exit(2)


@reports_app.command("monthly")
def reports_monthly(
    region: Annotated[
        str, typer.Option("--region", help="县、乡镇或村的区划代码 / a county, township or village code")
    ],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="也写成 Excel 文件 / also write an Excel file")] = None,
) -> None:
    """月通报 / the monthly report of a region: JSON on stdout, and an Excel file if asked."""
    from engine.access import SYSTEM
    from engine.errors import WorkflowError
    from workflows.oversight.monthly import monthly_report, monthly_xlsx

    db = _database(_settings(), migrate=False)
    try:
        with db.session(write=False) as session:
            report = monthly_report(session, actor=SYSTEM, region=region, month=month)
    except WorkflowError as exc:
        _fail(exc.detail)
        return
    if xlsx is not None:
        xlsx.write_bytes(monthly_xlsx(report))
        typer.echo(f"已写入 / written to {xlsx}", err=True)
    typer.echo(report.model_dump_json(indent=2))


@relatives_app.command("add")
def relatives_add(
    username: str,
    name: Annotated[str, typer.Option("--name")],
    id_number: Annotated[str, typer.Option("--id-number")],
    relation: Annotated[str, typer.Option("--relation", help="配偶、父母、子女、兄弟姐妹……")],
) -> None:
    """工作人员近亲属备案 / file an official's close relative; every application's members are matched against it."""
    from engine.access import SYSTEM
    from engine.errors import WorkflowError
    from workflows.env import Env
    from workflows.oversight.relatives import declare_relative

    settings = _settings()
    db = _database(settings)
    env = Env.load(settings.policy, settings.secret_key)
    try:
        with db.session() as session:
            declare_relative(
                session,
                env=env,
                actor=SYSTEM,
                username=username,
                name=name,
                id_number=id_number,
                relation=relation,
                now=utcnow(),
            )
    except WorkflowError as exc:
        _fail(exc.detail, 2)
    typer.echo(f"已备案 / filed: {username} 的{relation}")
