"""The case file: what a case records of the household and of every act on it, typed and checked.

A case keeps its file as JSON (cases.data). Each act's effect patches it; the whole file is checked
against these models when it is written (an act whose records do not fit is refused with nothing
written) and parsed by them when it is read. `file_version` says which shape a row was written in:
version 1 kept the applicant's phone and e-mail in clear, version 2 encrypts them; both read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import InvalidInput
from engine.secrets import FieldCipher
from workflows import aidtypes

FILE_VERSION = 2


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Anything(BaseModel):
    """The aid-type part of a file whose aid type is no longer registered: kept as it is."""

    model_config = ConfigDict(extra="allow", frozen=True)


class _Open(BaseModel):
    """A record that carries the act's own fields beside who did it (older acts added fields over time)."""

    model_config = ConfigDict(extra="allow", frozen=True)


# --------------------------------------------------------------------------- people


class Disability(_Part):
    category: Literal["physical", "intellectual", "mental", "visual", "hearing", "speech", "multiple"]
    grade: int = Field(ge=1, le=4)


class Person(_Part):
    """Someone named on the file: the identity number encrypted, with its keyed hash beside it."""

    name: str
    id_enc: str | None = None
    id_hash: str | None = None


class Applicant(Person):
    phone_enc: str | None = None
    email_enc: str | None = None
    # File version 1 kept these in clear; read, never written again.
    phone: str | None = None
    email: str | None = None

    def phone_in(self, cipher: FieldCipher) -> str | None:
        return cipher.decrypt(self.phone_enc) if self.phone_enc else self.phone

    def email_in(self, cipher: FieldCipher) -> str | None:
        return cipher.decrypt(self.email_enc) if self.email_enc else self.email


class Member(Person):
    relation: str
    monthly_income_fen: int = Field(ge=0)
    severe_disability: bool = False
    serious_illness: bool = False
    can_work: bool = False
    disability: Disability | None = None


class Relative(Person):
    relation: str


class Supporter(Person):
    """法定赡养、抚养、扶养义务人 (T1): a person bound to support the applicant, and whether they can."""

    relation: str
    able_to_support: bool


# --------------------------------------------------------------------------- records of acts


class Stamp(_Open):
    """Who did it, as whom, when (ISO-8601): every decisive act's record starts so."""

    by: str
    role: str
    at: str


class Appraisal(_Part):
    """民主评议: the tally of the village's vote."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    for_: int = Field(alias="for", ge=0)
    against: int = Field(ge=0)
    abstain: int = Field(ge=0)


class VillagePass(Stamp):
    investigators: list[str] = Field(default_factory=list)
    visit_date: str | None = None
    appraisal: Appraisal | None = None
    proposed_monthly_fen: int | None = None


class Opinion(Stamp):
    opinion: str = ""


class Reasoned(Stamp):
    reason: str = ""


class Approval(Stamp):
    monthly_amount_fen: int | None = None
    mode: str = "household"
    basis: str = ""  # 审批依据 (older approvals have none)


class CountyVisit(Stamp):
    visit_date: str | None = None
    findings: str = ""


class MemberCheck(_Part):
    """One person's 核对 report: what the checking body found of their income and assets (P4)."""

    name: str
    monthly_income_fen: int = Field(ge=0)
    assets_fen: int = Field(ge=0)
    findings: str = ""
    by: str
    role: str
    at: str
    source: Literal["entered", "platform"] = "entered"
    batch: str | None = None  # the platform file's sha256, for a report imported from one


class Dispute(Stamp):
    """P5: the household disputes a report with evidence; the person named (or all) must be re-checked."""

    evidence: str
    member: str | None = None  # the disputed person's identity hash; none: the whole report


class Verification(_Part):
    """家庭经济状况核对: asked for at acceptance and at each periodic review, reported per member (by
    identity hash), disputed by the household."""

    requested_at: str
    members: dict[str, MemberCheck] = Field(default_factory=dict)
    disputes: list[Dispute] = Field(default_factory=list)


class InfoRequest(Stamp):
    missing: list[str] = Field(default_factory=list)
    due: str | None = None
    from_state: str


class ObjectionNote(_Open):
    """An objection while it is reviewed (the public's reason is in its own table, not here)."""

    stage: str
    notice_id: int | None = None
    objection_id: int | None = None
    at: str


class Flag(_Part):
    """A breach recorded on the case: a missed clock, a shared bank account."""

    kind: str
    state: str
    at: str


