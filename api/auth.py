"""Bearer tokens and logins; every login and failed login is an audit entry."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlmodel import Session, select

from api.security import check_password
from api.throttle import Throttles
from engine import auditlog
from engine.access import Actor
from engine.accounts import actor_for, issued_before_revocation
from engine.database import Database
from engine.errors import Unauthenticated
from engine.tables import User

_ALGORITHM = "HS256"
# users.id is a 32-bit integer on PostgreSQL: a subject outside 1..2^31-1 names nobody, and must be
# refused here rather than overflow the database's parameter.
_MAX_USER_ID = 2**31 - 1


@dataclass(frozen=True)
class Tokens:
    secret: bytes
    minutes: int

    @classmethod
    def from_secret(cls, secret_key: str, minutes: int) -> Tokens:
        return cls(hashlib.sha256(b"aidflow-token-v1\x00" + secret_key.encode()).digest(), minutes)

    def issue(self, user: User, now: datetime) -> str:
        claims = {
            "sub": str(user.id),
            "name": user.username,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=self.minutes)).timestamp()),
        }
        return jwt.encode(claims, self.secret, algorithm=_ALGORITHM)

    def user_id(self, token: str, now: datetime) -> int:
        """The token's user, if its signature holds and it has not expired by `now` (the app's clock)."""
        return self.subject(token, now)[0]

    def subject(self, token: str, now: datetime) -> tuple[int, int]:
        """The token's user and when it was issued (Unix seconds), if it holds and has not expired."""
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"], "verify_exp": False}
            )
            if int(claims["exp"]) <= now.timestamp():
                raise jwt.ExpiredSignatureError("expired")
            subject = claims["sub"]
            if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()):
                raise ValueError("the subject is not a decimal user id")
            user_id = int(subject)
            if not 1 <= user_id <= _MAX_USER_ID:
                raise ValueError("the subject is out of range")
            issued = claims.get("iat", 0)
            return user_id, int(issued) if isinstance(issued, int) else 0
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise Unauthenticated(
                "登录凭据无效或已过期，请重新登录 / the token is invalid or expired; log in again"
            ) from exc


def token_user_id(tokens: Tokens, token: str | None, now: datetime) -> tuple[int, int]:
    """The account a bearer token names and when it was issued, judged without the database (presence,
    signature, lifetime)."""
    if not token:
        raise Unauthenticated("请先登录 / log in first")
    return tokens.subject(token, now)


def actor_of(session: Session, user_id: int, issued_at: int = 0) -> Actor:
    """The token's account as an actor, if it still exists, is active, and has not had its tokens revoked
    since this one was issued."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise Unauthenticated("账号不存在或已停用 / the account does not exist or is disabled")
    if issued_before_revocation(user, issued_at):
        raise Unauthenticated("登录凭据已被撤销，请重新登录 / the token was revoked; log in again")
    return actor_for(session, user)


def login(
    db: Database, throttles: Throttles, tokens: Tokens, *, username: str, password: str, address: str, now: datetime
) -> str:
    """A token for good credentials; 401 otherwise, 429 when throttled. Audited either way."""
    name = username.strip()[:64]
    pair = f"{address}\x00{name.lower()}"
    throttles.login_address.check(address, "此地址登录失败次数过多 / too many failed logins from this address")
    throttles.login_pair.check(
        pair, "此地址对该账号登录失败次数过多 / too many failed logins for this account from this address"
    )
    throttles.login_user.check(name.lower(), "该账号登录失败次数过多 / too many failed logins for this account")
    with db.session() as session:
        user = session.exec(select(User).where(User.username == name)).first()
        ok = check_password(user.password_hash if user else None, password) and user is not None and user.active
        auditlog.append(
            session,
            at=now,
            actor=name,
            role="login",
            action="login" if ok else "login_failed",
            data={"address": address},
        )
        token = tokens.issue(user, now) if ok and user is not None else None
    if token is None:
        throttles.login_pair.hit(pair)
        throttles.login_address.hit(address)
        throttles.login_user.hit(name.lower())
        raise Unauthenticated("用户名或密码错误 / wrong username or password")
    # The account's ceiling is not reset: it counts guesses from everywhere, and the owner's own
    # success must not clear the way for them.
    throttles.login_pair.reset(pair)
    return token
