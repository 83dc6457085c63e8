"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")


ACTION_EXAMPLES: dict[str, dict[str, Any]] = {
    "village_pass": {
        "version": 2,
        "comment": "入户调查完成 / home visit done",
        "data": {
            "investigators": ["village1_a", "village1_b"],
            "visit_date": "2026-10-12",
            "appraisal": {"for": 11, "against": 2, "abstain": 0},
            "proposed_monthly_fen": 70000,
        },
    },
    "approve": {
        "version": 5,
        "data": {
            "monthly_amount_fen": 70000,
            "mode": "household",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        },
    },
    "approve_tekun": {
        "version": 5,
        "data": {
            "monthly_amount_fen": 91000,
            "care_level": "independent",
            "support_mode": "home",
            "basis": "无劳动能力、无生活来源、无法定赡养人 / no work capacity, income or supporter",
        },
    },
    "village_reject": {"version": 3, "data": {"reason": "家庭人均收入高于当地低保标准 / income above the standard"}},
    "grant_emergency": {"version": 2, "data": {"amount_fen": 200000}},
    "township_pass": {
        "version": 4,
        "data": {"opinion": "经核查，收入与财产符合条件 / verified: income and assets qualify"},
    },
    "record_verification": {
        "version": 3,
        "data": {
            "member": 1,
            "monthly_income_fen": 120000,
            "assets_fen": 800000,
            "findings": "存款 8000 元，无车辆，无工商登记 / deposits 8,000 yuan, no vehicle, no business",
        },
    },
    "dispute_verification": {
        "version": 4,
        "data": {"member": 1, "evidence": "该账户为代管的集体资金，附村委会证明 / the account holds village funds"},
    },
    "request_info": {
        "version": 2,
        "data": {"missing": ["户口簿复印件 / household register copy"], "due": "2026-12-10"},
    },
    "dismiss_objection": {
        "version": 5,
        "data": {"finding": "经核实，异议不成立 / verified: the objection is unfounded"},
    },
    "refer_to_county": {"version": 2, "data": {"reason": "超出乡镇审批限额 / over the township's limit"}},
    "terminate": {
        "version": 9,
        "data": {"reason": "家庭收入已超过标准 / income now above the standard", "ground": "no_longer_qualifies"},
    },
}


def action_reference() -> str:
    """The per-action data, as the server checks it (workflows.schemas.ACTION_DATA), for the docs."""
    from workflows.schemas import ACTION_DATA

    lines = [
        "Acts on a case. `data` holds the action's own fields; unknown keys or wrong types are 422, and a "
        "missing field is left to the guard, whose reason says what to supply.",
        "",
        "| action | data fields |",
        "|---|---|",
    ]
    for action, model in ACTION_DATA.items():
        fields = ", ".join(f"`{f.alias or name}`" for name, f in model.model_fields.items()) or "(none)"
        lines.append(f"| `{action}` | {fields} |")
    return "\n".join(lines)