class Grant(Stamp):
    amount_fen: int | None = None
    county_override: bool = False


class Exit(Stamp):
    how: str
    reason: str = ""


class Link(_Part):
    """Another case this one became, or came from."""

    id: int
    reference: str


# --------------------------------------------------------------------------- the file


class CaseFile(BaseModel):
    """Everything a case records; a key absent and a key set to null mean the same: not (or no longer) so.

    Keys beyond these belong to the case's aid type (its intake and decision terms) and are checked
    against that type's `file_model`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    file_version: int = 1
    aid_type: str
    spec: dict[str, Any]
    applicant: Applicant
    members: list[Member] = Field(default_factory=list)
    supporters: list[Supporter] = Field(default_factory=list)
    assets_fen: int = 0
    reason: str | None = None
    relatives_in_office: list[Relative] = Field(default_factory=list)
    filed_relative: bool = False
    amount_requested_fen: int | None = None
    cause: str | None = None
    bank_account_enc: str | None = None
    bank_account_hash: str | None = None
    recused: list[str] = Field(default_factory=list)
    shared_bank_account_with: list[int] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    converted_from: Link | None = None
    converted_to: Link | None = None

    # the procedure's records, in the order a case meets them
    submitted: Stamp | None = None
    accepted_at: str | None = None  # 受理: the submission; the township's clocks (P6, P9) run from it
    notice_spans: list[_Open] = Field(default_factory=list)  # notices left: their time is off the clocks
    deadline_extension: Reasoned | None = None  # P9: the whole case's limit extended once, with a reason
    info_request: InfoRequest | None = None
    info_requests: list[_Open] = Field(default_factory=list)
    village_pass: VillagePass | None = None
    village_actors: list[str] = Field(default_factory=list)
    proposed_monthly_fen: int | None = None
    township_pass: Opinion | None = None
    township_actors: list[str] = Field(default_factory=list)
    township_passers: list[str] = Field(default_factory=list)
    returned: Reasoned | None = None
    county_visit: CountyVisit | None = None
    verification: Verification | None = None
    verifications: list[_Open] = Field(default_factory=list)  # earlier reports, kept when a review asks anew
    objection: ObjectionNote | None = None
    objections: list[_Open] = Field(default_factory=list)
    approval: Approval | None = None
    monthly_amount_fen: int | None = None
    mode: str | None = None
    review_class: str | None = None
    refusal: Reasoned | None = None
    withdrawal: Reasoned | None = None
    delivery: _Open | None = None  # P11: when and how the written refusal was delivered
    activated_at: str | None = None

    # emergency aid
    grant: Grant | None = None
    referral: Reasoned | None = None
    paperwork: _Open | None = None

    # the active beneficiary: reviews and the end of support
    review: Stamp | None = None
    reviews: list[_Open] = Field(default_factory=list)
    adjustments: list[_Open] = Field(default_factory=list)
    job_refusals: list[_Open] = Field(default_factory=list)  # E5: job offers a member able to work refused
    grace: Reasoned | None = None
    suspension: _Open | None = None
    suspensions: list[_Open] = Field(default_factory=list)
    termination: _Open | None = None
    terminations_refused: list[_Open] = Field(default_factory=list)
    exited: Exit | None = None

    @classmethod
    def read(cls, data: Mapping[str, Any]) -> CaseFile:
        """The file of a stored case (any file version), its aid type's own part checked too."""
        found = cls.model_validate(dict(data))
        found.aid_part()
        return found

    def aid_part(self) -> BaseModel:
        """The keys the aid type adds to the file (特困: orphan, care level, support mode), as its model."""
        aid = aidtypes.find(self.aid_type)
        model = aid.file_model if aid is not None else _Anything
        return model.model_validate(self.model_extra or {})

    @property
    def household_size(self) -> int:
        return len(self.members)

    @property
    def household_income_fen(self) -> int:
        return sum(m.monthly_income_fen for m in self.members)

    def flagged(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.flags)


def check(data: Mapping[str, Any]) -> CaseFile:
    """The file as an act leaves it, checked before it is kept: a record that does not fit refuses the act."""
    try:
        return CaseFile.read(data)
    except ValidationError as exc:
        where = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        names = ", ".join(where[:10])
        raise InvalidInput(f"案卷记录不完整或有误：{names} / the case file would not be valid: {names}") from None
