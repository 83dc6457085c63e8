"""Regions, officials and their role grants; every grant is an audit entry."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, select

from engine import auditlog
from engine.access import Actor, Grant, Role, parent_code, region_level, valid_region_code
from engine.errors import Conflict, InvalidInput, NotFound
from engine.tables import Region, RoleGrant, User

ASSIGNABLE_ROLES = frozenset(r.value for r in Role if r not in (Role.SYSTEM, Role.PUBLIC))
# The level of region each role is granted on (inspectors and admins: any level, from a village up).
ROLE_LEVEL = {
    Role.APPLICANT: "village",
    Role.VILLAGE_OFFICER: "village",
    Role.TOWNSHIP_OFFICER: "township",
    Role.COUNTY_OFFICER: "county",
}
_LEVEL_ZH = {"village": "村", "township": "乡镇", "county": "县"}
# Lower-case ASCII letters, digits and . _ - only: no capitals (Li and li would be two accounts), no
# letters of other scripts that look like Latin ones (Cyrillic а, Greek ο), no spaces.
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise InvalidInput(
            f"用户名 {username!r} 无效：只能用小写英文字母、数字和 . _ -，以字母或数字开头，至多 64 位 / "
            f"invalid username {username!r}: use lower-case letters a-z, digits and . _ - only, starting with "
            "a letter or digit, at most 64 characters"
        )


def _check_grant(session: Session, role: str, region: str) -> None:
    if role not in ASSIGNABLE_ROLES:
        raise InvalidInput(f"未知角色 / unknown role {role!r}; one of {sorted(ASSIGNABLE_ROLES)}")
    if not valid_region_code(region) or session.get(Region, region) is None:
        raise NotFound(f"区划 {region} 不存在 / region {region} not found")
    level = ROLE_LEVEL.get(Role(role))
    if level is not None and region_level(region) != level:
        raise InvalidInput(
            f"{role} 须授予在{_LEVEL_ZH[level]}级区划上，{region} 是{_LEVEL_ZH.get(region_level(region), '其他')}级 / "
            f"{role} is granted on a {level}, and {region} is a {region_level(region)}"
        )


def add_region(session: Session, *, code: str, name: str, actor: Actor, now: datetime) -> Region:
    """Add a county, township or village; its parent follows from the code and must exist."""
    if not valid_region_code(code):
        raise InvalidInput(f"区划代码须为12位数字 / region code must be 12 digits: {code!r}")
    if session.get(Region, code) is not None:
        raise Conflict(f"区划 {code} 已存在 / region {code} already exists")
    parent = parent_code(code)
    if (
        parent is not None
        and region_level(code) not in ("province", "city", "county")
        and session.get(Region, parent) is None
    ):
        raise InvalidInput(f"上级区划 {parent} 不存在，请先添加 / add the parent region {parent} first")
    known_parent = parent if parent is not None and session.get(Region, parent) is not None else None
    region = Region(code=code, name=name, level=region_level(code), parent_code=known_parent)
    session.add(region)
    session.flush()
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=_role_of(actor),
        action="region_add",
        region_code=code,
        data={"name": name, "level": region.level},
    )
    return region


def add_user(
    session: Session,
    *,
    username: str,
    password_hash: str,
    role: str,
    region: str,
    actor: Actor,
    now: datetime,
    display_name: str = "",
    email: str | None = None,
    id_number_enc: str | None = None,
    id_number_hash: str | None = None,
) -> User:
    """Create an account and grant it one role on one region."""
    check_username(username)
    _check_grant(session, role, region)
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise Conflict(f"用户名 {username} 已被使用 / username {username} is taken")
    user = User(
        username=username,
        password_hash=password_hash,
        display_name=display_name or username,
        email=email,
        id_number_enc=id_number_enc,
        id_number_hash=id_number_hash,
        created_at=now,
    )
    session.add(user)
    session.flush()
    grant_role(session, user=user, role=role, region=region, actor=actor, now=now)
    return user


def grant_role(session: Session, *, user: User, role: str, region: str, actor: Actor, now: datetime) -> None:
    """Grant `role` on `region` (and so on everything below it) to `user`."""
    assert user.id is not None
    _check_grant(session, role, region)
    existing = select(RoleGrant).where(
        RoleGrant.user_id == user.id, RoleGrant.role == role, RoleGrant.region_code == region
    )
    if session.exec(existing).first() is not None:
        raise Conflict(f"{user.username} 已有此授权 / {user.username} already holds {role} on {region}")
    session.add(RoleGrant(user_id=user.id, role=role, region_code=region, granted_at=now))
    session.flush()
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=_role_of(actor),
        action="role_grant",
        region_code=region,
        data={"user": user.username, "role": role},
    )


def actor_for(session: Session, user: User) -> Actor:
    """The acting identity of a stored user, with all their grants."""
    assert user.id is not None
    grants = session.exec(select(RoleGrant).where(RoleGrant.user_id == user.id)).all()
    return Actor(
        username=user.username,
        grants=tuple(Grant(g.role, g.region_code) for g in grants),
        user_id=user.id,
        id_number_hash=user.id_number_hash,
        display_name=user.display_name,
    )


def _role_of(actor: Actor) -> str:
    return actor.grants[0].role if actor.grants else Role.SYSTEM


def disable_user(session: Session, *, username: str, reason: str, actor: Actor, now: datetime) -> User:
    """Stop an account: no login from now on, and the tokens it holds stop working at their next use."""
    user = _user(session, username)
    if not reason.strip():
        raise InvalidInput("停用账号须写明原因 / give the reason for disabling the account")
    if not user.active:
        raise Conflict(f"账号 {username} 已停用 / the account {username} is already disabled")
    user.active = False
    session.add(user)
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=_role_of(actor),
        action="user_disable",
        data={"user": username, "reason": reason.strip()},
    )
    return user


def _user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"用户 {username} 不存在 / no user {username}")
    return user


def revoke_tokens(session: Session, *, username: str, reason: str, actor: Actor, now: datetime) -> User:
    """End every token and page session the account holds now; it may log in again at once (a lost
    phone, a password seen by someone else: change the password too)."""
    user = _user(session, username)
    if not reason.strip():
        raise InvalidInput("撤销登录凭据须写明原因 / give the reason for revoking the account's tokens")
    user.tokens_valid_after = now
    session.add(user)
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=_role_of(actor),
        action="user_revoke",
        data={"user": username, "reason": reason.strip()},
    )
    return user


def issued_before_revocation(user: User, issued_at: int) -> bool:
    """Whether a token or page session issued at `issued_at` (Unix seconds) predates a revocation."""
    cut = user.tokens_valid_after
    return cut is not None and issued_at < int(cut.timestamp()) + (1 if cut.microsecond else 0)
