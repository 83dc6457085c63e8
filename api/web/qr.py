"""QR codes for printed sheets: inline SVG, drawn on the server (segno), so they print without scripts."""

from __future__ import annotations

import segno
from markupsafe import Markup
from starlette.requests import Request


def absolute(request: Request, path: str) -> str:
    """The address a phone reaches this site at, as the browser that printed the sheet reached it."""
    return str(request.base_url).rstrip("/") + path


def svg(address: str, *, title: str) -> Markup:
    """A QR code of `address` as inline SVG, scaled by CSS; `title` names it for screen readers."""
    code = segno.make(address, error="m")
    drawn = code.svg_inline(scale=4, border=2, title=title, svgclass="qr", lineclass=None, omitsize=True)
    # segno escapes the title; the rest is its own drawing.
    return Markup(drawn.replace("<svg ", '<svg role="img" ', 1))
