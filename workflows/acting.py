"""Acting on a case: the act's data checked, then fired through the engine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlmodel import Session

from engine.access import Actor
from engine.definition import WorkflowDefinition
from engine.errors import (
    InvalidInput,
    RoleNotPermitted,
    TransitionNotAllowed,
)
from engine.runtime import (
    TransitionRecord,
    acting_role,
    load_case,
    roles_on_case,
)
from engine.store import Case
from workflows.applications import convert
from workflows.common import OBJECT
from workflows.firing import fire_act
from workflows.schemas import ACTION_DATA, FEN_LIMIT, ActionData

if TYPE_CHECKING:
    from workflows.env import Env


def _bad_fen(data: Any, path: str = "") -> list[str]:
    """Every `*_fen` value in an act's data that is not a whole number of fen in [0, FEN_LIMIT)."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).endswith("_fen") and value is not None:
                whole = isinstance(value, int) and not isinstance(value, bool)
                if not whole or not 0 <= value < FEN_LIMIT:
                    found.append(where)
                    continue
            found.extend(_bad_fen(value, where))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found.extend(_bad_fen(item, f"{path}[{i}]"))
    return found


def _check_fen(data: Mapping[str, Any]) -> None:
    bad = _bad_fen(data)
    if bad:
        names = ", ".join(bad)
        raise InvalidInput(
            f"金额须为分为单位的非负整数且小于 {FEN_LIMIT}：{names} / "
            f"amounts must be whole, non-negative numbers of fen below {FEN_LIMIT}: {names}"
        )


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def check_action_data(action: str, data: Any) -> None:
    """The act's data against its action's model: an unknown key, or a value of the wrong type, is
    refused with the keys named. An action without a model takes no data."""
    model = ACTION_DATA.get(action, ActionData)
    if not isinstance(data, Mapping):
        raise InvalidInput("操作数据须为 JSON 对象 / the action's data must be a JSON object")
    try:
        model.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors()
        unknown = sorted({_where(e["loc"]) for e in errors if e["type"] == "extra_forbidden"})
        invalid = sorted({_where(e["loc"]) for e in errors if e["type"] != "extra_forbidden"})
        parts: list[str] = []
        if unknown:
            names = ", ".join(unknown)
            parts.append(f"操作数据中有未知字段 {names} / unknown field in the action's data: {names}")
        if invalid:
            names = ", ".join(invalid)
            parts.append(
                f"操作数据中以下字段的类型或取值无效：{names} / wrong type or value in the action's data: {names}"
            )
        raise InvalidInput("；".join(parts)) from None


def perform_action(
    session: Session,
    *,
    env: Env,
    actor: Actor,
    case_id: int,
    action: str,
    version: int,
    data: dict[str, Any],
    comment: str | None,
    now: datetime,
) -> TransitionRecord:
    """An official's or applicant's act on a case: checked by the engine, then its domain records."""
    case = load_case(session, case_id, actor)
    _check_fen(data)
    if version == case.version:
        # 403 and 409 come before a body's 422, as the contract orders them (a stale version is
        # refused when firing, whatever the data).
        check_may_act(env, case, actor, action)
        check_action_data(action, data)
    else:
        _check_action_name(env, case, actor, action)
    if action == "convert_to_standard":
        return convert(session, env=env, actor=actor, case=case, version=version, data=data, comment=comment, now=now)
    return fire_act(
        session, env=env, case=case, actor=actor, action=action, data=data, version=version, now=now, comment=comment
    )


def check_may_act(env: Env, case: Case, actor: Actor, action: str) -> None:
    """The actor may fire `action` on the case now, as far as role and state go: else 403 or 409."""
    acting_role(_check_action_name(env, case, actor, action), case, actor, action)


def _check_action_name(env: Env, case: Case, actor: Actor, action: str) -> WorkflowDefinition:
    if action in (OBJECT, "object"):
        raise InvalidInput("异议请在公示栏提出 / objections are raised on the notice board, not as an action")
    definition = env.definition_for(case)
    if not definition.transitions_for(action):
        _refuse_foreign_action(env, case, actor, action)
    return definition


def _refuse_foreign_action(env: Env, case: Case, actor: Actor, action: str) -> None:
    """An action of another workflow (approve on an emergency case): 409 to a role that fires it
    there, 403 to one that never does; a name no workflow knows is bad input (422)."""
    roles = frozenset().union(*(t.roles for d in env.definitions() for t in d.transitions_for(action)))
    if not roles:
        raise InvalidInput(f"未知操作「{action}」/ unknown action '{action}'")
    if roles_on_case(actor, case) & roles:
        raise TransitionNotAllowed(
            action,
            case.state,
            f"「{action}」不适用于此类申请（{env.definition_for(case).title.split(' / ')[0]}）/ "
            f"'{action}' does not apply to this kind of case ({case.workflow})",
        )
    raise RoleNotPermitted(f"您的角色无权执行「{action}」/ your role may not perform '{action}'")
