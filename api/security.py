"""Password hashing (argon2id)."""

from __future__ import annotations

import functools
import itertools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """A hash of nothing anyone knows, checked against when the user does not exist, so that a failed
    login takes as long for a missing account as for a wrong password (made on first use: hashing costs
    half a second, which every command's start-up would otherwise pay)."""
    return _hasher.hash("aidflow-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


MIN_PASSWORD = 10


def password_problems(password: str, username: str = "") -> list[str]:
    """Why a new password will not do (empty when it will): length, the common-password list, one
    character or a plain run repeated, the username inside it."""
    from api.common_passwords import COMMON

    problems = []
    lowered = password.lower()
    if len(password) < MIN_PASSWORD:
        problems.append(f"密码至少 {MIN_PASSWORD} 位 / the password needs at least {MIN_PASSWORD} characters")
    if lowered in COMMON or lowered.rstrip("!.?") in COMMON:
        problems.append("这是最常见的密码之一，容易被猜中 / this is one of the most common passwords, easily guessed")
    if len(set(password)) <= 2:
        problems.append("密码不能只由一两个字符重复组成 / the password must not be one or two characters repeated")
    elif _is_run(lowered):
        problems.append("密码不能是连续的数字或字母 / the password must not be a plain run of digits or letters")
    if username and len(username) >= 3 and username.lower() in lowered:
        problems.append("密码不能包含用户名 / the password must not contain the username")
    return problems


def _is_run(text: str) -> bool:
    """Each character one above (or one below) the one before it, as in 1234567890 or abcdefghij."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return steps <= {1, -9} or steps <= {-1, 9}