class ActionIn(Strict):
    """An act on a case: the version the caller saw, an optional comment, the act's data."""

    version: int = Field(strict=True, ge=1, description="the case's version as the caller last read it")
    comment: str | None = Field(default=None, max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, description="the act's data; null is taken as {}")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": list(ACTION_EXAMPLES.values())})

    @field_validator("data", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class AuditOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    from_state: str | None
    to_state: str | None
    data: dict[str, Any]
    due_at: datetime | None = None
    hash: str


class ClockOut(BaseModel):
    """One deadline of a case: `step` (the present step's), `total` (P9, the whole case from acceptance,
    paused while a notice runs), `delivery` (P11, the written refusal)."""

    clock: str
    label: str
    due: datetime
    provisional: bool = Field(description="counts working days of a year whose holiday notice is not out (暂定)")
    paused: bool = False


class ApplicationSummary(BaseModel):
    id: int
    reference: str
    workflow: str
    state: str
    state_label: str
    version: int
    village: str
    deadline: datetime | None
    deadline_provisional: bool = Field(
        default=False, description="the deadline counts working days of a year whose holiday notice is not out (暂定)"
    )
    updated_at: datetime


class ApplicationOut(ApplicationSummary):
    """A case as its reader may see it: the summary's fields, and what the reader may do with it."""

    workflow_version: int
    actions: list[str] = Field(description="actions the caller may fire now")
    created_at: datetime
    details: dict[str, Any]
    history: list[AuditOut]
    overall_deadline: datetime | None = Field(
        default=None, description="P9: the whole case's deadline from acceptance, notices left out (while undecided)"
    )
    deadlines: list[ClockOut] = Field(
        default_factory=list, description="every clock the case runs against now (the step's, the whole case's...)"
    )
    tracking_code: str | None = Field(default=None, description="shown once, on the receipt of a new application")


class Page(BaseModel):
    items: list[ApplicationSummary]
    next_cursor: str | None


class QueueOut(Page):
    counts: dict[str, int] = Field(description="cases per state in the caller's whole queue (filters aside)")
    supervision_tasks: int = Field(
        default=0, description="county supervision acts waiting on the caller (GET /api/v1/supervision lists them)"
    )


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    head: str
    first_bad: int | None
    why: str | None = None
    cases_bad: list[int] = []  # cases whose row differs from what their audit entries say
    payment_lines_bad: list[int] = []
    fund_entries_bad: list[int] = []
    funds_bad: list[str] = []
    live_why: list[str] = []


class Problem(BaseModel):
    """An error answer (application/problem+json)."""

    type: str
    title: str
    status: int
    error: str = Field(description="the error's kind, e.g. guard_rejected, stale_version, not_found")
    detail: str = Field(description="what went wrong and what to do, Chinese first, then English")
    reasons: list[str] | None = Field(default=None, description="every reason a guard refused")
    current_version: int | None = Field(default=None, description="the case's version, on a stale write")
    errors: list[dict[str, Any]] | None = Field(default=None, description="each field that failed validation")


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        401: "未登录或凭据无效 / not authenticated",
        403: "角色无权执行 / the caller's role may not do this",
        404: "不存在或不在辖区内 / not found, or outside the caller's scope",
        409: "当前状态不可执行或版本已过期 / not available in this state, or the version is stale",
        422: "请求无效或不符合条件 / invalid request, or a guard refused (reasons given)",
        413: "请求体超过 256 KiB / request body over 256 KiB",
        429: "请求过于频繁 / throttled; see Retry-After",
        503: "数据库或审计链暂不可用 / the database or the audit chain is unavailable",
    }.items()
}


class ObjectionIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "reason": "该户家中有轿车一辆，未申报 / the household owns an undeclared car",
                    "contact": "13900001111",
                },
                {"reason": "收入不实 / income is understated"},
            ]
        },
    )

    reason: str = Field(min_length=2, max_length=2000, description="异议或举报内容 / what is wrong")
    contact: str | None = Field(default=None, max_length=200, description="optional; anonymous is allowed")


class MeOut(BaseModel):
    username: str
    display_name: str
    grants: list[dict[str, str]]


class TrackStep(BaseModel):
    key: str
    label: str
    done: bool
    current: bool


class ObjectionTrackOut(BaseModel):
    """An objection followed by its receipt: received, under review, the finding; never who objected."""

    kind: Literal["objection"] = "objection"
    receipt_code: str
    state: str = Field(description="under_review, upheld or dismissed")
    status_text: str
    next_step: str
    finding: str | None = Field(description="the township's written finding, once made")
    received_at: datetime
    decided_at: datetime | None
    steps: list[TrackStep]


class TrackOut(BaseModel):
    """The public tracking page, in the language asked for; no personal data."""

    reference: str
    state: str
    state_label: str
    status_text: str = Field(description="where the case is, in plain words")
    next_step: str = Field(description="what happens next")
    deadline: datetime | None = Field(description="by when the present step is due (UTC)")
    deadline_local: str | None = Field(description="the same in Beijing time, as shown to people")
    submitted_at: datetime | None = Field(description="null for a draft")
    updated_at: datetime
    reason: str | None = Field(description="the written reason when refused, withdrawn or ending")
    converted_from: str | None = Field(
        default=None, description="an emergency case's reference, when this is what it became"
    )
    deadline_provisional: bool = Field(
        default=False, description="the step's deadline counts days of a year whose holiday notice is not out (暂定)"
    )
    overall_deadline: datetime | None = Field(
        default=None, description="P9: by when the whole case is to be decided, notices left out (while undecided)"
    )
    overall_provisional: bool = False
    appeal: dict[str, Any] | None = Field(
        default=None, description="P12: the decision's appeal window {review_days, lawsuit_months, review_body}"
    )
