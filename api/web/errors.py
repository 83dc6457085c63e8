"""Error pages: the same statuses as the API (api/errors.py decides them), shown as HTML on pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from api import errors as api_errors
from api.web.i18n import N_, catalog, pick
from api.web.render import lang_of, render
from api.web.sessions import is_page
from engine.errors import TooManyRequests, WorkflowError

TITLES = {
    400: N_("请求无效"),
    403: N_("无权访问"),
    404: N_("未找到"),
    405: N_("不支持此操作"),
    409: N_("操作冲突"),
    413: N_("提交的内容过大"),
    422: N_("无法处理"),
    429: N_("尝试次数过多"),
    500: N_("服务器出错"),
    503: N_("暂停服务"),
}


class LoginRequired(Exception):
    """A page for officials was asked for without a session: log in, then come back."""


class CsrfRefused(Exception):
    """A form came without the token of the session that showed it."""


def error_page(request: Request, status: int, message: str, *, headers: dict[str, str] | None = None) -> Response:
    """`message` is a catalog message, or a domain text already in the reader's language."""
    words = catalog(lang_of(request))
    return render(
        request,
        "error.html",
        {"status": status, "title": words.gettext(TITLES.get(status, TITLES[400])), "message": words.gettext(message)},
        status=status,
        headers=headers,
    )


Handler = Callable[[Request, Any], Awaitable[Response]]


def install(app: FastAPI) -> None:
    """Pages answer errors with pages; the API keeps its problem+json handlers as they were."""
    json_handlers: dict[Any, Handler] = dict(app.exception_handlers)

    def for_pages(cls: type[Exception], page: Callable[[Request, Any], Response]) -> None:
        original = json_handlers.get(cls)

        async def handler(request: Request, exc: Any) -> Response:
            if is_page(request.url.path) or original is None:
                return page(request, exc)
            return await original(request, exc)

        app.add_exception_handler(cls, handler)

    def workflow_error(request: Request, exc: WorkflowError) -> Response:
        status = api_errors.status_of(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return error_page(request, status, pick(str(exc.detail), lang_of(request)), headers=headers)

    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: N_("没有这个页面。请检查网址，或从首页进入。"), 405: N_("此页面不接受这种请求。")}.get(
            exc.status_code, N_("请求无法处理。")
        )
        return error_page(request, exc.status_code, message)

    def invalid(request: Request, _exc: RequestValidationError) -> Response:
        return error_page(request, 400, N_("请求中的参数无效。请从页面上的链接或表单重新进入。"))

    def login_required(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    def csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        return error_page(
            request, 403, N_("表单已失效：页面停留过久，或表单并非来自本系统。请返回上一页，刷新后重新提交。")
        )

    def unexpected(request: Request, exc: Exception) -> Response:
        api_errors.log.error("unhandled error", exc_info=exc)
        return error_page(request, 500, N_("服务器内部错误，已记录。请稍后重试。"))

    for_pages(WorkflowError, workflow_error)
    for_pages(StarletteHTTPException, http_error)
    for_pages(RequestValidationError, invalid)
    for_pages(LoginRequired, login_required)
    for_pages(CsrfRefused, csrf_refused)
    for_pages(Exception, unexpected)
