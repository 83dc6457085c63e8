"""Dates, times and money as people read them: the Chinese way in Chinese, Beijing time always."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date, format_time

from engine.calendar import SHANGHAI

_LOCALE = {"zh": "zh_CN", "en": "en_GB"}
_DATE = {"zh": "y年M月d日（EEEE）", "en": "EEEE d MMMM y"}


def day(value: date | datetime, lang: str) -> str:
    """2026年12月8日（星期二） / Tuesday 8 December 2026 (a moment is read in Beijing time)."""
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    return format_date(value, _DATE[lang], locale=_LOCALE[lang])


def moment(value: datetime, lang: str) -> str:
    """A date and time in Beijing: 2026年12月8日（星期二）14:30 / Tuesday 8 December 2026, 14:30."""
    local = value.astimezone(SHANGHAI)
    clock = format_time(local, "HH:mm", locale=_LOCALE[lang])
    return f"{day(local, lang)}{clock}" if lang == "zh" else f"{day(local, lang)}, {clock}"


def money(fen: int) -> str:
    """¥1,800.00 from 180000 fen: whole-number arithmetic, never a float."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"
