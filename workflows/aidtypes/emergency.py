"""急难型临时救助: the fast channel, paid first from the township's reserve fund, paperwork after."""

from __future__ import annotations

from workflows.aidtypes import AidType

AID_TYPE = AidType(
    key="emergency",
    workflow="emergency",
    prefix="LS",
    name_zh="临时救助",
    name_en="emergency temporary aid",
)
