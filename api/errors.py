"""The one place where domain errors become HTTP answers (application/problem+json)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import (
    AuditUnavailable,
    Conflict,
    DefinitionInvalid,
    GuardRejected,
    InvalidInput,
    NotFound,
    RoleNotPermitted,
    StaleVersion,
    TooManyRequests,
    TransitionNotAllowed,
    Unauthenticated,
    WorkflowError,
)

log = logging.getLogger("aidflow")

STATUS: dict[type[WorkflowError], int] = {
    Unauthenticated: 401,
    NotFound: 404,
    RoleNotPermitted: 403,
    TransitionNotAllowed: 409,
    StaleVersion: 409,
    Conflict: 409,
    GuardRejected: 422,
    InvalidInput: 422,
    TooManyRequests: 429,
    DefinitionInvalid: 500,
    AuditUnavailable: 503,
}

TITLES = {
    503: "暂停服务 / unavailable",
    400: "请求无效 / bad request",
    401: "未登录或凭据无效 / not authenticated",
    403: "无权执行 / forbidden",
    404: "未找到 / not found",
    409: "冲突 / conflict",
    413: "请求过大 / request too large",
    422: "无法处理 / unprocessable",
    429: "请求过于频繁 / too many requests",
    500: "服务器错误 / server error",
}


def problem(
    status: int, detail: Any, *, code: str, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://aidflow.invalid/problems/{code}",
        "title": TITLES.get(status, "error"),
        "status": status,
        "error": code,
        "detail": detail,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def status_of(exc: WorkflowError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))


def install(app: FastAPI) -> None:
    @app.exception_handler(WorkflowError)
    async def _workflow_error(_request: Request, exc: WorkflowError) -> JSONResponse:
        status = status_of(exc)
        extra: dict[str, Any] = {}
        headers: dict[str, str] | None = None
        if isinstance(exc, GuardRejected):
            extra["reasons"] = list(exc.reasons)
        if isinstance(exc, StaleVersion):
            extra["current_version"] = exc.actual
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return problem(status, exc.detail, code=exc.code, extra=extra, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_plain(e) for e in exc.errors()]
        detail = "请求内容无效 / invalid request: " + "; ".join(_describe(e) for e in errors)
        return problem(422, detail, code="invalid_request", extra={"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(exc.status_code, "http_error")
        detail = exc.detail
        if exc.status_code == 400:
            detail = f"请求体无法解析 / the request body could not be parsed: {exc.detail}"
        elif exc.status_code == 404:
            detail = "没有这个地址 / no such path"
        elif exc.status_code == 405:
            detail = "此地址不接受该方法 / method not allowed here"
        return problem(exc.status_code, detail, code=code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return problem(
            500, "服务器内部错误，已记录；请稍后重试 / internal error, logged; try again later", code="internal_error"
        )


def _plain(error: Any) -> dict[str, Any]:
    """A validation error reduced to JSON-safe fields (pydantic may carry exceptions in ctx)."""
    return {
        "loc": [str(p) for p in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }
