"""Page sessions: a signed, HttpOnly, SameSite=Lax cookie that expires, and a CSRF token in it.

The cookie holds the user's id, the session's CSRF token and its expiry (by the app's clock); it is
renewed on every page, so an official is logged out after `token_minutes` without a page. Nothing
of the session lives on the server: logging out replaces the cookie with an anonymous one.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.web import i18n

COOKIE = "aidflow_session"
# Paths that are not pages: the JSON API and its documents keep to bearer tokens and no cookie.
NOT_PAGES = ("/api/", "/docs", "/redoc", "/openapi.json", "/healthz", "/static/")
# The login form's anonymous session lives long enough for a form left open over lunch.
ANONYMOUS_LIFETIME = timedelta(hours=12)
LANG_LIFETIME = timedelta(days=365)


def is_page(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


@dataclass(frozen=True)
class WebSession:
    csrf: str
    expires: int
    user_id: int | None = None
    since: int = 0  # when the login was made (Unix seconds): a revocation after it ends the session

    @classmethod
    def anonymous(cls, now: datetime) -> WebSession:
        return cls(csrf=secrets.token_urlsafe(32), expires=int((now + ANONYMOUS_LIFETIME).timestamp()))

    def logged_in(self, user_id: int, now: datetime, lifetime: timedelta) -> WebSession:
        """A new token at login, so a token seen before it is worth nothing after."""
        return WebSession(
            csrf=secrets.token_urlsafe(32),
            expires=int((now + lifetime).timestamp()),
            user_id=user_id,
            since=int(now.timestamp()),
        )

    def renewed(self, now: datetime, lifetime: timedelta) -> WebSession:
        span = lifetime if self.user_id is not None else ANONYMOUS_LIFETIME
        return replace(self, expires=int((now + span).timestamp()))

    def token_matches(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


class SessionCodec:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt="aidflow-web-session-v1")

    def dump(self, session: WebSession) -> str:
        return self._serializer.dumps(
            {"c": session.csrf, "x": session.expires, "u": session.user_id, "s": session.since}
        )

    def load(self, value: str | None, now: datetime) -> WebSession | None:
        """The session if the cookie's signature holds and it has not expired by `now`."""
        if not value:
            return None
        try:
            raw: Any = self._serializer.loads(value)
            found = WebSession(
                csrf=str(raw["c"]), expires=int(raw["x"]), user_id=_user(raw.get("u")), since=int(raw.get("s") or 0)
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        return found if found.expires > now.timestamp() else None


def _user(value: Any) -> int | None:
    return None if value is None else int(value)


def _cookie(name: str, value: str, max_age: int, secure: bool) -> bytes:
    flags = f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
    return (flags + ("; Secure" if secure else "")).encode("latin-1")


class PageState:
    """Before a page: its session and language in `request.state`; after it: the cookies renewed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        aidflow = scope["app"].state.aidflow
        codec = SessionCodec(aidflow.settings.secret_key)
        lifetime = timedelta(minutes=aidflow.settings.token_minutes)
        now = aidflow.clock()
        headers = dict(scope.get("headers", []))
        cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
        session = codec.load(cookies.get(COOKIE), now) or WebSession.anonymous(now)
        asked = i18n.normalise(_query_lang(scope))
        lang = asked or i18n.normalise(cookies.get(i18n.COOKIE)) or i18n.DEFAULT
        state = scope.setdefault("state", {})
        state["web_session"] = session
        state["lang"] = lang
        secure = scope.get("scheme") == "https"

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                final: WebSession = state["web_session"]
                final = final.renewed(aidflow.clock(), lifetime)
                extra = [
                    (b"set-cookie", _cookie(COOKIE, codec.dump(final), final.expires - int(now.timestamp()), secure))
                ]
                if asked:
                    extra.append(
                        (b"set-cookie", _cookie(i18n.COOKIE, asked, int(LANG_LIFETIME.total_seconds()), secure))
                    )
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_cookies)


def _query_lang(scope: Scope) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang")
    return values[-1] if values else None
