"""What of the policy shapes a workflow (its notice stages and clocks), frozen into each case.

A case stores the spec it started with; its workflow version is the spec's content hash, so the same
spec always means the same version, and a policy change never alters a running case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.access import Role
from engine.calendar import Delay, Unit
from workflows.policy import NoticeStage, Rules

# Raised when the declarations in code change shape, so old and new cases do not share a version.
STANDARD_CODE_REVISION = 1
EMERGENCY_CODE_REVISION = 1
TEMPORARY_CODE_REVISION = 1


def _delay_json(delay: Delay) -> dict[str, Any]:
    return {"length": delay.amount, "unit": str(delay.unit)}


def _delay(raw: Mapping[str, Any]) -> Delay:
    return Delay(int(raw["length"]), Unit(str(raw["unit"])))


def content_version(key: str, revision: int, body: Mapping[str, Any]) -> int:
    """A stable positive version number for a spec (fits a 32-bit integer column)."""
    canonical = json.dumps({"key": key, "revision": revision, "spec": body}, sort_keys=True, ensure_ascii=False)
    return int(hashlib.sha256(canonical.encode()).hexdigest()[:7], 16) or 1


@dataclass(frozen=True)
class StandardSpec:
    """低保/特困: the notice stages, the township's clocks, who decides, the review cycle."""

    notices: tuple[NoticeStage, ...]
    township_opinion: Delay
    decision_after_notice: Delay
    approval_role: str
    review_stable_months: int
    review_unstable_months: int
    grace_months: int
    termination_notice_for: tuple[str, ...]
    termination_notice: NoticeStage
    termination_approved_by_county_for: tuple[str, ...] = ()
    objection_review: Delay | None = None
    suspension_months: int | None = None
    investigation: Delay | None = None  # the aid type's clock on the village review (T3 for 特困)
    total: Delay | None = None  # P9: the whole case from acceptance (absent from specs written before it)
    total_extended: Delay | None = None  # P9: once extended with a reason
    rejection_notice: Delay | None = None  # P11: a refusal's written reasons delivered within it
    verification_start: Delay | None = None  # P4: the 核对 starts within it of the request, or is flagged

    key = "standard"

    @classmethod
    def from_rules(cls, rules: Rules) -> StandardSpec:
        return cls(
            notices=rules.notice_stages,
            township_opinion=rules.township_opinion,
            decision_after_notice=rules.decision_after_notice,
            approval_role=Role.TOWNSHIP_OFFICER if rules.approval_delegated else Role.COUNTY_OFFICER,
            review_stable_months=rules.review_stable_months,
            review_unstable_months=rules.review_unstable_months,
            grace_months=rules.grace_months,
            termination_notice_for=tuple(sorted(rules.termination_notice_for)),
            termination_notice=rules.termination_notice,
            termination_approved_by_county_for=tuple(sorted(rules.termination_approved_by_county_for)),
            objection_review=rules.objection_review,
            suspension_months=rules.suspension_months,
            total=rules.total,
            total_extended=rules.total_extended,
            rejection_notice=rules.rejection_notice,
            verification_start=rules.verification.start_within,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "notices": [n.to_json() for n in self.notices],
            "township_opinion": _delay_json(self.township_opinion),
            "decision_after_notice": _delay_json(self.decision_after_notice),
            "approval_role": self.approval_role,
            "review_stable_months": self.review_stable_months,
            "review_unstable_months": self.review_unstable_months,
            "grace_months": self.grace_months,
            "termination_notice_for": list(self.termination_notice_for),
            "termination_notice": self.termination_notice.to_json(),
        }
        if self.termination_approved_by_county_for:  # absent from specs written before it existed
            body["termination_approved_by_county_for"] = list(self.termination_approved_by_county_for)
        if self.objection_review is not None:
            body["objection_review"] = _delay_json(self.objection_review)
        if self.suspension_months is not None:
            body["suspension_months"] = self.suspension_months
        if self.investigation is not None:  # absent where the aid type sets no clock, as before it existed
            body["investigation"] = _delay_json(self.investigation)
        for name in ("total", "total_extended", "rejection_notice"):
            delay = getattr(self, name)
            if delay is not None:  # absent from specs written before these clocks existed
                body[name] = _delay_json(delay)
        if self.verification_start is not None:  # absent from specs written before it existed
            body["verification_start"] = _delay_json(self.verification_start)
        return body

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> StandardSpec:
        return cls(
            notices=tuple(NoticeStage.from_json(n) for n in raw["notices"]),
            township_opinion=_delay(raw["township_opinion"]),
            decision_after_notice=_delay(raw["decision_after_notice"]),
            approval_role=str(raw["approval_role"]),
            review_stable_months=int(raw["review_stable_months"]),
            review_unstable_months=int(raw["review_unstable_months"]),
            grace_months=int(raw["grace_months"]),
            termination_notice_for=tuple(raw["termination_notice_for"]),
            termination_notice=NoticeStage.from_json(raw["termination_notice"]),
            termination_approved_by_county_for=tuple(raw.get("termination_approved_by_county_for", ())),
            objection_review=_delay(raw["objection_review"]) if raw.get("objection_review") else None,
            suspension_months=int(raw["suspension_months"]) if raw.get("suspension_months") else None,
            investigation=_delay(raw["investigation"]) if raw.get("investigation") else None,
            total=_delay(raw["total"]) if raw.get("total") else None,
            total_extended=_delay(raw["total_extended"]) if raw.get("total_extended") else None,
            rejection_notice=_delay(raw["rejection_notice"]) if raw.get("rejection_notice") else None,
            verification_start=_delay(raw["verification_start"]) if raw.get("verification_start") else None,
        )

    @property
    def version(self) -> int:
        return content_version(self.key, STANDARD_CODE_REVISION, self.to_json())

    def notice(self, slot: str) -> NoticeStage | None:
        return next((n for n in self.notices if n.name == slot), None)


