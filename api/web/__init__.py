"""HTML pages for every kind of user: Jinja2 templates, gettext catalogs, sessions by signed cookie.

`mount(app)` adds the pages, their static files, the error pages and the middleware; a new page is
a route in a router of this package, rendered with `render()` from a template extending base.html.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web import apply, cases, errors, finance, inspector, pages, public, receipts, reports, supervision
from api.web.headers import SecurityHeaders
from api.web.render import STATIC
from api.web.sessions import PageState


def mount(app: FastAPI) -> None:
    """Pages, static files and error pages on `app`; call after the API's own middleware is added,
    so that the security headers wrap every answer."""
    app.include_router(pages.router)
    app.include_router(cases.router)
    app.include_router(apply.router)
    app.include_router(public.router)
    app.include_router(inspector.router)
    app.include_router(receipts.router)
    app.include_router(reports.router)
    app.include_router(finance.router)
    app.include_router(supervision.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
    app.add_middleware(PageState)
    app.add_middleware(SecurityHeaders)
