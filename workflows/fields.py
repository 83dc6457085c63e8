"""The field types every intake model shares: identity numbers, names, money in fen."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from engine.secrets import valid_id_number


def _id_number(value: str) -> str:
    value = value.strip().upper()
    if not valid_id_number(value):
        raise ValueError(
            "身份证号码无效（18位，校验位按 GB 11643）/ not a valid identity number (18 characters, GB 11643)"
        )
    return value


# 17 digits and a check character (a digit or X), the check itself by GB 11643 after the pattern.
IdNumber = Annotated[
    str, Field(min_length=18, max_length=18, pattern=r"^[0-9]{17}[0-9Xx]$"), AfterValidator(_id_number)
]
Name = Annotated[str, Field(min_length=1, max_length=50)]
# Money in whole fen: a JSON integer only (never "100" or true), and below a sane bound.
FEN_LIMIT = 10**12
Fen = Annotated[int, Field(strict=True, ge=0, lt=FEN_LIMIT)]