@dataclass(frozen=True)
class EmergencySpec:
    """急难型临时救助: the first-aid and paperwork clocks and the notice after the fact."""

    paperwork: Delay
    post_notice: NoticeStage
    first_aid: Delay | None = None

    key = "emergency"

    @classmethod
    def from_rules(cls, rules: Rules) -> EmergencySpec:
        return cls(
            paperwork=rules.emergency_paperwork,
            post_notice=rules.emergency_post_notice,
            first_aid=rules.emergency_first_aid,
        )

    def to_json(self) -> dict[str, Any]:
        body = {"paperwork": _delay_json(self.paperwork), "post_notice": self.post_notice.to_json()}
        if self.first_aid is not None:  # absent from specs written before it existed
            body["first_aid"] = _delay_json(self.first_aid)
        return body

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> EmergencySpec:
        return cls(
            paperwork=_delay(raw["paperwork"]),
            post_notice=NoticeStage.from_json(raw["post_notice"]),
            first_aid=_delay(raw["first_aid"]) if raw.get("first_aid") else None,
        )

    @property
    def version(self) -> int:
        return content_version(self.key, EMERGENCY_CODE_REVISION, self.to_json())


@dataclass(frozen=True)
class TemporarySpec:
    """支出型临时救助 on the normal channel: its one notice and the total clock from acceptance (K2)."""

    notice: NoticeStage
    total: Delay

    key = "temporary"

    @classmethod
    def from_rules(cls, rules: Rules) -> TemporarySpec:
        return cls(notice=rules.temporary.notice, total=rules.temporary.total)

    def to_json(self) -> dict[str, Any]:
        return {"notice": self.notice.to_json(), "total": _delay_json(self.total)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TemporarySpec:
        return cls(notice=NoticeStage.from_json(raw["notice"]), total=_delay(raw["total"]))

    @property
    def version(self) -> int:
        return content_version(self.key, TEMPORARY_CODE_REVISION, self.to_json())


AnySpec = StandardSpec | EmergencySpec | TemporarySpec
