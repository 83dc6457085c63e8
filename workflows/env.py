"""The environment of the aid domain: the policy, the field cipher, the calendar, the reactions to acts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import Session

from engine.calendar import WorkCalendar, local_date
from engine.definition import WorkflowDefinition
from engine.secrets import FieldCipher
from engine.tables import Case
from workflows import fund, notices, objections, registry
from workflows.firing import Reaction
from workflows.oversight import supervision
from workflows.policy import Policy, Rules

DEV_SECRET = "aidflow-development-secret-change-me"


def _reactions() -> tuple[Reaction, ...]:
    return (notices.post_on_entry, objections.record_outcome, fund.debit_grant, supervision.on_decision)


@dataclass(frozen=True)
class Env:
    """The policy and the field cipher, loaded once per process (or per rehearsal)."""

    policy: Policy
    cipher: FieldCipher
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    reactions: tuple[Reaction, ...] = field(default_factory=_reactions)

    @classmethod
    def load(cls, policy_path: str | None, secret_key: str) -> Env:
        mtime = Path(policy_path).stat().st_mtime_ns if policy_path and os.path.exists(policy_path) else 0
        return _load(policy_path or None, secret_key, mtime)

    @classmethod
    def of(cls, policy: Policy, secret_key: str) -> Env:
        return cls(policy=policy, cipher=FieldCipher(secret_key), calendar=policy.calendar())

    def rules(self, region_code: str, at: datetime) -> Rules:
        return self.policy.rules(region_code, local_date(at))

    def definition_for(self, case: Case) -> WorkflowDefinition:
        return registry.definition_for(case)

    def definitions(self) -> list[WorkflowDefinition]:
        """Every definition the policy yields, and any older one a running case was seen on."""
        found = {**registry.definitions_of(self.policy), **registry.known()}
        return list(found.values())

    def resolve(self, session: Session, case: Case) -> tuple[WorkflowDefinition, WorkCalendar, Mapping[str, Any]]:
        """For the timer sweep: the case's definition, the calendar, the facts its guards read."""
        facts = {"rules": self.rules(case.region_code, case.updated_at), "calendar": self.calendar}
        return self.definition_for(case), self.calendar, facts


@lru_cache(maxsize=8)
def _load(policy_path: str | None, secret_key: str, _mtime: int) -> Env:
    return Env.of(Policy.load(policy_path), secret_key)
