"""Typed domain errors; api/errors.py maps each class to one HTTP status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class WorkflowError(Exception):
    """Base of every error the engine and the workflows raise on purpose."""

    code = "workflow_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(WorkflowError):
    """The object does not exist, or lies outside the caller's scope (the two are not told apart)."""

    code = "not_found"


class Unauthenticated(WorkflowError):
    """No valid credentials were presented."""

    code = "unauthenticated"


class RoleNotPermitted(WorkflowError):
    """The caller's role may never fire this action."""

    code = "role_not_permitted"


class TransitionNotAllowed(WorkflowError):
    """The action exists but is not available from the case's present state."""

    code = "transition_not_allowed"

    def __init__(self, action: str, state: str, detail: str | None = None) -> None:
        default = (
            f"操作「{action}」在当前状态「{state}」下不可执行 / action '{action}' is not available in state '{state}'"
        )
        super().__init__(detail or default)
        self.action = action
        self.state = state


class StaleVersion(WorkflowError):
    """Someone else changed the case since the caller read it."""

    code = "stale_version"

    def __init__(self, case_id: int, expected: int, actual: int | None) -> None:
        super().__init__(
            f"案件已被他人更新（您看到的是第 {expected} 版，当前为第 {actual} 版），请刷新后重试 / "
            f"the case was changed by someone else (you saw version {expected}, it is now {actual}); "
            "reload and try again"
        )
        self.case_id = case_id
        self.expected = expected
        self.actual = actual


class GuardRejected(WorkflowError):
    """A guard refused the transition; `reasons` are shown to the official."""

    code = "guard_rejected"

    def __init__(self, action: str, state: str, reasons: Sequence[str], *, about_actor: Sequence[str] = ()) -> None:
        self.action = action
        self.state = state
        self.reasons = tuple(reasons)
        # The reasons that judged the person rather than the act (recusal, separation of duties):
        # such a refusal is itself put on the audit trail, after the refused act is rolled back.
        self.about_actor = tuple(about_actor)
        self.attempt: Attempt | None = None
        super().__init__("；".join(self.reasons))


@dataclass(frozen=True)
class Attempt:
    """Who tried what, where: enough to record a refusal once the attempt is rolled back."""

    actor: str
    role: str
    region_code: str
    case_id: int | None


class InvalidInput(WorkflowError):
    """The request's data is malformed or incomplete."""

    code = "invalid_input"


class Conflict(WorkflowError):
    """The request conflicts with data already recorded (a duplicate, a double payment)."""

    code = "conflict"


class TooManyRequests(WorkflowError):
    """Throttled: too many attempts in a short time."""

    code = "too_many_requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class DefinitionInvalid(WorkflowError):
    """A workflow definition failed validation at load time."""

    code = "definition_invalid"


class AuditChainBroken(WorkflowError):
    """The audit chain does not verify; `first_bad` names the first entry that does not match."""

    code = "audit_chain_broken"

    def __init__(self, first_bad: int, why: str) -> None:
        super().__init__(f"audit entry {first_bad}: {why}")
        self.first_bad = first_bad
        self.why = why


class AuditUnavailable(WorkflowError):
    """The audit chain cannot be appended to (its head row is gone): nothing may change unrecorded."""

    code = "audit_unavailable"
