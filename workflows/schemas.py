"""What an application carries in: the household, its members, income, assets, declared kinship."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from engine.secrets import valid_id_number


def _id_number(value: str) -> str:
    value = value.strip().upper()
    if not valid_id_number(value):
        raise ValueError(
            "身份证号码无效（18位，校验位按 GB 11643）/ not a valid identity number (18 characters, GB 11643)"
        )
    return value


IdNumber = Annotated[str, Field(min_length=18, max_length=18), AfterValidator(_id_number)]
Name = Annotated[str, Field(min_length=1, max_length=50)]
# Money in whole fen: a JSON integer only (never "100" or true), and below a sane bound.
FEN_LIMIT = 10**12
Fen = Annotated[int, Field(strict=True, ge=0, lt=FEN_LIMIT)]


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    id_number: IdNumber
    phone: str = Field(min_length=5, max_length=20, pattern=r"^[0-9+\- ]+$")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    id_number: IdNumber
    relation: str = Field(min_length=1, max_length=20)
    monthly_income_fen: Fen
    severe_disability: bool = False
    serious_illness: bool = False
    can_work: bool = False


class RelativeInOffice(BaseModel):
    """近亲属备案: a household member's close relative among the officials who handle aid."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    id_number: IdNumber
    relation: str = Field(min_length=1, max_length=20)


class ApplicationIn(BaseModel):
    """申请: the household applies as a whole; one member is named applicant."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "aid_type": "dibao",
                    "village": "341122100201",
                    "applicant": {"name": "王小英", "id_number": "341122197001010011", "phone": "13800000000"},
                    "members": [
                        {
                            "name": "王小英",
                            "id_number": "341122197001010011",
                            "relation": "本人",
                            "monthly_income_fen": 20000,
                        },
                        {
                            "name": "李大壮",
                            "id_number": "341122197202020021",
                            "relation": "配偶",
                            "monthly_income_fen": 0,
                            "severe_disability": True,
                        },
                    ],
                    "assets_fen": 500000,
                    "reason": "家庭收入低，生活困难 / low income, hardship",
                    "relatives_in_office": [],
                },
                {
                    "aid_type": "emergency",
                    "village": "341122100201",
                    "applicant": {"name": "王小英", "id_number": "341122197001010011", "phone": "13800000000"},
                    "members": [
                        {
                            "name": "王小英",
                            "id_number": "341122197001010011",
                            "relation": "本人",
                            "monthly_income_fen": 20000,
                        },
                    ],
                    "assets_fen": 0,
                    "reason": "房屋失火 / the house burned",
                    "relatives_in_office": [],
                    "amount_requested_fen": 200000,
                    "cause": "fire",
                },
            ]
        },
    )

    aid_type: Literal["dibao", "tekun", "emergency"]
    village: str = Field(pattern=r"^[0-9]{12}$")
    draft: bool = False
    applicant: Applicant
    members: list[Member] = Field(min_length=1, max_length=30)
    assets_fen: Fen = 0
    reason: str = Field(min_length=1, max_length=2000)
    relatives_in_office: list[RelativeInOffice] = Field(default_factory=list, max_length=30)
    amount_requested_fen: Fen | None = None
    cause: str | None = Field(default=None, min_length=1, max_length=40)
    bank_account: str | None = Field(default=None, min_length=6, max_length=34, pattern=r"^[0-9A-Za-z ]+$")

    @model_validator(mode="after")
    def _emergency_needs_cause(self) -> ApplicationIn:
        if self.aid_type == "emergency" and not self.cause:
            # K7 counts grants per cause; one not named is counted as "other" (其他).
            self.cause = "other"
        if self.aid_type == "emergency" and not self.amount_requested_fen:
            raise ValueError(
                "急难救助须填写申请金额（amount_requested_fen，分，正整数）/ "
                "emergency aid needs amount_requested_fen (a positive whole number of fen)"
            )
        ids = [m.id_number for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError("同一身份证号码登记了两次 / the same identity number is listed twice")
        if self.applicant.id_number.upper() not in {i.upper() for i in ids}:
            raise ValueError("申请人须列为家庭成员之一（members）/ the applicant must be listed among the members")
        return self


# --------------------------------------------------------------------------- the data actions take
#
# One model per action a caller may fire. A key no model names is refused, and so is a value of the
# wrong type. Keys a guard checks for itself (present, non-empty, positive, a valid date) stay optional
# here, so the guard's own reason, which tells the official what to do, is the one they see.

Text = Annotated[str, Field(max_length=2000)]
ShortText = Annotated[str, Field(max_length=200)]
DateText = Annotated[str, Field(max_length=32)]
Username = Annotated[str, Field(strict=True, max_length=64)]
Count = Annotated[int, Field(strict=True, ge=0, lt=1_000_000)]


class ActionData(BaseModel):
    """An action that takes no data: only an empty object is accepted."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ReasonData(ActionData):
    """A refusal, a referral, a withdrawal, an exit: the written reason."""

    reason: Text | None = None


class NoteData(ActionData):
    note: Text | None = None


class Appraisal(ActionData):
    """民主评议 votes: for, against, abstain."""

    votes_for: Count | None = Field(default=None, alias="for")
    against: Count | None = None
    abstain: Count | None = None


class VillagePassData(ActionData):
    investigators: list[Username] | None = Field(default=None, max_length=20)
    visit_date: DateText | None = None
    appraisal: Appraisal | None = None
    proposed_monthly_fen: Fen | None = None


class TownshipPassData(ActionData):
    opinion: Text | None = None


class RequestInfoData(ActionData):
    missing: list[ShortText] | None = Field(default=None, max_length=50)
    due: DateText | None = None


class ProvideInfoData(ActionData):
    note: Text | None = None
    provided: list[ShortText] | None = Field(default=None, max_length=50)


class ApproveData(ActionData):
    monthly_amount_fen: Fen | None = None
    mode: Annotated[str, Field(max_length=20)] | None = None
    care_level: Annotated[str, Field(max_length=40)] | None = None


class CountyVisitData(ActionData):
    visit_date: DateText | None = None
    findings: Text | None = None


class AdjustData(ActionData):
    monthly_amount_fen: Fen | None = None
    reason: Text | None = None


class GrantEmergencyData(ActionData):
    amount_fen: Fen | None = None
    county_override: bool | None = None


class ConvertData(ActionData):
    aid_type: Annotated[str, Field(max_length=20)] | None = None


class FindingData(ActionData):
    finding: Text | None = None


ACTION_DATA: dict[str, type[BaseModel]] = {
    "submit": ActionData,
    "village_pass": VillagePassData,
    "village_reject": ReasonData,
    "request_info": RequestInfoData,
    "provide_info": ProvideInfoData,
    "township_pass": TownshipPassData,
    "township_reject": ReasonData,
    "return_to_village": ReasonData,
    "record_county_visit": CountyVisitData,
    "approve": ApproveData,
    "deny": ReasonData,
    "withdraw": ReasonData,
    "dismiss_objection": FindingData,
    "uphold_objection": FindingData,
    "start_review": ActionData,
    "continue": NoteData,
    "adjust": AdjustData,
    "begin_exit": ReasonData,
    "terminate": ReasonData,
    "approve_termination": NoteData,
    "suspend": ReasonData,
    "resume": NoteData,
    "reject_termination": ReasonData,
    "voluntary_exit": ReasonData,
    "grant_emergency": GrantEmergencyData,
    "refer_to_county": ReasonData,
    "decline": ReasonData,
    "convert_to_standard": ConvertData,
    "complete_paperwork": NoteData,
}
