"""Templates: one Jinja2 environment, the page's language and session handed to every template."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.web import formats, i18n
from api.web.sessions import WebSession

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@cache
def _static_version(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """A static file's address, changing with its content so browsers may cache it for long."""
    return f"/static/{name}?v={_static_version(name)}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(static=static_url, pick=i18n.pick, money=formats.money)
    return env


def lang_of(request: Request) -> str:
    return str(getattr(request.state, "lang", i18n.DEFAULT))


def session_of(request: Request) -> WebSession:
    session: WebSession = request.state.web_session
    return session


def url_with(request: Request, **changes: str | None) -> str:
    """This page's address with query parameters changed (None drops one)."""
    params = dict(request.query_params)
    params.pop("lang", None)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    lang = lang_of(request)
    session = session_of(request)
    actor = getattr(request.state, "actor", None)
    base: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "html_lang": i18n.HTML_LANG[lang],
        "other_lang": "zh" if lang == "en" else "en",
        "csrf_token": session.csrf,
        "actor": actor,
        "logged_in": session.user_id is not None,
        "day": lambda value: formats.day(value, lang),
        "moment": lambda value: formats.moment(value, lang),
        "url_with": lambda **changes: url_with(request, **changes),
        "path": request.url.path,
    }
    base.update(context or {})
    with i18n.speaking(lang):
        html = environment().get_template(template).render(base)
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    response.headers["Cache-Control"] = "no-store"
    return response
