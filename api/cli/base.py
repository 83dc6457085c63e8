"""What every command group of the `aidflow` command line shares: settings, the database, failing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from api.settings import Settings
from engine.database import Database


def _settings() -> Settings:
    """The settings from the environment; without AIDFLOW_SECRET_KEY, the key the demo keeps beside its
    database (so serve, worker and timers read what the demo encrypted)."""
    settings = Settings()
    if not _has_own_secret(settings):
        path = demo_key_file(settings.database_url)
        key = path.read_text(encoding="utf-8").strip() if path.exists() else ""
        if key:
            return settings.model_copy(update={"secret_key": key})
    return settings


def _database(settings: Settings, *, migrate: bool = True) -> Database:
    if migrate:
        import migrations

        migrations.upgrade(settings.database_url)
    return Database(settings.database_url, group_commit=settings.group_commit)


def _safe_url(url: str) -> str:
    """The database URL with any password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL: show nothing of it
        return "(database URL)"


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


def _has_own_secret(settings: Settings) -> bool:
    return bool(settings.secret_key.strip()) and not settings.using_dev_secret


def demo_key_file(database_url: str) -> Path:
    """Where the demo keeps its key: beside its SQLite file, or in the working directory."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database + ".secret")
    return Path("aidflow-demo.secret")
