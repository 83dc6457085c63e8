"""The case file is typed: checked when an act writes it, readable in every version it was written in."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.errors import InvalidInput
from tests.workflows.support import CIPHER, Flow, household, local
from workflows.casefile import FILE_VERSION, CaseFile, check

NOW = local("2026-10-12")


def test_a_filed_case_carries_the_current_file_version_and_reads_as_a_case_file(flow: Flow) -> None:
    case_id = flow.submit(household(), NOW)
    case = flow.case(case_id)
    f = CaseFile.read(case.data)
    assert f.file_version == FILE_VERSION
    assert [m.name for m in f.members] == ["王小英", "王家1"]
    assert f.submitted is not None


def test_the_applicants_phone_and_email_are_stored_encrypted(flow: Flow) -> None:
    payload = household()
    payload = payload.model_copy(
        update={"applicant": payload.applicant.model_copy(update={"email": "wang@example.cn"})}
    )
    case_id = flow.submit(payload, NOW)
    with flow.session(write=False) as s:
        raw = s.execute(text("SELECT data FROM cases WHERE id = :id"), {"id": case_id}).scalar_one()
    stored = raw if isinstance(raw, str) else str(raw)
    assert "13800000000" not in stored
    assert "wang@example.cn" not in stored
    f = CaseFile.read(flow.case(case_id).data)
    assert f.applicant.phone_in(CIPHER) == "13800000000"
    assert f.applicant.email_in(CIPHER) == "wang@example.cn"


def test_a_file_of_version_1_with_the_phone_in_clear_is_still_read() -> None:
    old = {
        "aid_type": "dibao",
        "spec": {},
        "applicant": {"name": "王小英", "id_enc": "x", "id_hash": "h", "phone": "13800000000", "email": None},
        "members": [{"name": "王小英", "id_enc": "x", "id_hash": "h", "relation": "本人", "monthly_income_fen": 0}],
        "flags": [],
    }
    f = CaseFile.read(old)
    assert f.file_version == 1
    assert f.applicant.phone_in(CIPHER) == "13800000000"


def test_a_record_that_does_not_fit_the_file_is_refused_with_the_field_named() -> None:
    bad = {"aid_type": "dibao", "spec": {}, "applicant": {"name": "王"}, "village_pass": {"by": "x"}}
    with pytest.raises(InvalidInput) as refused:
        check(bad)
    assert "village_pass" in refused.value.detail


def test_an_unknown_key_in_the_file_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        check({"aid_type": "dibao", "spec": {}, "applicant": {"name": "王"}, "favour": True})
    assert "favour" in refused.value.detail
