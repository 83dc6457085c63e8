"""Input hygiene before any handler runs: a size limit, no NUL characters, the body read in full.

Reading the whole body here, before routing, also means no handler ever waits on a slow client
while holding a database transaction (on SQLite: the single writer's lock).
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from engine.errors import WorkflowError

MAX_BODY = 256 * 1024
# File uploads read as files, never stored as text: a larger bound, and binary (XLSX) bodies allowed.
UPLOADS = {"/api/v1/payments/reconcile": 4 * 1024 * 1024, "/payments/reconcile": 4 * 1024 * 1024}
# Paths answered without a login; on every other path a missing token is 401 before anything else.
PUBLIC = ("/api/v1/auth/token", "/api/v1/track/", "/api/v1/notices", "/healthz", "/docs", "/openapi.json")


# One escape of a JSON string: a backslash and the character it escapes, or \u and four hex digits.
_ESCAPE = re.compile(rb"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


def _holds_nul(value: Any) -> bool:
    pending = [value]  # walked without recursion: nesting depth is the sender's choice
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _escapes_nul(body: bytes) -> bool:
    """Whether a JSON text spells a NUL as an escape, judged from its escapes alone (any depth)."""
    return any(m.group(1) == b"u0000" for m in _ESCAPE.finditer(body))


def body_has_nul(body: bytes) -> bool:
    """A NUL anywhere: raw, URL-encoded, or as a JSON escape inside a string."""
    if b"\x00" in body or b"%00" in body:
        return True
    if b"\\u0000" not in body:
        return False
    try:
        return _holds_nul(json.loads(body))
    except RecursionError:
        return _escapes_nul(body)  # nested deeper than the parser goes
    except ValueError:
        return False  # not JSON: the handler will say so


def _valid_token(scope: Scope, header: bytes | None) -> bool:
    """Whether the request carries a token the app would accept (signature and lifetime; the account
    itself is checked later, as for any request)."""
    if not header or not header.lower().startswith(b"bearer "):
        return False
    state = getattr(getattr(scope.get("app"), "state", None), "aidflow", None)
    if state is None:
        return True  # no app state to judge by: leave it to the handler
    try:
        state.tokens.user_id(header[7:].decode("latin-1").strip(), state.clock())
    except WorkflowError:
        return False
    return True


class InputGuard:
    """413 for bodies over `limit`; 422 for NUL characters (PostgreSQL text cannot hold them)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = UPLOADS.get(str(scope.get("path", "")))
        limit = upload or self.limit
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await self._too_large(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                break
        target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"%00" in target or b"\x00" in target or (upload is None and body_has_nul(body)):
            response = errors.problem(
                422,
                "输入中含有空字符（NUL），请删除后重试 / the input contains a NUL character; remove it",
                code="invalid_request",
            )
            await response(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        headers = dict(scope.get("headers", []))
        path = str(scope.get("path", ""))
        from api.web.sessions import is_page

        if is_page(path):
            # A page's form: the reader gets a page (the session is judged by the page, not here).
            kib = limit // 1024
            await _too_large_page(kib)(scope, receive, send)
            return
        if path != "/" and not path.startswith(PUBLIC) and not _valid_token(scope, headers.get(b"authorization")):
            # The contract's order: 401 without a token comes before anything about the body.
            response = errors.problem(
                401,
                "未登录或凭据无效 / not authenticated",
                code="unauthenticated",
                headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            kib = limit // 1024
            response = errors.problem(413, f"请求体超过 {kib} KiB / request body over {kib} KiB", code="too_large")
        await response(scope, receive, send)


def _too_large_page(kib: int) -> Any:
    from starlette.responses import HTMLResponse

    return HTMLResponse(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>提交的内容过大 / Submission too large</title><link rel="stylesheet" href="/static/app.css"></head>'
        f'<body><main class="page"><h1>提交的内容过大</h1><p>提交的内容超过 {kib} KiB，未被处理，什么也没有改变。'
        "请返回上一页，缩短内容或换一个较小的文件后重试。</p>"
        f'<p lang="en">The submission is over {kib} KiB and was not processed; nothing was changed. Go back, '
        "shorten it or choose a smaller file, and try again.</p>"
        '<p><a href="/">返回首页 / Home</a></p></main></body></html>',
        status_code=413,
    )
