"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import errors, services, web
from api.auth import Tokens
from api.deps import AppState
from api.middleware import InputGuard
from api.routes import applications, auth, oversight, public, supervision
from api.schemas import Problem
from api.settings import Settings
from api.throttle import Throttles
from engine.database import Database
from engine.tables import utcnow
from workflows.env import Env
from workflows.schemas import ApplicationIn

log = logging.getLogger("aidflow")


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow, migrate: bool = True
) -> FastAPI:
    """Build the app: settings are read here, never at import."""
    settings = settings or Settings()
    if migrate:
        import migrations

        migrations.upgrade(settings.database_url)
    db = Database(settings.database_url, group_commit=settings.group_commit)
    env = Env.load(settings.policy, settings.secret_key)
    state = AppState(
        settings=settings,
        db=db,
        env=env,
        tokens=Tokens.from_secret(settings.secret_key, settings.token_minutes),
        throttles=Throttles(),
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = (
            [asyncio.create_task(_timer_loop(state)), asyncio.create_task(_outbox_loop(state))]
            if settings.run_workers
            else []
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            db.dispose()

    app = FastAPI(
        title="aidflow 社会救助审核审批",
        version="1.0",
        description="低保、特困、临时救助的申请、审核、公示、审批与发放 / applications, review, public "
        "notice, approval and payment of social assistance. Errors are application/problem+json.",
        lifespan=lifespan,
    )
    app.state.aidflow = state
    errors.install(app)
    for router in (auth.router, applications.router, public.router, oversight.router, supervision.router):
        app.include_router(router)

    @app.get("/healthz", tags=["ops"], summary="数据库可用 / the database answers")
    def healthz() -> JSONResponse:
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return errors.problem(503, f"数据库无响应 / database unavailable: {type(exc).__name__}", code="unavailable")
        return JSONResponse({"status": "ok"})

    app.add_middleware(InputGuard)
    web.mount(app)
    _document(app)
    return app


_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_UNPARSEABLE = "请求体无法解析 / the request body could not be parsed (malformed JSON or form)"


def _document(app: FastAPI) -> None:
    """The document says what the app sends: every error as application/problem+json (FastAPI would write
    application/json and its own validation schema), 400 where a body may be unparseable, and the bodies
    read after the scope check (not as FastAPI parameters) with their schemas."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "ApplicationIn" not in components:
            described = ApplicationIn.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(described.pop("$defs", {}))
            components["ApplicationIn"] = described
        components.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation:
                    responses.setdefault("400", {"description": _UNPARSEABLE})
                for status, response in responses.items():
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = dict(_PROBLEM)
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _timer_loop(state: AppState) -> None:
    """The in-process timer sweep (the `aidflow worker` runs the same loop on its own)."""
    while True:
        try:
            result = await asyncio.to_thread(services.run_timers, state.db, state.clock(), state.env)
            if result.fired or result.void:
                log.info("timers: fired %d, void %d", result.fired, result.void)
        except Exception:  # the sweep must outlive one bad timer; each failure is logged
            log.exception("timer sweep failed")
        await asyncio.sleep(state.settings.timer_interval_seconds)


async def _outbox_loop(state: AppState) -> None:
    """Deliver queued notifications (SMTP); failures are retried with back-off by the outbox itself."""
    from notifications.sender import SmtpSender
    from notifications.worker import drain

    sender = SmtpSender(state.settings.smtp_host, state.settings.smtp_port)
    while True:
        try:
            result = await drain(state.db, sender, now=state.clock(), sender_address=state.settings.smtp_sender)
            if result.sent or result.dead:
                log.info("outbox: sent %d, dead %d", result.sent, result.dead)
        except Exception:  # delivery must outlive one bad pass; each failure is logged
            log.exception("outbox pass failed")
        await asyncio.sleep(state.settings.outbox_interval_seconds)
