"""近亲属备案: officials declare their close relatives; every application's household is matched against them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import Session

from engine import auditlog
from engine.access import Actor
from engine.errors import Conflict, InvalidInput, NotFound
from engine.secrets import valid_id_number
from engine.tables import User
from workflows.base import role_of
from workflows.models import OfficialRelative

if TYPE_CHECKING:
    from workflows.env import Env

RELATIONS = ("配偶", "父母", "子女", "兄弟姐妹", "祖父母", "外祖父母", "孙子女", "外孙子女", "其他近亲属")
_RELATIVES = OfficialRelative.__table__  # type: ignore[attr-defined]
_USERS = User.__table__  # type: ignore[attr-defined]


def declare_relative(
    session: Session, *, env: Env, actor: Actor, username: str, name: str, id_number: str, relation: str, now: datetime
) -> OfficialRelative:
    """An official's close relative put on file (the identity number kept only as its keyed hash and encrypted)."""
    if not valid_id_number(id_number):
        raise InvalidInput(f"身份证号码无效（校验位不符）/ invalid identity number: {id_number}")
    if relation not in RELATIONS:
        raise InvalidInput(f"亲属关系应为 {'、'.join(RELATIONS)} 之一 / relation must be one of {', '.join(RELATIONS)}")
    if not name.strip() or len(name) > 50:
        raise InvalidInput("姓名须填写（50 字以内）/ a name of at most 50 characters is required")
    user_id = session.execute(select(_USERS.c.id).where(_USERS.c.username == username)).scalar_one_or_none()
    if user_id is None:
        raise NotFound(f"用户 {username} 不存在 / no user {username}")
    hashed = env.cipher.lookup_hash(id_number)
    known = select(_RELATIVES.c.id).where(_RELATIVES.c.user_id == user_id, _RELATIVES.c.id_hash == hashed)
    if session.execute(known).first() is not None:
        raise Conflict(f"该亲属已备案 / this relative of {username} is already on file")
    row = OfficialRelative(
        user_id=int(user_id),
        name_enc=env.cipher.encrypt(name.strip()),
        id_hash=hashed,
        relation=relation,
        declared_at=now,
    )
    session.add(row)
    session.flush()
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action="relative_declared",
        data={"official": username, "relation": relation, "relative_id": row.id},
    )
    return row


def declared(session: Session) -> dict[str, list[tuple[str, str]]]:
    """Every declared relative's keyed hash → the officials who declared them, with the relation."""
    rows = session.execute(
        select(_RELATIVES.c.id_hash, _USERS.c.username, _RELATIVES.c.relation).join(
            _USERS, _USERS.c.id == _RELATIVES.c.user_id
        )
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for hashed, username, relation in rows:
        found.setdefault(str(hashed), []).append((str(username), str(relation)))
    return found
