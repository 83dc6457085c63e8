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
            raise ValueError(
                "急难救助须写明事由（cause）/ emergency aid needs its cause (e.g. fire, accident, illness)"
            )
        if self.aid_type == "emergency" and not self.amount_requested_fen:
            raise ValueError(
                "急难救助须填写申请金额（amount_requested_fen，分，正整数）/ "
                "emergency aid needs amount_requested_fen (a positive whole number of fen)"
            )
        ids = [m.id_number for m in self.members]
        if len(set(ids)) != len(ids):
            raise ValueError("同一身份证号码登记了两次 / the same identity number is listed twice")
        return self
