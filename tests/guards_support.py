"""Guards judged in memory: a GuardContext over a CaseView built by hand, with no database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from engine.access import Actor, Grant, Role
from engine.calendar import local_date
from engine.definition import CaseView, Guard, GuardContext
from tests.factories import VILLAGE
from workflows.policy import Policy, Rules

AT = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)
CLERK = Actor(username="clerk", grants=(Grant(Role.VILLAGE_OFFICER, VILLAGE),), user_id=2)


@lru_cache(maxsize=4)
def default_rules(region_code: str = VILLAGE, on: datetime = AT) -> Rules:
    """The rules the default policy puts in force in `region_code` on the day of `on`."""
    return Policy.load(None).rules(region_code, local_date(on))


def case_view(
    *,
    data: Mapping[str, Any] | None = None,
    state: str = "village_review",
    workflow: str = "standard",
    region_code: str = VILLAGE,
    applicant_user_id: int | None = None,
    created_by_user_id: int | None = None,
    at: datetime = AT,
    case_id: int = 1,
    version: int = 2,
) -> CaseView:
    """A case as guards see it, made up for the test: only what is given differs from a fresh submission."""
    return CaseView(
        id=case_id,
        workflow=workflow,
        workflow_version=1,
        state=state,
        version=version,
        region_code=region_code,
        data=MappingProxyType(dict(data or {})),
        applicant_user_id=applicant_user_id,
        created_by_user_id=created_by_user_id,
        state_entered_at=at,
        created_at=at,
    )


def guard_context(
    *,
    case: CaseView | None = None,
    data: Mapping[str, Any] | None = None,
    actor: Actor = CLERK,
    role: str = Role.VILLAGE_OFFICER,
    action: str = "village_pass",
    now: datetime = AT,
    facts: Mapping[str, Any] | None = None,
    rules: Rules | None = None,
) -> GuardContext:
    """What a guard is handed when `actor` fires `action` with `data` on `case`; the default policy's rules
    are among the facts unless `rules` says otherwise."""
    seen = case or case_view(at=now)
    looked_up = {"rules": rules or default_rules(seen.region_code, now), **(facts or {})}
    return GuardContext(
        case=seen,
        actor=actor,
        role=role,
        action=action,
        data=MappingProxyType(dict(data or {})),
        now=now,
        facts=MappingProxyType(looked_up),
    )


def reasons(guard: Guard, ctx: GuardContext) -> list[str]:
    """Every reason the guard gives (none when it allows the act)."""
    return list(guard(ctx))
