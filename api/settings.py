"""Configuration from the environment; read when the app or a command starts, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.env import DEV_SECRET


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIDFLOW_", extra="ignore")

    database_url: str = "sqlite:///./aidflow.db"
    secret_key: str = DEV_SECRET
    policy: str | None = Field(default=None, description="path to a policy file (TOML)")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "aidflow@localhost"
    token_minutes: int = 30
    timer_interval_seconds: float = 30.0
    outbox_interval_seconds: float = 5.0
    run_workers: bool = True
    # Acts that queue for the process's writer share one transaction and one flush, each in its own
    # savepoint (engine.database.Database.session); no caller hears success before that commit.
    group_commit: bool = True

    @property
    def using_dev_secret(self) -> bool:
        return self.secret_key == DEV_SECRET
