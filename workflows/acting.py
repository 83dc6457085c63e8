"""Acting on a case: judged once (scope, role, state), the act's data checked, then fired through the engine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlmodel import Session

from engine.access import Actor
from engine.authorize import Decision, load_case
from engine.errors import InvalidInput
from engine.runtime import TransitionRecord
from engine.tables import Case
from workflows.applications import convert
from workflows.common import OBJECT
from workflows.fields import FEN_LIMIT
from workflows.firing import decide, fire_act
from workflows.schemas import ACTION_DATA, ActionData

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


def authorize_act(env: Env, case: Case, actor: Actor, action: str, *, version: int | None = None) -> Decision:
    """Whether the actor may fire `action` on the case, judged once: 403, 409 or 422 as the contract orders
    them (an objection is not an act: it is raised on the notice board)."""
    if action in (OBJECT, "object"):
        raise InvalidInput("异议请在公示栏提出 / objections are raised on the notice board, not as an action")
    return decide(env, case, actor, action, version=version)


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
    """An official's or applicant's act on a case: found in scope, judged once, then carried out."""
    case = load_case(session, case_id, actor)
    decision = authorize_act(env, case, actor, action, version=version)
    return carry_out(
        session, env=env, case=case, decision=decision, version=version, data=data, comment=comment, now=now
    )


def carry_out(
    session: Session,
    *,
    env: Env,
    case: Case,
    decision: Decision,
    version: int,
    data: dict[str, Any],
    comment: str | None,
    now: datetime,
) -> TransitionRecord:
    """An authorized act: its data checked (422), then fired and its domain records kept."""
    _check_fen(data)
    if version == decision.version:
        # A stale version is refused when firing, whatever the data.
        check_action_data(decision.action, data)
    if decision.action == "convert_to_standard":
        return convert(
            session, env=env, case=case, decision=decision, version=version, data=data, comment=comment, now=now
        )
    return fire_act(
        session, env=env, case=case, decision=decision, data=data, version=version, now=now, comment=comment
    )
