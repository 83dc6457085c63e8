"""The termination form offers the grounds the workflow takes (T6)."""

from __future__ import annotations

from api.web.actforms import form_for
from workflows.review import TERMINATION_GROUNDS, UNCLAIMED


def test_T6_the_termination_form_offers_every_ground_an_official_may_choose() -> None:
    controls = {c.key: c for c in form_for("terminate")}
    assert [key for key, _label in controls["ground"].options] == [g for g in TERMINATION_GROUNDS if g != UNCLAIMED]
    assert controls["ground"].kind == controls["school"].kind == "choice"
    assert {key for key, _label in controls["school"].options} == {"in_school", "left_school"}
