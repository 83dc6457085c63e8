"""What an application carries in: the household, its members, income, assets, declared kinship."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, PrivateAttr, model_validator
from pydantic.json_schema import JsonSchemaValue

from workflows.fields import Fen, IdNumber, Name


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    id_number: IdNumber
    phone: str = Field(min_length=5, max_length=20, pattern=r"^[0-9+\- ]+$")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")


class Disability(BaseModel):
    """A member's disability as the 残疾证 records it: the category and the grade (1 the most severe)."""

    model_config = ConfigDict(extra="forbid")

    category: Literal["physical", "intellectual", "mental", "visual", "hearing", "speech", "multiple"]
    grade: int = Field(strict=True, ge=1, le=4)


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    id_number: IdNumber
    relation: str = Field(min_length=1, max_length=20)
    monthly_income_fen: Fen
    severe_disability: bool = False
    serious_illness: bool = False
    can_work: bool = False
    disability: Disability | None = None


class RelativeInOffice(BaseModel):
    """近亲属备案: a household member's close relative among the officials who handle aid."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    id_number: IdNumber
    relation: str = Field(min_length=1, max_length=20)


class ApplicationIn(BaseModel):
    """申请: the household applies as a whole; one member is named applicant."""

    model_config = ConfigDict(
        extra="allow",  # the aid type's own fields: checked against its intake model, the rest refused
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
                {
                    "aid_type": "tekun",
                    "village": "341122100201",
                    "applicant": {"name": "王老汉", "id_number": "341122195001010012", "phone": "13800000000"},
                    "members": [
                        {
                            "name": "王老汉",
                            "id_number": "341122195001010012",
                            "relation": "本人",
                            "monthly_income_fen": 0,
                            "disability": {"category": "physical", "grade": 2},
                        },
                    ],
                    "assets_fen": 0,
                    "reason": "年老无劳动能力，无生活来源，子女无赡养能力 / old, no income, no able supporter",
                    "relatives_in_office": [],
                    "supporters": [
                        {
                            "name": "王大山",
                            "id_number": "341122197503030012",
                            "relation": "子女",
                            "able_to_support": False,
                        }
                    ],
                },
                {
                    "aid_type": "temporary",
                    "village": "341122100201",
                    "applicant": {"name": "王小英", "id_number": "341122197001010011", "phone": "13800000000"},
                    "members": [
                        {
                            "name": "王小英",
                            "id_number": "341122197001010011",
                            "relation": "本人",
                            "monthly_income_fen": 90000,
                            "serious_illness": True,
                        },
                    ],
                    "assets_fen": 0,
                    "reason": "住院自付医疗费用超出家庭承受能力 / hospital costs beyond the household's means",
                    "relatives_in_office": [],
                    "amount_requested_fen": 300000,
                    "cause": "illness",
                },
            ]
        },
    )

    aid_type: str = Field(min_length=1, max_length=20, description="one of the registered aid types")
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

    # The aid type's own fields (workflows.aidtypes: its `intake`), checked once the type is known.
    _intake: BaseModel | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _aid_type_and_its_fields(self) -> ApplicationIn:
        from workflows import aidtypes

        aid = aidtypes.find(self.aid_type)
        if aid is None:
            known = ", ".join(aidtypes.keys())
            raise ValueError(f"救助类型须为 {known} 之一 / aid_type must be one of {known}")
        # Fields beyond the common ones are the aid type's; any it does not name is refused.
        self._intake = aid.intake.model_validate(dict(self.model_extra or {}))
        self.__pydantic_extra__ = self._intake.model_dump(mode="json")
        if aid.workflow == "temporary":
            self._temporary_fields()
        if aid.workflow == "emergency" and not self.cause:
            # K7 counts grants per cause; one not named is counted as "other" (其他).
            self.cause = "other"
        if aid.workflow == "emergency" and not self.amount_requested_fen:
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

    def _temporary_fields(self) -> None:
        """支出型临时救助: an amount asked for, and a cause the policy caps (K6)."""
        from workflows.policy import TEMPORARY_CAUSES

        self.cause = self.cause or "other"
        if self.cause not in TEMPORARY_CAUSES:
            listed = ", ".join(TEMPORARY_CAUSES)
            raise ValueError(f"支出型临时救助事由（cause）须为 {listed} 之一 / cause must be one of {listed}")
        if not self.amount_requested_fen:
            raise ValueError(
                "临时救助须填写申请金额（amount_requested_fen，分，正整数）/ "
                "temporary aid needs amount_requested_fen (a positive whole number of fen)"
            )

    @property
    def intake(self) -> BaseModel:
        """The aid type's own fields, checked."""
        assert self._intake is not None, "set by the validator"
        return self._intake

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The aid types registered now: the values of `aid_type`, and each one's own fields."""
        from workflows import aidtypes

        schema = handler.resolve_ref_schema(handler(core_schema))
        properties = schema.setdefault("properties", {})
        properties["aid_type"] = {**properties.get("aid_type", {}), "enum": list(aidtypes.keys())}
        for aid in aidtypes.all():
            own = _inlined(aid.intake.model_json_schema())
            for name, field in (own.get("properties") or {}).items():
                described = properties.setdefault(name, {**field, "description": ""})
                described["description"] = "; ".join(
                    x for x in (described.get("description"), f"{aid.key}: {aid.label}") if x
                )
        schema["additionalProperties"] = False
        return schema


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its local $refs replaced by what they name (an intake model's own types)."""
    defs = schema.get("$defs") or {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    found = walk(schema)
    assert isinstance(found, dict)
    return found


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


class TerminateData(ReasonData):
    """T6: the written reason, the ground from the list, and for a 特困 minor come of age, school."""

    ground: ShortText | None = None
    school: ShortText | None = None


class JobRefusalData(ActionData):
    """E5: a job offered to a member able to work (1-based position on the file) and refused."""

    member: Count | None = None
    offer: Text | None = None
    offered_on: DateText | None = None


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
    care_level: Annotated[str, Field(max_length=40)] | None = None  # 特困 (T5)
    support_mode: Annotated[str, Field(max_length=40)] | None = None  # 特困: home or institution
    basis: Text | None = None  # 审批依据: the written basis of the decision


class CountyVisitData(ActionData):
    visit_date: DateText | None = None
    findings: Text | None = None


Position = Annotated[int, Field(strict=True, ge=1, le=100)]


class VerificationData(ActionData):
    """P4: one member's 核对 report: the member by their position on the file (1 for the first)."""

    member: Position | None = None
    monthly_income_fen: Fen | None = None
    assets_fen: Fen | None = None
    findings: Text | None = None


class DisputeData(ActionData):
    """P5: the grounds and evidence; the member disputed, or none for the whole report."""

    member: Position | None = None
    evidence: Text | None = None


class AdjustData(ActionData):
    monthly_amount_fen: Fen | None = None
    reason: Text | None = None


class GrantEmergencyData(ActionData):
    amount_fen: Fen | None = None
    county_override: bool | None = None
    payee: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    method: Literal["cash", "card", "bank_transfer"] | None = None


class GrantTemporaryData(ActionData):
    amount_fen: Fen | None = None
    instalments: Annotated[int, Field(strict=True, ge=1, le=24)] | None = None
    county_override: bool | None = None


class DenyData(ReasonData):
    margin: bool | None = None  # E3: decided into the 低保边缘 category instead


class ConvertData(ActionData):
    aid_type: Annotated[str, Field(max_length=20)] | None = None
    cause: Annotated[str, Field(max_length=40)] | None = None  # into temporary aid: the cause it is capped by


class FindingData(ActionData):
    finding: Text | None = None


class DeliveryData(ActionData):
    """P11: a written refusal delivered: the day and how (in person, by post, through the village)."""

    delivered_on: DateText | None = None
    method: ShortText | None = None


ACTION_DATA: dict[str, type[BaseModel]] = {
    "submit": ActionData,
    "village_pass": VillagePassData,
    "village_reject": DenyData,
    "request_info": RequestInfoData,
    "provide_info": ProvideInfoData,
    "township_pass": TownshipPassData,
    "township_reject": DenyData,
    "return_to_village": ReasonData,
    "record_county_visit": CountyVisitData,
    "record_verification": VerificationData,
    "dispute_verification": DisputeData,
    "approve": ApproveData,
    "deny": DenyData,
    "extend_deadline": ReasonData,
    "record_delivery": DeliveryData,
    "withdraw": ReasonData,
    "dismiss_objection": FindingData,
    "uphold_objection": FindingData,
    "start_review": ActionData,
    "continue": NoteData,
    "adjust": AdjustData,
    "begin_exit": ReasonData,
    "terminate": TerminateData,
    "record_job_refusal": JobRefusalData,
    "approve_termination": NoteData,
    "suspend": ReasonData,
    "resume": NoteData,
    "reject_termination": ReasonData,
    "voluntary_exit": ReasonData,
    "grant_emergency": GrantEmergencyData,
    "grant_temporary": GrantTemporaryData,
    "refer_to_county": ReasonData,
    "decline": ReasonData,
    "convert_to_standard": ConvertData,
    "complete_paperwork": NoteData,
}
