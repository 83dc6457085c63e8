"""Codes a person can read aloud and copy: tracking codes and objection receipts."""

from __future__ import annotations

import re
import secrets

# No look-alikes: no 0/O, no 1/I/L (and so no confusion when read over the phone).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
GROUPS, GROUP_SIZE = 5, 4  # 20 symbols of 31: 99 bits, well over the 80 a guess must face
RECEIPT_PREFIX = "YY"  # 异议: an objection's receipt, told apart from a case's code at a glance
_SEPARATORS = re.compile(r"[\s\-‐‑–—_·.]+")


def new_code() -> str:
    """A fresh code in groups: 7K2M-QX9P-4HDT-WB8N-C3RF."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_SIZE))
    return grouped(symbols)


def grouped(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP_SIZE] for i in range(0, len(symbols), GROUP_SIZE))


def new_receipt_code() -> str:
    """An objection's receipt: YY-7K2M-QX9P-4HDT-WB8N-C3RF."""
    return f"{RECEIPT_PREFIX}-{new_code()}"


def normalise(typed: str) -> str:
    """The code as typed (any case, spaces or dashes between groups) in the form that is hashed."""
    return _SEPARATORS.sub("", typed).upper()


def is_new_style(code: str) -> bool:
    """A normalised code that could have been issued by `new_code` (older codes are URL-safe base64)."""
    return len(code) == GROUPS * GROUP_SIZE and all(c in ALPHABET for c in code)


def receipt_form(typed: str) -> str | None:
    """The stored form of a new-style objection receipt typed any which way, or None if it is not one."""
    code = normalise(typed)
    rest = code[len(RECEIPT_PREFIX) :]
    if code.startswith(RECEIPT_PREFIX) and is_new_style(rest):
        return f"{RECEIPT_PREFIX}-{grouped(rest)}"
    return None
