"""支出型临时救助 (K1): medical, education or disability costs beyond what the household can bear, on the
normal channel (workflows.temporary): investigated, posted, decided within 15 working days; paid at once
or in monthly instalments (K6).

The application takes the common `amount_requested_fen` and `cause` (one of the policy's causes:
illness, education, disability, other; "other" when none is named).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from workflows.aidtypes import AidType


class Instalment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    month: str
    amount_fen: int


class TemporaryGrant(BaseModel):
    """The decision: who granted it, how much, in how many monthly instalments."""

    model_config = ConfigDict(extra="allow", frozen=True)

    by: str
    role: str
    at: str
    amount_fen: int
    instalments: int = 1
    cause: str | None = None
    county_override: bool = False


class TemporaryFile(BaseModel):
    """What a temporary-aid case keeps beyond the common case file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision_due: str | None = None  # K2: accepted to decided within the policy's total
    temporary_grant: TemporaryGrant | None = None
    instalments: list[Instalment] = []


AID_TYPE = AidType(
    key="temporary",
    workflow="temporary",
    prefix="ZC",
    name_zh="支出型临时救助",
    name_en="temporary aid (spending-driven)",
    file_model=TemporaryFile,
)
