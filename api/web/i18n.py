"""Page languages: Simplified Chinese is the source, English comes from the gettext catalog."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
LANGS = ("zh", "en")
DEFAULT = "zh"
COOKIE = "aidflow_lang"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

# Where a "中文 / English" text turns English: a slash and a space before a Latin letter or a quote
# (a Chinese side may end in a full-width bracket with no space before the slash).
_BOTH = re.compile(r" ?/ (?=[A-Za-z'\"(])")

_current: ContextVar[str] = ContextVar("aidflow_page_lang", default=DEFAULT)


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined; it is translated where it is shown."""
    return message


def normalise(value: str | None) -> str | None:
    """A language a page can be shown in, from `?lang=` or the cookie; None when not one of them."""
    if not value:
        return None
    value = value.strip().lower()
    if value.startswith("en"):
        return "en"
    if value.startswith("zh"):
        return "zh"
    return None


@cache
def catalog(lang: str) -> NullTranslations:
    """The compiled catalog (`make install` builds the .mo); a fresh clone without it compiles the
    committed .po in memory, and a .mo older than its .po is not trusted."""
    if lang == DEFAULT:
        return NullTranslations()
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    with po.open("rb") as fp:
        compiled = read_po(fp, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, compiled)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def current() -> str:
    return _current.get()


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Messages looked up in this block are in `lang` (templates and code alike)."""
    token = _current.set(lang)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return catalog(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalog(current()).ngettext(singular, plural, n)


def pick(text: str, lang: str | None = None) -> str:
    """One side of a domain text written "中文 / English" (state labels, error details): the
    engine and workflows speak both at once; a page shows the reader's language only."""
    split = _BOTH.search(text)
    if split is None:
        return text
    zh, en = text[: split.start()], text[split.end() :]
    if (lang or current()) != "en":
        return zh.strip()
    en = en.strip()
    return en[:1].upper() + en[1:]
